"""Fixtures for the client SDK tests; `server` and `new_client` live in tests/conftest.py."""

from __future__ import annotations

import pytest

from server.services import Store


@pytest.fixture
def site(site: dict[str, str], store: Store) -> dict[str, str]:
    """The shared two-camera site, with its inspection already in progress.

    Recording a check of a *scheduled* inspection also queues the change that
    starts it (`Client.record_checks`); these tests count seqs and results of
    checks, so the inspection is started beforehand, as by an earlier visit.
    `test_workflow.py` covers the start from `scheduled`.
    """
    store.write_server_changes([
        ("inspections", site["inspection"], {"status": "in_progress", "started_at": "2026-11-20T01:00:00.000Z"},
         None),
    ])
    return site

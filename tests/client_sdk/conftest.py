"""Fixtures for the client SDK: real client databases under tmp_path, a restartable server."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from client_sdk import Client
from server.settings import Settings
from server.store import Store
from tests.client_sdk.support import Server


@pytest.fixture
def server(settings: Settings, store: Store, http: TestClient[Any]) -> Iterator[Server]:
    handle = Server(settings, store, http)
    yield handle
    handle.close()


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


@pytest.fixture
def new_client(tmp_path: Path) -> Iterator[Callable[..., Client]]:
    """Make a signed-in Client with its own database file under tmp_path."""
    made: list[Client] = []

    def make(http: httpx.Client, name: str = "phone", user: str = "wang", **options: Any) -> Client:
        client = Client(tmp_path / f"{name}.db", http, **options)
        made.append(client)
        client.login(user, "demo")
        return client

    yield make
    for client in made:
        client.db.conn.close()



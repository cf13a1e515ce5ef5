"""The client SDK sends new signatures in pushes the server takes whole (issue 9, finding 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.settings import Settings
from sync.schema import MAX_SIGNATURES_PER_PUSH
from tests.client_sdk.support import cut_client

STROKES = [[(10, 40), (30, 10), (50, 40)], [(60, 25), (90, 30)]]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    # An inspection may hold more signatures here, so that only the per-push limit is met.
    return Settings(data_dir=tmp_path / "server", max_signatures_per_inspection=100)


def test_more_signatures_than_a_push_takes_go_in_two_pushes(server, site, new_client):
    http, transport = cut_client(server.http)
    client = new_client(http)
    client.sync()
    insp = site["inspection"]
    client.record_check(insp, site["cam1"], "serviced")
    client.record_check(insp, site["cam2"], "serviced")
    signed = [client.sign(insp, "Wang", "technician", strokes=STROKES) for _ in range(MAX_SIGNATURES_PER_PUSH + 1)]
    transport.paths[:] = []
    report = client.sync()
    assert [r.status for r in report.results] == ["applied"] * (2 + len(signed))
    assert transport.paths.count("POST /sync/push") == 2
    assert {client.get("signatures", s)["fields"]["verification"] for s in signed} == {"valid"}

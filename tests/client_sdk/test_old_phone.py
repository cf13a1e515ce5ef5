"""Old phones keep working (issue 12, item 7): a phone app released before the service collections
existed keeps syncing against a server that has them. It keeps the rows of collections it does not
know, and its own pushes are unaffected.

The old app is today's SDK with a schema that holds only the collections it was released with; the
server runs in its own process (bench/_server.py), so it keeps the whole schema.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from bench._server import ServerProcess
from client_sdk import Client
from server.cli import main
from sync.schema import COLLECTIONS
from tests.conftest import Session

OLD_COLLECTIONS = ("sites", "devices", "checklist_templates", "inspections", "device_checks", "photos", "signatures")
ROOT = Path(__file__).resolve().parents[2]


def test_a_phone_from_before_service_work_keeps_its_rows_and_pushes(tmp_path, monkeypatch: pytest.MonkeyPatch):
    # Regression (issue 12, item 7): an old app meets rows of collections it does not know.
    reference = json.loads((ROOT / "fixtures" / "reference_site.json").read_text(encoding="utf-8"))
    site_id, device_id = reference["site"]["id"], reference["devices"][0]["id"]
    assert main(["init", "--data", str(tmp_path / "data"), "--demo"]) == 0
    server = ServerProcess(tmp_path / "data").start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            chen = Session(http, "chen")  # the service desk, on today's app
            request = str(uuid.uuid4())
            body = chen.push([chen.change("service_requests", request, {
                "site_id": site_id, "device_id": device_id, "reported_at": "2026-11-20T02:00:00.000Z",
                "channel": "hotline", "kind": "repair", "assigned_to": "wang"})]).json()
            assert [r["status"] for r in body["results"]] == ["applied"]

            for name in [n for n in COLLECTIONS if n not in OLD_COLLECTIONS]:
                monkeypatch.delitem(COLLECTIONS, name)  # the old app's schema
            phone = Client(tmp_path / "phone.db", http)
            try:
                phone.login("wang", "demo")
                phone.sync()
                kept = {r["id"] for r in phone.server_rows() if r["collection"] == "service_requests"}
                assert request in kept  # kept, though the app does not know the collection (so are the demo's)
                phone.write("devices", device_id, {"location": "Gate 2, left pillar"})
                phone.sync()
                assert phone.pending() == []
                # A second sync keeps it too.
                assert {r["id"] for r in phone.server_rows() if r["collection"] == "service_requests"} == kept
            finally:
                phone.close()
            monkeypatch.undo()
            rows = {r["id"]: r["fields"] for r in chen.pull().json()["rows"]}
            assert rows[device_id]["location"] == "Gate 2, left pillar"
            assert rows[request]["number"].startswith("SR-2026-")
    finally:
        server.stop()

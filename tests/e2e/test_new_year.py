"""New Year's Eve with a real `fieldsync serve` and a real phone CLI on a faked wall clock (session 29,
yearend): the start-up's calendar warning on the calendar's last day, and request numbers across midnight
in Asia/Shanghai, a phone's request recorded offline in 2026 and synced in 2027 among them. What takes a
`now` is tested with an injected one (tests/server/test_yearend.py). One phone CLI process records the request
on its own faked clock; the phone's sign-in and syncs run in this process over the same SQLite file, on the same
timeline (`Client(wall=...)`): each CLI start costs about 2 s."""

from __future__ import annotations

import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from bench._server import ROOT, ServerProcess
from client_sdk import Client
from server.cli import _calendar_warnings, main
from tests.faketime import Clock

PASSWORD = "correct horse battery"


def _shanghai(text: str) -> datetime:
    return datetime.fromisoformat(f"{text}+08:00")


def _local_day(request: dict[str, Any]) -> str:
    return datetime.fromisoformat(request["reported_at"]).astimezone(ZoneInfo("Asia/Shanghai")).date().isoformat()


def _phone(clock: Clock, db: Path, url: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "client_sdk.cli", "--db", str(db), "--server", url, *args],
                          env=clock.env(PYTHONPATH=str(ROOT)), cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def _in_process(clock: Clock, db: Path, url: str, login: bool = False) -> object:
    """The phone's sign-in and sync over its SQLite file in this process, on the clock's timeline."""
    with httpx.Client(base_url=url, timeout=30) as wire, Client(db, wire, wall=lambda: int(clock.now() * 1000)) as phone:
        if login:
            phone.login("wang", PASSWORD)
        return phone.sync()


def _call(http: httpx.Client, token: str, site: str, description: str) -> dict[str, Any]:
    r = http.post("/api/service-requests", headers={"Authorization": f"Bearer {token}"}, json={
        "site_id": site, "channel": "hotline", "kind": "repair", "caller_name": "刘先生", "description": description})
    assert r.status_code == 201, r.text
    return dict(r.json())


@pytest.mark.one_sqlite_server("a faketime'd server over its own SQLite file: the clock is the process's")
def test_new_years_eve_with_a_real_server_and_phone(tmp_path):
    data, clock = tmp_path / "server", Clock(tmp_path / "faketime")
    assert main(["init", "--data", str(data)]) == 0
    assert main(["add-site", "--data", str(data), "科峰科技园", "--customer", "科峰物业", "--contract", "annual"]) == 0
    for user, role in (("wang", "technician"), ("chen", "service_desk")):
        assert main(["add-user", "--data", str(data), user, "--role", role, "--password", PASSWORD,
                     *(["--site", "科峰科技园"] if role == "technician" else [])]) == 0
    clock.set(_shanghai("2026-12-31 23:50:00"))
    server = ServerProcess(data, env=clock.env()).start()
    try:
        # Regression (session 29, yearend, finding 2): on the calendar's last day `serve` said "in 0 days". Its
        # words are the dashboard's, in English, on its standard error before it serves.
        logged = [line for line in server.output().splitlines() if "holiday calendar" in line]
        assert logged == [f"fieldsync: {w}" for w in _calendar_warnings(int(clock.now() * 1000))], logged
        assert 'ends on 2026-12-31, today. After it, public holidays count as working days' in logged[0], logged
        with httpx.Client(base_url=server.url, timeout=30) as http:
            token = http.post("/auth/token", json={"username": "chen", "password": PASSWORD}).json()["token"]
            site = http.get("/api/sites", headers={"Authorization": f"Bearer {token}"}).json()["sites"][0]["id"]
            phone = tmp_path / "wang.db"
            _in_process(clock, phone, server.url, login=True)
            assert _call(http, token, site, "before midnight")["number"] == "SR-2026-00001"
            # The technician opens one on site before midnight, offline: it reaches the server after it.
            opened = _phone(clock, phone, server.url, "new-request", "科峰科技园", "--description", "found on the last round")
            assert "its number comes at the next" in opened, opened
            clock.set(_shanghai("2027-01-01 00:00:05"))
            first = _call(http, token, site, "the first call of the year")
            assert first["number"] == "SR-2027-00001" and _local_day(first) == "2027-01-01", first
            synced = _in_process(clock, phone, server.url)
            # Numbered in the year it was called in, in the site's zone: the year's numbers run on, none repeats.
            listed = http.get("/api/service-requests", headers={"Authorization": f"Bearer {token}"}).json()["requests"]
            found = {r["number"]: r for r in listed}
            assert sorted(found) == ["SR-2026-00001", "SR-2026-00002", "SR-2027-00001"], (found, synced)
            assert _local_day(found["SR-2026-00002"]) == "2026-12-31", found  # the phone's, recorded before midnight
    finally:
        server.stop()

"""A request's stored clocks (`service_clocks`, `service_milestones.to_make`: the 待回访 count and list) follow
every writer, not only a push's hooks (s29 fix29a, a reviewer's findings): a supervisor's retraction of a
visit's signature, and the refresh after a site's terms change, which a call-back's push committed into on
PostgreSQL. Each test runs on SQLite and on PostgreSQL, whatever the suite's mode."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest

from server.settings import Settings
from sync import hlc
from tests.conftest import SITE
from tests.helpers import ok
from tests.server.test_callbacks import callback, sealed
from tests.server.test_service import results, ts

URL = "/api/service-requests"
BOTH = pytest.mark.parametrize("settings", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture
def settings(new_settings: Callable[..., Settings], request: pytest.FixtureRequest) -> Settings:
    """The backend the test names (`BOTH`), else PostgreSQL."""
    if getattr(request, "param", "postgresql") == "sqlite":
        return new_settings(database=None)
    return new_settings(database=request.getfixturevalue("database"))


def _due(lin: Any) -> list[str]:
    return [r["id"] for r in ok(lin.http.get(URL, headers=lin.headers, params={"callback_due": "true"}))["requests"]]


def _stored_status(store: Any, request: str) -> str:
    with store.read() as db:
        return str(db.execute("SELECT status FROM service_clocks WHERE request_id = ?", [request]).fetchone()[0])


@BOTH
def test_a_retracted_visit_signature_takes_its_request_off_the_call_backs_to_make(site, chen, wang, lin, store):
    # Regression (s29 fix29a, item 2): retracting a signature wrote its rows with no hook and recomputed no
    # clock: the request's detail said `resolved`, its stored status stayed `signed` (the list's status filter
    # and counts) and its call-back milestone stayed to make (待回访) for a sheet no customer signs any more.
    request, _visit = sealed(chen, wang, ts(hlc.wall_ms() - 30 * 3_600_000))
    assert _due(lin) == [request] and _stored_status(store, request) == "signed"
    with store.read() as db:
        signature = db.execute("SELECT id FROM rows WHERE collection = 'signatures'").fetchone()[0]
    ok(lin.http.post(f"/api/signatures/{signature}/retract", headers=lin.headers))
    assert ok(lin.http.get(f"{URL}/{request}", headers=lin.headers))["status"] == "resolved"
    assert _stored_status(store, request) == "resolved"
    assert _due(lin) == []
    signed = ok(lin.http.get(URL, headers=lin.headers, params={"status": "signed"}))["requests"]
    assert [r["id"] for r in signed] == []


def _waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return bool(conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                 " AND wait_event_type = 'Lock'").fetchone()[0])


def test_a_call_back_pushed_during_a_terms_refresh_stays_made(site, chen, wang, lin, store, database, monkeypatch):
    # Regression (s29 fix29a, item 1): `refresh_site_clocks` (a supervisor's new terms for a site) wrote
    # without the version lock. On PostgreSQL (READ COMMITTED) a call-back reached, pushed between the
    # refresh's read of the rows and its write of the clocks, committed; the refresh then wrote what it had
    # read: `to_make` 1, the request on 待回访 with its call-back made, until its next write. Now the refresh
    # holds the version lock: the push waits for it, then recomputes with the refresh's commit in sight.
    from server.domains.service import service
    from server.domains.service.office import ServiceOffice

    request, visit = sealed(chen, wang, ts(hlc.wall_ms() - 30 * 3_600_000))
    assert _due(lin) == [request]
    real = service.load_inputs
    read, go, pushed = threading.Event(), threading.Event(), threading.Event()
    refreshing: list[int] = []

    def paused(db: Any, ids: list[str]) -> Any:
        found = real(db, ids)
        if threading.get_ident() in refreshing:  # the refresh, between its read and its write
            read.set()
            go.wait(60)  # a guard against a hang, not a measurement
        return found

    monkeypatch.setattr(service, "load_inputs", paused)
    failed: list[BaseException] = []

    def refresh() -> None:
        refreshing.append(threading.get_ident())
        try:
            ServiceOffice(store).set_terms(None, SITE, {"on_site_hours": {"urban": 2}})  # and its refresh
        except BaseException as exc:  # reported below
            failed.append(exc)

    def release() -> None:  # once the push waits for a lock (or, as before, did not wait at all)
        deadline = time.monotonic() + 60  # a guard against a hang, not a measurement
        while not pushed.is_set() and not _waiting_on_a_lock(database) and time.monotonic() < deadline:
            time.sleep(0.01)
        go.set()

    refresher = threading.Thread(target=refresh)
    refresher.start()
    assert read.wait(60)
    releaser = threading.Thread(target=release)
    releaser.start()
    try:
        assert results(chen, [callback(chen, visit, ts(hlc.wall_ms()))]) == [("applied", None)]
    finally:
        pushed.set()
        go.set()
        releaser.join(60)
        refresher.join(60)
    assert failed == []
    assert _due(lin) == []
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM service_milestones WHERE to_make = 1").fetchone()[0] == 0

"""The sync window: clients receive the current and previous period's inspections (with
their checks); when a period leaves the window its rows leave like a lost site's."""

from __future__ import annotations

import sqlite3
import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from server.services import Store
from sync import hlc
from sync.schema import device_check_id, inspection_id
from tests.conftest import SITE
from tests.helpers import pull_all as _pull_all


def _on(store: Store, day: date) -> None:
    """The store's clock at noon of `day` in Shanghai: its today and sync window follow it, and so do the
    other servers' of a shared database (`tests/servers.py`), which a replaced `today` did not reach."""
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=ZoneInfo("Asia/Shanghai"))
    store.now_ms = lambda: int(noon.timestamp() * 1000)  # type: ignore[method-assign]


def _with_old_inspection(site: dict[str, str], store: Any, lin: Any) -> tuple[str, str]:
    old = inspection_id(site["site"], "2026-Q2")
    store.write_server_changes([("inspections", old, {"site_id": site["site"], "period": "2026-Q2"}, False)])
    check = device_check_id(old, site["cam1"])
    store.write_server_changes([("device_checks", check, {
        "inspection_id": old, "device_id": site["cam1"], "outcome": "serviced",
        "checked_by": "wang", "checked_at": "2026-05-20T10:15:00.000Z"}, False)])
    return old, check


def test_old_periods_are_outside_the_window(site, store, wang, lin):
    _on(store, date(2026, 11, 27))
    old, check = _with_old_inspection(site, store, lin)
    rows, _ = _pull_all(wang)
    ids = {r["id"] for r in rows}
    assert site["inspection"] in ids and site["cam1"] in ids
    assert old not in ids and check not in ids
    # Older history is read through /api.
    history = lin.http.get(f"/api/devices/{site['cam1']}/history", headers=lin.headers).json()
    assert [c["period"] for c in history["checks"]] == ["2026-Q2"]


def test_a_period_leaving_the_window_arrives_once_as_removed(site, store, wang):
    _on(store, date(2026, 11, 27))
    check = device_check_id(site["inspection"], site["cam1"])
    wang.push([wang.change("device_checks", check, {
        "inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "serviced",
        "checked_by": "wang", "checked_at": "2026-11-20T10:15:00.000Z"}, delete=False)])
    rows, cursor = _pull_all(wang)
    assert check in {r["id"] for r in rows}
    _on(store, date(2027, 4, 2))  # 2026-Q4 is now two quarters back
    rows, cursor = _pull_all(wang, cursor)
    assert sorted((r["id"], r["removed"]) for r in rows) == sorted(
        [(site["inspection"], True), (check, True)])
    assert _pull_all(wang, cursor)[0] == []


def test_a_supervisors_client_is_windowed_too(site, store, lin):
    _on(store, date(2026, 11, 27))
    old, check = _with_old_inspection(site, store, lin)
    ids = {r["id"] for r in _pull_all(lin)[0]}
    assert site["inspection"] in ids and old not in ids and check not in ids


# -- service requests (issue 12): open ones always, ended ones with the quarter of their call ----

LAST_YEAR = "2025-11-20T02:00:00.000Z"
THIS_QUARTER = "2026-11-20T02:00:00.000Z"


def _request_with_its_rows(chen: Any, wang: Any, reported_at: str) -> dict[str, str]:
    """A request at the test site, with a visit, an arrival and a signature on the visit."""
    ids = {name: str(uuid.uuid4()) for name in ("request", "visit", "event", "signature")}
    changes = [
        chen.change("service_requests", ids["request"], {
            "site_id": SITE, "reported_at": reported_at, "channel": "hotline", "kind": "repair",
            "assigned_to": "wang"}),
    ]
    assert [r["status"] for r in chen.push(changes).json()["results"]] == ["applied"]
    changes = [
        wang.change("service_visits", ids["visit"], {"request_id": ids["request"], "technician": "wang"}),
        wang.change("service_events", ids["event"], {"request_id": ids["request"], "visit_id": ids["visit"],
                                                      "kind": "arrived", "at": reported_at, "by": "wang"}),
        wang.change("signatures", ids["signature"], {
            "visit_id": ids["visit"], "signer_name": "Wang", "signer_role": "technician", "signed_at": reported_at,
            "sheet_sha256": "ab" * 32}),
    ]
    assert [r["status"] for r in wang.push(changes).json()["results"]] == ["applied"] * 3
    return ids


def _end(chen: Any, request: str, kind: str = "closed") -> str:
    event = str(uuid.uuid4())
    body = chen.push([chen.change("service_events", event, {"request_id": request, "kind": kind,
                                                            "at": hlc.format_ts(hlc.wall_ms())})]).json()
    assert [r["status"] for r in body["results"]] == ["applied"]
    return event


def test_a_request_closed_last_year_leaves_the_window_with_all_its_rows(site, store, chen, wang, row_of):
    _on(store, date(2026, 11, 27))
    ids = _request_with_its_rows(chen, wang, LAST_YEAR)
    rows, cursor = _pull_all(wang)
    assert set(ids.values()) <= {r["id"] for r in rows}  # open: on the phone, however old the call
    closed = _end(chen, ids["request"])
    # The phone that held it gets the request and every row of it as removed (a stale open copy
    # would otherwise stay forever), and the closing event is not sent whole.
    rows, cursor = _pull_all(wang, cursor)
    assert sorted((r["id"], r["removed"]) for r in rows) == sorted((i, True) for i in [*ids.values(), closed])
    assert _pull_all(wang, cursor)[0] == []
    # A new phone never receives them: not in one page from 0; paging from 0 it may be told to
    # remove them (its cursor cannot tell it from a phone that held them), never sent them whole.
    assert not {*ids.values(), closed} & {r["id"] for r in _pull_all(wang, limit=1000)[0]}
    assert not {*ids.values(), closed} & {r["id"] for r in _pull_all(wang)[0] if not r["removed"]}
    # The server keeps it (the desk reads history through /api, as older inspections).
    assert row_of("service_requests", ids["request"])["fields"]["status"] == "closed"


def test_a_cancelled_request_from_last_year_leaves_too_and_an_open_one_stays(site, store, chen, wang):
    _on(store, date(2026, 11, 27))
    cancelled, kept = _request_with_its_rows(chen, wang, LAST_YEAR), _request_with_its_rows(chen, wang, LAST_YEAR)
    _end(chen, cancelled["request"], "cancelled")
    ids = {r["id"] for r in _pull_all(wang, limit=1000)[0]}
    assert not set(cancelled.values()) & ids
    assert set(kept.values()) <= ids


def test_a_request_closed_this_quarter_stays_until_its_quarter_leaves(site, store, chen, wang):
    _on(store, date(2026, 11, 27))
    ids = _request_with_its_rows(chen, wang, THIS_QUARTER)
    _, cursor = _pull_all(wang)
    closed = _end(chen, ids["request"])
    rows, cursor = _pull_all(wang, cursor)
    # The closing event and the request's new status arrive whole; nothing is removed.
    assert {(r["id"], r["removed"]) for r in rows} >= {(ids["request"], False), (closed, False)}
    assert not any(r["removed"] for r in rows)
    request = next(r for r in rows if r["id"] == ids["request"])
    assert request["fields"]["status"] == "closed"
    assert set(ids.values()) <= {r["id"] for r in _pull_all(wang)[0]}
    # Two quarters on, it leaves like an old inspection.
    _on(store, date(2027, 4, 2))
    rows, _ = _pull_all(wang, cursor)
    assert {(i, True) for i in [*ids.values(), closed]} <= {(r["id"], r["removed"]) for r in rows}


def test_a_voided_cancel_brings_the_request_back_whole(site, store, chen, wang, lin):
    _on(store, date(2026, 11, 27))
    ids = _request_with_its_rows(chen, wang, LAST_YEAR)
    _, cursor = _pull_all(wang)
    cancel = _end(chen, ids["request"], "cancelled")
    rows, cursor = _pull_all(wang, cursor)
    assert ids["visit"] in {r["id"] for r in rows if r["removed"]}
    void = str(uuid.uuid4())
    body = lin.push([lin.change("service_events", void, {"request_id": ids["request"], "kind": "voided",
                                                         "note": cancel, "at": hlc.format_ts(hlc.wall_ms())})])
    assert [r["status"] for r in body.json()["results"]] == ["applied"]
    rows, _ = _pull_all(wang, cursor)
    back = {r["id"]: r for r in rows}
    assert set(ids.values()) | {cancel, void} <= {i for i, r in back.items() if not r["removed"]}
    assert back[ids["request"]]["fields"]["status"] == "in_service"
    # Written again with their request, the events keep their order of arrival (the status reads it).
    assert sorted([ids["event"], cancel, void], key=lambda i: back[i]["version"]) == [ids["event"], cancel, void]


@pytest.mark.one_sqlite_server("rewinds a SQLite migration with sqlite3 on the file")
def test_m016_gives_requests_that_ended_before_it_their_period(site, store, settings, chen, wang):
    """A database from before m016 held closed requests with no period: the migration sets it on the
    request and its rows, with new versions, so that phones that hold them get them removed."""
    _on(store, date(2026, 11, 27))
    ids = _request_with_its_rows(chen, wang, LAST_YEAR)
    _end(chen, ids["request"])
    store.close()
    db = sqlite3.connect(settings.db_path)
    with db:  # as m015 left it
        db.execute("UPDATE rows SET period = NULL WHERE id IN (?, ?, ?, ?)", list(ids.values()))
        db.execute("ALTER TABLE rows DROP COLUMN period_moved")
        db.execute("DELETE FROM _sqlite_migrations WHERE name = 'm016_request_window'")
        before = dict(db.execute("SELECT id, version FROM rows").fetchall())
    Store(settings).close()  # opening the database migrates it
    with db:
        after = {i: (v, p, m) for i, v, p, m in db.execute("SELECT id, version, period, period_moved FROM rows")}
    db.close()
    for row_id in ids.values():
        version, period, moved = after[row_id]
        assert (period, moved) == ("2025-Q4", 1) and version > max(before.values())
    assert after[site["inspection"]] == (before[site["inspection"]], "2026-Q4", 0)


def test_a_real_phone_drops_a_request_that_closed_out_of_the_window(site, store, http, chen, wang, new_client):
    """The SDK's replica, not just the wire: after the close, the phone shows neither the request nor its rows."""
    _on(store, date(2026, 11, 27))
    ids = _request_with_its_rows(chen, wang, LAST_YEAR)
    phone = new_client(http)
    phone.sync()
    held = {r["id"] for r in phone.server_rows()}
    assert set(ids.values()) <= held
    _end(chen, ids["request"])
    phone.sync()
    assert not set(ids.values()) & {r["id"] for r in phone.server_rows()}
    assert site["inspection"] in {r["id"] for r in phone.server_rows()}

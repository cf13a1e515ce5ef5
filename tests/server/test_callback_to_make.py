"""The call-backs still to make stored with their milestones (`service_milestones.to_make`, m033; s29
fixes29a item 3): the dashboard's 待回访 count and the list read them through a partial index, and a
database upgraded from before m033 gets them from the call-backs stored, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from server.storage import service
from server.storage.sqlite.backend import SQLITE
from tests.conftest import SITE
from tests.helpers import upgraded

M033 = "m033_callback_to_make"
DAY = 86_400_000
NOW = 1_796_000_000_000

# (request, its sealed visit's callback milestone status and breach_at, its call-back rows: (reached, deleted)).
REQUESTS = [
    ("r-late", "breached", NOW - 3 * DAY, [(True, 0)]),  # made late: breached, but made
    ("r-never", "breached", NOW - 2 * DAY, []),  # never made
    ("r-missed", "breached", NOW - 5 * DAY, [(False, 0)]),  # an unanswered attempt: still to make
    ("r-removed", "open", NOW + DAY, [(True, 1)]),  # its call-back deleted since: still to make
    ("r-met", "met", None, [(True, 0)]),
    ("r-paused", "open", None, []),  # stopped by an open pause: no due, still to make (last)
]
STILL_TO_MAKE = ["r-missed", "r-never", "r-removed", "r-paused"]  # oldest due first


def _before_m033(db: Any, mark: str) -> None:
    def insert(table: str, columns: str, values: list[Any]) -> None:
        db.execute(f"INSERT INTO {table}({columns}) VALUES ({', '.join([mark] * len(values))})", values)

    version = 0
    for request, status, breach_at, callbacks in REQUESTS:
        visit = f"v-{request}"
        insert("service_clocks", "request_id, site_id, status, assigned_to, reported_ms, open, breached, computed_ms",
               [request, SITE, "closed", "wang", NOW - 9 * DAY, 0, 0, NOW])
        insert("service_milestones", "request_id, n, name, visit_id, status, breach_at",
               [request, 0, "on_site", None, "breached", NOW - 8 * DAY])  # another clock breached: not a call-back
        insert("service_milestones", "request_id, n, name, visit_id, status, breach_at",
               [request, 1, "callback", visit, status, breach_at])
        for reached, deleted in callbacks:
            version += 1
            insert("rows", "collection, id, site_id, parent_id, fields, clocks, deleted, version, updated_ms",
                   ["callbacks", f"c-{version}", SITE, visit, json.dumps({"visit_id": visit, "reached": reached}),
                    "{}", deleted, version, NOW])


def _listed_after_upgrade(database: Any) -> tuple[int, list[str], list[str]]:
    try:
        with database.read() as db:
            found = service.list_requests(db, sites=[SITE], site_id=None, status=None, assigned_to=None, open_=None,
                                          breached=None, at_risk=None, now_ms=NOW, after=None, limit=10,
                                          callback_due=True)
            others = service.list_requests(db, sites=None, site_id=None, status=None, assigned_to=None, open_=None,
                                           breached=None, at_risk=None, now_ms=NOW, after=None, limit=10,
                                           callback_due=False)
            return service.count_callbacks_due(db, sites=None, now_ms=NOW), [r for r, _ in found], [r for r, _ in others]
    finally:
        database.close()


EXPECTED = (4, STILL_TO_MAKE, ["r-late", "r-met"])


def test_m033_stores_the_call_backs_still_to_make_of_a_sqlite_database(tmp_path: Path) -> None:
    assert _listed_after_upgrade(upgraded(tmp_path / "fieldsync.db", M033, _before_m033)) == EXPECTED


def test_m033_stores_the_call_backs_still_to_make_of_a_postgresql_database(pg_url: str) -> None:
    assert _listed_after_upgrade(upgraded(pg_url, M033, _before_m033)) == EXPECTED


def test_the_count_reads_the_call_backs_still_to_make_not_every_ended_request(tmp_path: Path) -> None:
    # Regression (s28's 待回访 count, on every desk and supervisor dashboard): it scanned every request and,
    # for each signed or closed one, its milestones and its visit's call-backs: with a year of closed requests
    # (40,000 at 1,000 sites) 190-290 ms a dashboard. Now a scan of the partial index of those still to make.
    path = tmp_path / "fieldsync.db"
    database = SQLITE.open(path)
    try:
        with database.write() as db:
            _before_m033(db, "?")
            db.execute("UPDATE service_milestones SET to_make = 1 WHERE name = 'callback'"
                       " AND request_id IN ('r-missed', 'r-never', 'r-removed', 'r-paused')")
        with database.read() as db:
            run: list[str] = []
            db.set_trace_callback(run.append)
            assert service.count_callbacks_due(db, sites=None, now_ms=NOW) == 4
            db.set_trace_callback(None)
            plan = [step for sql in run for *_, step in db.execute("EXPLAIN QUERY PLAN " + sql)]
    finally:
        database.close()
    assert "SCAN service_milestones USING INDEX service_milestones_to_make" in plan, plan
    assert not any(step.startswith("SCAN service_clocks") for step in plan), plan


def test_a_call_back_made_changed_or_removed_moves_its_request_on_and_off_the_list(site, chen, wang, lin):
    # What the stored `to_make` must follow as the call-backs stored do (the list read them at each request).
    from sync import hlc
    from tests.helpers import ok
    from tests.server.test_callbacks import callback, sealed
    from tests.server.test_service import results, ts

    def due() -> list[str]:
        page = ok(lin.http.get("/api/service-requests", headers=lin.headers, params={"callback_due": "true"}))
        return [r["id"] for r in page["requests"]]

    request, visit = sealed(chen, wang, ts(hlc.wall_ms() - 60_000))
    assert due() == [request]
    attempt = callback(chen, visit, ts(hlc.wall_ms()), reached=False)
    assert results(chen, [attempt]) == [("applied", None)] and due() == [request]
    assert results(chen, [chen.change("callbacks", attempt["id"], {"reached": True})]) == [("applied", None)]
    assert due() == []
    assert results(lin, [lin.change("callbacks", attempt["id"], {}, delete=True)]) == [("applied", None)]
    assert due() == [request]

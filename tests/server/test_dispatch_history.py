"""A request's dispatch history (改派记录, s29-reassign): every change of its `assigned_to` the server
stores is a `dispatch` audit entry written in the same transaction, whoever wrote it; the request's API
answer lists them (`dispatches`) and its console page shows them in its timeline among the events.

Before, `assigned_to` was a plain last-writer-wins register: the row kept only its last value and that
value's clock, and the conflict log an overwritten value only between different clients, so nobody could
see that a request went from one technician to another, or who moved it and when."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

from server.storage import identity
from sync import hlc
from tests.conftest import SITE
from tests.server.test_console_desk import ORIGIN, console
from tests.server.test_service import open_request, request_fields, results

HOUR = 3_600_000


def dispatches(session: Any, request: str) -> list[tuple[str | None, str | None, str | None]]:
    detail = session.http.get(f"/api/service-requests/{request}", headers=session.headers).json()
    return [(d["from"], d["to"], d["by"]) for d in detail["dispatches"]]


def audited(lin: Any) -> list[dict[str, Any]]:
    r = lin.http.get("/api/audit", headers=lin.headers, params={"kind": "dispatch"})
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


def test_a_push_reassigning_a_request_is_recorded_with_who_from_whom_and_when(store, site, chen, lin):
    store.add_member(SITE, "zhao")
    request = open_request(chen, assigned_to="wang")
    change = lin.change("service_requests", request, {"assigned_to": "zhao"})
    assert results(lin, [change]) == [("applied", None)]
    assert dispatches(lin, request) == [(None, "wang", "chen"), ("wang", "zhao", "lin")]
    first, moved = audited(lin)
    assert (moved["username"], moved["client_id"]) == ("lin", lin.client_id)
    number = lin.http.get(f"/api/service-requests/{request}", headers=lin.headers).json()["number"]
    assert {k: moved["detail"][k] for k in ("request_id", "number", "site_id", "from", "to", "hlc")} == {
        "request_id": request, "number": number, "site_id": SITE, "from": "wang", "to": "zhao",
        "hlc": change["hlc"]}
    assert moved["detail"]["changed_at"] == hlc.format_ts(hlc.parse(change["hlc"]).ms)
    assert first["detail"]["from"] is None and first["username"] == "chen"


def test_a_losing_older_write_and_an_equal_value_rewritten_record_nothing(store, site, chen, lin):
    store.add_member(SITE, "zhao")
    now = hlc.wall_ms()
    request = "5b0e7d4c-2f8a-4c61-9d3e-7a1b2c3d4e5f"
    assert results(chen, [chen.change("service_requests", request, request_fields(),
                                      hlc_=str(hlc.Hlc(now - 2 * HOUR, 0, chen.client_id)))]) == [("applied", None)]
    assert results(chen, [chen.change("service_requests", request, {"assigned_to": "wang"})]) == [("applied", None)]
    # lin's phone, offline since an hour ago, sends zhao with a new description: the description (older
    # than that) is stored, zhao (older than wang) loses its merge.
    older = lin.change("service_requests", request, {"assigned_to": "zhao", "description": "still dark"},
                       hlc_=str(hlc.Hlc(now - HOUR, 0, lin.client_id)))
    assert results(lin, [older]) == [("applied", None)]
    detail = lin.http.get(f"/api/service-requests/{request}", headers=lin.headers).json()
    assert (detail["assigned_to"], detail["description"]) == ("wang", "still dark")
    assert results(lin, [lin.change("service_requests", request, {"assigned_to": "wang"})]) == [
        ("applied", None)]  # newer, equal: the stored clock moves, the assignee does not
    assert dispatches(lin, request) == [(None, "wang", "chen")]
    assert len(audited(lin)) == 1


def test_one_push_reassigning_twice_records_both(store, site, chen, lin):
    store.add_member(SITE, "zhao")
    request = open_request(chen)
    assert dispatches(lin, request) == []  # opened unassigned: nothing yet
    assert results(lin, [lin.change("service_requests", request, {"assigned_to": "wang"}),
                         lin.change("service_requests", request, {"assigned_to": "zhao"})]) == [
        ("applied", None)] * 2
    assert dispatches(lin, request) == [(None, "wang", "lin"), ("wang", "zhao", "lin")]


def test_the_desks_new_request_and_two_reassignments_by_one_console_session_are_all_recorded(
        http, store, site, chen, lin):
    store.add_member(SITE, "zhao")
    opened = chen.http.post("/api/service-requests", headers=chen.headers,
                            json={**request_fields(), "assigned_to": "wang"})
    assert opened.status_code == 201, opened.text
    request = opened.json()["id"]
    assert [(d["from"], d["to"], d["by"]) for d in opened.json()["dispatches"]] == [(None, "wang", "chen")]
    csrf = console(http, "chen")
    for to in ("zhao", "wang"):
        r = http.post(f"/console/service-requests/{request}/dispatch", data={"assigned_to": to, "csrf": csrf},
                      headers=ORIGIN, follow_redirects=False)
        assert r.status_code == 303, r.text
    r = http.post(f"/console/service-requests/{request}/dispatch", data={"assigned_to": "wang", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303  # the same assignee again: nothing moved, nothing recorded
    assert dispatches(lin, request) == [(None, "wang", "chen"), ("wang", "zhao", "chen"), ("zhao", "wang", "chen")]
    assert [e["username"] for e in audited(lin)] == ["chen"] * 3


def test_a_refused_dispatch_records_nothing(http, site, chen, lin):
    request = open_request(chen, assigned_to="wang")
    csrf = console(http, "chen")
    r = http.post(f"/console/service-requests/{request}/dispatch", data={"assigned_to": "zhao", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)  # zhao is no member of this site
    assert r.status_code == 400
    assert dispatches(lin, request) == [(None, "wang", "chen")]


def test_the_request_page_shows_who_dispatched_and_reassigned_it_among_its_events_in_the_sites_zone(
        http, store, site, chen, wang, lin):
    store.add_member(SITE, "zhao")
    now = hlc.wall_ms()
    request = open_request(chen, reported_at=hlc.format_ts(now - 3 * HOUR))
    # dispatched to wang two hours ago (chen's phone, offline then), who accepted; moved to zhao an hour ago
    assert results(chen, [chen.change("service_requests", request, {"assigned_to": "wang"},
                                      hlc_=str(hlc.Hlc(now - 2 * HOUR, 0, chen.client_id)))]) == [("applied", None)]
    accepted = wang.change("service_events", "e0c1a7a2-3b7e-4d1e-9a55-0d7c2f1b6a01", {
        "request_id": request, "kind": "accepted", "at": hlc.format_ts(now - 2 * HOUR + 60_000), "by": "wang"})
    assert results(wang, [accepted]) == [("applied", None)]
    assert results(lin, [lin.change("service_requests", request, {"assigned_to": "zhao"},
                                    hlc_=str(hlc.Hlc(now - HOUR, 0, lin.client_id)))]) == [("applied", None)]
    console(http, "chen")
    page = http.get(f"/console/service-requests/{request}").text
    rows = page.split('id="timeline"')[1].split("</table>")[0].split("<tr")[2:]
    assert ["派给 Wang" in rows[0], "接单" in rows[1], "由 Wang 改派给 Zhao" in rows[2]] == [True] * 3
    shanghai = hlc.format_ts(now - HOUR + 8 * HOUR)[:16].replace("T", " ")  # the site's zone is Asia/Shanghai
    assert f"<td>{shanghai}</td>" in rows[2] and "<td>Chen</td>" in rows[0] and "<td>Lin</td>" in rows[2]


def test_a_requests_dispatch_history_is_read_through_its_index(store):
    # The request page reads its history among every audit entry (sign-ins pile up): one probe of
    # `audit_dispatch` (m035), not a walk of the kind's entries parsing each one's JSON.
    with store.read() as db:
        statement = identity._dispatches(db)
        if isinstance(db, sqlite3.Connection):
            plan = " ".join(str(step[-1]) for step in db.execute("EXPLAIN QUERY PLAN " + statement, ["r"]))
        else:  # a few rows: PostgreSQL would rather scan them than show it can use the index
            db.execute("SET enable_seqscan = off")
            plan = " ".join(str(step[0]) for step in db.execute("EXPLAIN " + statement, ["r"]))
            db.execute("RESET enable_seqscan")
    assert "audit_dispatch" in plan, plan


def test_the_demos_requests_read_dispatched_when_their_call_came_in_not_at_load_time(tmp_path):
    """Review s29: the demo loads its requests at once through the server's write, so every one's timeline
    ended with 派给 王工 · 系统 at load time, after its own events (a closed one's a day after 关闭)."""
    from server.demo import load_demo
    from tests.helpers import seeded_sqlite

    path = seeded_sqlite(tmp_path / "server", load_demo)
    with sqlite3.connect(path) as db:
        reported = {i: json.loads(f)["reported_at"] for i, f in db.execute(
            "SELECT id, fields FROM rows WHERE collection = 'service_requests'")}
        entries = [json.loads(d) for (d,) in db.execute("SELECT detail FROM audit WHERE kind = 'dispatch'")]
    assert entries and {e["request_id"] for e in entries} <= set(reported)
    assert all(e["changed_at"] == reported[e["request_id"]] for e in entries)

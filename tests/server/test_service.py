"""Service work end to end (issue 12, items 1 and 2): requests, visits and events pushed by real
sessions through the real app, with the scope and change rules of sync/collections/service.py."""

from __future__ import annotations

import uuid
from typing import Any

from sync import hlc
from tests.conftest import SITE

AT = "2026-11-20T02:00:00.000Z"


def request_fields(**extra: Any) -> dict[str, Any]:
    return {"site_id": SITE, "reported_at": AT, "channel": "hotline", "kind": "repair",
            "caller_name": "Ms Chen", "caller_phone": "+86 21 5555 0101", "description": "Gate camera dark", **extra}


def results(session: Any, changes: list[dict[str, Any]]) -> list[tuple[str, str | None]]:
    body = session.push(changes).json()
    return [(r["status"], r.get("reason")) for r in body["results"]]


def open_request(session: Any, **extra: Any) -> str:
    request = str(uuid.uuid4())
    assert results(session, [session.change("service_requests", request, request_fields(**extra))]) == [
        ("applied", None)]
    return request


def rows_of(session: Any, collection: str) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["fields"] for r in session.pull().json()["rows"] if r["collection"] == collection}


def test_the_desk_opens_and_dispatches_the_site_technician_records_the_visit(site, chen, wang):
    request = open_request(chen, assigned_to="wang", device_id=site["cam1"])
    visit, event = str(uuid.uuid4()), str(uuid.uuid4())
    assert results(wang, [
        wang.change("service_visits", visit, {"request_id": request, "technician": "wang", "planned_at": AT}),
        wang.change("service_events", event, {"request_id": request, "visit_id": visit, "kind": "arrived",
                                               "at": AT, "by": "wang"}),
    ]) == [("applied", None), ("applied", None)]
    assert rows_of(wang, "service_requests")[request]["assigned_to"] == "wang"
    assert rows_of(wang, "service_visits")[visit]["technician"] == "wang"
    assert rows_of(chen, "service_events")[event]["kind"] == "arrived"


def test_another_sites_technician_neither_sees_nor_writes_the_request(site, chen, zhao):
    request = open_request(chen)
    assert request not in rows_of(zhao, "service_requests")
    assert results(zhao, [zhao.change("service_events", str(uuid.uuid4()),
                                      {"request_id": request, "kind": "arrived", "at": AT})]) == [
        ("rejected", "forbidden")]


def test_events_are_immutable_and_never_deleted(site, chen, wang):
    request = open_request(chen)
    event = str(uuid.uuid4())
    assert results(wang, [wang.change("service_events", event, {"request_id": request, "kind": "arrived",
                                                                 "at": AT})]) == [("applied", None)]
    assert results(wang, [wang.change("service_events", event, {"kind": "fixed"}),
                          wang.change("service_events", event, {}, delete=True)]) == [
        ("rejected", "immutable"), ("rejected", "forbidden")]
    assert rows_of(wang, "service_events")[event]["kind"] == "arrived"


def test_cancel_and_close_are_the_desks_and_void_a_supervisors(site, chen, wang, lin):
    request = open_request(chen)
    arrived = str(uuid.uuid4())
    assert results(wang, [wang.change("service_events", arrived, {"request_id": request, "kind": "arrived",
                                                                   "at": AT})]) == [("applied", None)]
    event = {"request_id": request, "at": AT}
    assert results(wang, [wang.change("service_events", str(uuid.uuid4()), {**event, "kind": kind})
                          for kind in ("cancelled", "closed", "voided")]) == [("rejected", "forbidden")] * 3
    assert results(chen, [chen.change("service_events", str(uuid.uuid4()),
                                      {**event, "kind": "voided", "note": arrived})]) == [("rejected", "forbidden")]
    assert results(lin, [lin.change("service_events", str(uuid.uuid4()),
                                    {**event, "kind": "voided", "note": arrived})]) == [("applied", None)]
    assert results(chen, [chen.change("service_events", str(uuid.uuid4()), {**event, "kind": "cancelled"})]) == [
        ("applied", None)]


def test_technicians_set_only_the_complexity_of_a_request(site, chen, wang):
    # Regression (contract service.md "Collections", service_requests): technicians of the site may create a
    # request and set `complexity`; they changed any field, so a late `repair` turned `other` lost its clocks.
    request = open_request(chen, assigned_to="wang", reported_at=ts(hlc.wall_ms() - 6 * HOUR))
    for changed in ({"kind": "other"}, {"description": "fixed already"}, {"caller_phone": "110"},
                    {"channel": "on_site", "complexity": "complex"}):
        assert results(wang, [wang.change("service_requests", request, changed)]) == [("rejected", "forbidden")]
    same = {k: v for k, v in request_fields().items() if k != "reported_at"}  # resent unchanged: no change
    assert results(wang, [wang.change("service_requests", request, {**same, "complexity": "complex"})]) == [
        ("applied", None)]
    assert results(chen, [chen.change("service_requests", request, {"description": "Gate camera and NVR"})]) == [
        ("applied", None)]
    got = rows_of(chen, "service_requests")[request]
    assert (got["kind"], got["complexity"], got["description"]) == ("repair", "complex", "Gate camera and NVR")
    # A technician's own request: created whole, then only its complexity.
    own = open_request(wang, kind="repair", complexity="ordinary")
    assert results(wang, [wang.change("service_requests", own, {"kind": "training"})]) == [("rejected", "forbidden")]


def test_a_visit_signature_belongs_to_the_requests_site(site, chen, wang, zhao):
    request = open_request(chen)
    visit, signature = str(uuid.uuid4()), str(uuid.uuid4())
    assert results(wang, [
        wang.change("service_visits", visit, {"request_id": request, "technician": "wang"}),
        wang.change("signatures", signature, {"visit_id": visit, "signer_name": "Wang", "signer_role": "technician",
                                              "signed_at": AT, "sheet_sha256": "ab" * 32}),
    ]) == [("applied", None), ("applied", None)]
    assert rows_of(wang, "signatures")[signature]["visit_id"] == visit
    assert signature not in rows_of(zhao, "signatures")
    assert results(zhao, [zhao.change("signatures", str(uuid.uuid4()), {
        "visit_id": visit, "signer_name": "Zhao", "signer_role": "technician", "signed_at": AT,
        "sheet_sha256": "ab" * 32})]) == [("rejected", "forbidden")]


# -- what the server derives (issue 12, item 2) -------------------------------------------------

HOUR = 3_600_000


def ts(ms: int) -> str:
    return hlc.format_ts(ms)


def event(session: Any, request: str, kind: str, at: str, **extra: Any) -> dict[str, Any]:
    return session.change("service_events", str(uuid.uuid4()), {"request_id": request, "kind": kind, "at": at,
                                                                 **extra})


def conflicts(lin: Any, row_id: str) -> list[dict[str, Any]]:
    return [c for c in lin.http.get("/api/conflicts", headers=lin.headers, params={"limit": 1000}).json()[
        "conflicts"] if c["row_id"] == row_id]


def test_request_numbers_count_per_local_year_of_reported_at(site, chen, wang):
    first, second = open_request(chen), open_request(wang)
    # 17:00 UTC on 31 December is already 2027 in Shanghai: the site's year counts.
    new_year = open_request(chen, reported_at="2026-12-31T17:00:00.000Z")
    numbers = {k: v["number"] for k, v in rows_of(chen, "service_requests").items()}
    assert [numbers[first], numbers[second], numbers[new_year]] == ["SR-2026-00001", "SR-2026-00002",
                                                                      "SR-2027-00001"]


def test_visits_are_numbered_per_request_and_named_after_it(site, chen, wang):
    open_request(chen)
    request = open_request(chen)
    visits = [str(uuid.uuid4()) for _ in range(2)]
    assert results(wang, [wang.change("service_visits", v, {"request_id": request}) for v in visits]) == [
        ("applied", None)] * 2
    got = rows_of(wang, "service_visits")
    assert [(got[v]["visit_no"], got[v]["sheet_no"]) for v in visits] == [(1, "SR-2026-00002-1"),
                                                                           (2, "SR-2026-00002-2")]


def test_status_follows_assignment_and_events(site, chen, wang, lin):
    now = hlc.wall_ms()
    request = open_request(chen, reported_at=ts(now - 3 * HOUR))

    def status() -> str:
        return str(rows_of(chen, "service_requests")[request]["status"])

    assert status() == "received"
    assert results(chen, [chen.change("service_requests", request, {"assigned_to": "wang"})]) == [("applied", None)]
    assert status() == "dispatched"
    steps = [("accepted", {}, "accepted"), ("departed", {}, "accepted"), ("arrived", {}, "in_service"),
             ("paused", {"reason": "awaiting_approval"}, "on_hold"), ("resumed", {}, "in_service"),
             ("fixed", {}, "resolved")]
    for i, (kind, extra, expected) in enumerate(steps):
        assert results(wang, [event(wang, request, kind, ts(now - 2 * HOUR + i * 60_000), **extra)]) == [
            ("applied", None)]
        assert status() == expected, kind
    assert results(chen, [event(chen, request, "closed", ts(now - HOUR))]) == [("applied", None)]
    assert status() == "closed"


def test_an_offline_cancel_and_an_offline_arrival_are_both_kept(site, chen, wang, lin):
    # Regression (issue 12, item 2): the desk cancels; the technician, offline, had arrived meanwhile.
    now = hlc.wall_ms()
    request = open_request(chen, reported_at=ts(now - 3 * HOUR))
    cancel, arrival = event(chen, request, "cancelled", ts(now - HOUR)), event(wang, request, "arrived", ts(now - HOUR))
    assert results(chen, [cancel]) == [("applied", None)]
    assert results(wang, [arrival]) == [("applied", None)]
    events = rows_of(wang, "service_events")
    assert {events[cancel["id"]]["kind"], events[arrival["id"]]["kind"]} == {"cancelled", "arrived"}
    assert rows_of(wang, "service_requests")[request]["status"] == "cancelled"  # not moved back
    [flag] = conflicts(lin, arrival["id"])  # logged with the event that made no sense
    assert (flag["kind"], flag["register"], flag["reason"], flag["seq"]) == ("lost", "status", "out_of_order",
                                                                            arrival["seq"])
    # Regression (session 26, desk2 item 4): the detail read "a 'arrived' event makes no sense"; it is
    # now worded so that no article depends on the kind.
    assert flag["detail"] == "event 'arrived' makes no sense in a request that is cancelled: kept, and the status stays"


def test_a_voided_event_no_longer_moves_the_status(site, chen, wang, lin):
    now = hlc.wall_ms()
    request = open_request(chen, reported_at=ts(now - 3 * HOUR))
    fixed = event(wang, request, "fixed", ts(now - HOUR))
    assert results(wang, [fixed]) == [("applied", None)]
    assert rows_of(wang, "service_requests")[request]["status"] == "resolved"
    assert results(lin, [event(lin, request, "voided", ts(now), note=fixed["id"])]) == [("applied", None)]
    assert rows_of(wang, "service_requests")[request]["status"] == "received"


def test_event_times_are_corrected_and_clamped_and_big_clamps_logged(site, chen, wang, lin):
    now = hlc.wall_ms()
    request = open_request(chen, reported_at=ts(now - 3 * HOUR))
    # A phone one hour slow: its times are corrected by the measured offset, as its HLCs are.
    slow = hlc.wall_ms() - HOUR
    late = event(wang, request, "arrived", ts(slow - HOUR))
    body = wang.push([late], client_time=ts(slow)).json()
    assert body["results"][0]["status"] == "applied"
    got = rows_of(wang, "service_events")[late["id"]]
    assert got["clock"] == "corrected"
    assert hlc.parse_ts(got["effective_at"]) == hlc.parse_ts(late["fields"]["at"]) + body["clock_offset_ms"]
    assert conflicts(lin, late["id"]) == []
    # A time before the customer called, and one in the future: clamped, and logged past the skew.
    before, future = event(wang, request, "departed", ts(now - 5 * HOUR)), event(wang, request, "left", ts(now + HOUR))
    small = event(wang, request, "departed", ts(now - 3 * HOUR - 60_000))
    assert results(wang, [before, future, small]) == [("applied", None)] * 3
    events = rows_of(wang, "service_events")
    assert (events[before["id"]]["clock"], events[before["id"]]["effective_at"]) == ("clamped", ts(now - 3 * HOUR))
    assert events[future["id"]]["clock"] == "clamped"
    assert hlc.parse_ts(events[future["id"]]["effective_at"]) <= hlc.wall_ms()
    assert events[small["id"]]["effective_at"] == ts(now - 3 * HOUR)
    for e in (before, future):
        [entry] = conflicts(lin, e["id"])
        assert (entry["kind"], entry["register"], entry["reason"]) == ("overwritten", "effective_at", "clock_clamped")
        assert entry["old_value"] == e["fields"]["at"]
    assert conflicts(lin, small["id"]) == []  # a clamp within the skew is silent


def test_a_phone_whose_clock_reset_to_1970_keeps_what_its_technician_recorded(site, chen, wang):
    # Regression (s24, client times bounded): the first bound put every time a client sends in the years
    # 2000 to 2100, so a phone whose clock battery died (booted to 1970) refused its technician's arrival
    # offline. Times start at 1970: the arrival is kept and corrected by the measured offset.
    now = hlc.wall_ms()
    request = open_request(chen, reported_at=ts(now - 3 * HOUR))
    phone_now = 60_000  # 1970-01-01T00:01, as the phone reads it
    arrived = event(wang, request, "arrived", ts(phone_now - 30_000))
    assert arrived["fields"]["at"].startswith("1970-01-01T00:00:30")
    body = wang.push([arrived], client_time=ts(phone_now)).json()
    assert body["results"][0]["status"] == "applied"
    got = rows_of(wang, "service_events")[arrived["id"]]
    assert got["clock"] == "corrected"
    assert now - HOUR < hlc.parse_ts(got["effective_at"]) <= hlc.wall_ms()


def test_a_push_of_many_events_for_one_request_recomputes_its_clocks_once(site, chen, wang, monkeypatch):
    # Regression (issue 13 note, "noticed and left"): each staged event recomputed its request's stored
    # clocks, reading all its events again: a push of n events for one request read O(n²) rows.
    # Now the batch recomputes each touched request once, at its end, and stores the same answer.
    from server.domains.service import service as clocks

    now = hlc.wall_ms()
    request = open_request(chen, reported_at=ts(now - 5 * HOUR), assigned_to="wang")  # on_site 4 h: breached
    calls: list[list[str]] = []
    real = clocks.refresh_clocks
    monkeypatch.setattr(clocks, "refresh_clocks", lambda db, ids, now_ms: (calls.append(list(ids)),
                                                                           real(db, ids, now_ms))[1])
    steps = ["accepted", "departed", "arrived"] + ["paused", "resumed"] * 10 + ["fixed"]
    assert results(wang, [event(wang, request, kind, ts(now - 4 * HOUR + i * 60_000),
                                **({"reason": "awaiting_approval"} if kind == "paused" else {}))
                          for i, kind in enumerate(steps)]) == [("applied", None)] * len(steps)
    assert calls == [[request]]
    listed = chen.http.get("/api/service-requests", headers=chen.headers, params={"site_id": SITE}).json()
    found = next(r for r in listed["requests"] if r["id"] == request)
    assert found["status"] == "resolved"
    assert {m["name"]: m["status"] for m in found["milestones"]}["on_site"] == "met"
    assert chen.http.get("/api/service-requests", headers=chen.headers,
                         params={"breached": "true"}).json()["requests"] == []

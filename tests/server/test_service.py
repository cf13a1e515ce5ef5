"""Service work end to end (issue 12, items 1 and 2): requests, visits and events pushed by real
sessions through the real app, with the scope and change rules of sync/collections/service.py."""

from __future__ import annotations

import uuid
from typing import Any

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

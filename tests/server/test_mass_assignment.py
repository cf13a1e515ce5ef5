"""Mass assignment (OWASP API3): every field a technician may not write, in every
collection, pushed by a technician of the row's own site, is rejected `forbidden`,
kept in the conflict log and audited; the client SDK refuses the same write
locally with the same error.

The cases are generated from the write-rules table (`sync/schema.py`): a field
added there without technicians among its writers is covered here at once.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest

from client_sdk import Client
from sync import errors as E
from sync.duty import roster_id
from sync.schema import COLLECTIONS, TECHNICIAN, Field, device_check_id

PHOTO_SHA = "ab" * 32
SAMPLE = {
    "text": "x", "int": 1, "bool": True, "date": "2026-11-20", "timestamp": "2026-11-20T10:15:00.000Z",
    "period": "2026-Q4", "sha256": "cd" * 32, "items": "[]", "scalar": "x",
    "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, "some-row")),
}


def _value(spec: Field, current: Any) -> Any:
    """A valid value of the field's type; a parent keeps its current value (so only the writer rule is at stake)."""
    if spec.parent is not None and current is not None:
        return current
    if spec.choices:
        return spec.choices[-1] if spec.choices[-1] != current else spec.choices[0]
    return SAMPLE[spec.type]


@pytest.fixture
def rows(site: dict[str, str], store: Any) -> dict[str, tuple[str, dict[str, Any]]]:
    """One existing row of every collection at wang's site: (id, fields)."""
    template = str(uuid.uuid5(uuid.NAMESPACE_URL, "template-dome"))
    check = device_check_id(site["inspection"], site["cam1"])
    photo = str(uuid.uuid5(uuid.NAMESPACE_URL, "photo-1"))
    signature = str(uuid.uuid5(uuid.NAMESPACE_URL, "signature-1"))
    created = {
        "checklist_templates": (template, {"kind": "dome_camera", "title": "Dome", "items": "[]"}),
        "device_checks": (check, {"inspection_id": site["inspection"], "device_id": site["cam1"],
                                  "outcome": "serviced", "checked_by": "wang",
                                  "checked_at": "2026-11-20T10:15:00.000Z"}),
        "photos": (photo, {"inspection_id": site["inspection"], "device_id": site["cam1"], "sha256": PHOTO_SHA,
                           "content_type": "image/jpeg", "bytes": 10, "stage": "after"}),
        "signatures": (signature, {"inspection_id": site["inspection"], "signer_name": "Chen",
                                   "signer_role": "technician", "signed_at": "2026-11-20T11:00:00.000Z",
                                   "image_sha256": "ef" * 32, "sheet_sha256": "01" * 32}),
    }
    # Service work (issue 12): a request of the site, a visit and an event of it.
    request, visit, event = (str(uuid.uuid5(uuid.NAMESPACE_URL, n)) for n in ("request-1", "visit-1", "event-1"))
    created["service_requests"] = (request, {"site_id": site["site"], "reported_at": "2026-11-20T10:00:00.000Z",
                                             "channel": "hotline", "kind": "repair"})
    created["service_visits"] = (visit, {"request_id": request, "technician": "wang"})
    created["service_events"] = (event, {"request_id": request, "kind": "arrived",
                                         "at": "2026-11-20T10:30:00.000Z"})
    # Call-backs (issue 13): every field is the desk's; technicians may not create one either.
    created["callbacks"] = (str(uuid.uuid5(uuid.NAMESPACE_URL, "callback-1")), {
        "visit_id": visit, "called_at": "2026-11-20T12:00:00.000Z", "reached": True, "rating": "satisfied"})
    # Duty (issue 13): the month's roster and a call at the site.
    created["duty_roster"] = (roster_id("2026-M11"), {"month": "2026-M11", "technician": "wang"})
    created["duty_calls"] = (str(uuid.uuid5(uuid.NAMESPACE_URL, "call-1")),
                             {"site_id": site["site"], "received_at": "2026-11-20T13:00:00.000Z",
                              "outcome": "solved_by_phone", "duration_s": 240})  # both required (seed line 426)
    # Charges (issue 13): a line of the visit.
    created["charge_lines"] = (str(uuid.uuid5(uuid.NAMESPACE_URL, "line-1")),
                               {"visit_id": visit, "item": "labour", "quantity": 30})
    store.write_server_changes([(c, i, f, False) for c, (i, f) in created.items()])
    return {
        "sites": (site["site"], {}),
        "devices": (site["cam1"], {"site_id": site["site"]}),
        "inspections": (site["inspection"], {"site_id": site["site"], "period": "2026-Q4"}),
        **created,
    }


def protected_writes(rows: dict[str, tuple[str, dict[str, Any]]]) -> list[tuple[str, str, dict[str, Any], bool | None]]:
    """(collection, id, fields, delete) for every write the table denies a technician."""
    cases: list[tuple[str, str, dict[str, Any], bool | None]] = []
    for name, spec in COLLECTIONS.items():
        row_id, current = rows[name]
        for field_name, fspec in spec.fields.items():
            if TECHNICIAN not in fspec.writers:
                cases.append((name, row_id, {field_name: _value(fspec, current.get(field_name))}, None))
        if TECHNICIAN not in spec.create_roles:
            new_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"new-{name}"))
            allowed = {n: _value(f, None) for n, f in spec.fields.items() if TECHNICIAN in f.writers}
            cases.append((name, new_id, allowed, False))
        if TECHNICIAN not in (spec.delete_roles or ()):
            cases.append((name, row_id, {}, True))
    # Rules on values rather than fields, from the same place (sync/merge.py validate).
    check_id, _ = rows["device_checks"]
    cases.append(("device_checks", check_id, {"outcome": "serviced", "checked_by": "zhao",
                                              "checked_at": "2026-11-20T10:15:00.000Z"}, None))
    cases.append(("inspections", rows["inspections"][0], {"status": "scheduled"}, None))
    cases.append(("inspections", rows["inspections"][0], {"status": "signed"}, None))
    return cases


def test_the_cases_cover_the_fields_the_protocol_names(rows):
    named = {(c, next(iter(f)), d) for c, _, f, d in protected_writes(rows) if f}
    for expected in [("sites", "name", None), ("devices", "site_id", None), ("inspections", "assigned_to", None),
                     ("inspections", "due_on", None), ("inspections", "sheet_no", None),
                     ("device_checks", "sealed_by", None), ("photos", "blob", None),
                     ("signatures", "verification", None), ("checklist_templates", "items", None),
                     ("service_requests", "assigned_to", None), ("service_requests", "status", None),
                     ("service_visits", "sheet_no", None), ("service_events", "effective_at", None),
                     ("callbacks", "rating", None), ("callbacks", "points", None),
                     ("charge_lines", "amount_fen", None), ("charge_lines", "covered", None),
                     ("sites", "contract_price_fen", None)]:
        assert expected in named


def test_every_protected_write_by_a_technician_is_forbidden_logged_and_audited(rows, wang, lin, row_of):
    cases = protected_writes(rows)
    before = {(c, i): row_of(c, i) for c, i, _, _ in cases}
    changes = [wang.change(c, i, f, delete=d) for c, i, f, d in cases]
    results = wang.push(changes).json()["results"]
    wrong = [(case, r) for case, r in zip(cases, results, strict=True) if (r["status"], r.get("reason")) != ("rejected", "forbidden")]
    assert wrong == []
    assert {(c, i): row_of(c, i) for c, i, _, _ in cases} == before  # nothing written

    logged = []
    after = 0
    while after is not None:
        page = lin.http.get("/api/conflicts", headers=lin.headers, params={"after": after, "limit": 1000}).json()
        logged += page["conflicts"]
        after = page.get("next_after")
    rejected = {c["seq"] for c in logged if (c["kind"], c["reason"]) == ("rejected", "forbidden")}
    assert rejected == {c["seq"] for c in changes}

    audit = lin.http.get("/api/audit", headers=lin.headers,
                         params={"kind": "push_forbidden", "username": "wang", "limit": 1000}).json()["entries"]
    assert sorted(e["detail"]["seq"] for e in audit) == [c["seq"] for c in changes]
    assert {e["client_id"] for e in audit} == {wang.client_id}


def test_the_client_sdk_refuses_every_protected_write_locally(rows, http, tmp_path: Path):
    phone = Client(tmp_path / "phone.db", http)
    try:
        phone.login("wang", "demo")
        phone.sync()
        accepted = []
        for collection, row_id, fields, delete in protected_writes(rows):
            try:
                phone.write(collection, row_id, fields, delete=delete)
            except E.Forbidden:
                continue
            accepted.append((collection, row_id, fields, delete))
        assert accepted == []
        assert phone.pending() == []
    finally:
        phone.close()

"""A service visit's contact sheet and its seal (issue 12, item 2; contract "The contact sheet and
its seal"): real pushes through the real app, through the same sealing as inspection sheets."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

from sync import hlc, sheet
from tests.conftest import Session
from tests.server.test_sealing import IMAGE, IMAGE_SHA, _audit, _upload
from tests.server.test_service import HOUR, conflicts, event, open_request, results, rows_of, ts

AT = "2026-11-20T10:15:00.000Z"


def visit_fields(request: str, **extra: Any) -> dict[str, Any]:
    return {"request_id": request, "technician": "wang", "planned_at": AT, "outcome": "resolved",
            "work_done": "更换电源适配器", "fault_cause": "power supply", "recorded_by": "wang", "recorded_at": AT,
            **extra}


def signature(session: Session, visit: str, fields: dict[str, Any], role: str = "customer",
              upload_sheet: bool = False) -> tuple[str, dict[str, Any]]:
    """A signature of the contact sheet over `fields` (as the phone holds the visit); a customer's
    image is uploaded first, as the client SDK does."""
    data = sheet.visit_sheet_bytes(visit, fields)
    if role == "customer":
        _upload(session, IMAGE, "image/png")
    if upload_sheet:
        _upload(session, data, "application/json")
    sig_id = str(uuid.uuid4())
    return sig_id, session.change("signatures", sig_id, {
        "visit_id": visit, "signer_name": "陈女士", "signer_role": role, "signed_at": AT,
        "image_sha256": IMAGE_SHA, "sheet_sha256": hashlib.sha256(data).hexdigest()})


RESULT = ("outcome", "work_done", "fault_cause", "recorded_by", "recorded_at")


def result(fields: dict[str, Any], **changed: Any) -> dict[str, Any]:
    """The visit's `result` group, written whole (a group is one register), with `changed`."""
    return {name: fields[name] for name in RESULT} | changed


def handled(chen: Session, wang: Session) -> tuple[str, str, dict[str, Any]]:
    """A request the technician arrived at and fixed, with its visit pushed: (request, visit, visit fields)."""
    now = hlc.wall_ms()
    request = open_request(chen, assigned_to="wang", reported_at=ts(now - 3 * HOUR))
    visit, fields = str(uuid.uuid4()), visit_fields(request)
    assert results(wang, [wang.change("service_visits", visit, fields),
                          event(wang, request, "arrived", ts(now - 2 * HOUR), visit_id=visit),
                          event(wang, request, "fixed", ts(now - HOUR), visit_id=visit)]) == [("applied", None)] * 3
    return request, visit, fields


def test_a_customer_signature_seals_the_visit_and_signs_the_request(site, chen, wang, lin):
    request, visit, fields = handled(chen, wang)
    assert rows_of(chen, "service_requests")[request]["status"] == "resolved"
    sig_id, sig = signature(wang, visit, fields)
    assert results(wang, [sig]) == [("applied", None)]
    assert rows_of(lin, "signatures")[sig_id]["verification"] == "valid"
    assert rows_of(lin, "service_visits")[visit]["sealed_by"] == sig_id
    assert rows_of(chen, "service_requests")[request]["status"] == "signed"


def test_a_change_to_a_sealed_visit_is_rejected_sealed(site, chen, wang, lin):
    _request, visit, fields = handled(chen, wang)
    sig_id, sig = signature(wang, visit, fields)
    assert results(wang, [sig]) == [("applied", None)]
    assert rows_of(lin, "service_visits")[visit]["sealed_by"] == sig_id
    assert results(wang, [wang.change("service_visits", visit, result(fields, work_done="changed after signing")),
                          wang.change("service_visits", visit, {"planned_at": ts(hlc.wall_ms())})]) == [
        ("rejected", "sealed")] * 2
    # A supervisor's client is refused too: the seal is the customer's word, not a permission.
    assert results(lin, [lin.change("service_visits", visit, {"warranty_void": "no_proof"})]) == [
        ("rejected", "sealed")]
    assert rows_of(lin, "service_visits")[visit]["work_done"] == fields["work_done"]


def test_a_sheet_that_is_not_the_servers_is_a_mismatch_and_seals_nothing(site, chen, wang, lin):
    request, visit, fields = handled(chen, wang)
    shown = dict(fields, work_done="更换摄像机")  # the customer was shown other work
    for upload_sheet in (False, True):  # the sheet blob not stored yet, and stored
        sig_id, sig = signature(wang, visit, shown, upload_sheet=upload_sheet)
        assert results(wang, [sig]) == [("applied", None)]
        assert rows_of(lin, "signatures")[sig_id]["verification"] == "mismatch"
    assert "sealed_by" not in rows_of(lin, "service_visits")[visit]
    assert rows_of(chen, "service_requests")[request]["status"] == "resolved"
    # Part of the visit is not a contact sheet: one left out of the fields is a mismatch too.
    partial = {k: v for k, v in fields.items() if k != "fault_cause"}
    sig_id, sig = signature(wang, visit, partial, upload_sheet=True)
    assert results(wang, [sig]) == [("applied", None)]
    assert rows_of(lin, "signatures")[sig_id]["verification"] == "mismatch"
    # Nothing sealed: the visit can still be corrected.
    assert results(wang, [wang.change("service_visits", visit, result(fields, work_done="更换摄像机"))]) == [
        ("applied", None)]


def test_a_contact_sheet_mismatch_lists_its_differences_as_an_inspection_sheets_does(site, chen, wang, lin):
    # Regression (noticed in issue 13/14): a visit signature's mismatch listed no differences, so the
    # supervisor could not tell what the customer was shown. Now the same list as an inspection sheet's,
    # of the visit and its charge lines as they stood when the customer signed.
    _request, visit, fields = handled(chen, wang)
    shown = dict(fields, work_done="更换摄像机")  # the customer was shown other work
    sig_id, sig = signature(wang, visit, shown, upload_sheet=True)
    line = str(uuid.uuid4())
    assert results(wang, [sig, wang.change("charge_lines", line, {"visit_id": visit, "item": "diagnosis",
                                                                  "quantity": 1})]) == [("applied", None)] * 2
    answer = lin.http.get(f"/api/visits/{visit}", headers=lin.headers)
    assert answer.status_code == 200, answer.text
    [listed] = [s for s in answer.json()["signatures"] if s["id"] == sig_id]
    sheet_no = rows_of(lin, "service_visits")[visit]["sheet_no"]
    assert (listed["verification"], listed["compared"], listed["differences_total"]) == ("mismatch", "visit", 1)
    assert listed["differences"] == [{"row_id": visit, "device_id": None, "code": sheet_no, "field": "work_done",
                                      "signed": "更换摄像机", "server": fields["work_done"], "check": "changed"}]
    # A line the customer was not shown: the whole visit is compared.
    shown_again = dict(fields, fault_cause="雷击")
    sig_id, sig = signature(wang, visit, shown_again, upload_sheet=True)
    assert results(wang, [sig]) == [("applied", None)]
    found = wang.http.get(f"/api/signatures/{sig_id}", headers=wang.headers).json()
    assert (found["differences_total"], found["visit_id"], found["sheet_no"]) == (3, visit, sheet_no)
    assert sorted((d["row_id"], d["code"], d["field"], d["signed"], d["server"], d["check"])
                  for d in found["differences"]) == sorted([
        (visit, sheet_no, "fault_cause", "雷击", fields["fault_cause"], "changed"),
        (line, "diagnosis", "item", None, "diagnosis", "not_on_sheet"),
        (line, "diagnosis", "quantity", None, 1, "not_on_sheet")])


def test_a_stored_contact_sheet_verifies_and_seals(site, chen, wang, lin):
    _request, visit, fields = handled(chen, wang)
    sig_id, sig = signature(wang, visit, fields, upload_sheet=True)
    assert results(wang, [sig]) == [("applied", None)]
    assert rows_of(lin, "signatures")[sig_id]["verification"] == "valid"
    assert rows_of(lin, "service_visits")[visit]["sealed_by"] == sig_id


def test_a_visit_signature_is_checked_at_its_place_in_the_batch(site, chen, wang, lin):
    """A change to the visit before the signature in the same push counts; one after it is sealed."""
    _request, visit, fields = handled(chen, wang)
    seen = result(fields, work_done="更换电源适配器，已测试")  # what the customer then saw
    before = wang.change("service_visits", visit, seen)
    sig_id, sig = signature(wang, visit, dict(fields, **seen))
    after = wang.change("service_visits", visit, result(seen, fault_cause="changed after signing"))
    assert results(wang, [before, sig, after]) == [("applied", None), ("applied", None), ("rejected", "sealed")]
    visit_row = rows_of(lin, "service_visits")[visit]
    assert visit_row["sealed_by"] == sig_id and visit_row["fault_cause"] == "power supply"
    assert rows_of(lin, "signatures")[sig_id]["verification"] == "valid"


def test_a_technicians_signature_records_but_seals_nothing(site, chen, wang, lin):
    request, visit, fields = handled(chen, wang)
    sig_id, sig = signature(wang, visit, fields, role="technician")
    assert results(wang, [sig]) == [("applied", None)]
    assert rows_of(lin, "signatures")[sig_id]["verification"] == "valid"
    assert "sealed_by" not in rows_of(lin, "service_visits")[visit]
    assert rows_of(chen, "service_requests")[request]["status"] == "resolved"


def test_a_sealed_unresolved_visit_does_not_sign_the_request(site, chen, wang, lin):
    request, visit, fields = handled(chen, wang)
    assert results(wang, [wang.change("service_visits", visit, result(fields, outcome="revisit_needed"))]) == [
        ("applied", None)]
    sig_id, sig = signature(wang, visit, dict(fields, outcome="revisit_needed"))
    assert results(wang, [sig]) == [("applied", None)]
    assert rows_of(lin, "service_visits")[visit]["sealed_by"] == sig_id
    assert rows_of(chen, "service_requests")[request]["status"] == "resolved"


def test_a_visit_sealed_before_the_fixed_event_arrives_signs_on_its_arrival(site, chen, wang, lin):
    """An offline phone pushes the sheet's signature before its `fixed` event."""
    now = hlc.wall_ms()
    request = open_request(chen, assigned_to="wang", reported_at=ts(now - 3 * HOUR))
    visit, fields = str(uuid.uuid4()), visit_fields(request)
    created = [wang.change("service_visits", visit, fields),
               event(wang, request, "arrived", ts(now - 2 * HOUR), visit_id=visit)]
    sig_id, sig = signature(wang, visit, fields)
    assert results(wang, [*created, sig]) == [("applied", None)] * 3
    assert rows_of(lin, "service_visits")[visit]["sealed_by"] == sig_id
    assert rows_of(chen, "service_requests")[request]["status"] == "in_service"
    assert results(wang, [event(wang, request, "fixed", ts(now - HOUR), visit_id=visit)]) == [("applied", None)]
    assert rows_of(chen, "service_requests")[request]["status"] == "signed"


def test_cancelled_only_before_signed(site, chen, wang, lin):
    # Regression (issue 12, item 2): a cancel after the customer signed is kept, flagged, and moves nothing.
    request, visit, fields = handled(chen, wang)
    _sig_id, sig = signature(wang, visit, fields)
    assert results(wang, [sig]) == [("applied", None)]
    cancel = event(chen, request, "cancelled", ts(hlc.wall_ms() - 60_000))
    assert results(chen, [cancel]) == [("applied", None)]
    assert rows_of(chen, "service_requests")[request]["status"] == "signed"
    [flag] = conflicts(lin, cancel["id"])
    assert (flag["kind"], flag["register"], flag["reason"]) == ("lost", "status", "out_of_order")
    # A call-back done, the desk closes it: `closed` follows `signed`.
    assert results(chen, [event(chen, request, "closed", ts(hlc.wall_ms() - 1_000))]) == [("applied", None)]
    assert rows_of(chen, "service_requests")[request]["status"] == "closed"


def test_retracting_the_signature_unseals_the_visit_and_unsigns_the_request(site, chen, wang, lin):
    request, visit, fields = handled(chen, wang)
    sig_id, sig = signature(wang, visit, fields)
    assert results(wang, [sig]) == [("applied", None)]
    assert rows_of(chen, "service_requests")[request]["status"] == "signed"

    assert wang.http.post(f"/api/signatures/{sig_id}/retract", headers=wang.headers).status_code == 403
    resp = lin.http.post(f"/api/signatures/{sig_id}/retract", headers=lin.headers)
    assert resp.status_code == 200, resp.text
    assert resp.json()["retracted_by"] == "lin" and resp.json()["sealed"] == 0
    assert "sealed_by" not in rows_of(wang, "service_visits")[visit]
    assert rows_of(chen, "service_requests")[request]["status"] == "resolved"
    [entry] = _audit(lin, "signature_retracted")
    assert entry["detail"] == {"signature_id": sig_id, "visit_id": visit, "unsealed": 1}

    # The visit can be corrected again, and a new customer signature seals and signs it.
    assert results(wang, [wang.change("service_visits", visit, result(fields, work_done="更换电源适配器及线缆"))]) == [
        ("applied", None)]
    new_id, new_sig = signature(wang, visit, dict(fields, work_done="更换电源适配器及线缆"))
    assert results(wang, [new_sig]) == [("applied", None)]
    assert rows_of(lin, "service_visits")[visit]["sealed_by"] == new_id
    assert rows_of(chen, "service_requests")[request]["status"] == "signed"


def test_a_signature_names_exactly_one_sheet(site, chen, wang):
    _request, visit, fields = handled(chen, wang)
    for extra, left_out in (({"inspection_id": site["inspection"]}, ""), ({}, "visit_id")):
        _, sig = signature(wang, visit, fields, role="technician")
        sig["fields"] = {k: v for k, v in sig["fields"].items() if k != left_out} | extra
        assert results(wang, [sig]) == [("rejected", "invalid_field")]

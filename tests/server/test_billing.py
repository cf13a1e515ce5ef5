"""Charges end to end (issue 13, items 2 and 3; contract "Charges", "The contact sheet and its seal"):
lines pushed by real sessions through the real app, priced by the server in the write transaction,
the bill, the visit's contact sheet and its seal, the annual quote of the reference site."""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec

from server.domains.billing.service import fee_book
from sync import pricing, sheet
from tests.conftest import SITE, Session
from tests.helpers import ok
from tests.server.test_callbacks import callback
from tests.server.test_sealing import IMAGE, IMAGE_SHA, _upload
from tests.server.test_service import open_request, results, rows_of
from tests.server.test_technician_report import report
from tests.server.test_visit_sealing import AT, visit_fields

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"


def visit_with_lines(store: Any, chen: Session, wang: Session, site: dict[str, str], lines: list[dict[str, Any]],
                     site_fields: dict[str, Any] | None = None, **request: Any) -> tuple[str, str, dict[str, str]]:
    """A per-visit city site (unless `site_fields` say otherwise), a request, its visit and `lines`
    pushed by the technician: (request, visit, {line id: ...})."""
    store.write_server_changes([("sites", SITE, {"zone": "urban", "contract": "per_visit", **(site_fields or {})},
                                 False)])
    request_id = open_request(chen, assigned_to="wang", **request)
    visit = str(uuid.uuid4())
    ids = [str(uuid.uuid4()) for _ in lines]
    changes = [wang.change("service_visits", visit, visit_fields(request_id)),
               *(wang.change("charge_lines", i, {"visit_id": visit, **f}) for i, f in zip(ids, lines, strict=True))]
    assert results(wang, changes) == [("applied", None)] * len(changes)
    return request_id, visit, dict(zip(ids, [str(f["item"]) for f in lines], strict=True))


LINES = [
    {"item": "visit", "quantity": 1},
    {"item": "labour", "quantity": 31, "description": "更换电源"},  # billed as 60 minutes
    {"item": "part", "quantity": 2, "unit_price_fen": 15_000, "description": "12V 2A 电源",
     "decision": "agreed", "decided_by": "陈女士", "decided_at": AT},
    {"item": "part", "quantity": 1, "unit_price_fen": 90_000, "description": "摄像机",
     "decision": "declined", "decided_by": "陈女士", "decided_at": AT},
    {"item": "diagnosis", "quantity": 1},
]


def test_the_server_prices_each_line_and_the_bill_is_the_phones_total(store, site, chen, wang, lin):
    request, visit, _ = visit_with_lines(store, chen, wang, site, LINES)
    bill = ok(wang.http.get(f"/api/visits/{visit}/bill", headers=wang.headers))
    assert [(li["item"], li["amount_fen"], li["covered"], li["billed"]) for li in bill["lines"]] == [
        ("visit", 40_000, False, True), ("labour", 20_000, False, True), ("part", 30_000, False, True),
        ("part", 90_000, False, False), ("diagnosis", 10_000, False, True)]
    assert (bill["subtotal_fen"], bill["tax_bps"], bill["tax_fen"], bill["total_fen"]) == (100_000, 600, 6_000, 106_000)
    # The phone, offline, prices the same rows with the same code: the same bill, to the fen.
    held = {c: rows_of(wang, c) for c in ("sites", "service_requests", "service_visits", "charge_lines")}
    ctx = pricing.context(fee_book(), site=held["sites"][SITE], request=held["service_requests"][request],
                          visit=held["service_visits"][visit], device=None)
    unpriced = [(i, {k: v for k, v in f.items() if k not in ("amount_fen", "covered")})
                for i, f in held["charge_lines"].items()]
    order = [li["id"] for li in bill["lines"]]
    phone = pricing.bill(visit, sorted(unpriced, key=lambda r: order.index(r[0])), 600, ctx)
    assert msgspec.to_builtins(phone) == bill
    # Integer fen everywhere: in the database, on the wire, in the bill.
    with store.read() as db:
        stored = [json.loads(f) for (f,) in db.execute("SELECT fields FROM rows WHERE collection = 'charge_lines'")]
    assert all(type(f["amount_fen"]) is int and type(f["covered"]) is bool for f in stored)
    assert all(type(f["amount_fen"]) is int for f in held["charge_lines"].values())


def _signature(session: Session, visit: str, fields: dict[str, Any],
               lines: dict[str, dict[str, Any]]) -> tuple[str, dict[str, Any]]:
    """A customer's signature of the contact sheet over the visit and `lines`, as the phone holds them."""
    _upload(session, IMAGE, "image/png")
    sig_id = str(uuid.uuid4())
    return sig_id, session.change("signatures", sig_id, {
        "visit_id": visit, "signer_name": "陈女士", "signer_role": "customer", "signed_at": AT,
        "image_sha256": IMAGE_SHA, "sheet_sha256": sheet.visit_sheet_sha256(visit, fields, lines)})


def test_a_line_changed_after_the_customer_signed_is_rejected_sealed(store, site, chen, wang, lin):
    # Issue 13: the signed contact sheet is the customer's consent to each line; after it, no line
    # changes, none is added or deleted, a supervisor's client included.
    request, visit, ids = visit_with_lines(store, chen, wang, site, LINES)
    lines = rows_of(wang, "charge_lines")
    sig_id, sig = _signature(wang, visit, visit_fields(request), lines)
    assert results(wang, [sig]) == [("applied", None)]
    assert rows_of(lin, "signatures")[sig_id]["verification"] == "valid"
    assert {i: f.get("sealed_by") for i, f in rows_of(lin, "charge_lines").items()} == dict.fromkeys(ids, sig_id)
    part = next(i for i, item in ids.items() if item == "part")
    assert results(wang, [
        wang.change("charge_lines", part, {"quantity": 3}),
        wang.change("charge_lines", part, {"decision": "declined", "decided_by": "陈女士", "decided_at": AT}),
        wang.change("charge_lines", part, {}, delete=True),
        wang.change("charge_lines", str(uuid.uuid4()), {"visit_id": visit, "item": "labour", "quantity": 60}),
    ]) == [("rejected", "sealed")] * 4
    assert results(lin, [lin.change("charge_lines", part, {"unit_price_fen": 1})]) == [("rejected", "sealed")]
    assert {i: {k: v for k, v in f.items() if k != "sealed_by"} for i, f in rows_of(lin, "charge_lines").items()} == lines
    assert ok(wang.http.get(f"/api/visits/{visit}/bill", headers=wang.headers))["total_fen"] == 106_000


def test_a_sealed_visit_and_its_request_are_not_deleted_until_the_signature_is_retracted(store, site, chen, wang, lin):
    # Regression (规程 3.4.8 记录和保存《技术服务联络单》入《客户服务档案》; service.md "The contact sheet and its
    # seal"): a supervisor's client deleted the request of a sealed visit, and with it the signed contact
    # sheet, its PDF and its bill (404), the charge lines and signature left without a sheet. The visit
    # itself was already refused; now its request is too, until a supervisor retracts the signature.
    request, visit, _ = visit_with_lines(store, chen, wang, site, LINES)
    sig_id, sig = _signature(wang, visit, visit_fields(request), rows_of(wang, "charge_lines"))
    rated = callback(chen, visit, "2026-11-20T12:00:00.000Z", rating="satisfied")
    assert results(wang, [sig]) == [("applied", None)] and results(chen, [rated]) == [("applied", None)]
    pages = (f"/api/visits/{visit}", f"/api/visits/{visit}/bill", f"/api/service-requests/{request}")

    def shown() -> list[Any]:
        sheet_, bill, detail = (ok(lin.http.get(url, headers=lin.headers)) for url in pages)
        return [sheet_, bill, detail["visits"], detail["callbacks"], report(lin)]  # milestones count down

    before = shown()
    assert before[1]["total_fen"] == 106_000 and before[4]["wang"]["sealed_sheets"] == 1
    assert results(lin, [lin.change("service_visits", visit, {}, delete=True),
                         lin.change("service_requests", request, {}, delete=True)]) == [("rejected", "sealed")] * 2
    assert shown() == before
    assert lin.http.get(f"/api/visits/{visit}/sheet.pdf", headers=lin.headers).status_code == 200
    # The mend: a supervisor retracts a bogus signature (kept, marked), then deletes the request.
    assert lin.http.post(f"/api/signatures/{sig_id}/retract", headers=lin.headers).status_code == 200
    assert results(lin, [lin.change("service_requests", request, {}, delete=True)]) == [("applied", None)]
    assert lin.http.get(pages[0], headers=lin.headers).status_code == 404


def test_a_request_is_not_deleted_in_the_push_that_seals_its_visit(store, site, chen, wang, lin):
    # Regression (规程 3.4.8; service.md "The contact sheet and its seal"): the seal counts at its place in
    # the push, and a visit sealed with outcome `revisit_needed` (its request not `signed`) counts too.
    request, visit, _ = visit_with_lines(store, chen, wang, site, LINES[:1])
    fields = visit_fields(request, outcome="revisit_needed")
    assert results(wang, [wang.change("service_visits", visit, {k: fields[k] for k in (
        "outcome", "work_done", "fault_cause", "recorded_by", "recorded_at")})]) == [("applied", None)]
    _, sig = _signature(lin, visit, fields, rows_of(wang, "charge_lines"))
    assert results(lin, [sig, lin.change("service_requests", request, {}, delete=True)]) == [
        ("applied", None), ("rejected", "sealed")]
    assert rows_of(lin, "service_requests")[request]["status"] != "signed"
    assert set(rows_of(lin, "service_visits")) == {visit}


def test_a_sheet_without_all_the_lines_is_a_mismatch_and_seals_nothing(store, site, chen, wang, lin):
    request, visit, _ = visit_with_lines(store, chen, wang, site, LINES)
    lines = rows_of(wang, "charge_lines")
    shown = dict(list(lines.items())[:-1])  # the customer was not shown the last line
    sig_id, sig = _signature(wang, visit, visit_fields(request), shown)
    assert results(wang, [sig]) == [("applied", None)]
    assert rows_of(lin, "signatures")[sig_id]["verification"] == "mismatch"
    assert not any("sealed_by" in f for f in rows_of(lin, "charge_lines").values())
    extra = wang.change("charge_lines", str(uuid.uuid4()), {"visit_id": visit, "item": "transport", "quantity": 1})
    assert results(wang, [extra]) == [("applied", None)]  # nothing sealed: the visit still takes lines


def test_a_line_before_the_signature_in_the_same_push_is_signed_one_after_it_is_sealed(store, site, chen, wang):
    request, visit, _ = visit_with_lines(store, chen, wang, site, LINES[:1])
    lines = rows_of(wang, "charge_lines")
    new = str(uuid.uuid4())
    before = wang.change("charge_lines", new, {"visit_id": visit, "item": "diagnosis", "quantity": 1})
    sig_id, sig = _signature(wang, visit, visit_fields(request), {**lines, new: before["fields"]})
    after = wang.change("charge_lines", str(uuid.uuid4()), {"visit_id": visit, "item": "labour", "quantity": 30})
    assert results(wang, [before, sig, after]) == [("applied", None), ("applied", None), ("rejected", "sealed")]
    assert rows_of(wang, "charge_lines")[new]["sealed_by"] == sig_id


def test_warranty_covers_the_visit_and_a_void_reprices_its_lines(store, site, chen, wang):
    # A device in warranty on the day of the call (accepted ten days before): the customer pays nothing.
    _request, visit, ids = visit_with_lines(
        store, chen, wang, site, LINES[:3], site_fields={"accepted_on": "2026-11-10", "warranty_months": 12},
        device_id=site["cam1"], reported_at=AT)
    bill = ok(wang.http.get(f"/api/visits/{visit}/bill", headers=wang.headers))
    assert [li["covered"] for li in bill["lines"]] == [True] * 3 and bill["total_fen"] == 0
    # Damage by people: only parts are charged, visit fees waived; the stored lines follow the visit.
    assert results(wang, [wang.change("service_visits", visit, {"warranty_void": "human_damage"})]) == [
        ("applied", None)]
    assert {ids[i]: f["covered"] for i, f in rows_of(wang, "charge_lines").items()} == {
        "visit": True, "labour": True, "part": False}
    assert ok(wang.http.get(f"/api/visits/{visit}/bill", headers=wang.headers))["subtotal_fen"] == 30_000
    assert results(wang, [wang.change("service_visits", visit, {"warranty_void": "no_proof"})]) == [
        ("applied", None)]
    assert ok(wang.http.get(f"/api/visits/{visit}/bill", headers=wang.headers))["subtotal_fen"] == 90_000


def test_a_void_found_on_one_visit_voids_the_warranty_of_every_visit_of_the_request(store, site, chen, wang):
    # Regression (contract service.md "Warranty": a visit's `warranty_void` makes the request void): only the
    # visit that found the altered label lost the cover; the revisit's lines were still covered.
    request, first, _ = visit_with_lines(
        store, chen, wang, site, [], site_fields={"accepted_on": "2026-11-10", "warranty_months": 12},
        device_id=site["cam1"], reported_at=AT)
    assert results(wang, [wang.change("service_visits", first, {"warranty_void": "label_altered"})]) == [
        ("applied", None)]
    second, line = str(uuid.uuid4()), str(uuid.uuid4())
    assert results(wang, [wang.change("service_visits", second, {"request_id": request, "technician": "wang"}),
                          wang.change("charge_lines", line, {"visit_id": second, "item": "visit", "quantity": 1})]) == [
        ("applied", None)] * 2

    def covered() -> tuple[bool, int]:
        bill = ok(wang.http.get(f"/api/visits/{second}/bill", headers=wang.headers))
        return bill["lines"][0]["covered"], bill["subtotal_fen"]

    assert covered() == (False, 40_000)
    # Damage found on the first visit: the revisit's visit fee is waived again; no void: all covered.
    for void, expected in (("human_damage", (True, 0)), (None, (True, 0)), ("no_proof", (False, 40_000))):
        assert results(wang, [wang.change("service_visits", first, {"warranty_void": void})]) == [("applied", None)]
        assert covered() == expected, void


def test_the_visit_shows_its_lines_and_signatures(store, site, chen, wang, zhao):
    request, visit, ids = visit_with_lines(store, chen, wang, site, LINES)
    sig_id, sig = _signature(wang, visit, visit_fields(request), rows_of(wang, "charge_lines"))
    assert results(wang, [sig]) == [("applied", None)]
    body = ok(chen.http.get(f"/api/visits/{visit}", headers=chen.headers))
    assert (body["request_id"], body["sealed_by"], body["work_done"]) == (request, sig_id, "更换电源适配器")
    assert [(li["id"], li["item"], li["billed"], li["sealed_by"]) for li in body["lines"]] == [
        (i, item, i != list(ids)[3], sig_id) for i, item in ids.items()]
    assert [(s["id"], s["verification"]) for s in body["signatures"]] == [(sig_id, "valid")]
    # Another site's technician: as if there were no such visit.
    for path in (f"/api/visits/{visit}", f"/api/visits/{visit}/bill", f"/api/visits/{uuid.uuid4()}", "/api/visits/x"):
        assert zhao.http.get(path, headers=zhao.headers).json()["code"] == "not_found"


def test_the_reference_sites_annual_quote_beside_its_contract_price(store, lin, chen, http):
    data = json.loads((FIXTURES / "reference_site.json").read_text(encoding="utf-8"))
    ref = {k: v for k, v in data["site"].items() if k not in ("key", "id")}
    site_id = data["site"]["id"]
    store.write_server_changes([("sites", site_id, ref, False), *(
        ("devices", d["id"], {"site_id": site_id, **{k: v for k, v in d.items() if k != "id"}}, False)
        for d in data["devices"])])
    quote = ok(chen.http.get(f"/api/sites/{site_id}/annual-quote", headers=chen.headers))
    assert [(li["item"], li["quantity"], li["unit_price_fen"], li["amount_fen"]) for li in quote["lines"]] == [
        ("auxiliary", 38, 8_000, 304_000), ("camera", 117, 15_000, 1_755_000),
        ("door_access_terminal", 94, 30_000, 2_820_000), ("server", 1, 80_000, 80_000),
        ("surveillance_host", 6, 80_000, 480_000), ("switch", 19, 32_000, 608_000)]  # 19 switches, all at 320
    assert (quote["total_fen"], quote["contract_price_fen"]) == (6_047_000, 30_000_000)
    assert quote["unquoted"] == {"camera_psu": 117, "card_reader": 118, "hard_disk": 20, "magnetic_lock": 94}
    # A retired device is not maintained.
    camera = next(d["id"] for d in data["devices"] if d["kind"] == "dome_camera")
    store.write_server_changes([("devices", camera, {"status": "retired"}, False)])
    quote = ok(lin.http.get(f"/api/sites/{site_id}/annual-quote", headers=lin.headers))
    assert quote["total_fen"] == 6_047_000 - 15_000


def test_the_sheet_hash_is_over_the_lines_the_server_reads():
    # The phone and the server build one sheet: a line's server fields are not on it.
    line = {"visit_id": "v", "item": "visit", "quantity": 1, "amount_fen": 40_000, "covered": False,
            "sealed_by": str(uuid.uuid4())}
    data = sheet.visit_sheet_bytes("v", {"technician": "wang"}, {"l": line})
    assert json.loads(data)["lines"] == {"l": {"item": "visit", "quantity": 1}}
    assert hashlib.sha256(data).hexdigest() == sheet.visit_sheet_sha256("v", {"technician": "wang"}, {"l": line})

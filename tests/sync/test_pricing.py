"""Pure pricing (issue 13, docs/service.md "Charges"): the fee book, a line's price, the bill, the
annual quote. Every cover rule of the contract once, in one table; properties of the money."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sync import pricing
from sync.pricing import Context, ScheduleError

FEES = Path(__file__).resolve().parents[2] / "fixtures" / "fee_schedules.json"
BOOK = pricing.load(FEES.read_bytes())
SCHEDULE = BOOK.schedules[0]


def ctx(**kw: Any) -> Context:
    return Context(**{"schedule": SCHEDULE, "zone": "urban", "contract": "per_visit", **kw})


def line(item: str, quantity: int = 1, **kw: Any) -> dict[str, Any]:
    return {"item": item, "quantity": quantity, **kw}


PART = line("part", unit_price_fen=20_000, decision="agreed")
DEAR_PART = line("part", unit_price_fen=20_001, decision="agreed")

# (what, context, line, (amount_fen, covered, billed)): every rule of the contract's Charges section.
COVER_RULES = [
    ("per-visit: a visit in the city", ctx(), line("visit"), (40_000, False, True)),
    ("per-visit: a visit elsewhere", ctx(zone="suburban"), line("visit"), (60_000, False, True)),
    ("per-visit: no zone pays the city price", ctx(zone=None), line("visit"), (40_000, False, True)),
    ("per-visit: a second visit", ctx(zone="suburban"), line("revisit"), (48_000, False, True)),
    ("per-visit: two transport trips", ctx(), line("transport", 2), (40_000, False, True)),
    ("per-visit: diagnosis", ctx(), line("diagnosis"), (10_000, False, True)),
    ("per-visit: a technical phone question", ctx(), line("phone_question"), (5_000, False, True)),
    ("per-visit: remote software support", ctx(), line("remote_software"), (10_000, False, True)),
    ("per-visit: remote system support", ctx(), line("remote_system"), (20_000, False, True)),
    ("per-visit: basic training, 3 person-days", ctx(), line("training_basic", 3), (150_000, False, True)),
    ("per-visit: advanced training", ctx(), line("training_advanced"), (80_000, False, True)),
    ("per-visit: 90 minutes of labour", ctx(), line("labour", 90), (30_000, False, True)),
    ("per-visit: an agreed part at its price", ctx(), line("part", 2, unit_price_fen=15_000, decision="agreed"),
     (30_000, False, True)),
    ("consent: a declined part stays, unbilled", ctx(), line("part", unit_price_fen=15_000, decision="declined"),
     (15_000, False, False)),
    ("consent: a part nobody decided is not billed", ctx(), line("part", unit_price_fen=15_000),
     (15_000, False, False)),
    ("annual: the visit fee is covered", ctx(contract="annual"), line("visit"), (40_000, True, False)),
    ("annual: a second visit is covered", ctx(contract="annual"), line("revisit"), (32_000, True, False)),
    ("annual: transport is covered", ctx(contract="annual"), line("transport"), (20_000, True, False)),
    ("annual: diagnosis is covered", ctx(contract="annual"), line("diagnosis"), (10_000, True, False)),
    ("annual: labour is covered", ctx(contract="annual"), line("labour", 30), (10_000, True, False)),
    ("annual: a part of 200 yuan is covered", ctx(contract="annual"), PART, (20_000, True, False)),
    ("annual: a dearer part is charged at its price", ctx(contract="annual"), DEAR_PART, (20_001, False, True)),
    ("annual: training is not in the contract", ctx(contract="annual"), line("training_basic"),
     (50_000, False, True)),
    ("annual: a declined dear part is not billed", ctx(contract="annual"), {**DEAR_PART, "decision": "declined"},
     (20_001, False, False)),
    ("warranty contract, out of warranty: pays", ctx(contract="warranty", phase="expired"), line("visit"),
     (40_000, False, True)),
    *[(f"warranty phase {p}: everything is covered", ctx(contract=c, phase=p), li, (amount, True, False))
      for p in ("return", "exchange", "repair") for c in ("per_visit", "warranty", "annual")
      for li, amount in ((line("visit"), 40_000), (DEAR_PART, 20_001), (line("training_basic"), 50_000))],
    ("warranty unknown (no start date): not covered", ctx(phase="unknown"), line("diagnosis"), (10_000, False, True)),
    ("no device on the request: not covered", ctx(phase="none"), line("diagnosis"), (10_000, False, True)),
    *[(f"void {v}: the warranty pays nothing", ctx(phase="repair", void=v), li, (amount, False, True))
      for v in ("no_proof", "label_altered") for li, amount in ((line("visit"), 40_000), (PART, 20_000))],
    *[(f"void {v}: visit fees waived", ctx(phase="repair", void=v), li, (amount, True, False))
      for v in ("environment_damage", "human_damage")
      for li, amount in ((line("visit"), 40_000), (line("labour", 60), 20_000), (line("diagnosis"), 10_000))],
    *[(f"void {v}: only parts are charged, at cost", ctx(phase="repair", void=v), PART, (20_000, False, True))
      for v in ("environment_damage", "human_damage")],
    ("void with an annual contract: its cover still holds", ctx(contract="annual", phase="repair", void="no_proof"),
     PART, (20_000, True, False)),
    ("damage after the warranty: the contract decides", ctx(phase="expired", void="human_damage"), line("visit"),
     (40_000, False, True)),
]


@pytest.mark.parametrize(("what", "context", "fields", "expected"), COVER_RULES, ids=[r[0] for r in COVER_RULES])
def test_every_cover_rule(what, context, fields, expected):
    assert pricing.price(fields, context) == pricing.Price(*expected)


@pytest.mark.parametrize(("minutes", "billed"), [(1, 30), (29, 30), (30, 30), (31, 60), (60, 60), (61, 90)])
def test_labour_is_rounded_up_to_the_step(minutes, billed):
    assert pricing.billed_minutes(minutes, 30) == billed
    assert pricing.price(line("labour", minutes), ctx()).amount_fen == 20_000 * billed // 60


def test_a_step_that_does_not_divide_the_hour_rounds_half_a_fen_up():
    odd = pricing.load({**json.loads(FEES.read_text()), "schedules": [
        {**json.loads(FEES.read_text())["schedules"][0], "labour_step_minutes": 7,
         "itemised": {**SCHEDULE.itemised, "labour": 10_001}}]})
    # 7 minutes of 10,001 fen an hour: 1,166.78 fen, 1,167 billed.
    assert pricing.price(line("labour", 7), ctx(schedule=odd.schedules[0])).amount_fen == 1_167


def test_the_schedule_in_force_is_the_latest_by_the_visits_date():
    raw = json.loads(FEES.read_text())
    revised = {**raw["schedules"][0], "effective_from": "2027-01-01",
               "itemised": {**raw["schedules"][0]["itemised"], "diagnosis": 12_000}}
    book = pricing.load({**raw, "schedules": [raw["schedules"][0], revised]})
    visit = {"recorded_at": "2026-12-31T15:59:59.000Z"}  # 23:59:59 on 31 December in Shanghai
    request = {"reported_at": "2026-12-30T01:00:00.000Z"}
    old = pricing.context(book, site={"tz": "Asia/Shanghai"}, request=request, visit=visit, device=None)
    assert pricing.price(line("diagnosis"), old).amount_fen == 10_000  # a revision never reprices it
    new = pricing.context(book, site={"tz": "Asia/Shanghai"}, request=request,
                          visit={"recorded_at": "2026-12-31T16:00:00.000Z"}, device=None)  # 00:00 on 1 January
    assert pricing.price(line("diagnosis"), new).amount_fen == 12_000
    planned = pricing.context(book, site={}, request=request, visit={"planned_at": "2027-02-01T02:00:00.000Z"},
                              device=None)  # no result yet: the planned day
    assert planned.schedule is book.schedules[1]


def test_the_warranty_phase_is_the_devices_on_the_day_of_the_call():
    site = {"tz": "Asia/Shanghai", "accepted_on": "2026-11-01", "warranty_months": 12, "contract": "per_visit"}
    request = {"reported_at": "2026-11-05T02:00:00.000Z"}
    c = pricing.context(BOOK, site=site, request=request, visit={}, device={"kind": "dome_camera"})
    assert (c.phase, c.void) == ("return", None)
    c = pricing.context(BOOK, site=site, request=request, visit={"warranty_void": "human_damage"}, device={})
    assert (c.phase, c.void) == ("return", "human_damage")
    assert pricing.context(BOOK, site=site, request=request, visit={}, device=None).phase == "none"


@pytest.mark.parametrize("broken", [
    {"switch": [{"from": 1, "to": 5, "unit_price_fen": 40_000}, {"from": 5, "to": None, "unit_price_fen": 1}]},
    {"switch": [{"from": 1, "to": 5, "unit_price_fen": 40_000}, {"from": 7, "to": None, "unit_price_fen": 1}]},
    {"switch": [{"from": 2, "to": None, "unit_price_fen": 40_000}]},
    {"switch": [{"from": 1, "to": 5, "unit_price_fen": 40_000}]},  # the last tier is open
    {"switch": [{"from": 1, "to": None, "unit_price_fen": -1}]},
])
def test_tiers_are_closed_ranges_from_one_that_neither_overlap_nor_leave_a_gap(broken):
    raw = json.loads(FEES.read_text())
    raw["schedules"][0]["annual"].update(broken)
    with pytest.raises(ScheduleError):
        pricing.load(raw)


def test_a_book_without_a_price_or_out_of_order_is_refused():
    raw = json.loads(FEES.read_text())
    with pytest.raises(ScheduleError):
        pricing.load({**raw, "schedules": [{**raw["schedules"][0], "itemised": {"labour": 20_000}}]})
    with pytest.raises(ScheduleError):
        pricing.load({**raw, "schedules": [raw["schedules"][0], raw["schedules"][0]]})
    with pytest.raises(ScheduleError):
        pricing.load({**raw, "annual_items": {"dome_camera": "hologram"}})


def test_an_unknown_key_of_the_book_is_refused_in_the_operators_file_and_kept_going_past_on_a_phone():
    # Regression (s27-ops6, item 2): an unknown top-level key of fixtures/fee_schedules.json (a tax rate put there)
    # was ignored without a word. Refused only where the server reads the file (strict); a phone reading the
    # server's book, with its tax_bps and any key a newer server adds, keeps going, as clients keep what they
    # do not know (the duty rules' pattern).
    raw = {**json.loads(FEES.read_text()), "tax_bps": 900}
    for book in (raw, json.dumps(raw), json.dumps(raw).encode()):
        with pytest.raises(ScheduleError, match="tax_bps: not a key of the fee book"):
            pricing.load(book, strict=True)
        assert pricing.load(book) == BOOK  # as client_sdk/charges.py reads GET /api/fee-schedules
    assert pricing.load(FEES.read_bytes(), strict=True) == BOOK
    with pytest.raises(ScheduleError):
        pricing.load(b"[]", strict=True)


@pytest.mark.parametrize(("count", "each"), [(1, 40_000), (5, 40_000), (6, 36_000), (10, 36_000), (11, 32_000)])
def test_every_unit_is_priced_at_the_tier_the_count_reaches(count, each):
    lines, total, _ = pricing.annual_quote(BOOK, SCHEDULE, {"poe_switch": count - 1, "core_switch": 1})
    assert [(q.item, q.quantity, q.unit_price_fen) for q in lines] == [("switch", count, each)]
    assert total == count * each


def test_cameras_of_every_kind_are_one_item_and_unmapped_kinds_are_counted_apart():
    lines, total, unquoted = pricing.annual_quote(
        BOOK, SCHEDULE, {"dome_camera": 2, "bullet_camera": 1, "half_dome_camera": 1, "camera_psu": 4, "toaster": 1})
    assert [(q.item, q.quantity, q.amount_fen) for q in lines] == [("camera", 4, 60_000)]
    assert (total, unquoted) == (60_000, {"camera_psu": 4, "toaster": 1})


# -- properties of the money --------------------------------------------------------------------

_lines = st.lists(st.fixed_dictionaries({
    "item": st.sampled_from(pricing.ITEMS),
    "quantity": st.integers(1, pricing.MAX_QUANTITY),
    "unit_price_fen": st.integers(0, pricing.MAX_UNIT_PRICE_FEN),
    "decision": st.sampled_from(["agreed", "declined", None]),
}), max_size=30)
_contexts = st.builds(Context, schedule=st.just(SCHEDULE), zone=st.sampled_from(["urban", "suburban", None]),
                      contract=st.sampled_from(["annual", "per_visit", "warranty", None]),
                      phase=st.sampled_from(["return", "exchange", "repair", "expired", "unknown", "none"]),
                      void=st.sampled_from([None, *pricing.DAMAGE, "no_proof", "label_altered"]))


@given(_lines, _contexts, st.integers(0, pricing.MAX_TAX_BPS))
def test_the_subtotal_is_the_sum_of_billed_lines_and_every_amount_an_int(lines, context, tax_bps):
    numbered = [(f"line-{i}", f) for i, f in enumerate(lines)]
    bill = pricing.bill("visit", numbered, tax_bps, context)
    assert bill.subtotal_fen == sum(li.amount_fen for li in bill.lines if li.billed)
    amounts = [bill.subtotal_fen, bill.tax_fen, bill.total_fen, *(li.amount_fen for li in bill.lines)]
    assert all(type(a) is int and a >= 0 for a in amounts)
    assert bill.total_fen == bill.subtotal_fen + bill.tax_fen
    assert abs(bill.tax_fen * 10_000 - bill.subtotal_fen * tax_bps) <= 5_000  # half a fen at most
    assert all(not (li.billed and li.covered) for li in bill.lines)
    # Priced once and stored, the lines bill the same (the server's bill from what it stored).
    stored = [(i, {**f, "amount_fen": li.amount_fen, "covered": li.covered})
              for (i, f), li in zip(numbered, bill.lines, strict=True)]
    assert pricing.bill("visit", stored, tax_bps) == bill


@pytest.mark.parametrize(("voids", "expected"), [
    ([], None), ([None, None], None), ([None, "human_damage"], "human_damage"),
    (["environment_damage", "label_altered"], "label_altered"), (["no_proof", "human_damage"], "no_proof"),
])
def test_a_void_on_any_visit_voids_the_request_the_worst_one_winning(voids, expected):
    # Contract service.md "Warranty": a visit's `warranty_void` makes the request void; a void that takes
    # the cover away (no proof, altered label) wins over damage, which leaves only the parts to pay.
    assert pricing.request_void([{"warranty_void": v} for v in voids]) == expected

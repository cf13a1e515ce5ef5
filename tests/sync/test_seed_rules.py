"""Rules of the Chinese regulations (`/work/shared/seed/after-sales-service-regulations.zh.txt`,
cited by line) held against the pure code both ends run. docs/rules.md is the table of which rule
lives where; a test here names the seed line it holds."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sync import pricing
from sync.clocks import open_pause
from sync.hlc import format_ts, parse_ts
from sync.pricing import Context
from sync.warranty import ends_on, phase
from tests.sync.test_clocks import ANNUAL, MIN, OFFICE, REPAIR, T0, H, ev, event_lists, run
from tests.sync.test_pricing import SCHEDULE

SIGNED_AT = T0 + 4 * H  # 14:00 in Shanghai: the call-back is due by midnight there, 16:00 UTC
MIDNIGHT = "2026-11-16T16:00:00.000Z"
SIGNED = {**REPAIR, "status": "signed"}
prop = settings(max_examples=150, deadline=None)


def test_a_pause_nobody_resumed_ends_when_the_fault_is_fixed_seed_404():
    # Seed line 404 (3.4.8): 客户服务中心在当天电话回访. A technician paused for the customer's
    # approval and then fixed the fault without a `resumed` (the status rule takes on_hold to
    # resolved). The pause ran on to now, so the sheet's call-back was never due: two days later
    # it was still `pending` and the desk's pages showed the signed request as paused.
    events = [ev("arrived", T0 + H), ev("paused", T0 + 2 * H, reason="awaiting_approval"), ev("fixed", T0 + 3 * H)]
    found = run(events, now=T0 + 48 * H, request=SIGNED, signed={"v1": format_ts(SIGNED_AT)})
    assert (found["callback"].due_at, found["callback"].status) == (MIDNIGHT, "breached")
    assert (found["fix"].paused_ms, found["fix"].status) == (H, "met")  # the hold before the fix still counts
    assert open_pause(events, ANNUAL.pause_reasons) is None


def test_a_pause_after_the_request_ended_holds_nothing_seed_404():
    # A `paused` on a fixed (or closed, or cancelled) request is one the status rule refuses: kept,
    # flagged, moving nothing. It held the call-back open all the same.
    for end in ("fixed", "closed"):
        events = [ev("arrived", T0 + H), ev(end, T0 + 3 * H), ev("paused", T0 + 5 * H, reason="customer_unavailable")]
        found = run(events, now=T0 + 48 * H, request=SIGNED, signed={"v1": format_ts(SIGNED_AT)})
        assert (found["callback"].status, found["callback"].paused_ms) == ("breached", 0)
        assert open_pause(events, ANNUAL.pause_reasons) is None


def test_arriving_ends_a_hold_before_arrival_seed_57():
    # Seed line 57 (城区内4小时内到达现场) and 58 (一般故障应在24小时内修复): the desk paused because
    # the site was locked; the technician arrived when it opened. The status rule takes on_hold to
    # in_service on arrival, so the fix clock runs again from there, not until someone resumes.
    events = [ev("paused", T0 + H, reason="no_site_access"), ev("arrived", T0 + 3 * H)]
    found = run(events, now=T0 + 30 * H)
    assert (found["fix"].due_at, found["fix"].paused_ms, found["fix"].status) == (
        format_ts(T0 + 26 * H), 2 * H, "breached")
    assert open_pause(events, ANNUAL.pause_reasons) is None


def test_closing_a_request_on_hold_cannot_hide_a_breach_seed_58():
    # Seed line 58 (一般故障应在24小时内修复) and service.md "Three choices": closing does not stop the
    # clocks. A request paused for the customer and then closed kept its pause open for ever, so its
    # `fix` never breached: a close on hold hid the breach the desk's list exists to show.
    events = [ev("paused", T0 + H, reason="customer_unavailable"), ev("closed", T0 + 2 * H)]
    found = run(events, now=T0 + 48 * H, request={**REPAIR, "status": "closed"})
    assert (found["fix"].due_at, found["fix"].status) == (format_ts(T0 + 25 * H), "breached")


@prop
@given(event_lists(), st.integers(4 * 60, 6 * 24 * 60), st.sampled_from([ANNUAL, OFFICE]))
def test_a_call_back_is_due_the_day_its_sheet_is_signed_once_the_fault_is_fixed(events, later, terms):
    # Seed line 404: the same day, on the wall clock (any working hours), whatever pauses the request
    # had: once the fault is fixed no pause can move the call-back past the signing day's midnight.
    fixed = [*events, ev("fixed", T0 + 3 * H, id="the-fix")]
    if any(e["kind"] == "fixed" and parse_ts(e["at"]) < T0 + 3 * H for e in events):
        return  # an earlier fix ends the holds earlier still: the same claim, already covered
    found = run(fixed, now=T0 + later * MIN, terms=terms, request=SIGNED, signed={"v1": format_ts(SIGNED_AT)})
    assert found["callback"].due_at == MIDNIGHT
    assert found["callback"].paused_ms == 0


# -- charges (seed lines 81, 88, 121, 257) and warranty (3, 5-7, 89) as invariants ---------------

_lines = st.lists(st.fixed_dictionaries({
    "item": st.sampled_from(pricing.ITEMS),
    "quantity": st.integers(-5, pricing.MAX_QUANTITY),
    "unit_price_fen": st.integers(-5, pricing.MAX_UNIT_PRICE_FEN),
    "decision": st.sampled_from(["agreed", "declined", None]),
}), max_size=20)
_contract = st.sampled_from(["annual", "per_visit", "warranty", None])
_zone = st.sampled_from(["urban", "suburban", None])


def _bill(lines: list[dict], ctx: Context) -> pricing.Bill:
    return pricing.bill("v", [(f"l{i}", f) for i, f in enumerate(lines)], 600, ctx)


@prop
@given(_lines, _contract, _zone, st.sampled_from(pricing.IN_WARRANTY))
def test_in_warranty_the_customer_pays_nothing_whatever_the_contract_seed_81(lines, contract, zone, phase_):
    # Seed line 81 (保修期内免费…包括故障排除、人工维修和维修材料费用), 87, 234-235.
    bill = _bill(lines, Context(schedule=SCHEDULE, zone=zone, contract=contract, phase=phase_))
    assert bill.total_fen == 0 and all(line.covered for line in bill.lines)


@prop
@given(_lines, _contract, _zone, st.sampled_from(pricing.IN_WARRANTY), st.sampled_from(pricing.DAMAGE))
def test_damage_in_warranty_leaves_only_the_agreed_parts_at_cost_seed_88(lines, contract, zone, phase_, void):
    # Seed line 88 (因环境（自然或人为）影响造成损坏…仅收取更换设备的成本费用): visit fees waived.
    bill = _bill(lines, Context(schedule=SCHEDULE, zone=zone, contract=contract, phase=phase_, void=void))
    for line, fields in zip(bill.lines, lines, strict=True):
        if line.billed:
            assert fields["item"] == "part" and fields["decision"] == "agreed"
            assert line.amount_fen == max(fields["unit_price_fen"], 0) * max(fields["quantity"], 0)
        else:
            assert fields["item"] != "part" or fields["decision"] != "agreed" or contract == "annual"


@prop
@given(_lines, _contract, _zone, st.sampled_from(["expired", "unknown", "none", "void"]))
def test_a_part_is_billed_only_with_consent_and_never_below_zero_seed_121(lines, contract, zone, phase_):
    # Seed line 121 (需经客户同意后方可进行更换，并按照实际配件价格收费); every amount whole fen, not negative.
    bill = _bill(lines, Context(schedule=SCHEDULE, zone=zone, contract=contract, phase=phase_))
    assert all(line.amount_fen >= 0 for line in bill.lines) and bill.total_fen >= bill.subtotal_fen >= 0
    for line, fields in zip(bill.lines, lines, strict=True):
        if fields["item"] == "part" and fields["decision"] != "agreed":
            assert not line.billed


@prop
@given(_lines, _zone, st.sampled_from(["expired", "unknown", "none"]))
def test_an_annual_contract_pays_visits_labour_and_parts_up_to_200_yuan_seed_257(lines, zone, phase_):
    # Seed line 257 (维修设备价格在200元内的免费更换，…200元以上…只收设备的成本费) and 176.
    bill = _bill(lines, Context(schedule=SCHEDULE, zone=zone, contract="annual", phase=phase_))
    for line, fields in zip(bill.lines, lines, strict=True):
        if fields["item"] in pricing.ANNUAL_COVERS or (fields["item"] == "part" and fields["unit_price_fen"] <= 20_000):
            assert line.covered and not line.billed
        elif fields["item"] == "part":
            assert line.billed == (fields["decision"] == "agreed") and not line.covered


@prop
@given(st.dates(date(2000, 1, 1), date(2080, 12, 31)), st.dates(date(2000, 1, 1), date(2080, 12, 31)),
       st.integers(1, 60), st.integers(-10, 2_000))
def test_warranty_runs_from_acceptance_for_the_sites_months_seed_3_89(accepted, installed, months, day_no):
    # Seed line 3 (至产品出售或者安装交付验收之日起) and 89 (从工程验收合格之日起，二年之内): the site's
    # acceptance date and months decide, whatever the device's installation date; 5-7 the phases.
    site = {"accepted_on": accepted.isoformat(), "warranty_months": months}
    on = accepted + timedelta(days=day_no - 1)
    found = phase({"installed_on": installed.isoformat()}, site, on)
    last = ends_on(accepted, months)
    expected = ("unknown" if day_no < 1 else "expired" if on > last else "return" if day_no <= 7
                else "exchange" if day_no <= 30 else "repair")
    assert (found.phase, found.starts_on, found.ends_on) == (expected, accepted.isoformat(), last.isoformat())
    assert last < accepted.replace(day=1) + timedelta(days=31 * months + 31)

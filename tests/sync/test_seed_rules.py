"""Rules of the Chinese regulations (`/work/shared/seed/after-sales-service-regulations.zh.txt`,
cited by line) held against the pure code both ends run. docs/rules.md is the table of which rule
lives where; a test here names the seed line it holds."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from sync import pricing
from sync.clocks import open_pause
from sync.hlc import format_ts
from sync.pricing import Context
from sync.warranty import ends_on, phase
from tests.sync.test_clocks import ANNUAL, MIN, REPAIR, T0, H, ev, run
from tests.sync.test_pricing import SCHEDULE

SIGNED_AT = T0 + 4 * H  # 14:00 in Shanghai: the call-back is due by midnight there, 16:00 UTC
SIGNED = {**REPAIR, "status": "signed"}
prop = settings(max_examples=150, deadline=None)


def test_only_a_resumed_ends_a_pause_as_the_contract_says_not_the_seed_404_reading():
    # The seed (line 404, 客户服务中心在当天电话回访) would have a signed sheet's call-back due the same
    # day; the contract (design/service.md, Response-time clocks) says a pause runs "from `paused` to the
    # next `resumed`, or to now" and stops every milestone still pending. The contract wins, and the
    # phones compute the same clocks from their own copy of sync/ with no rules version sent, so a pause
    # is not ended by an `arrived`, a `fixed` or a `closed`, and a `paused` after the fix still opens one
    # (docs/rules.md A6 holds the question for the contract's owner).
    for paused, events in ((T0 + 2 * H, [ev("arrived", T0 + H), ev("paused", T0 + 2 * H, reason="awaiting_approval"),
                                         ev("fixed", T0 + 3 * H), ev("closed", T0 + 5 * H)]),
                           (T0 + 3 * H + MIN, [ev("arrived", T0 + H), ev("fixed", T0 + 3 * H),
                                               ev("paused", T0 + 3 * H + MIN, reason="customer_unavailable")])):
        found = run(events, now=T0 + 48 * H, request=SIGNED, signed={"v1": format_ts(SIGNED_AT)})
        assert found["callback"].status == "pending"  # stopped while the pause runs
        assert open_pause(events, ANNUAL.pause_reasons) == paused
        resumed = [*events, ev("resumed", T0 + 30 * H)]
        found = run(resumed, now=T0 + 48 * H, request=SIGNED, signed={"v1": format_ts(SIGNED_AT)})
        assert found["callback"].status == "breached"  # the next resumed ends it; the day is long gone
        assert open_pause(resumed, ANNUAL.pause_reasons) is None
    # A pause before arrival runs on after the `arrived`, to the `resumed`.
    events = [ev("paused", T0 + H, reason="no_site_access"), ev("arrived", T0 + 3 * H), ev("resumed", T0 + 5 * H)]
    found = run(events, now=T0 + 30 * H)
    assert (found["fix"].due_at, found["fix"].paused_ms) == (format_ts(T0 + 28 * H), 4 * H)


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

"""Rules of the Chinese regulations (`/work/shared/seed/after-sales-service-regulations.zh.txt`,
cited by line) held against the pure code both ends run. docs/rules.md is the table of which rule
lives where; a test here names the seed line it holds."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.clocks import open_pause
from sync.hlc import format_ts, parse_ts
from tests.sync.test_clocks import ANNUAL, MIN, OFFICE, REPAIR, T0, H, ev, event_lists, run

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

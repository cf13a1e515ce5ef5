"""The fast clock evaluation and calendar arithmetic give exactly what the straightforward ones gave.

`clocks_reference.py` is the previous algorithm; a minute-by-minute count is the
calendar's definition. Every property runs on both wall-clock and office-hours terms.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.clocks import _due_text, clocks
from sync.hlc import format_ts, parse_ts
from sync.workhours import Calendar, day_number, local_date, next_midnight
from tests.sync import clocks_reference as ref
from tests.sync.test_clocks import (
    ANNUAL,
    MIN,
    OFFICE,
    REASONS,
    REPAIR,
    SITE,
    T0,
    VIDEO,
    event_lists,
    signed_st,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
# Zones with summer time (a gap and a repeated hour), one that skipped a whole day (Apia,
# 2011-12-30) and ones far from UTC: where a local day is not UTC's day moved by a constant.
ZONES = [SHANGHAI, *(ZoneInfo(name) for name in (
    "UTC", "America/New_York", "Europe/Berlin", "Australia/Lord_Howe", "Pacific/Apia", "Pacific/Kiritimati",
    "America/Santiago"))]
OFFICE_CALENDAR = OFFICE.calendar
assert OFFICE_CALENDAR is not None
# Spans that start inside a DST gap or end in the repeated hour make days the fast path must not trust.
AWKWARD = Calendar([((60, 150), (165, 240), (480, 1440))] * 7)
prop = settings(max_examples=300, deadline=None)
moments = st.integers(1_200_000_000_000, 1_900_000_000_000)  # 2008 to 2030, across DST changes
kinds = ["accepted", "arrived", "fixed", "loaner_installed", "unit_sent", "unit_returned", "cancelled",
         "paused", "resumed", "voided", "closed", "teleported"]


@st.composite
def messy_events(draw):
    """Events as the fast path must read them: odd kinds, unreadable times, duplicate ids, voids."""
    out = draw(event_lists(kinds=kinds))
    for event in out:
        if event["kind"] == "voided":
            event["note"] = draw(st.sampled_from([e["id"] for e in out]))
        if draw(st.integers(0, 9)) == 0:
            event["effective_at"] = draw(st.sampled_from(["2026-02-30T00:00:00.000Z", "soon", None, 5]))
        if draw(st.integers(0, 9)) == 0:
            event["id"] = "same"
    return out


@prop
@given(messy_events(), st.sampled_from([ANNUAL, OFFICE]), st.integers(0, 8 * 24 * 60), signed_st,
       st.lists(st.tuples(st.sampled_from(["v1", "v2"]), st.integers(0, 6 * 24 * 60), st.booleans()), max_size=3),
       st.sampled_from(["Asia/Shanghai", "America/New_York"]), st.sampled_from([REASONS[0], REASONS[3]]))
def test_the_evaluation_equals_the_previous_one(events, terms, now, signed, calls, tz, reason):
    for event in events:
        if event["kind"] == "paused":
            event["reason"] = reason
    calls = [{"visit_id": v, "called_at": format_ts(T0 + m * MIN), "reached": r} for v, m, r in calls]
    site = {**SITE, "tz": tz}
    args = (REPAIR, events, signed, calls, terms, site, VIDEO, T0 + now * MIN)
    assert clocks(*args) == ref.clocks(*args)


@prop
@given(moments, st.sampled_from(ZONES))
def test_the_local_day_of_a_moment_and_its_next_midnight(ms, zone):
    assert day_number(ms, zone) == local_date(ms, zone).toordinal()
    assert next_midnight(ms, zone) == ref.next_midnight(ms, zone)


@prop
@given(moments, st.integers(0, 40 * 24 * 60 * MIN), st.sampled_from(ZONES), st.sampled_from([OFFICE_CALENDAR, AWKWARD]))
def test_calendar_arithmetic_equals_the_previous_day_walk(start, length, zone, calendar):
    end = start + length
    assert calendar.worked(zone, start, end) == ref.worked(calendar, zone, start, end)
    assert calendar.add(zone, start, length // 7) == ref.add(calendar, zone, start, length // 7)


def minute_by_minute(calendar: Calendar, start: int, end: int) -> int:
    """Working ms in [start, end) by the definition: each minute counts when its local time is in a span."""
    total, minute = 0, start - start % MIN
    while minute < end:
        local = local_date(minute, SHANGHAI)
        of_day = (minute // MIN + 8 * 60) % (24 * 60)  # Shanghai is UTC+8 all year
        if any(s <= of_day < e for s, e in calendar.spans_of(local)):
            total += min(minute + MIN, end) - max(minute, start)
        minute += MIN
    return total


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 30 * 24 * 60 * MIN), st.integers(0, 4 * 24 * 60 * MIN))
def test_worked_time_equals_a_minute_by_minute_count(offset, length):
    start = parse_ts("2026-09-20T00:00:00.000Z") + offset  # around the National Day holiday and its make-up workdays
    assert OFFICE_CALENDAR.worked(SHANGHAI, start, start + length) == minute_by_minute(
        OFFICE_CALENDAR, start, start + length)


@prop
@given(st.integers(733_000, 740_000), st.sampled_from(ZONES), st.sampled_from([-1, 0, 1]))
def test_the_local_day_at_a_midnight_and_a_millisecond_either_side(ordinal, zone, step):
    day = date.fromordinal(ordinal)
    ms = ref._local_ms(datetime(day.year, day.month, day.day), zone) + step
    assert day_number(ms, zone) == local_date(ms, zone).toordinal()
    assert next_midnight(ms, zone) == ref.next_midnight(ms, zone)


@settings(max_examples=1_000, deadline=None)
@given(st.integers(parse_ts("0001-01-01T00:00:00.000Z"), parse_ts("9999-12-31T23:59:59.999Z")))
def test_a_due_at_is_written_exactly_as_format_ts_writes_it(ms):
    assert _due_text(ms) == format_ts(ms)

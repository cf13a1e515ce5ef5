"""Working hours: a weekly pattern plus dated exceptions, in a site's time zone.

A holiday closes a day; a make-up workday (调休) opens a day, usually a
weekend day, with its own pattern. Pure: the server and the client SDK count
the same working time for the same calendar.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, tzinfo
from itertools import pairwise
from typing import Any

from .errors import InvalidRequest

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([0-9]{2}):([0-9]{2})-([0-9]{2}):([0-9]{2})\Z")
MAX_SEARCH_DAYS = 3_700  # a due date more than ten years of working time away is an error in the terms
MAX_EXCEPTIONS = 1_000  # dated exceptions in one calendar (a year has about 40)

Spans = tuple[tuple[int, int], ...]  # (start, end) minutes after local midnight; end up to 1440


def _spans(value: object, where: str) -> Spans:
    """`["08:30-12:00", "13:30-17:30"]` as minutes; InvalidRequest for anything else."""
    if not isinstance(value, list) or len(value) > 8:
        raise InvalidRequest(f"{where}: a list of at most 8 'HH:MM-HH:MM' intervals")
    out: list[tuple[int, int]] = []
    for text in value:
        match = _SPAN.match(text) if isinstance(text, str) else None
        if match is None:
            raise InvalidRequest(f"{where}: not an 'HH:MM-HH:MM' interval: {str(text)[:40]!r}")
        h1, m1, h2, m2 = (int(part) for part in match.groups())
        start, end = h1 * 60 + m1, h2 * 60 + m2
        if m1 > 59 or m2 > 59 or not 0 <= start < end <= 1440 or (out and start < out[-1][1]):
            raise InvalidRequest(f"{where}: intervals must be in order, within one day, and not overlap")
        out.append((start, end))
    return tuple(out)


def _day(text: object, where: str) -> date:
    if isinstance(text, str) and len(text) == 10:
        try:
            return date.fromisoformat(text)
        except ValueError:
            pass
    raise InvalidRequest(f"{where}: not a date 'YYYY-MM-DD': {str(text)[:40]!r}")


class Calendar:
    """Working intervals of each local day. Days' intervals in ms are memoised per time zone."""

    def __init__(self, week: Sequence[Spans], holidays: frozenset[date] = frozenset(),
                 workdays: Mapping[date, Spans] | None = None) -> None:
        if len(week) != 7 or not any(week):
            raise InvalidRequest("a calendar needs seven weekdays and some working time in the week")
        self.week = tuple(week)
        self.holidays = holidays
        self.workdays = dict(workdays or {})
        self._memo: dict[str, dict[int, _Day]] = {}  # by zone name, then ordinal

    @classmethod
    def from_data(cls, data: Mapping[str, Any]) -> Calendar:
        """From `{"week": {"mon": [...], ...}, "holidays": [dates], "workdays": {date: [...]}}`."""
        if not isinstance(data, Mapping) or set(data) - {"week", "holidays", "workdays", "source", "note"}:
            raise InvalidRequest("a calendar has only week, holidays, workdays, source and note")
        week, holidays, workdays = data.get("week", {}), data.get("holidays", []), data.get("workdays", {})
        if (not isinstance(week, Mapping) or set(week) - set(WEEKDAYS) or not isinstance(holidays, list)
                or not isinstance(workdays, Mapping) or len(holidays) + len(workdays) > MAX_EXCEPTIONS):
            raise InvalidRequest(f"a calendar's week names weekdays, with at most {MAX_EXCEPTIONS} exceptions")
        return cls(
            [_spans(week.get(name, []), f"week.{name}") for name in WEEKDAYS],
            frozenset(_day(day, "holidays") for day in holidays),
            {_day(day, "workdays"): _spans(spans, f"workdays.{day}") for day, spans in workdays.items()},
        )

    def spans_of(self, day: date) -> Spans:
        if day in self.workdays:
            return self.workdays[day]
        return () if day in self.holidays else self.week[day.weekday()]

    def _days(self, zone: tzinfo) -> dict[int, _Day]:
        memo = self._memo.get(str(zone))  # by name: a freed zone's id() can be reused by another
        if memo is None or len(memo) > 20_000:
            memo = self._memo[str(zone)] = {}
        return memo

    def _day(self, memo: dict[int, _Day], ordinal: int, zone: tzinfo) -> _Day:
        """A day's (by its ordinal) working intervals in ms, its bounds, and its total when regular."""
        found = memo.get(ordinal)
        if found is None:
            day = date.fromordinal(ordinal)
            midnight = datetime(day.year, day.month, day.day)
            spans = [(_local_ms(midnight + timedelta(minutes=start), zone), _local_ms(midnight + timedelta(minutes=end), zone))
                     for start, end in self.spans_of(day)]
            begins, ends = _midnight(ordinal, zone), _midnight(ordinal + 1, zone)
            # Regular: in order, not empty, within the day (a span that starts in a DST gap may not be).
            bounds = [begins, *(t for span in spans for t in span), ends]
            regular = all(a <= b for a, b in pairwise(bounds)) and all(s < e for s, e in spans)
            found = memo[ordinal] = (spans, begins, ends, sum(e - s for s, e in spans) if regular else None)
        return found

    def _number(self, memo: dict[int, _Day], ms: int, zone: tzinfo) -> int:
        """The local day number of `ms` (as `day_number`), from this calendar's memoised days."""
        day = ms // _DAY_MS + _EPOCH_DAY
        while ms < (memo.get(day) or self._day(memo, day, zone))[1]:
            day -= 1
        while ms >= (memo.get(day) or self._day(memo, day, zone))[2]:
            day += 1
        return day

    def worked(self, zone: tzinfo, start: int, end: int) -> int:
        """Working ms in [start, end), counted over at most MAX_SEARCH_DAYS days from `start`.

        The cap bounds the work a far-past `reported_at` can cause (1970 to 2026: 61 ms, 1 ms memoised);
        a clock that old is long breached, whatever the count. A regular day wholly inside
        counts its total without reading its intervals.
        """
        memo, total = self._days(zone), 0
        first = self._number(memo, start, zone)
        for day in range(first, first + MAX_SEARCH_DAYS):
            spans, begins, day_end, whole = memo.get(day) or self._day(memo, day, zone)
            if whole is not None and start <= begins and day_end <= end:
                total += whole
            else:
                for s, e in spans:
                    if s >= end:
                        return total
                    if e > start:
                        total += (e if e < end else end) - (s if s > start else start)
            if day_end >= end:
                return total
        return total

    def add(self, zone: tzinfo, start: int, amount: int) -> int:
        """The first moment by which `amount` ms of working time have passed since `start`."""
        memo = self._days(zone)
        first = self._number(memo, start, zone)
        for day in range(first, first + MAX_SEARCH_DAYS):
            spans, begins, _, whole = memo.get(day) or self._day(memo, day, zone)
            if whole is not None and start <= begins and amount > whole:
                amount -= whole  # the whole day passes: skip its intervals
                continue
            for s, e in spans:
                s = max(s, start)
                if s < e:
                    if amount <= e - s:
                        return s + amount
                    amount -= e - s
        raise InvalidRequest("the calendar has no working time for years ahead")


_Day = tuple[list[tuple[int, int]], int, int, int | None]  # intervals, start, end, total working ms (regular days)
_EPOCH_DAY = date(1970, 1, 1).toordinal()
_DAY_MS = 86_400_000
_MIDNIGHTS: dict[str, dict[int, int]] = {}  # by zone name, then day number: the day's first moment in ms


def _local_ms(naive: datetime, zone: tzinfo) -> int:
    return int(naive.replace(tzinfo=zone).timestamp() * 1000)


def _midnight(ordinal: int, zone: tzinfo) -> int:
    """The first moment of a local day (by its ordinal), memoised."""
    memo = _MIDNIGHTS.get(str(zone))
    if memo is None or len(memo) > 20_000:
        memo = _MIDNIGHTS[str(zone)] = {}
    found = memo.get(ordinal)
    if found is None:
        day = date.fromordinal(ordinal)
        found = memo[ordinal] = _local_ms(datetime(day.year, day.month, day.day), zone)
    return found


def day_number(ms: int, zone: tzinfo) -> int:
    """`local_date(ms, zone).toordinal()` from memoised midnights: the UTC day, moved to the local one."""
    day = ms // _DAY_MS + _EPOCH_DAY  # the local day is at most one away (offsets stay within a day)
    while ms < _midnight(day, zone):
        day -= 1
    while ms >= _midnight(day + 1, zone):
        day += 1
    return day


def local_date(ms: int, zone: tzinfo) -> date:
    return datetime.fromtimestamp(ms / 1000, zone).date()


def next_midnight(ms: int, zone: tzinfo) -> int:
    """The end of the local day that holds `ms`."""
    return _midnight(day_number(ms, zone) + 1, zone)

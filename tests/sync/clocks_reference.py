"""The clock evaluation and calendar arithmetic as they were before they were made fast (commit 5f114a0).

A straightforward reading of the contract, kept as the oracle of the properties in
test_clocks_fast.py and as the same-run reference of bench/clocks.py. Not used by the product.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime, timedelta, tzinfo
from functools import cache
from itertools import takewhile
from typing import Any

from sync.clocks import Clock, Milestone, Status, Terms
from sync.errors import InvalidRequest
from sync.hlc import format_ts, parse_ts
from sync.periods import site_zone
from sync.workhours import MAX_SEARCH_DAYS, Calendar


def _local_ms(naive: datetime, zone: tzinfo) -> int:
    return int(naive.replace(tzinfo=zone).timestamp() * 1000)


def local_date(ms: int, zone: tzinfo) -> date:
    return datetime.fromtimestamp(ms / 1000, zone).date()


def next_midnight(ms: int, zone: tzinfo) -> int:
    day = local_date(ms, zone) + timedelta(days=1)
    return _local_ms(datetime(day.year, day.month, day.day), zone)


@cache  # memoised, as the previous Calendar memoised its days
def day_spans(calendar: Calendar, ordinal: int, zone: tzinfo) -> tuple[list[tuple[int, int]], int]:
    day = date.fromordinal(ordinal)
    midnight = datetime(day.year, day.month, day.day)
    return ([(_local_ms(midnight + timedelta(minutes=start), zone), _local_ms(midnight + timedelta(minutes=end), zone))
             for start, end in calendar.spans_of(day)], _local_ms(midnight + timedelta(days=1), zone))


def worked(calendar: Calendar, zone: tzinfo, start: int, end: int) -> int:
    total, first = 0, local_date(start, zone).toordinal()
    for day in range(first, first + MAX_SEARCH_DAYS):
        spans, day_end = day_spans(calendar, day, zone)
        before_end = list(takewhile(lambda span: span[0] < end, spans))  # it stops at a span that starts after end
        total += sum(min(e, end) - max(s, start) for s, e in before_end if e > start)
        if len(before_end) < len(spans) or day_end >= end:
            return total
    return total


def add(calendar: Calendar, zone: tzinfo, start: int, amount: int) -> int:
    first = local_date(start, zone).toordinal()
    for day in range(first, first + MAX_SEARCH_DAYS):
        for s, e in day_spans(calendar, day, zone)[0]:
            begin = max(s, start)
            if begin < e and amount <= e - begin:
                return begin + amount
            amount -= max(e - begin, 0)
    raise InvalidRequest("the calendar has no working time for years ahead")


def ts_ms(text: object) -> int | None:
    try:
        return parse_ts(text) if isinstance(text, str) else None
    except ValueError:
        return None


class _Span:
    def __init__(self, calendar: Calendar | None, zone: tzinfo) -> None:
        self.calendar, self.zone = calendar, zone

    def count(self, start: int, end: int) -> int:
        if end <= start:
            return -self.count(end, start) if end < start else 0
        return end - start if self.calendar is None else worked(self.calendar, self.zone, start, end)

    def add(self, start: int, amount: int) -> int:
        return start + amount if self.calendar is None else add(self.calendar, self.zone, start, amount)


def _clock(name: str, start: int, target: int, done: int | None, moot: bool, span: _Span,
           pauses: list[tuple[int, int]], cancelled: int | None, now: int) -> Clock:
    if done is not None and cancelled is not None and done > cancelled:
        done = None
    until = now if done is None else min(done, now)
    if cancelled is not None and cancelled < until:
        until = cancelled
    cursor, left, paused = start, target, 0
    for pause_start, pause_end in pauses:
        begin, end = max(pause_start, cursor), min(pause_end, until)
        if end <= begin:
            continue
        before = span.count(cursor, begin)
        if before >= left:
            break
        left -= before
        paused += span.count(begin, end)
        cursor = end
    due = span.add(cursor, left)
    status: Status
    if done is not None:
        status, remaining = ("met" if done <= due else "breached"), span.count(done, due)
    elif cancelled is not None:
        late = due < cancelled
        status, remaining = ("breached" if late else "not_applicable"), (span.count(cancelled, due) if late else 0)
    elif moot:
        status, remaining = "not_applicable", 0
    else:
        remaining = span.count(now, due)
        status = "breached" if now > due else "at_risk" if remaining * 4 <= target else "pending"
    milestone = Milestone(name=name, due_at=format_ts(due), done_at=None if done is None else format_ts(done),
                          status=status, remaining_ms=remaining, paused_ms=paused)
    return Clock(milestone, start, target, span.count(start, until))


def _live(events: Iterable[Mapping[str, Any]]) -> list[tuple[int, str, str, Mapping[str, Any]]]:
    parsed = []
    for event in events:
        try:
            at = parse_ts(event.get("effective_at") or event.get("at"))  # type: ignore[arg-type]
        except ValueError:
            continue
        parsed.append((at, str(event.get("id", "")), str(event.get("kind")), event))
    voided = {str(e.get("note")) for _, _, kind, e in parsed if kind == "voided"}
    return sorted((p for p in parsed if p[2] != "voided" and p[1] not in voided), key=lambda p: p[:3])


def _pauses(live: list[tuple[int, str, str, Mapping[str, Any]]], reasons: frozenset[str],
            now: int) -> list[tuple[int, int]]:
    out, since = [], None
    for at, _, kind, event in live:
        if kind == "paused" and since is None and event.get("reason") in reasons:
            since = at
        elif kind == "resumed" and since is not None:
            out.append((since, at))
            since = None
    if since is not None:
        out.append((since, max(since, now)))
    return out


def clocks(request: Mapping[str, Any], events: Iterable[Mapping[str, Any]],
           visits_signed: Mapping[str, str], callbacks: Iterable[Mapping[str, Any]],
           terms: Terms, site: Mapping[str, Any], device: Mapping[str, Any] | None, now_ms: int) -> list[Clock]:
    start = ts_ms(request.get("started_at") or request.get("reported_at"))
    if start is None:
        return []
    zone = site_zone(site.get("tz"))
    span, wall = _Span(terms.calendar, zone), _Span(None, zone)
    live = _live(events)
    pauses = _pauses(live, terms.pause_reasons, now_ms)

    firsts: dict[str, int] = {}
    for at, _, kind, _ in live:
        if at >= start:
            firsts.setdefault(kind, at)

    def first(kind: str, other: str = "") -> int | None:
        one, two = firsts.get(kind), firsts.get(other)
        return one if two is None else two if one is None else min(one, two)

    cancelled = first("cancelled")
    out: list[Clock] = []

    def add(name: str, begin: int, target: int | None, done: int | None, moot: bool = False,
            counting: _Span = span) -> None:
        if target is not None:
            out.append(_clock(name, begin, target, done, moot, counting, pauses, cancelled, now_ms))

    if request.get("kind") == "repair":
        arrived, fixed = first("arrived"), first("fixed")
        urban = site.get("zone") != "suburban"
        add("on_site", start, terms.on_site_urban if urban else terms.on_site_suburban, arrived,
            moot=arrived is None and fixed is not None)
        add("fix", start, terms.fix_complex if request.get("complexity") == "complex" else terms.fix_ordinary, fixed)
        restored = first("fixed", "loaner_installed")
        if (device or {}).get("system") == "video":
            add("restore", start, terms.restore, restored)
        add("loaner", start, terms.loaner, restored)
    waiting: list[int] = []
    trips: list[tuple[int, int | None]] = []
    for at, _, kind, _ in live:
        if kind == "unit_sent":
            waiting.append(at)
        elif kind == "unit_returned" and waiting:
            trips.append((waiting.pop(0), at))
    for sent, back in sorted(trips + [(at, None) for at in waiting], key=lambda trip: trip[0]):
        add("bench_repair", sent, terms.bench_repair, back)
    if terms.callback:
        callbacks = list(callbacks)
        for visit_id, signed_at in sorted(visits_signed.items(), key=lambda item: (str(item[1]), item[0])):
            signed = ts_ms(signed_at)
            if signed is not None:
                reached = [ts_ms(c.get("called_at")) for c in callbacks
                           if c.get("visit_id") == visit_id and c.get("reached") is True]
                done = min((t for t in reached if t is not None and t >= signed), default=None)
                add("callback", signed, next_midnight(signed, zone) - signed, done, counting=wall)
    return out

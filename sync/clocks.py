"""Response-time clocks of a service request: a pure function of the request, its events and the terms.

The server and the client SDK run the same code, so a phone shows offline the
countdown the server computes later, and a late-synced event simply recomputes
it: nothing is stored that could drift (docs/service.md, "What this server decides").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Literal, NamedTuple

import msgspec

from .errors import InvalidRequest
from .hlc import format_ts, parse_ts
from .periods import site_zone
from .workhours import Calendar, next_midnight

HOUR_MS = 3_600_000
MAX_TERM_HOURS = 8_760  # a year: a longer target is a typo in the terms
PAUSE_REASONS = ("customer_unavailable", "no_site_access", "awaiting_approval")
Status = Literal["met", "breached", "at_risk", "pending", "not_applicable"]


class Milestone(msgspec.Struct, kw_only=True):
    """One clock as the API and the phone read it; times in the protocol's form."""

    name: str
    due_at: str
    done_at: str | None
    status: Status
    remaining_ms: int  # working time left until due_at, at done_at or now; negative when late
    paused_ms: int


class Clock(NamedTuple):
    """A milestone with what its explanation needs (when it started, its target)."""

    milestone: Milestone
    started_ms: int
    target_ms: int
    took_ms: int  # counted time from the start to done_at (or to now)


@dataclass(frozen=True)
class Terms:
    """The response-time terms of one contract kind, times in ms; None: the milestone is not promised."""

    on_site_urban: int
    on_site_suburban: int
    fix_ordinary: int
    fix_complex: int
    restore: int | None
    loaner: int | None
    bench_repair: int | None
    callback: bool
    pause_reasons: frozenset[str]
    calendar: Calendar | None = None


_HOURS = {"on_site_hours": ("urban", "suburban"), "fix_hours": ("ordinary", "complex")}
_OPTIONAL_HOURS = ("restore_hours", "loaner_hours", "bench_repair_hours")
TERM_KEYS = frozenset({*_HOURS, *_OPTIONAL_HOURS, "callback", "pause_reasons", "calendar"})


def _hours(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_TERM_HOURS:
        raise InvalidRequest(f"{where}: whole hours from 1 to {MAX_TERM_HOURS}")
    return value * HOUR_MS


def _table(raw: Mapping[str, Any], key: str, names: tuple[str, str]) -> Mapping[str, Any]:
    table = raw.get(key)
    if not isinstance(table, Mapping) or set(table) != set(names):
        raise InvalidRequest(f"{key}: hours for {' and '.join(names)}")
    return table


def merge_terms(default: Mapping[str, Any], override: Mapping[str, Any] | None) -> dict[str, Any]:
    """A site's override over its contract's default terms; the two nested tables merge by key."""
    override = override or {}
    if not isinstance(override, Mapping) or set(override) - TERM_KEYS:
        unknown = sorted(str(k)[:64] for k in override) if isinstance(override, Mapping) else []
        named = f"{', '.join(k for k in unknown if k not in TERM_KEYS)[:200]}: not a term; " if unknown else ""
        raise InvalidRequest(f"{named}terms have only: {', '.join(sorted(TERM_KEYS))}")
    merged = {**default, **override}
    for key in _HOURS:
        if isinstance(override.get(key), Mapping):
            merged[key] = {**default.get(key, {}), **override[key]}
    return merged


def load_terms(data: Mapping[str, Any], contract: str | None, override: Mapping[str, Any] | None = None) -> Terms:
    """The terms of a contract kind (`fixtures/service_terms.json` as `data`) with a site's override.

    A site without a contract gets `per_visit`'s terms; a bad override is InvalidRequest.
    """
    contracts = data["contracts"]
    if (contract or "per_visit") not in contracts:
        raise InvalidRequest(f"no terms for contract {str(contract)[:64]!r}")
    raw = merge_terms(contracts[contract or "per_visit"], override)
    required = {f"{key[:-6]}_{name}": _hours(_table(raw, key, names)[name], f"{key}.{name}")
                for key, names in _HOURS.items() for name in names}
    optional = {key: None if raw.get(key) is None else _hours(raw[key], key) for key in _OPTIONAL_HOURS}
    reasons = raw.get("pause_reasons", [])
    if not isinstance(reasons, list) or not set(reasons) <= set(PAUSE_REASONS):
        raise InvalidRequest(f"pause_reasons: some of {', '.join(PAUSE_REASONS)}")
    calendar = raw.get("calendar")
    if isinstance(calendar, str):
        if calendar not in data.get("calendars", {}):
            raise InvalidRequest(f"no calendar named {calendar[:64]!r}")
        calendar = data["calendars"][calendar]
    if not isinstance(raw.get("callback", True), bool):
        raise InvalidRequest("callback: true or false")
    return Terms(**required, restore=optional["restore_hours"], loaner=optional["loaner_hours"],
                 bench_repair=optional["bench_repair_hours"], callback=raw.get("callback", True), pause_reasons=frozenset(reasons),
                 calendar=None if calendar is None else Calendar.from_data(calendar))


def terms_from_raw(contract: str, raw: Mapping[str, Any]) -> Terms:
    """Terms from one contract's merged terms with the calendar inlined, as the server hands
    them to a phone (`GET /api/sites/{site_id}/service-terms`)."""
    if not isinstance(raw, Mapping):
        raise InvalidRequest("terms: an object")
    return load_terms({"contracts": {contract: raw}, "calendars": {}}, contract)


def ts_ms(text: object) -> int | None:
    """A protocol timestamp's ms; None for anything else (such an event is left out)."""
    try:
        return parse_ts(text) if isinstance(text, str) else None
    except ValueError:
        return None


class _Span:
    """Counting time: wall-clock, or only inside a calendar's working hours."""

    def __init__(self, calendar: Calendar | None, zone: tzinfo) -> None:
        self.calendar, self.zone = calendar, zone

    def count(self, start: int, end: int) -> int:
        if end <= start:
            return -self.count(end, start) if end < start else 0
        return end - start if self.calendar is None else self.calendar.worked(self.zone, start, end)

    def add(self, start: int, amount: int) -> int:
        return start + amount if self.calendar is None else self.calendar.add(self.zone, start, amount)


def _clock(name: str, start: int, target: int, done: int | None, moot: bool, span: _Span,
           pauses: list[tuple[int, int]], cancelled: int | None, now: int) -> Clock:
    if done is not None and cancelled is not None and done > cancelled:
        done = None  # done after the request was cancelled: it no longer counts
    until = now if done is None else min(done, now)
    if cancelled is not None and cancelled < until:
        until = cancelled
    cursor, left, paused = start, target, 0
    for pause_start, pause_end in pauses:  # disjoint and in order
        begin, end = max(pause_start, cursor), min(pause_end, until)
        if end <= begin:
            continue
        before = span.count(cursor, begin)
        if before >= left:
            break  # due before this pause began: it stops nothing
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
    """(time, id, kind, event) of the events no `voided` names, in time order (ties by id)."""
    parsed = []
    for event in events:
        try:
            at = parse_ts(event.get("effective_at") or event.get("at"))  # type: ignore[arg-type]
        except ValueError:
            continue  # an unreadable time: the server refuses it at push; the phone leaves it out
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
    """Every milestone of a request that its terms promise, in the contract's order.

    `request` holds its fields (its `started_at`, when the server knows one earlier than
    `reported_at`, wins); each event its `id`, `kind`, `at`, `effective_at`, `reason`, `note`;
    `visits_signed` maps a sealed visit to its customer signature's `signed_at`; each
    call-back its `visit_id`, `called_at`, `reached`.
    """
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
    for at, _, kind, _ in live:  # each unit sent away is paired with the next one returned
        if kind == "unit_sent":
            waiting.append(at)
        elif kind == "unit_returned" and waiting:
            trips.append((waiting.pop(0), at))
    for sent, back in sorted(trips + [(at, None) for at in waiting], key=lambda trip: trip[0]):
        add("bench_repair", sent, terms.bench_repair, back)
    if terms.callback:
        callbacks = list(callbacks)  # read once per sealed visit
        for visit_id, signed_at in sorted(visits_signed.items(), key=lambda item: (str(item[1]), item[0])):
            signed = ts_ms(signed_at)
            if signed is not None:
                reached = [ts_ms(c.get("called_at")) for c in callbacks
                           if c.get("visit_id") == visit_id and c.get("reached") is True]
                done = min((t for t in reached if t is not None and t >= signed), default=None)
                add("callback", signed, next_midnight(signed, zone) - signed, done, counting=wall)
    return out


def evaluate(request: Mapping[str, Any], events: Iterable[Mapping[str, Any]],
             visits_signed: Mapping[str, str], callbacks: Iterable[Mapping[str, Any]],
             terms: Terms, site: Mapping[str, Any], device: Mapping[str, Any] | None,
             now_ms: int) -> list[Milestone]:
    """The request's milestones as the API shows them (see `clocks`)."""
    return [c.milestone for c in clocks(request, events, visits_signed, callbacks, terms, site, device, now_ms)]


# Every word of the explanations, in one catalogue (a Chinese one takes the same keys).
ENGLISH = {
    "done.on_site": "arrived", "done.fix": "fixed", "done.restore": "service restored",
    "done.loaner": "fixed or loaner installed", "done.bench_repair": "unit back",
    "done.callback": "customer reached",
    "open.on_site": "not on site yet", "open.fix": "not fixed yet", "open.restore": "service not restored yet",
    "open.loaner": "no fix or loaner yet", "open.bench_repair": "unit not back yet",
    "open.callback": "customer not reached yet",
    "since.callback": "the signature", "since.bench_repair": "it was sent", "since": "the call",
    "done": "{what} {took} after {since}; {allowed} allowed; {paused} paused",
    "open": "{what}: {left} left of {allowed}; {paused} paused",
    "late": "{what}: {late} late; {allowed} allowed; {paused} paused",
    "not_applicable": "not applicable",
    "h": "{h} h", "min": "{m} min", "h_min": "{h} h {m} min", "zero": "0",
}


def duration(ms: int, catalogue: Mapping[str, str] = ENGLISH) -> str:
    """Whole minutes, rounded down: `4 h 31 min`, `4 h`, `12 min`, `0`."""
    hours, minutes = divmod(abs(ms) // 60_000, 60)
    key = "zero" if not hours and not minutes else "min" if not hours else "h" if not minutes else "h_min"
    return catalogue[key].format(h=hours, m=minutes)


def explain(clock: Clock, catalogue: Mapping[str, str] = ENGLISH) -> str:
    """One line for the API: "arrived 4 h 31 min after the call; 4 h allowed; 0 paused"."""
    m = clock.milestone
    if m.status == "not_applicable":
        return catalogue["not_applicable"]
    words = {"allowed": duration(clock.target_ms, catalogue), "paused": duration(m.paused_ms, catalogue)}
    if m.done_at is not None:
        return catalogue["done"].format(
            what=catalogue[f"done.{m.name}"], took=duration(clock.took_ms, catalogue),
            since=catalogue.get(f"since.{m.name}", catalogue["since"]), **words)
    what = catalogue[f"open.{m.name}"]
    if m.remaining_ms < 0:
        return catalogue["late"].format(what=what, late=duration(m.remaining_ms, catalogue), **words)
    return catalogue["open"].format(what=what, left=duration(m.remaining_ms, catalogue), **words)

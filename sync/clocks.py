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
from .fields import MAX_PERIOD_YEAR, MIN_TIME_YEAR
from .hlc import format_ts, parse_ts
from .messages import words
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


def dated_ms(text: object) -> int | None:
    """A timestamp's ms when a local day can be worked out for it: None when unreadable or outside the
    years times are bounded to (stored before they were). A request's start or a sheet's `signed_at`
    out there is left out: a due time from it, or its midnight, would not exist (a 500 on every page
    that shows the request)."""
    ms = ts_ms(text)
    return ms if ms is not None and MIN_TIME_YEAR <= int(str(text)[:4]) <= MAX_PERIOD_YEAR else None


_DAY_MS = 86_400_000
_DATES: dict[int, str] = {}  # day number since 1970: "YYYY-MM-DDT" as format_ts writes it
_MINUTES = [f"{h:02d}:{m:02d}:" for h in range(24) for m in range(60)]
_SECONDS = [f"{s:02d}." for s in range(60)]
_MILLIS = [f"{ms:03d}Z" for ms in range(1000)]


def _due_text(ms: int) -> str:
    """`format_ts(ms)`, with each day's date written by it once: every milestone of every read has a due_at,
    and formatting it whole was a fifth of an evaluation."""
    day, rest = divmod(ms, _DAY_MS)
    date = _DATES.get(day)
    if date is None:
        if len(_DATES) > 20_000:
            _DATES.clear()
        date = _DATES[day] = format_ts(day * _DAY_MS)[:11]
    minute, rest = divmod(rest, 60_000)
    second, milli = divmod(rest, 1000)
    return date + _MINUTES[minute] + _SECONDS[second] + _MILLIS[milli]


def _count(calendar: Calendar | None, zone: tzinfo, start: int, end: int) -> int:
    """Counted time from start to end (negative when end is earlier): wall-clock, or working hours only."""
    if calendar is None:
        return end - start
    if end > start:
        return calendar.worked(zone, start, end)
    return -calendar.worked(zone, end, start) if end < start else 0


# The kinds the clocks read. Any other event (accepted, departed, left, closed, or an
# unknown kind) moves no milestone, so its time is not even parsed: most events of a
# visit are of those kinds.
_READ = frozenset({"paused", "resumed", "arrived", "fixed", "loaner_installed", "cancelled",
                   "unit_sent", "unit_returned", "voided"})
_Event = tuple[int, str, str, int, str, Mapping[str, Any]]  # time, id, kind, arrival order, time as sent, event


def _live(events: Iterable[Mapping[str, Any]]) -> list[_Event]:
    """The events the clocks read that no `voided` names, in time order (ties by id, then kind)."""
    parsed = []
    for order, event in enumerate(events):
        kind = str(event.get("kind"))
        text = event.get("effective_at") or event.get("at")
        if kind not in _READ or not isinstance(text, str):
            continue
        try:
            at = parse_ts(text)
        except ValueError:
            continue  # an unreadable time: the server refuses it at push; the phone leaves it out
        parsed.append((at, str(event.get("id", "")), kind, order, text, event))
    voided = {str(e.get("note")) for _, _, kind, _, _, e in parsed if kind == "voided"}
    if voided:
        parsed = [p for p in parsed if p[2] != "voided" and p[1] not in voided]
    parsed.sort()  # the arrival order breaks full ties, as a stable sort would: nothing compares the events
    return parsed


def open_pause(events: Iterable[Mapping[str, Any]], reasons: frozenset[str]) -> int | None:
    """When the open pause that stops a request's clocks began (an allowed `paused` no `resumed`
    followed, in the clocks' order, voided events left out), else None."""
    since = None
    for at, _, kind, _, _, event in _live(events):
        if kind == "paused" and since is None and event.get("reason") in reasons:
            since = at
        elif kind == "resumed":
            since = None
    return since


def first_fixed(events: Iterable[Mapping[str, Any]]) -> str | None:
    """The time, as sent, of a request's first `fixed` event in the clocks' order (voided events left out, as
    the `fix` clock reads them), else None: since then a `resolved` request waits for a signature."""
    return next((text for _, _, kind, _, text, _ in _live(events) if kind == "fixed"), None)


class _Request:
    """What every milestone of one request shares; `clock` evaluates one of them."""

    def __init__(self, zone: tzinfo, pauses: list[tuple[int, int]], cancelled: int | None, now: int) -> None:
        self.zone, self.pauses, self.cancelled, self.now = zone, pauses, cancelled, now
        self.out: list[Clock] = []

    def clock(self, name: str, start: int, target: int | None, done: tuple[int, str] | None,
              calendar: Calendar | None, moot: bool = False) -> None:
        """Append the milestone `name` when the terms promise it (`target` in counted ms).

        `done` is the time of the event that meets it, with its text as sent (a protocol
        timestamp, so exactly what `format_ts` would write).
        """
        if target is None:
            return
        cancelled, now, zone = self.cancelled, self.now, self.zone
        if done is not None and cancelled is not None and done[0] > cancelled:
            done = None  # done after the request was cancelled: it no longer counts
        until = now if done is None or done[0] > now else done[0]
        if cancelled is not None and cancelled < until:
            until = cancelled
        cursor, left, paused = start, target, 0
        for pause_start, pause_end in self.pauses:  # disjoint and in order
            begin = pause_start if pause_start > cursor else cursor
            end = pause_end if pause_end < until else until
            if end <= begin:
                continue
            before = begin - cursor if calendar is None else calendar.worked(zone, cursor, begin)
            if before >= left:
                break  # due before this pause began: it stops nothing
            left -= before
            paused += end - begin if calendar is None else calendar.worked(zone, begin, end)
            cursor = end
        due = cursor + left if calendar is None else calendar.add(zone, cursor, left)
        status: Status
        if done is not None:
            status, remaining = ("met" if done[0] <= due else "breached"), _count(calendar, zone, done[0], due)
        elif cancelled is not None:
            late = due < cancelled
            status = "breached" if late else "not_applicable"
            remaining = _count(calendar, zone, cancelled, due) if late else 0
        elif moot:
            status, remaining = "not_applicable", 0
        else:
            remaining = _count(calendar, zone, now, due)
            status = "breached" if now > due else "at_risk" if remaining * 4 <= target else "pending"
        milestone = Milestone(name=name, due_at=_due_text(due), done_at=None if done is None else done[1],
                              status=status, remaining_ms=remaining, paused_ms=paused)
        self.out.append(Clock(milestone, start, target, _count(calendar, zone, start, until)))


def _earlier(one: tuple[int, str] | None, two: tuple[int, str] | None) -> tuple[int, str] | None:
    return one if two is None else two if one is None or two[0] < one[0] else one


def clocks(request: Mapping[str, Any], events: Iterable[Mapping[str, Any]],
           visits_signed: Mapping[str, str], callbacks: Iterable[Mapping[str, Any]],
           terms: Terms, site: Mapping[str, Any], device: Mapping[str, Any] | None, now_ms: int) -> list[Clock]:
    """Every milestone of a request that its terms promise, in the contract's order.

    `request` holds its fields (its `started_at`, when the server knows one earlier than
    `reported_at`, wins; its derived `status`, which says whether a `cancelled` counted); each event its `id`, `kind`, `at`, `effective_at`, `reason`, `note`;
    `visits_signed` maps a sealed visit to its customer signature's `signed_at`; each
    call-back its `visit_id`, `called_at`, `reached`.
    """
    start = dated_ms(request.get("started_at") or request.get("reported_at"))
    if start is None:
        return []
    zone = site_zone(site.get("tz"))
    # One pass over the events in time order: the first of each kind since the start,
    # the allowed pauses, and each unit sent away paired with the next one returned.
    firsts: dict[str, tuple[int, str]] = {}
    pauses: list[tuple[int, int]] = []
    trips: list[tuple[int, tuple[int, str] | None]] = []
    since, returned, reasons = None, 0, terms.pause_reasons
    for at, _, kind, _, text, event in _live(events):
        if at >= start and kind not in firsts:
            firsts[kind] = (at, text)
        if kind == "paused":
            if since is None and event.get("reason") in reasons:
                since = at
        elif kind == "resumed":
            if since is not None:
                pauses.append((since, at))
                since = None
        elif kind == "unit_sent":
            trips.append((at, None))
        elif kind == "unit_returned" and returned < len(trips):
            trips[returned] = (trips[returned][0], (at, text))
            returned += 1
    if since is not None:
        pauses.append((since, max(since, now_ms)))
    # A `cancelled` the status rule refused (one after the sheet was signed) is kept but cancels
    # nothing: only a request whose status is `cancelled` (or not derived yet) stops its clocks.
    cancelled = firsts.get("cancelled") if request.get("status") in (None, "cancelled") else None
    request_ = _Request(zone, pauses, None if cancelled is None else cancelled[0], now_ms)
    calendar, clock = terms.calendar, request_.clock

    if request.get("kind") == "repair":
        arrived, fixed = firsts.get("arrived"), firsts.get("fixed")
        urban = site.get("zone") != "suburban"
        clock("on_site", start, terms.on_site_urban if urban else terms.on_site_suburban, arrived, calendar,
              moot=arrived is None and fixed is not None)
        clock("fix", start, terms.fix_complex if request.get("complexity") == "complex" else terms.fix_ordinary,
              fixed, calendar)
        restored = _earlier(fixed, firsts.get("loaner_installed"))
        if (device or {}).get("system") == "video":
            clock("restore", start, terms.restore, restored, calendar)
        clock("loaner", start, terms.loaner, restored, calendar)
    for sent, back in trips:  # in the order sent
        clock("bench_repair", sent, terms.bench_repair, back, calendar)
    if terms.callback:
        callbacks = list(callbacks)  # read once per sealed visit
        for visit_id, signed_at in sorted(visits_signed.items(), key=lambda item: (str(item[1]), item[0])):
            signed = dated_ms(signed_at)
            if signed is not None:
                done = None
                for c in callbacks:
                    if c.get("visit_id") == visit_id and c.get("reached") is True:
                        called = ts_ms(c.get("called_at"))
                        if called is not None and called >= signed and (done is None or called < done[0]):
                            done = (called, c["called_at"])
                clock("callback", signed, next_midnight(signed, zone) - signed, done, None)
    return request_.out


def evaluate(request: Mapping[str, Any], events: Iterable[Mapping[str, Any]],
             visits_signed: Mapping[str, str], callbacks: Iterable[Mapping[str, Any]],
             terms: Terms, site: Mapping[str, Any], device: Mapping[str, Any] | None,
             now_ms: int) -> list[Milestone]:
    """The request's milestones as the API shows them (see `clocks`)."""
    return [c.milestone for c in clocks(request, events, visits_signed, callbacks, terms, site, device, now_ms)]


# Every word of the explanations is the catalogue's `clocks` section; the API's are English.
ENGLISH = words("clocks", "en")


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

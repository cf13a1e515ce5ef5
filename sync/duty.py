"""Who is on duty at a moment (issue 13, docs/service.md "Duty"): pure, so the phone answers
offline what the server derives as a duty call's `on_duty`.

One technician a month (`duty_roster`, the month in the roster's zone, Asia/Shanghai) is on
call from its `from` to its `until` local time whenever the office is closed: outside office
hours, and on holidays. Both ends of the on-call hours are whole minutes and inclusive: with
the defaults 08:00 and 22:30, 08:00:00 and 22:30:59 are on call, 07:59:59 and 22:31:00 are not.
Office hours are a working-hours calendar (`sync/workhours.py`, the same data as a site's
service terms: a week plus holidays and make-up workdays) and are half-open like its
intervals: 08:30 is office hours, 17:30 is not.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidRequest
from .fields import NS
from .periods import DEFAULT_TZ, period_bounds, period_of, site_zone
from .workhours import Calendar

DEFAULT_FROM, DEFAULT_UNTIL = "08:00", "22:30"
_HHMM = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])\Z")


# A calendar's holidays and make-up workdays are published a year at a time (the State Council's
# notice, usually in November): a calendar is warned of this many days before its last covered day.
CALENDAR_WARNING_DAYS = 60


def last_covered_day(calendar: Calendar) -> date | None:
    """The last day a calendar's dated days cover: 31 December of the latest year its holidays or
    make-up workdays name; None for a week alone, which never ends. Past it, every holiday counts as
    a working day (the office open, nobody on call, the clocks running)."""
    days = [*calendar.holidays, *calendar.workdays]
    return date(max(d.year for d in days), 12, 31) if days else None


def ending_calendars(calendars: Mapping[str, Calendar], today: date,
                     within_days: int = CALENDAR_WARNING_DAYS) -> list[tuple[str, date]]:
    """(name, last covered day) of the calendars whose last covered day is within `within_days` of
    `today` or past, by name."""
    found = ((name, last_covered_day(c)) for name, c in sorted(calendars.items()))
    return [(name, last) for name, last in found if last is not None and (last - today).days <= within_days]


def roster_id(month: str) -> str:
    """The one roster row of a month: every client names it alike."""
    return str(uuid.uuid5(NS, f"duty/{month}"))


def minute_of(text: object) -> int | None:
    """`22:30` as minutes after midnight; None for anything else."""
    match = _HHMM.match(text) if isinstance(text, str) else None
    return None if match is None else int(match[1]) * 60 + int(match[2])


RULE_KEYS = frozenset({"note", "zone", "office_hours", "from", "until"})  # fixtures/duty.json's


@dataclass(frozen=True)
class DutyRules:
    """Office hours (a calendar), the roster's zone, and the on-call hours a roster row leaves out."""

    office: Calendar
    zone: tzinfo
    default_from: str = DEFAULT_FROM
    default_until: str = DEFAULT_UNTIL

    @classmethod
    def from_data(cls, data: Mapping[str, Any], calendars: Mapping[str, Any], strict: bool = False) -> DutyRules:
        """From `fixtures/duty.json`: its `office_hours` names a calendar of `calendars` (or is one). `strict`
        (the server reading the file an operator edits): an unknown key is refused. A phone reading the
        server's rules keeps going past a key a newer server added, as clients keep fields they do not know."""
        if strict and (unknown := set(data) - RULE_KEYS):
            raise InvalidRequest(f"duty: {', '.join(sorted(str(k)[:64] for k in unknown))[:200]}: not a rule;"
                                 f" the rules are {', '.join(sorted(RULE_KEYS))}")
        try:  # a typo would otherwise count the roster silently in China Standard Time
            ZoneInfo(data["zone"]) if "zone" in data else None
        except (ZoneInfoNotFoundError, ValueError, TypeError):
            raise InvalidRequest(f"duty: zone {str(data['zone'])[:64]!r} is not an IANA time zone,"
                                 f" e.g. {DEFAULT_TZ}") from None
        office = data.get("office_hours")
        office = calendars.get(office) if isinstance(office, str) else office
        if not isinstance(office, Mapping):
            raise InvalidRequest("duty: office_hours names no calendar")
        rules = cls(Calendar.from_data(office), site_zone(data.get("zone") or DEFAULT_TZ),
                    data.get("from", DEFAULT_FROM), data.get("until", DEFAULT_UNTIL))
        if on_call_minutes({}, rules) is None:
            raise InvalidRequest("duty: from and until are 'HH:MM', from before until")
        return rules

    def month(self, at_ms: int) -> str:
        """The roster month (`2026-M12`) a moment falls in."""
        return period_of(self.local(at_ms).date(), "monthly")

    def local(self, at_ms: int) -> datetime:
        return datetime.fromtimestamp(at_ms / 1000, self.zone)

    def month_bounds(self, month: str) -> tuple[int, int]:
        """[first moment, first moment of the next month) of a roster month, in ms."""
        first, last = period_bounds(month)
        return _midnight(first, self.zone), _midnight(last + timedelta(days=1), self.zone)


def _midnight(day: date, zone: tzinfo) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=zone).timestamp() * 1000)


def on_call_minutes(roster: Mapping[str, Any], rules: DutyRules) -> tuple[int, int] | None:
    """A roster row's on-call hours as minutes (its own, or the defaults); None when they are not
    'HH:MM' with `from` before `until`."""
    start = minute_of(roster.get("from") or rules.default_from)
    end = minute_of(roster.get("until") or rules.default_until)
    return (start, end) if start is not None and end is not None and start < end else None


class Duty(NamedTuple):
    """Who answers the duty phone at a moment, and why nobody does: `state` is `on_call` (then
    `technician`, on call until `until`, 'HH:MM' in the roster's zone: the office's opening or the
    on-call hours' end, whichever comes first), `office_hours`, `off_hours` (outside the on-call
    hours) or `no_roster` (no roster row, or one without a technician or valid hours, this month)."""

    state: str
    technician: str | None = None
    until: str | None = None


def duty_at(at_ms: int, rosters: Mapping[str, Mapping[str, Any]], rules: DutyRules) -> Duty:
    """The duty at `at_ms` (ms since the epoch), from the roster rows by month."""
    roster = rosters.get(rules.month(at_ms))
    technician = roster.get("technician") if roster is not None else None
    hours = on_call_minutes(roster, rules) if roster is not None else None
    if not isinstance(technician, str) or hours is None:
        return Duty("no_roster")
    local = rules.local(at_ms)
    minute = local.hour * 60 + local.minute
    if not hours[0] <= minute <= hours[1]:
        return Duty("off_hours")
    exact = minute + (local.second * 1_000_000 + local.microsecond) / 60_000_000
    spans = rules.office.spans_of(local.date())
    if any(start <= exact < end for start, end in spans):
        return Duty("office_hours")  # the office is open: the desk answers
    end = min([start for start, _ in spans if start > exact] + [hours[1]])
    return Duty("on_call", technician, f"{end // 60:02d}:{end % 60:02d}")


def on_duty(at_ms: int, rosters: Mapping[str, Mapping[str, Any]], rules: DutyRules) -> str | None:
    """The technician on duty at `at_ms` (ms since the epoch), from the roster rows by month;
    None inside office hours, outside the on-call hours, or without a roster for the month."""
    return duty_at(at_ms, rosters, rules).technician

"""Who is on duty, and the month's duty log handed to the next technician (issue 13).

The rules (office hours, the roster's zone, the default on-call hours) are data:
`fixtures/duty.json`, whose office hours name a calendar of `fixtures/service_terms.json`.
A follow-up call is resolved once a later call follows it (when that one needs following up
in turn, it is the one still open) or it names the request opened for it.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sync import errors as E
from sync import hlc
from sync.duty import DutyRules, duty_at, ending_calendars, roster_id
from sync.fields import is_month, is_timestamp
from sync.periods import period_bounds, period_of
from sync.workhours import Calendar

from ...datafiles import about, read_json
from ...filters import time_of
from ...http.excel import excel_csv
from ...storage import duty as q
from ..scope import in_scope
from .schemas import DutyCall, DutyLog, OnDuty

if TYPE_CHECKING:
    from ...services import Caller, Store

FIXTURES = Path(__file__).resolve().parents[3] / "fixtures"
_SHOWN = 40  # characters of a wrong query value quoted back
CSV_COLUMNS = ("list", *DutyCall.__struct_fields__)
ROSTER_WARNING_DAYS = 7  # the last week of a month: the dashboard asks for next month's roster


def _fixture(name: str) -> dict[str, Any]:
    found: dict[str, Any] = read_json(FIXTURES / name)
    return found


@cache
def duty_rules_data() -> dict[str, Any]:
    """`fixtures/duty.json` with its office hours' calendar inlined: all `sync.duty` needs, as a
    phone caches it (`GET /api/duty/rules`) to derive `on_duty` offline."""
    data = _fixture("duty.json")
    office = data.get("office_hours")
    if isinstance(office, str):
        data["office_hours"] = _fixture("service_terms.json")["calendars"].get(office)
    return {k: v for k, v in data.items() if k != "note"}


# What the warning calls duty.json's office hours when they are a calendar of their own, not a name.
DUTY_OFFICE_HOURS = "duty.json office_hours"


@cache
def calendars() -> dict[str, Calendar]:
    """Every calendar the server counts with, by name: service_terms.json's, and duty.json's office
    hours when written out there. Read once, as the clocks and the duty rules read them (a restart
    reads an edited file)."""
    found = {name: Calendar.from_data(c) for name, c in _fixture("service_terms.json")["calendars"].items()}
    office = _fixture("duty.json").get("office_hours")
    if isinstance(office, dict):
        with about("duty.json: office_hours"):  # its file, not service_terms.json, whose calendars are read above
            found[DUTY_OFFICE_HOURS] = Calendar.from_data(office)
    return found


@cache
def duty_rules() -> DutyRules:
    return DutyRules.from_data(duty_rules_data(), {}, strict=True)


def calendars_ending(now_ms: int) -> list[tuple[str, date, int]]:
    """(name, last covered day, days from today to it: below 0 once past) of the calendars that end
    within 60 days of today (in the roster's zone) or have ended: past their last day, holidays
    count as working days."""
    today = duty_rules().local(now_ms).date()
    return [(name, last, (last - today).days) for name, last in ending_calendars(calendars(), today)]


def _visible(caller: Caller, call: dict[str, Any]) -> bool:
    """A call of the caller's sites, or a call without a site that they logged (everyone's for
    supervisors and the service desk)."""
    site = call.get("site_id")
    return caller.sites is None or (in_scope(caller, site) if site is not None else
                                    call.get("logged_by") == caller.username)


def _shown(call: dict[str, Any], rules: DutyRules) -> DutyCall:
    received = call.get("effective_at") or call.get("received_at")
    local = (rules.local(hlc.parse_ts(received)).strftime("%Y-%m-%d %H:%M:%S")
             if isinstance(received, str) and is_timestamp(received) else None)
    return DutyCall(id=call["id"], received_local=local,
                    **{name: call.get(name) for name in DutyCall.__struct_fields__ if name not in ("id", "received_local")})


class Duty:
    def __init__(self, store: Store) -> None:
        self.store = store

    def who(self, at: str | None) -> OnDuty:
        """The technician on duty at `at` (now when absent)."""
        ms = time_of("at", at)
        ms = self.store.now_ms() if ms is None else ms
        rules = duty_rules()
        month = rules.month(ms)
        with self.store.read() as db:
            roster = q.roster(db, roster_id(month))
        found = duty_at(ms, {month: roster} if roster else {}, rules)
        return OnDuty(at=hlc.format_ts(ms), technician=found.technician, state=found.state, until=found.until)

    def roster(self, month: str) -> dict[str, Any] | None:
        """The month's live roster row's fields (`2026-M12`), or None."""
        with self.store.read() as db:
            return q.roster(db, roster_id(month))

    def next_unrostered(self, within_days: int = ROSTER_WARNING_DAYS) -> str | None:
        """Next month (`2027-M1`) when this one ends within `within_days` (in the roster's zone) and the next has
        no roster yet, else None: from its first minute nobody would answer the duty phone (on a holiday such as
        New Year's Day, all day)."""
        rules, now = duty_rules(), self.store.now_ms()
        last = period_bounds(rules.month(now))[1]
        if (last - rules.local(now).date()).days >= within_days:
            return None
        upcoming = period_of(last + timedelta(days=1), "monthly")
        rostered = duty_at(rules.month_bounds(upcoming)[0], {upcoming: self.roster(upcoming) or {}}, rules)
        return upcoming if rostered.state == "no_roster" else None

    def set_roster(self, caller: Caller, month: str, technician: str, start: str | None, end: str | None) -> None:
        """Write the month's roster as a supervisor's push of `duty_roster` would (the console's form): the same
        checks (a technician's enabled account, `HH:MM`, `from` before `until`), a refusal writes nothing. An
        hour left blank is the rules' default (null)."""
        fields: dict[str, Any] = {"month": month, "technician": technician, "from": start or None, "until": end or None}
        self.store.write_server_changes([("duty_roster", roster_id(month), fields, False)], caller=caller)

    def log(self, caller: Caller, month: str | None) -> DutyLog:
        """The month's calls and the follow-ups still open (received before the month's end) in the caller's scope."""
        if not is_month(month):
            raise E.InvalidFilter(f"month {str(month)[:_SHOWN]!r} is not a month like 2026-M11", parameter="month")
        rules = duty_rules()
        start, end = (hlc.format_ts(ms) for ms in rules.month_bounds(str(month)))
        with self.store.read() as db:
            calls, open_ = q.calls_between(db, start, end), q.unresolved_before(db, end)
        return DutyLog(month=str(month), calls=[_shown(c, rules) for c in calls if _visible(caller, c)],
                       unresolved=[_shown(c, rules) for c in open_ if _visible(caller, c)])


def log_csv(log: DutyLog) -> bytes:
    """The log as CSV, UTF-8 with a BOM so that Excel shows Chinese intact: the month's calls
    (`list` = `call`) then the open follow-ups (`unresolved`)."""
    return excel_csv(CSV_COLUMNS, ([name, *(getattr(call, f) for f in DutyCall.__struct_fields__)]
                                   for name, calls in (("call", log.calls), ("unresolved", log.unresolved))
                                   for call in calls))

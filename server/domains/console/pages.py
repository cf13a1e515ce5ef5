"""What each console page shows, from the same services the API calls (no SQL here).

Each function takes the caller, so the API's scope applies: a technician's
lists hold only their sites, and another site is the service's own 404.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from typing import Any

from sync import errors as E
from sync.clocks import Milestone
from sync.duty import ending_calendars
from sync.fields import MAX_PERIOD_YEAR, MIN_PERIOD_YEAR, is_period
from sync.periods import FREQUENCIES, period_bounds, period_of, previous_period, site_zone
from sync.schema import OUTCOMES, SERVICE_DESK, SUPERVISOR
from sync.workhours import Calendar

from ...filters import one_of
from ..duty.service import calendars_ending
from ..identity.service import Caller
from ..inspections.schemas import CoverageDevice, InspectionSummary, SiteSummary
from ..inspections.service import CLOSED, Inspections
from ..service.schemas import RequestSummary
from ..service.service import MAX_LIMIT, ServiceRequests
from ..sheets.service import local
from .web import field_names, people, value_words

NOT_CHECKED = "not_checked"
OUTCOME_CHOICES = (*OUTCOMES, NOT_CHECKED)
_RANK = {"breached": 0, "at_risk": 1, "pending": 2}
LATEST_CONFLICTS = 10
DASHBOARD_INSPECTIONS = 50  # the dashboard's first inspections, overdue first; all of them: /console/inspections
INSPECTIONS_PER_PAGE = 100
NEWEST = 2**53 - 1  # `before` this conflict-log id: from the newest entry


def local_time(stamp: str | None, tz: object = None) -> str:
    """A protocol time as the site's wall clock (`2026-11-20 09:00`); see `sheets.service.local`."""
    return local(stamp, tz)


def _next_clock(milestones: list[Milestone]) -> Milestone | None:
    """The milestone the desk must watch: the most urgent one not yet met."""
    live = [m for m in milestones if m.status in _RANK]
    return min(live, key=lambda m: (_RANK[m.status], m.remaining_ms), default=None)


def countdown(t: Mapping[str, str], m: Milestone | None) -> str:
    if m is None:
        return ""
    minutes = abs(m.remaining_ms) // 60_000
    span = t["hours_minutes"].format(h=minutes // 60, m=minutes % 60)
    return t["late" if m.remaining_ms < 0 else "left"].format(time=span)


def stopped(m: Milestone | None, paused_since: str | None) -> bool:
    """Whether an open pause stops this milestone now (pending when it began, so not breached)."""
    return paused_since is not None and m is not None and m.status in ("pending", "at_risk") and m.remaining_ms > 0


def request_row(t: Mapping[str, str], r: RequestSummary, sites: Mapping[str, SiteSummary]) -> dict[str, Any]:
    """A request as a line of the dashboard and the desk's list: its most urgent clock, read as
    已暂停（自 …） while an open pause stops it (the API's `paused_since`); a resolved one's wait for the
    customer's signature, which no clock counts, as 待客户签字（… 已修复） (`awaiting_signature_since`)."""
    m = _next_clock(r.milestones)
    site = sites.get(r.site_id or "")
    tz = site.tz if site else None
    paused = t["paused_since"].format(since=local_time(r.paused_since, tz)) if r.paused_since else ""
    waiting = (t["awaiting_signature"].format(since=local_time(r.awaiting_signature_since, tz))
               if r.awaiting_signature_since else "")
    return {"id": r.id, "number": r.number, "site": site.name if site else "", "device": r.device_code,
            "device_href": f"/console/sites/{site.id}/devices/{r.device_id}" if site and r.device_id else "",
            "kind": r.kind, "status": r.status, "assigned_to": r.assigned_to,
            "state": m.status if m else "", "clock": m.name if m else "", "countdown": countdown(t, m),
            "paused": paused, "stopped": stopped(m, r.paused_since), "reported": local_time(r.reported_at, tz),
            "waiting": waiting}


def _request_order(r: RequestSummary) -> tuple[int, int, str]:
    m = _next_clock(r.milestones)
    return (_RANK[m.status], m.remaining_ms, r.reported_at or "") if m else (3, 0, r.reported_at or "")


def dashboard(state: Any, caller: Caller, t: Mapping[str, str], lang: str) -> dict[str, Any]:
    inspections: Inspections = state.inspections
    sites = {s.id: s for s in inspections.sites(caller)}
    requests: ServiceRequests = state.service_requests
    listed = requests.list(caller, open_="true", limit=MAX_LIMIT).requests
    listed.sort(key=_request_order)
    return {"requests": [request_row(t, r, sites) for r in listed],
            # the desk's call-backs still to make (a technician's dashboard has none to make)
            "callbacks_due": requests.callbacks_due(caller) if caller.role in (SERVICE_DESK, SUPERVISOR) else None,
            "calendars": calendar_warnings(state.store.now_ms(), t, state.archive.terms_calendars())
            if caller.role == SUPERVISOR else [],
            # the month ending within a week and the next not rostered: the supervisor's to write
            "unrostered": _unrostered(state.duty.next_unrostered()) if caller.role == SUPERVISOR else None,
            **_dashboard_inspections(inspections, caller, list(sites.values())),
            "conflicts": latest_conflicts(state, caller, {s.id: s.tz for s in sites.values()}, lang)}


def _dashboard_inspections(inspections: Inspections, caller: Caller, sites: list[SiteSummary]) -> dict[str, Any]:
    """The first `DASHBOARD_INSPECTIONS` of `current_inspections` and how many more (`/console/inspections`)."""
    shown, total = current_inspections(inspections, caller, sites, limit=DASHBOARD_INSPECTIONS)
    return {"inspections": shown, "more_inspections": total - len(shown)}


def _unrostered(month: str | None) -> str | None:
    """The month without a roster as the reports page names it (`2027-M1` as `2027-01`)."""
    return None if month is None else period_bounds(month)[0].strftime("%Y-%m")


def calendar_warnings(now_ms: int, t: Mapping[str, str], sites: Mapping[str, Calendar] | None = None) -> list[str]:
    """A line for each holiday calendar that ends within 60 days of `now_ms` or has ended
    (`calendars_ending`), in `t`'s words: the dashboard's for supervisors, `fieldsync serve`'s at start;
    then one for each calendar a site's terms write out (`sites`, by the site's name), which its override
    must be given the next year's dates in."""
    ending = [t["calendar_ending" if days >= 0 else "calendar_ended"].format(name=name, last=last.isoformat(),
                                                                            when=_days_to(t, days))
              for name, last, days in calendars_ending(now_ms)]
    today = datetime.fromtimestamp(now_ms / 1000, site_zone(None)).date()
    return ending + [t["site_calendar_ending" if (last - today).days >= 0 else "site_calendar_ended"].format(
        site=site, last=last.isoformat(), when=_days_to(t, (last - today).days))
        for site, last in ending_calendars(sites or {}, today)]


def _days_to(t: Mapping[str, str], days: int) -> str:
    """How far a calendar's last day is, in words: 还剩 24 天, 今天是最后一天, 已过期 5 天 (on New Year's Eve it read
    还剩 0 天, and "1 days ago" the next morning)."""
    named = {1: "calendar_tomorrow", 0: "calendar_today", -1: "calendar_yesterday"}.get(days)
    return t[named] if named else t["calendar_in_days" if days > 0 else "calendar_days_ago"].format(days=abs(days))


def current_inspections(inspections: Inspections, caller: Caller, sites: list[SiteSummary], offset: int = 0,
                        limit: int | None = None) -> tuple[list[InspectionSummary], int]:
    """The inspections of the period each site is in today, in its own time zone, whatever its plan's
    frequency (a month, a half-year or a quarter), and those of the period before it still not done,
    whatever their due date (on 1 January the fourth quarter's unfinished inspection is still work to do): the
    overdue first, the longest overdue leading, then the unfinished, then those done. Those from `offset`, at most `limit` (the dashboard's first, a page of
    the console's list), and how many in all: at 1,000 sites the dashboard listed every one (1,000 rows each
    quarter, and on 1 January the fourth quarter's unfinished beside them), its progress counted for all."""
    days = {tz: inspections.today(tz) for tz in {s.tz for s in sites}}
    current = {s.id: {period_of(days[s.tz], f) for f in FREQUENCIES} for s in sites}
    before = {site: {previous_period(p) for p in periods} for site, periods in current.items()}

    # The period before is kept for what is not done yet, whatever its due date (one a supervisor moved into
    # January, or with none, is still work to do).
    def keep(site: str, period: str, done: bool) -> bool:
        return period in current.get(site, ()) or (not done and period in before.get(site, ()))

    return inspections.overdue_first(caller, set().union(*current.values(), *before.values()), keep, offset, limit)


def inspections_page(state: Any, caller: Caller, page: str | None) -> dict[str, Any]:
    """A page of the dashboard's inspections (`?page=`, from 1; `INSPECTIONS_PER_PAGE` each), in its order;
    `past`: the page is past the last (the controller's 404 page says so and links the last: it read
    第 99 页，共 4 页 and 本期没有巡检。 when there were 302)."""
    if page and not (page.isascii() and page.isdigit() and len(page) <= 6 and int(page) >= 1):
        raise E.InvalidFilter(f"page {page[:8]!r} is a page number from 1", parameter="page")
    number = int(page) if page else 1
    inspections: Inspections = state.inspections
    shown, total = current_inspections(inspections, caller, inspections.sites(caller),
                                       (number - 1) * INSPECTIONS_PER_PAGE, INSPECTIONS_PER_PAGE)
    pages = max(1, -(-total // INSPECTIONS_PER_PAGE))
    return {"inspections": shown, "total": total, "page": number, "per_page": INSPECTIONS_PER_PAGE,
            "pages": pages, "past": number > pages}


def latest_conflicts(state: Any, caller: Caller, zones: Mapping[str, object], lang: str) -> list[dict[str, Any]]:
    """The newest entries of the conflict log the caller may see, no-op entries left out; each time in its
    site's zone (`zones`: the caller's sites'), its values in words, as the conflicts page shows them."""
    found = state.store.conflicts(caller, limit=LATEST_CONFLICTS, no_op=False, before=NEWEST).conflicts
    words_of = conflict_words(state, lang, zones)
    return [{"label": c.label or c.collection, "collection": c.collection, "kind": c.kind, "user": c.user,
             **words_of(c)} for c in found]


def conflict_words(state: Any, lang: str, zones: Mapping[str, object]) -> Callable[[Any], dict[str, str]]:
    """A conflict-log entry's field, values and time as a page shows them (the conflicts page and the
    dashboard's latest): the field and values in words (`web.value_words`), times in its site's zone."""
    field = field_names(state, lang)
    shown = value_words(lang, field, people(state))

    def words_of(c: Any) -> dict[str, str]:
        tz = zones.get(c.site_id or "")
        return {"register": field(c.register), "old": shown(c.collection, c.register, c.old_value, tz),
                "new": shown(c.collection, c.register, c.new_value, tz), "at": local_time(c.at, tz)}

    return words_of


def matching(devices: list[CoverageDevice], code: str) -> tuple[list[CoverageDevice], CoverageDevice | None]:
    """The devices whose code starts with `code` (any case), and the one whose code is exactly it, if one."""
    if not code:
        return devices, None
    wanted = code.casefold()
    found = [d for d in devices if (d.code or "").casefold().startswith(wanted)]
    exact = [d for d in found if (d.code or "").casefold() == wanted]
    return found, exact[0] if len(exact) == 1 else None


_FREQUENCY_OF = {"Q": "quarterly", "H": "half_yearly", "M": "monthly"}  # by a period's letter


def site_page(state: Any, caller: Caller, site_id: str, system: str | None, kind: str | None,
              outcome: str | None, code: str = "", period: str | None = None,
              history: Sequence[InspectionSummary] = ()) -> dict[str, Any]:
    """A site's coverage of `period` (default: the one it is in today, by its plan), grouped by system and
    location, with the camera grid; `code` keeps the devices whose code starts with it, and `exact` is the
    one whose code it is. `history` is the site's inspections (the page lists them): a period of another
    plan than today's is shown when the site has an inspection of it."""
    inspections: Inspections = state.inspections
    wanted = one_of("outcome", outcome, OUTCOME_CHOICES)
    found = inspections.sites(caller, site_id)
    if not found:  # before the period's checks: a site that does not exist is a 404, whatever the period
        raise E.NotFound(f"no site {site_id}")
    tz = found[0].tz
    current = inspections.current_period(site_id, tz)
    if period and not is_period(period):
        raise E.InvalidFilter(f"period {period[:32]!r} is not like 2026-Q4, 2026-H2 or 2026-M11", parameter="period")
    if period and period[5] != current[5] and not any(i.period == period for i in history):
        # 2026-M11 of a quarterly site: no such inspection, and its coverage read every device unchecked ("nothing
        # was done"). The console's page says which periods the site has (`plan`, `example`: the current one).
        # A period the site has an inspection of is its own whatever the plan is today: the quarters before a
        # change to monthly, or a month a phone created (the history links to each).
        raise E.InvalidFilter(f"period {period} is not of this site's plan, whose periods are like {current}",
                              parameter="period", plan=_FREQUENCY_OF[current[5]], example=current)
    before_unfinished = not period and _opens_before(current, history)
    period = period or (previous_period(current) if before_unfinished else current)
    coverage = inspections.coverage(caller, site_id, period, system, kind)  # 404 outside the caller's scope
    # The choices are the site's (the period's devices), not the filtered ones: once one camera kind was
    # chosen, 全部摄像机 and the other kinds were gone from the select.
    every = inspections.coverage(caller, site_id, period) if system or kind else coverage
    devices = [d for d in coverage.devices if wanted is None or (d.outcome or NOT_CHECKED) == wanted]
    devices, exact = matching(devices, code)
    groups: dict[str, dict[str, list[Any]]] = {}
    for d in sorted(devices, key=lambda d: (d.system or "", d.location or "", d.code or "")):
        groups.setdefault(d.system or "", {}).setdefault(d.location or "", []).append(d)
    cameras = [d for d in devices if (d.kind or "").endswith("camera")]
    counts = Counter(d.outcome or NOT_CHECKED for d in cameras)
    return {"site": found[0], "period": period, "current_period": current, "before_unfinished": before_unfinished,
            "coverage": coverage, "groups": groups, "cameras": cameras,
            "camera_counts": counts, "outcomes": OUTCOME_CHOICES, "not_checked": NOT_CHECKED,
            "filters": {"system": system or "", "kind": kind or "", "outcome": wanted or "", "code": code,
                        "period": period if period != current else ""},
            "exact": exact, "matches": len(devices),
            "kinds": sorted({d.kind for d in every.devices if d.kind}),
            # every camera kind in one choice (the coverage takes a list): "which cameras were serviced"
            "camera_kinds": sorted({d.kind for d in every.devices if (d.kind or "").endswith("camera")}),
            "systems": sorted({d.system for d in every.devices if d.system}),
            "checked_at": {d.device_id: local_time(d.checked_at, tz) for d in devices}}


def _opens_before(current: str, history: Sequence[InspectionSummary]) -> bool:
    """Whether a site page opens on the period before `current`: the current one has no inspection yet and
    the one before has one still not done. At 00:10 on 1 January the page opened on 2027-Q1, "no inspection,
    every device unchecked", while the fourth quarter's unchecked cameras were the work still to do (the
    dashboard lists that inspection, overdue: `current_inspections`)."""
    before = previous_period(current)
    return not any(i.period == current for i in history) and any(
        i.period == before and i.status not in CLOSED for i in history)


def _a_year_before(today: date) -> date:
    """The same day a year earlier (28 February for 29 February)."""
    return today.replace(year=today.year - 1, day=28 if (today.month, today.day) == (2, 29) else today.day)


def site_history(inspections: list[InspectionSummary], year: str | None, period: str, today: date) -> dict[str, Any]:
    """The site's inspections of one `year`, or by default of the last twelve months: each whose period ends on
    or after `today` (the site's day, by the store's clock) a year ago, and those scheduled ahead. On 1 January
    the default was the new year, an empty list (nothing done yet), while last quarter's work was a click away.
    The years it has inspections in, newest first, for the year switch."""
    # isascii(): isdigit() also takes ² (int() then refuses it: a 500) and ２０２６ (which matched no inspection).
    if year and not (len(year) == 4 and year.isascii() and year.isdigit()
                     and MIN_PERIOD_YEAR <= int(year) <= MAX_PERIOD_YEAR):
        raise E.InvalidFilter(f"year {year[:8]!r} is a year like 2026", parameter="year")
    since = _a_year_before(today)
    shown = [i for i in inspections if (i.period or "").startswith(year)] if year else [
        i for i in inspections if i.period and is_period(i.period) and period_bounds(i.period)[1] >= since]
    years = sorted({i.period[:4] for i in inspections if i.period} | ({year} if year else set()), reverse=True)
    return {"history": shown, "history_year": year or "", "history_years": years, "year": year or "",
            # A period of its plan the site has no inspection for (2099-Q1, or one not scheduled): the page
            # says so above the coverage, whose devices all read unchecked.
            "no_inspection": not any(i.period == period for i in inspections)}

"""Maintenance plans, scheduling, and the supervisor's questions about inspections.

"Which of the 117 cameras were serviced this quarter, and what is wrong with
the rest?" is `coverage`: every device's outcome in one inspection is a
`device_checks` row of its own, so the answer is a query (`queries.py`; this
module holds no SQL).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from datetime import date
from typing import TYPE_CHECKING, Any

from sync import errors as E
from sync import schema
from sync.periods import period_bounds, period_of
from sync.schema import inspection_id

from ...filters import any_of, one_of
from ...storage.inspections import SqliteInspections
from ..scope import in_scope
from .queries import Fields, InspectionQueries, InspectionReads
from .schemas import (
    Coverage,
    CoverageDevice,
    DeviceHistory,
    GenerateResult,
    HistoryEntry,
    InspectionList,
    InspectionSummary,
    Plan,
    RepairRequest,
    RepairVisit,
    Sheet,
    SiteList,
    SiteSummary,
)

if TYPE_CHECKING:
    from ...services import Caller, Store

FREQUENCY_OF = {"Q": "quarterly", "H": "half_yearly", "M": "monthly"}
# The device's fields a history names it by, and the site's a site summary shows (issue 14).
_IDENTITY = ("name", "system", "location", "model", "serial_no", "installed_on", "status", "warranty_from",
             "warranty_months")
_ARCHIVE = ("address", "zone", "contract", "contract_price_fen", "accepted_on", "warranty_months")
DEFAULT_SITES, MAX_SITES = 100, 500  # sites per page of GET /api/sites


# An inspection listed, not yet counted: (id, site id, fields, site fields, status, overdue).
_Row = tuple[str, str, Fields, Fields, str, bool]


def _due_order(row: _Row) -> tuple[str, str, str]:
    """The lists' order: due first (none last), then by sheet number and id."""
    return (row[2].get("due_on") or "9999", row[2].get("sheet_no") or "", row[0])


def _check_period(period: str) -> None:
    if not schema.is_period(period):
        raise E.InvalidRequest(
            f"period {period[:32]!r} is not like 2026-Q4, 2026-H2, 2026-M11 or 2027-M1 (no leading zero),"
            f" in a year from {schema.MIN_PERIOD_YEAR} to {schema.MAX_PERIOD_YEAR}"
        )


def _choices(collection: str, field: str) -> tuple[str, ...]:
    found = schema.COLLECTIONS[collection].field(field)
    assert found is not None and found.choices, (collection, field)
    return found.choices


def _repair_archive(repairs: list[tuple[str, Fields, list[Fields]]]) -> list[RepairRequest]:
    """A device's service requests, newest first, each with its visits in order (issue 12)."""
    out = [
        RepairRequest(
            id=request_id, number=r.get("number"), status=r.get("status"), reported_at=r.get("reported_at"),
            description=r.get("description"),
            visits=[RepairVisit(id=v["id"], sheet_no=v.get("sheet_no"), technician=v.get("technician"),
                                outcome=v.get("outcome"), fault_cause=v.get("fault_cause"),
                                recorded_at=v.get("recorded_at"))
                    for v in sorted(visits, key=lambda v: (v.get("visit_no") or 0, v["id"]))],
        )
        for request_id, r, visits in repairs
    ]
    out.sort(key=lambda r: (r.reported_at or "", r.number or ""), reverse=True)
    return out


def _answers(check: Fields) -> dict[str, Any]:
    """A check's checklist answers (its `item.<key>` fields), by key."""
    return {k[5:]: v for k, v in check.items() if k.startswith("item.")}


def _listed(q: InspectionReads, site_id: str, insp: str, checks: dict[str, Fields]) -> list[tuple[str, Fields]]:
    """The devices an inspection lists: the site's active devices and those checked in it since
    retired (serviced that period all the same); once it is completed or signed, only those with a
    check (a device added after the visit is the next period's, not on the signed sheet)."""
    found = q.row("inspections", insp)
    done = found is not None and found[1].get("status") in ("completed", "signed")
    devices = [(i, f) for i, f in q.active_devices(site_id) if not done or i in checks]
    listed = {i for i, _ in devices}
    for device_id in sorted(set(checks) - listed):
        device = q.row("devices", device_id)
        if device is not None and device[0] == site_id:
            devices.append((device_id, device[1]))
    return devices


def due_on(period: str, due_day: int) -> str:
    last = period_bounds(period)[1]
    day = min(max(due_day, 1), last.day)
    return last.replace(day=day).isoformat()

# An inspection whose sheet is done: the console reassigns only one still open (its sheet prints the technician).
CLOSED = ("completed", "signed")


def _work_order(row: _Row) -> tuple[bool, bool, str, str, str]:
    """The dashboard's order: the overdue first, then the unfinished, then those done, each due first
    (`_due_order`). By due date alone, a quarter's completed inspections due the same day as the overdue ones
    sat among them and pushed overdue work past the dashboard's first 50."""
    return (not row[5], row[4] in CLOSED, *_due_order(row))


class Inspections:
    """`store` makes the server's own writes (generated inspections); `queries` reads (default: SQLite's)."""

    def __init__(self, store: Store, queries: InspectionQueries | None = None) -> None:
        self.store = store
        self.queries: InspectionQueries = queries if queries is not None else SqliteInspections(store)

    # -- plans and scheduling -----------------------------------------------

    def set_plan(self, site_id: str, plan: Plan) -> Plan:
        if plan.frequency not in FREQUENCY_OF.values():
            raise E.InvalidRequest(f"frequency must be one of {', '.join(FREQUENCY_OF.values())}")
        if not 1 <= plan.due_day <= 31:
            raise E.InvalidRequest("due_day is a day of the period's last month, 1 to 31")
        with self.queries.writing() as q:
            if q.row("sites", site_id) is None:
                raise E.NotFound(f"no site {site_id}")
            if plan.technician is not None and not q.is_technician(plan.technician):
                raise E.InvalidRequest(f"{plan.technician} is not a technician whose account is enabled")
            if plan.technician is not None and not q.is_member(site_id, plan.technician):
                raise E.InvalidRequest(f"{plan.technician} is not a member of site {site_id} whose account is enabled")
            q.save_plan(site_id, plan)
        return plan

    def get_plan(self, site_id: str) -> Plan:
        with self.queries.reading() as q:
            found = q.plan(site_id)
        if found is None:
            raise E.NotFound(f"site {site_id} has no maintenance plan")
        return found

    def generate(self, period: str) -> GenerateResult:
        """One inspection per planned site for the period; running it again creates nothing."""
        _check_period(period)
        with self.queries.reading() as q:
            plans = q.planned(FREQUENCY_OF[period[5]])
            # Inspection ids are deterministic: look them up instead of scanning history.
            wanted = [inspection_id(site_id, period) for site_id, _, _ in plans]
            existing = q.existing("inspections", wanted)
        created, kept = [], []
        changes: list[tuple[str, str, dict[str, Any], bool | None]] = []
        initial: list[tuple[str, str, dict[str, Any]]] = []
        for (site_id, due_day, technician), insp in zip(plans, wanted, strict=True):
            if insp in existing:
                kept.append(insp)
                continue
            fields: dict[str, Any] = {"site_id": site_id, "period": period, "due_on": due_on(period, due_day)}
            if technician:
                fields["assigned_to"] = technician
            changes.append(("inspections", insp, fields, False))
            # `scheduled` at the lowest HLC: a technician who started this inspection
            # offline before it was generated keeps their `in_progress`.
            initial.append(("inspections", insp, {"status": "scheduled"}))
            created.append(insp)
        if changes:
            self.store.write_server_changes(changes, initial)
        return GenerateResult(period=period, created=created, existing=kept)

    # -- the supervisor's questions -------------------------------------------

    def today(self, tz: object) -> date:
        """Today in a site's time zone, by the store's clock (`Store.today`)."""
        return self.store.today(tz)

    def current_period(self, site_id: str, tz: object) -> str:
        """The period the site is in today, in its time zone, by its plan's frequency (quarterly without one)."""
        with self.queries.reading() as q:
            plan = q.plan(site_id)
        return period_of(self.today(tz), plan.frequency if plan is not None else "quarterly")

    def coverage(
        self, caller: Caller, site_id: str, period: str, system: str | None = None, kind: str | None = None
    ) -> Coverage:
        """`system` is one of the schema's; `kind` a comma-separated list of the kinds there are."""
        _check_period(period)
        chosen = one_of("system", system, _choices("devices", "system"))
        with self.queries.reading() as q:
            if not in_scope(caller, site_id) or q.row("sites", site_id) is None:
                raise E.NotFound(f"no site {site_id}")
            return self._coverage(q, site_id, period, chosen, any_of("kind", kind, q.kinds(site_id)))

    @staticmethod
    def _coverage(
        q: InspectionReads, site_id: str, period: str, system: str | None, kinds: list[str] | None
    ) -> Coverage:
        insp = inspection_id(site_id, period)
        checks = q.checks(insp)
        devices = _listed(q, site_id, insp, checks)
        if system:
            devices = [(i, f) for i, f in devices if f.get("system") == system]
        if kinds:
            devices = [(i, f) for i, f in devices if f.get("kind") in kinds]
        photos = q.photos_of_inspection(insp, site_id)
        rows = []
        for device_id, d in sorted(devices, key=lambda x: (x[1].get("code") or "", x[0])):
            c = checks.get(device_id, {})
            rows.append(CoverageDevice(
                device_id=device_id, code=d.get("code"), kind=d.get("kind"), system=d.get("system"),
                location=d.get("location"), outcome=c.get("outcome"), checked_by=c.get("checked_by"),
                checked_at=c.get("checked_at"), note=c.get("note"), photos=photos.get(device_id, []),
            ))
        counts = Counter(r.outcome for r in rows)
        return Coverage(
            site_id=site_id, period=period, inspection_id=insp, total=len(rows),
            serviced=counts["serviced"], fault=counts["fault"], not_accessible=counts["not_accessible"],
            skipped=counts["skipped"], not_checked=counts[None], devices=rows,
        )

    def device_history(self, caller: Caller, device_id: str) -> DeviceHistory:
        with self.queries.reading() as q:
            device = q.row("devices", device_id)
            if device is None or not in_scope(caller, device[0]):
                raise E.NotFound(f"no device {device_id}")
            found = q.history(device_id)
            photos = q.photos_of_device(device_id, device[0])
            repairs = q.repairs(device_id)
        entries = []
        for insp, check, inspection in found:
            entries.append(HistoryEntry(
                inspection_id=insp, period=inspection.get("period"), sheet_no=inspection.get("sheet_no"),
                outcome=check.get("outcome"), note=check.get("note"), checked_by=check.get("checked_by"),
                checked_at=check.get("checked_at"),
                items=_answers(check),
                photos=photos.get(insp, []),
            ))
        entries.sort(key=lambda e: (e.checked_at or "", e.period or ""), reverse=True)
        d = device[1]
        return DeviceHistory(device_id=device_id, code=d.get("code"), kind=d.get("kind"), site_id=device[0],
                             checks=entries, requests=_repair_archive(repairs),
                             **{f: d.get(f) for f in _IDENTITY})

    def summaries(
        self,
        caller: Caller,
        period: str | None = None,
        site_id: str | None = None,
        status: str | None = None,
        overdue: bool | None = None,
        unfinished: bool = False,
    ) -> InspectionList:
        """Inspections with progress, due first (was `list`, which shadowed the builtin in this class);
        `unfinished`: only those not completed or signed, whatever their due date."""
        if period:
            _check_period(period)
        status = one_of("status", status, _choices("inspections", "status"))
        with self.queries.reading() as q:
            listed = [row for row in self._uncounted(q, caller, period, site_id, status)
                      if (overdue is None or row[5] == overdue) and not (unfinished and row[4] in CLOSED)]
            return InspectionList(inspections=self._counted(q, sorted(listed, key=_due_order)))

    def overdue_first(self, caller: Caller, periods: Iterable[str], keep: Callable[[str, str, bool], bool],
                  offset: int = 0, limit: int | None = None) -> tuple[list[InspectionSummary], int]:
        """The inspections of `periods` that `keep(site_id, period, done)` keeps (`done`: completed or signed),
        the overdue first, then the unfinished, then those done, each due first (`summaries`' order): those
        from `offset`, at most `limit`, with progress counted for them alone, and how many are kept in all. The dashboard's list and the console's list of it: counting
        the progress of all of them (each site's active devices, each inspection's checks) took 0.6 s at 1,000
        sites, for a page that showed them all."""
        with self.queries.reading() as q:
            listed = sorted((row for period in sorted(set(periods)) for row in self._uncounted(q, caller, period)
                             if keep(row[1], row[2].get("period", ""), row[4] in CLOSED)), key=_work_order)
            end = None if limit is None else offset + limit
            return self._counted(q, listed[offset:end]), len(listed)

    def _uncounted(self, q: InspectionReads, caller: Caller, period: str | None, site_id: str | None = None,
                   status: str | None = None) -> list[_Row]:
        """The caller's inspections asked for, with their state and whether they are overdue, not yet counted:
        counting reads every check of every listed inspection, so what is listed is decided first (at 1,000
        sites with two years of history, counting all first took 15 s)."""
        today: dict[str | None, str] = {}
        listed: list[_Row] = []
        for insp, site, fields, site_fields in q.inspections(period or None, site_id or None, status):
            if not in_scope(caller, site):
                continue
            tz = site_fields.get("tz")
            if tz not in today:
                today[tz] = self.today(tz).isoformat()
            state = fields.get("status", "scheduled")
            late = bool(fields.get("due_on")) and state not in CLOSED and today[tz] > fields["due_on"]
            listed.append((insp, site, fields, site_fields, state, late))
        return listed

    def _counted(self, q: InspectionReads, listed: list[_Row]) -> list[InspectionSummary]:
        """Each listed inspection with its progress (`checked`/`total`), in the order given."""
        checked = q.checked_counts([r[0] for r in listed])
        totals = q.device_totals(sorted({r[1] for r in listed}))
        return [
            InspectionSummary(
                id=insp, site_id=site, site_name=site_fields.get("name"), period=fields.get("period", ""),
                sheet_no=fields.get("sheet_no"), status=state, due_on=fields.get("due_on"),
                assigned_to=fields.get("assigned_to"), checked=checked.get(insp, 0), total=totals.get(site, 0),
                overdue=late,
            )
            for insp, site, fields, site_fields, state, late in listed
        ]

    def sites(self, caller: Caller, site_id: str | None = None) -> list[SiteSummary]:
        """The caller's sites (or the one named, if theirs), by name."""
        wanted = None if caller.sites is None else sorted(caller.sites)
        if site_id is not None:
            wanted = [site_id] if in_scope(caller, site_id) else []
        with self.queries.reading() as q:
            found = q.sites(wanted)
        return sorted((SiteSummary(id=i, name=f.get("name"), customer=f.get("customer"), tz=f.get("tz"),
                                   **{k: f.get(k) for k in _ARCHIVE}) for i, f in found),
                      key=lambda s: (s.name or "", s.id))

    def site_page(self, caller: Caller, limit: int = DEFAULT_SITES, after: str | None = None) -> SiteList:
        """A page of the caller's sites in the console's order (by name): a technician's are those he is a
        member of. `after` is a site of the list (the previous page's `next`): a cursor names nothing of
        another's sites."""
        if not 1 <= limit <= MAX_SITES:
            raise E.InvalidRequest(f"limit is 1 to {MAX_SITES}", limit=MAX_SITES)
        sites = self.sites(caller)
        start = 0
        if after is not None:
            start = next((i + 1 for i, s in enumerate(sites) if s.id == after), -1)
            if start < 0:
                raise E.InvalidCursor("after is the `next` of a page of this list")
        page = sites[start:start + limit]
        return SiteList(sites=page, next=page[-1].id if start + limit < len(sites) else None)

    def assign(self, caller: Caller, insp: str, username: str) -> None:
        """Reassign an inspection (a technician left), merged as a supervisor's push of `assigned_to`
        would be: another site's inspection is 404, anyone but an enabled member of its site
        `invalid_field`, a technician's `forbidden`; nothing is written then."""
        with self.queries.reading() as q:
            found = q.row("inspections", insp)
        if found is None or not in_scope(caller, found[0]):
            raise E.NotFound(f"no inspection {insp}")
        if found[1].get("status") in CLOSED:  # its sheet names the technician beside the customer's signature
            raise E.InvalidField(f"inspections.assigned_to: inspection {insp} is {found[1].get('status')}",
                                 reason="sealed")
        self.store.write_server_changes([("inspections", insp, {"assigned_to": username}, False)], caller=caller)

    def sheet(self, caller: Caller, insp: str) -> Sheet:
        with self.queries.reading() as q:
            found = q.row("inspections", insp)
            if found is None or not in_scope(caller, found[0]):
                raise E.NotFound(f"no inspection {insp}")
            site_id, fields = found
            site = q.row("sites", site_id) if site_id else None
            coverage = self._coverage(q, fields["site_id"], fields["period"], None, None)
            whole = q.photos_of_inspection(insp, site_id).get(None, [])
            signed = q.signatures(insp)
            items = {device: answers for device, check in q.checks(insp).items() if (answers := _answers(check))}
        return Sheet(inspection={"id": insp, **fields}, site={"id": site_id, **(site[1] if site else {})},
                     coverage=coverage, signatures=signed, photos=whole, items=items)

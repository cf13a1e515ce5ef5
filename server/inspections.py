"""Maintenance plans, scheduling, and the supervisor's questions about inspections.

"Which of the 117 cameras were serviced this quarter, and what is wrong with
the rest?" is `coverage`: every device's outcome in one inspection is a
`device_checks` row of its own, so the answer is a query.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from typing import Any

import msgspec

from sync import errors as E
from sync import schema
from sync.periods import period_bounds, sheet_no, site_today
from sync.schema import inspection_id

from .db import select_in
from .filters import any_of, one_of
from .media import PhotoInfo, photos_of_device, photos_of_inspection, site_tz
from .sealing import SignatureInfo, signatures
from .store import Caller, Store

OUTCOMES = ("serviced", "fault", "not_accessible", "skipped")
FREQUENCY_OF = {"Q": "quarterly", "H": "half_yearly", "M": "monthly"}
_decode = msgspec.json.decode


class Plan(msgspec.Struct, kw_only=True):
    frequency: str = "quarterly"
    due_day: int = 20  # day of the period's last month the visit is due (clamped to its length)
    technician: str | None = None


class CoverageDevice(msgspec.Struct, kw_only=True):
    device_id: str
    code: str | None
    kind: str | None
    system: str | None
    location: str | None
    outcome: str | None
    checked_by: str | None
    checked_at: str | None
    note: str | None
    photos: list[PhotoInfo] = []  # each `stored` or `missing`, with what EXIF says once stored


class Coverage(msgspec.Struct, kw_only=True):
    site_id: str
    period: str
    inspection_id: str
    total: int
    serviced: int
    fault: int
    not_accessible: int
    skipped: int
    not_checked: int
    devices: list[CoverageDevice]


class HistoryEntry(msgspec.Struct, kw_only=True):
    inspection_id: str
    period: str | None
    sheet_no: str | None
    outcome: str | None
    note: str | None
    checked_by: str | None
    checked_at: str | None
    items: dict[str, Any]
    photos: list[PhotoInfo] = []


class DeviceHistory(msgspec.Struct, kw_only=True):
    device_id: str
    code: str | None
    kind: str | None
    site_id: str | None
    checks: list[HistoryEntry]


class InspectionSummary(msgspec.Struct, kw_only=True):
    id: str
    site_id: str
    site_name: str | None
    period: str
    sheet_no: str | None
    status: str | None
    due_on: str | None
    assigned_to: str | None
    checked: int
    total: int
    overdue: bool


class InspectionList(msgspec.Struct, kw_only=True):
    inspections: list[InspectionSummary]


class Sheet(msgspec.Struct, kw_only=True):
    inspection: dict[str, Any]
    site: dict[str, Any]
    coverage: Coverage
    photos: list[PhotoInfo] = []  # photos of the inspection as a whole (no device)
    # Who signed, whether it verified, what it sealed; for a mismatch, how the sheet differed.
    signatures: list[SignatureInfo] = []


class GenerateRequest(msgspec.Struct, kw_only=True):
    period: str


class GenerateResult(msgspec.Struct, kw_only=True):
    period: str
    created: list[str]
    existing: list[str]


def _check_period(period: str) -> None:
    if not schema.is_period(period):
        raise E.InvalidRequest(
            f"period {period[:32]!r} is not like 2026-Q4, 2026-H2 or 2026-M11,"
            f" in a year from {schema.MIN_PERIOD_YEAR} to {schema.MAX_PERIOD_YEAR}"
        )


def _choices(collection: str, field: str) -> tuple[str, ...]:
    found = schema.COLLECTIONS[collection].field(field)
    assert found is not None and found.choices, (collection, field)
    return found.choices


def _row(db: sqlite3.Connection, collection: str, row_id: str) -> tuple[str | None, dict[str, Any]] | None:
    found = db.execute(
        "SELECT site_id, fields FROM rows WHERE collection = ? AND id = ? AND deleted = 0", [collection, row_id]
    ).fetchone()
    return None if found is None else (found[0], _decode(found[1]))


def _visible(caller: Caller, site_id: str | None) -> bool:
    return caller.sites is None or site_id in caller.sites


def _active_devices(db: sqlite3.Connection, site_id: str) -> list[tuple[str, dict[str, Any]]]:
    devices = [
        (i, _decode(f))
        for i, f in db.execute(
            "SELECT id, fields FROM rows WHERE collection = 'devices' AND parent_id = ? AND deleted = 0", [site_id]
        )
    ]
    return [(i, f) for i, f in devices if f.get("status", "active") == "active"]


def _checks(db: sqlite3.Connection, insp: str) -> dict[str, dict[str, Any]]:
    return {
        d: _decode(f)
        for d, f in db.execute(
            "SELECT device_id, fields FROM rows WHERE collection = 'device_checks' AND parent_id = ? AND deleted = 0",
            [insp],
        )
    }


def due_on(period: str, due_day: int) -> str:
    last = period_bounds(period)[1]
    day = min(max(due_day, 1), last.day)
    return last.replace(day=day).isoformat()


class Inspections:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- plans and scheduling -----------------------------------------------

    def set_plan(self, site_id: str, plan: Plan) -> Plan:
        if plan.frequency not in FREQUENCY_OF.values():
            raise E.InvalidRequest(f"frequency must be one of {', '.join(FREQUENCY_OF.values())}")
        if not 1 <= plan.due_day <= 31:
            raise E.InvalidRequest("due_day is a day of the period's last month, 1 to 31")
        with self.store.write() as db:
            if _row(db, "sites", site_id) is None:
                raise E.NotFound(f"no site {site_id}")
            if plan.technician is not None and db.execute(
                "SELECT 1 FROM users WHERE username = ? AND role = 'technician'", [plan.technician]
            ).fetchone() is None:
                raise E.InvalidRequest(f"{plan.technician} is not a technician")
            if plan.technician is not None and db.execute(
                "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.site_id = ? AND u.username = ?",
                [site_id, plan.technician],
            ).fetchone() is None:
                raise E.InvalidRequest(f"{plan.technician} is not a member of site {site_id}")
            db.execute(
                "INSERT INTO plans(site_id, frequency, due_day, technician) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(site_id) DO UPDATE SET frequency = excluded.frequency,"
                " due_day = excluded.due_day, technician = excluded.technician",
                [site_id, plan.frequency, plan.due_day, plan.technician],
            )
        return plan

    def get_plan(self, site_id: str) -> Plan:
        with self.store.read() as db:
            found = db.execute(
                "SELECT frequency, due_day, technician FROM plans WHERE site_id = ?", [site_id]
            ).fetchone()
        if found is None:
            raise E.NotFound(f"site {site_id} has no maintenance plan")
        return Plan(frequency=found[0], due_day=found[1], technician=found[2])

    def generate(self, period: str) -> GenerateResult:
        """One inspection per planned site for the period; running it again creates nothing."""
        _check_period(period)
        frequency = FREQUENCY_OF[period[5]]
        with self.store.read() as db:
            # A plan's technician who has since left the site is not assigned (assignment needs membership).
            plans = db.execute(
                "SELECT p.site_id, p.due_day, CASE WHEN EXISTS (SELECT 1 FROM memberships m JOIN users u"
                " ON u.id = m.user_id WHERE m.site_id = p.site_id AND u.username = p.technician)"
                " THEN p.technician END FROM plans p JOIN rows s"
                " ON s.collection = 'sites' AND s.id = p.site_id AND s.deleted = 0"
                " WHERE p.frequency = ? ORDER BY s.version",
                [frequency],
            ).fetchall()
            # Inspection ids are deterministic: look them up instead of scanning history.
            wanted = [inspection_id(site_id, period) for site_id, _, _ in plans]
            existing = {i for (i,) in select_in(
                db, "SELECT id FROM rows WHERE collection = 'inspections' AND id IN ({marks})", wanted)}
        created, kept, changes, initial = [], [], [], []
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

    def coverage(
        self, caller: Caller, site_id: str, period: str, system: str | None = None, kind: str | None = None
    ) -> Coverage:
        """`system` is one of the schema's; `kind` a comma-separated list of the kinds there are."""
        _check_period(period)
        chosen = one_of("system", system, _choices("devices", "system"))
        with self.store.read() as db:
            if not _visible(caller, site_id) or _row(db, "sites", site_id) is None:
                raise E.NotFound(f"no site {site_id}")
            # The kinds there are: the checklists', and any other of this site's devices.
            known = {k for (k,) in db.execute(
                "SELECT DISTINCT json_extract(fields, '$.kind') FROM rows WHERE deleted = 0"
                " AND (collection = 'checklist_templates' OR (collection = 'devices' AND parent_id = ?))",
                [site_id]) if isinstance(k, str)}
            return self._coverage(db, site_id, period, chosen, any_of("kind", kind, known))

    def _coverage(
        self, db: sqlite3.Connection, site_id: str, period: str, system: str | None, kinds: list[str] | None
    ) -> Coverage:
        insp = inspection_id(site_id, period)
        devices = _active_devices(db, site_id)
        if system:
            devices = [(i, f) for i, f in devices if f.get("system") == system]
        if kinds:
            devices = [(i, f) for i, f in devices if f.get("kind") in kinds]
        checks = _checks(db, insp)
        photos = photos_of_inspection(db, insp, site_tz(db, site_id))
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
        with self.store.read() as db:
            device = _row(db, "devices", device_id)
            if device is None or not _visible(caller, device[0]):
                raise E.NotFound(f"no device {device_id}")
            found = db.execute(
                "SELECT c.parent_id, c.fields, i.fields FROM rows c LEFT JOIN rows i"
                " ON i.collection = 'inspections' AND i.id = c.parent_id"
                " WHERE c.device_id = ? AND c.collection = 'device_checks' AND c.deleted = 0",
                [device_id],
            ).fetchall()
            photos = photos_of_device(db, device_id, site_tz(db, device[0]))
        entries = []
        for insp, check_json, insp_json in found:
            check, inspection = _decode(check_json), _decode(insp_json) if insp_json else {}
            entries.append(HistoryEntry(
                inspection_id=insp, period=inspection.get("period"), sheet_no=inspection.get("sheet_no"),
                outcome=check.get("outcome"), note=check.get("note"), checked_by=check.get("checked_by"),
                checked_at=check.get("checked_at"),
                items={k[5:]: v for k, v in check.items() if k.startswith("item.")},
                photos=photos.get(insp, []),
            ))
        entries.sort(key=lambda e: (e.checked_at or "", e.period or ""), reverse=True)
        d = device[1]
        return DeviceHistory(device_id=device_id, code=d.get("code"), kind=d.get("kind"), site_id=device[0],
                             checks=entries)

    def list(
        self,
        caller: Caller,
        period: str | None = None,
        site_id: str | None = None,
        status: str | None = None,
        overdue: bool | None = None,
    ) -> InspectionList:
        where, args = ["i.collection = 'inspections'", "i.deleted = 0"], []
        if period:
            _check_period(period)
            where.append("json_extract(i.fields, '$.period') = ?")
            args.append(period)
        if site_id:
            where.append("i.parent_id = ?")
            args.append(site_id)
        status = one_of("status", status, _choices("inspections", "status"))
        if status:
            # A row without a status (a client may create one with only its parents) reads as scheduled.
            where.append("coalesce(json_extract(i.fields, '$.status'), 'scheduled') = ?")
            args.append(status)
        today: dict[str | None, str] = {}
        with self.store.read() as db:
            found = db.execute(
                f"SELECT i.id, i.parent_id, i.fields, s.fields FROM rows i LEFT JOIN rows s"
                f" ON s.collection = 'sites' AND s.id = i.parent_id WHERE {' AND '.join(where)}",
                args,
            ).fetchall()
            # Decide what is listed before counting progress: counting reads every check of
            # every listed inspection, and `overdue=true` keeps few of them (at 1,000 sites with
            # two years of history, counting all first took 15 s).
            listed = []
            for insp, site, fields_json, site_json in found:
                if not _visible(caller, site):
                    continue
                fields, site_fields = _decode(fields_json), _decode(site_json) if site_json else {}
                tz = site_fields.get("tz")
                if tz not in today:
                    today[tz] = site_today(tz).isoformat()
                state = fields.get("status", "scheduled")
                late = bool(fields.get("due_on")) and state not in ("completed", "signed") and (
                    today[tz] > fields["due_on"])
                if overdue is None or late == overdue:
                    listed.append((insp, site, fields, site_fields, state, late))
            checked = self._checked_counts(db, [r[0] for r in listed])
            totals = self._device_totals(db, sorted({r[1] for r in listed}))
        out = [
            InspectionSummary(
                id=insp, site_id=site, site_name=site_fields.get("name"), period=fields.get("period", ""),
                sheet_no=fields.get("sheet_no"), status=state, due_on=fields.get("due_on"),
                assigned_to=fields.get("assigned_to"), checked=checked.get(insp, 0), total=totals.get(site, 0),
                overdue=late,
            )
            for insp, site, fields, site_fields, state, late in listed
        ]
        out.sort(key=lambda s: (s.due_on or "9999", s.sheet_no or "", s.id))
        return InspectionList(inspections=out)

    @staticmethod
    def _checked_counts(db: sqlite3.Connection, ids: list[str]) -> dict[str, int]:
        return dict(select_in(  # type: ignore[arg-type]
            db,
            "SELECT c.parent_id, count(*) FROM rows c JOIN rows d ON d.collection = 'devices' AND d.id = c.device_id"
            " WHERE c.collection = 'device_checks' AND c.parent_id IN ({marks})"
            " AND c.deleted = 0 AND d.deleted = 0 AND json_extract(c.fields, '$.outcome') IS NOT NULL"
            " AND coalesce(json_extract(d.fields, '$.status'), 'active') = 'active' GROUP BY c.parent_id",
            ids,
        ))

    @staticmethod
    def _device_totals(db: sqlite3.Connection, sites: list[str]) -> dict[str, int]:
        totals: dict[str, int] = dict(select_in(  # type: ignore[arg-type]
            db,
            "SELECT parent_id, count(*) FROM rows WHERE collection = 'devices' AND parent_id IN ({marks})"
            " AND deleted = 0 AND coalesce(json_extract(fields, '$.status'), 'active') = 'active' GROUP BY parent_id",
            sites,
        ))
        return totals

    def sheet(self, caller: Caller, insp: str) -> Sheet:
        with self.store.read() as db:
            found = _row(db, "inspections", insp)
            if found is None or not _visible(caller, found[0]):
                raise E.NotFound(f"no inspection {insp}")
            site_id, fields = found
            site = _row(db, "sites", site_id) if site_id else None
            coverage = self._coverage(db, fields["site_id"], fields["period"], None, None)
            whole = photos_of_inspection(db, insp, site_tz(db, site_id)).get(None, [])
            signed = signatures(self.store, db, insp)
        return Sheet(inspection={"id": insp, **fields}, site={"id": site_id, **(site[1] if site else {})},
                     coverage=coverage, signatures=signed, photos=whole)


__all__ = ["Inspections", "Plan", "due_on", "sheet_no"]

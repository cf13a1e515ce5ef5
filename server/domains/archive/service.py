"""The customer archive (issue 14): a site's device inventory imported from the integrator's
spreadsheet, and the look-ups people use (a sheet, a request, a device by the number they know).

An import is checked whole before anything is written: every row by the devices collection's own
rules (`sync.rules`), as a push of it would be, and bad rows are reported by their row number.
Then the changes go through the store's merge in one transaction, so a file is imported whole or
not at all. A device is known again by its code within the site; a new one's id is derived from
the site and the code, so importing the same file twice changes nothing. Devices the file no
longer lists are offered for retirement and retired only when asked (`retire`), never deleted.
"""

from __future__ import annotations

import unicodedata
import uuid
from typing import TYPE_CHECKING, Any

from sync import errors as E
from sync.fields import NS, unstorable
from sync.rules import Actor, RowState, check_row, validate
from sync.workhours import Calendar

from ...storage import archive as q
from ..scope import in_scope
from ..service.office import ServiceOffice
from .schemas import BadRow, ChangedDevice, Found, ImportReport, NewSite, NewSiteAnswer
from .sites import register_site
from .spreadsheet import read_sheet

if TYPE_CHECKING:
    from ...services import Caller, Store
    from ...storage.base import Sql

MAX_BAD_ROWS_SHOWN = 100  # bad rows listed in the problem; `bad_rows` counts them all
MAX_LOOKUP_CHARS = 64  # a sheet number, request number or device code looked up
MAX_DEVICES_FOUND = 50  # devices of one code listed across a caller's sites, or named by a caller's words
Change = tuple[str, str, dict[str, Any], bool | None]


def device_id(site_id: str, code: str) -> str:
    """A new device's id: the same file imported twice, or on two servers, names the same device."""
    return str(uuid.uuid5(NS, f"device/{site_id}/{code}"))


class Archive:
    def __init__(self, store: Store, office: ServiceOffice | None = None) -> None:
        self.store = store
        self.office = office or ServiceOffice(store)

    def register_site(self, caller: Caller | None, new: NewSite) -> NewSiteAnswer:
        """A new customer's site with its contract, terms and members (see `sites.register_site`)."""
        return register_site(self.store, self.office, caller, new)

    def import_devices(self, caller: Caller | None, site_id: str, data: bytes, *, dry_run: bool = False,
                       retire: bool = False) -> ImportReport:
        """Import a site's devices from an .xlsx or CSV file (`caller` None: the server's own write,
        from the shell). `InvalidImport` (422) lists bad rows; nothing is written then, nor on a dry run."""
        sheet = read_sheet(data)
        with self.store.read() as db:
            if not q.site_exists(db, site_id):
                raise E.NotFound(f"no site {site_id}")
            stored = q.site_devices(db, site_id)
        plan = _Plan(site_id, stored, caller.actor if caller is not None else Actor.server())
        for number, fields in sheet.rows:
            plan.row(number, fields)
        if plan.bad:
            raise E.InvalidImport(
                f"{len(plan.bad)} of {len(sheet.rows)} rows are bad (row {plan.bad[0].row}: {plan.bad[0].detail});"
                " nothing was imported", bad_rows=len(plan.bad),
                errors=[{"row": b.row, "reason": b.reason, "detail": b.detail} for b in plan.bad[:MAX_BAD_ROWS_SHOWN]])
        offered = plan.offered()
        changes = plan.changes + ([("devices", i, {"status": "retired"}, False) for i, _ in offered] if retire else [])
        if changes and not dry_run:
            self.store.write_server_changes(changes, caller=caller)
        return ImportReport(
            site_id=site_id, dry_run=dry_run, rows=len(sheet.rows), created=plan.created, changed=plan.changed,
            unchanged=plan.unchanged, retire=[code for _, code in offered],
            retired=[code for _, code in offered] if retire else [], ignored_columns=sheet.ignored)

    def lookup(self, caller: Caller, *, sheet_no: str | None = None, number: str | None = None,
               site_id: str | None = None, code: str | None = None) -> Found:
        """The row a person names by its number: a sheet (an inspection's or a visit's) by `sheet_no`,
        a service request by `number`, a device by `site_id` and `code`. Outside the caller's sites: 404."""
        given = {k for k, v in {"sheet_no": sheet_no, "number": number, "site_id": site_id, "code": code}.items()
                 if v is not None}
        if given not in ({"sheet_no"}, {"number"}, {"site_id", "code"}):
            raise E.InvalidFilter("look up by one of: sheet_no, number, or site_id with code")
        if any(len(v) > MAX_LOOKUP_CHARS for v in (sheet_no, number, site_id, code) if v is not None):
            raise E.InvalidFilter(f"a look-up value is at most {MAX_LOOKUP_CHARS} characters")
        found: Found | None = None
        with self.store.read() as db:
            if sheet_no is not None and (sheet := q.by_sheet_no(db, sheet_no)):
                collection, row_id, site = sheet
                href = f"/api/inspections/{row_id}" if collection == "inspections" else f"/api/visits/{row_id}"
                found = Found(collection=collection, id=row_id, site_id=site, href=href)
            elif number is not None and (request := q.by_request_number(db, number)):
                found = Found(collection="service_requests", id=request[0], site_id=request[1],
                              href=f"/api/service-requests/{request[0]}")
            elif site_id is not None and code is not None and in_scope(caller, site_id):
                device = q.by_device_code(db, site_id, code)
                if device is not None:
                    found = Found(collection="devices", id=device, site_id=site_id,
                                  href=f"/api/devices/{device}/history")
        if found is None or not in_scope(caller, found.site_id):
            raise E.NotFound("nothing with that number in your sites")
        return found


    def devices_coded(self, caller: Caller, code: str, limit: int = MAX_DEVICES_FOUND) -> list[Found]:
        """The caller's devices with this code, in any of their sites (a code is unique only within a site)."""
        if len(code) > MAX_LOOKUP_CHARS:
            raise E.InvalidFilter(f"a look-up value is at most {MAX_LOOKUP_CHARS} characters")
        with self.store.read() as db:
            found = q.devices_by_code(db, code, None if caller.sites is None else sorted(caller.sites), limit)
        return [Found(collection="devices", id=i, site_id=s, href=f"/api/devices/{i}/history") for s, i in found]

    def site_devices_said(self, caller: Caller, site_id: str, text: str, limit: int = MAX_DEVICES_FOUND
                          ) -> tuple[list[tuple[str, dict[str, Any]]], list[tuple[str, dict[str, Any]]], bool]:
        """The site's ACTIVE devices a caller's `text` names: ((id, fields) whose code is exactly `text`; else those its
        words name by place and name, `收发室的读卡器`, `读卡器 2号门`: each word, split at spaces and 的, within
        one of the device's location, name or code, spaces, case and full width ignored, as (id, fields) by
        location and code, at most `limit`; whether more were found). Retired devices and other sites' never;
        nothing outside the caller's scope."""
        if len(text) > MAX_LOOKUP_CHARS or not in_scope(caller, site_id):
            return [], [], False
        active = self.site_active(site_id)
        coded = [(i, f) for i, f in active if f.get("code") == text]
        words = _plain(text, keep_spaces=True).replace("的", " ").split()
        if coded or not words:
            return coded, [], False
        found = sorted(((i, f) for i, f in active if _names(f, words)),
                       key=lambda d: (str(d[1].get("location") or ""), str(d[1].get("code") or ""), d[0]))
        return [], found[:limit], len(found) > limit

    def active_device(self, caller: Caller, site_id: str, device_id: str) -> dict[str, Any] | None:
        """The fields of the site's active device `device_id` (a choice the form offered); None if it is not
        one (retired, another site's, outside the caller's scope, no such row)."""
        if not in_scope(caller, site_id):
            return None
        return dict(self.site_active(site_id)).get(device_id)

    def site_active(self, site_id: str) -> list[tuple[str, dict[str, Any]]]:
        with self.store.read() as db:
            return [(i, f) for i, f in q.site_devices(db, site_id) if f.get("status", "active") == "active"]

    def terms_calendars(self) -> dict[str, Calendar]:
        """The holiday calendars sites' terms write out in their override, by the site's name (a calendar
        an override names is one of the server's own, `duty.service.calendars`)."""
        with self.store.read() as db:
            return terms_calendars(db)


def _plain(text: str, keep_spaces: bool = False) -> str:
    """`text` as words are compared: NFKC (full-width letters and digits as ASCII), case folded, no spaces."""
    plain = unicodedata.normalize("NFKC", text).casefold()
    return plain if keep_spaces else "".join(plain.split())


def _names(device: dict[str, Any], words: list[str]) -> bool:
    """Whether each of `words` is within one of the device's location, name or code (not across them:
    `门读` names no 2号门's 读卡器)."""
    said = [_plain(str(device.get(k) or "")) for k in ("location", "name", "code")]
    return all(any(w in field for field in said) for w in words)


def terms_calendars(db: Sql) -> dict[str, Calendar]:
    """`Archive.terms_calendars` on an open connection (`fieldsync serve` reads them before it serves)."""
    return {name or site_id: Calendar.from_data(c) for site_id, name, c in q.terms_calendars(db)
            if isinstance(c, dict)}


class _Plan:
    """The import's rows checked one by one against the site's stored devices."""

    def __init__(self, site_id: str, stored: list[tuple[str, dict[str, Any]]], actor: Actor) -> None:
        self.site_id = site_id
        self.actor = actor
        self.stored = {str(f.get("code")): (i, f) for i, f in sorted(stored, key=lambda d: d[0])}
        self.all_stored = stored
        site = RowState("sites", site_id, site_id=site_id)
        self.lookup = lambda collection, row_id: site if (collection, row_id) == ("sites", site_id) else None
        self.seen: dict[str, int] = {}
        self.bad: list[BadRow] = []
        self.changes: list[Change] = []
        self.created: list[str] = []
        self.changed: list[ChangedDevice] = []
        self.unchanged = 0

    def row(self, number: int, fields: dict[str, str]) -> None:
        # A cell no database can store (a NUL, which a CSV may hold) is a bad row like any bad value.
        if bad := next((f"devices.{name}: the cell holds {what}" for name, value in fields.items()
                        if (what := unstorable(value))), None):
            self.bad.append(BadRow(row=number, reason="invalid_field", detail=bad))
            return
        code = fields.get("code")
        if code is None:
            self.bad.append(BadRow(row=number, reason="invalid_field", detail="devices.code is empty"))
            return
        if code in self.seen:
            self.bad.append(BadRow(row=number, reason="invalid_field",
                                   detail=f"devices.code {code[:60]!r} is on row {self.seen[code]} too"))
            return
        self.seen[code] = number
        existing = self.stored.get(code)
        old: dict[str, Any] = {}
        if existing is None:
            row_id, row = device_id(self.site_id, code), None
            new: dict[str, Any] = {"site_id": self.site_id, **fields, "status": "active"}
        else:
            row_id, old = existing
            row = RowState("devices", row_id, dict(old), site_id=self.site_id)
            new = {k: v for k, v in fields.items() if old.get(k) != v}
            if old.get("status") == "retired":
                new["status"] = "active"
        rejection, rejected, _, _ = validate("devices", row_id, new, False, row, self.actor, self.lookup)
        problem = rejection or next(((r, f"devices.{name}: {r}") for name, r in rejected.items()), None)
        problem = problem or check_row("devices", {**old, **new})
        if problem is not None:
            self.bad.append(BadRow(row=number, reason=problem[0], detail=problem[1]))
        elif existing is None:
            self.created.append(code)
            self.changes.append(("devices", row_id, new, False))
        elif new:
            self.changed.append(ChangedDevice(code=code, fields=sorted(new)))
            self.changes.append(("devices", row_id, new, False))
        else:
            self.unchanged += 1

    def offered(self) -> list[tuple[str, str]]:
        """(id, code) of the active devices the file does not list, by code."""
        return sorted(((i, str(f.get("code") or i)) for i, f in self.all_stored
                       if f.get("status", "active") != "retired" and f.get("code") not in self.seen),
                      key=lambda d: d[1])

"""The technician's workflow: local writes checked with the server's rules, and the
day's work (`my_inspections`, `inspection_devices`, `record_checks`, `remaining`,
`start`, `complete`), all read from and written to the local database only; the
next `sync()` sends it.

Local writes are checked with the server's own rules before they are queued.
What the server would reject (or whose fields it would drop) is refused on the
spot with the `sync.errors` class of the HTTP problem closest to it,
`InvalidRequest` or `Forbidden`, whose `extra["reason"]` is the reason the
server's per-change result would give (`invalid_field`, `incomplete`,
`forbidden`, `sealed`, ...): the technician fixes it while still at the device.

`Workflow` is a base class of `Client` rather than a part the client holds:
its methods are the client's public API (the CLI and the README call them on
the client), and a base class keeps each in one place, with its
documentation, without a forwarding method per call.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from sync import errors as E
from sync import hlc, schema, sheet
from sync.merge import Actor, RowState, Rules, check_row, parent_of, validate
from sync.periods import site_zone
from sync.rules import site_of
from sync.wire import Scalar

from . import clock
from .labels import known_rows
from .outbox import LocalChange, Outbox
from .replica import Entry, Replica, lay_over
from .views import CheckView, DeviceView, InspectionSummary, LocationGroup, SystemGroup

# Systems in the protocol's order: a site's devices are listed by system in this order.
SYSTEMS = schema.COLLECTIONS["devices"].fields["system"].choices


def _natural(text: Any) -> list[Any]:
    """A sort key that orders `pillar 3` before `pillar 12` and `CAM-9` before `CAM-10`."""
    parts = re.split(r"(\d+)", str(text or "").casefold())
    return [int(part) if i % 2 else part for i, part in enumerate(parts)]


def _system_rank(system: Any) -> tuple[int, str]:
    return (SYSTEMS.index(system), "") if system in SYSTEMS else (len(SYSTEMS), str(system or ""))



class Workflow:
    """Reads with the outbox laid over, checked local writes, and the inspection workflow."""

    db: Replica
    outbox: Outbox
    wall: Callable[[], int]  # Unix milliseconds
    boot: clock.Boot  # (boot id, milliseconds since boot): the clock the server's time is anchored to

    # -- local writes -----------------------------------------------------------

    def write(
        self, collection: str, row_id: str, fields: dict[str, Scalar], delete: bool | None = None
    ) -> int:
        """Queue one change and return its seq.

        The change is checked with the server's own rules first (`sync.merge.validate`):
        shape problems raise `InvalidRequest`, what the role may not write
        raises `Forbidden`. Group fields are expanded, so the overlay shows
        exactly what the server will store.
        """
        return self.outbox.queue([self._prepare(collection, row_id, fields, delete, self.actor())])[0]

    def record_time(self) -> str:
        """When something is recorded into a row (a check, an inspection's start, a signature, a visit): the
        server's time by the last sync's anchor (`client_sdk/clock.py`) when this phone's clock is more than
        `CLOCK_SKEW_MS` off it, else this phone's clock. The server corrects a push's HLCs, not its fields: a
        phone a year ahead put next year on the customer's sheet. (A service event's `at` and a duty call's
        `received_at` keep the phone's clock: the server keeps its corrected time beside them.)"""
        wall = self.wall()
        server = clock.anchored_now(self.db.meta("time_anchor"), self.boot())
        return hlc.format_ts(server if server is not None and abs(server - wall) > clock.CLOCK_SKEW_MS else wall)

    def actor(self) -> Actor:
        """Who writes: this client, its user and role; Unauthorized before the first sign-in."""
        client_id, role, username = (self.db.meta(key) for key in ("client_id", "role", "username"))
        if client_id is None or role is None or username is None:
            raise E.Unauthorized("sign in once before recording changes")
        return Actor(client_id, username, role)

    def _prepare(
        self, collection: str, row_id: str, fields: dict[str, Scalar], delete: bool | None, actor: Actor
    ) -> LocalChange:
        """A change expanded and checked with the server's rules, ready to queue; raises SyncError."""
        if not fields and delete is None:
            raise E.InvalidRequest("a change writes at least one field or the deleted flag")
        spec = schema.COLLECTIONS.get(collection)
        if spec is None:
            raise E.InvalidRequest(f"no collection named {collection!r}")
        expanded = schema.expand_groups(spec, dict(fields))
        self._validate(collection, row_id, expanded, delete, actor)
        return LocalChange(collection, row_id, expanded, delete)

    def _validate(
        self, collection: str, row_id: str, fields: dict[str, Any], delete: bool | None, actor: Actor
    ) -> None:
        current = self.get(collection, row_id)
        row = None
        if current is not None:
            row = RowState(collection, row_id, dict(current["fields"]), deleted=current["deleted"])
            if collection == "device_checks" and not row.fields.get("sealed_by"):
                # The customer signed it on this phone and the push will seal it before this change.
                row.fields["sealed_by"] = self.sealing_signature(row_id)

        known = known_rows(self.db)
        own_site = None
        if collection in schema.COLLECTIONS:
            own_site = site_of(collection, row_id, {**(current["fields"] if current else {}), **fields}, known)

        def lookup(parent_collection: str, parent_id: str) -> RowState:
            # No foreign keys locally (children may arrive before parents): a row this client does
            # not know is taken to be at the written row's site, and the server decides `unknown_parent`.
            return known(parent_collection, parent_id) or RowState(parent_collection, parent_id, {},
                                                                   site_id=own_site)

        def unchecked(inspection_id: str, site_id: str | None) -> int:
            done, total = self.progress(inspection_id, site_id)
            return total - done

        rules = Rules(template_items=self._template_items, unchecked=unchecked, sealed_child=self._sealed_child)
        rejection, rejected_fields, _, _ = validate(collection, row_id, fields, delete, row, actor, lookup, rules)
        if rejection is None:
            # The server's rules about the row as it will stand after the merge.
            merged = lay_over(current, Entry(0, collection, row_id, "", fields, delete, 0))
            rejection = check_row(collection, merged["fields"], merged["deleted"])
        if rejection is not None:
            reason, detail = rejection
            if reason in ("forbidden", "sealed"):
                raise E.Forbidden(detail, reason=reason)
            raise E.InvalidRequest(detail, reason=reason)
        if rejected_fields:
            names = ", ".join(f"{name} ({why})" for name, why in sorted(rejected_fields.items()))
            raise E.InvalidRequest(f"{collection}: fields the server would refuse: {names}",
                                   reason="invalid_field")

    def check(self, collection: str, row_id: str, fields: dict[str, Any], delete: bool | None = None) -> None:
        """Raise the SyncError the server's rules would give this change of this user (nothing is queued)."""
        self._validate(collection, row_id, fields, delete, self.actor())

    def write_rules(self, unchecked: Callable[[str, str | None], int]) -> Rules:
        """The rules `sync.merge.validate` needs, from the local templates; `unchecked` counts an
        inspection's devices without an outcome."""
        return Rules(template_items=self._template_items, unchecked=unchecked, sealed_child=self._sealed_child)

    def checklists(self) -> dict[str, list[dict[str, Any]]]:
        """The checklist of every device kind with a template, from the local templates.

        `{kind: [{"key", "label", "label_zh", "type"}, ...]}`; `label_zh` is None
        when the template has none. A template whose items cannot be read is left out.
        """
        found: dict[str, list[dict[str, Any]]] = {}
        for template in self.rows("checklist_templates"):
            items = schema.template_items(template["fields"].get("items"))
            if items is not None:
                found[str(template["fields"].get("kind"))] = items
        return found

    def sealing_signature(self, check_id: str) -> str | None:
        """The customer's signature that seals a check: the server's seal as last pulled, else a customer's
        signature taken on this phone and not sent yet whose sheet lists the check (the push seals it first)."""
        found = self.db.row("device_checks", check_id)
        if found is not None and found[0].get("sealed_by"):
            return str(found[0]["sealed_by"])
        check = self.get("device_checks", check_id)
        device = check["fields"].get("device_id") if check else None
        for entry in self.outbox.pending():
            f = entry["fields"]
            if (entry["collection"] != "signatures" or f.get("signer_role") != "customer" or not check
                    or f.get("inspection_id") != check["fields"].get("inspection_id")):
                continue
            path = self.db.conn.execute("SELECT path FROM uploads WHERE sha256 = ?", [f.get("sheet_sha256")]
                                        ).fetchone()
            try:
                listed = sheet.parse(Path(path[0]).read_bytes()).items if path else {}
            except (OSError, ValueError):
                listed = {}
            if device in listed:
                return str(entry["id"])
        return None

    def _sealed_child(self, collection: str, parent_id: str) -> str | None:
        """A row of `collection` under `parent_id` (a request's visit, an inspection's check), as this
        client shows it, that a customer's signature sealed."""
        return next((r["id"] for r in self.rows(collection)
                     if r["fields"].get("sealed_by") and parent_of(collection, r["fields"]) == parent_id), None)

    def _template_items(self, device_id: str) -> dict[str, str] | None:
        """The checklist items {key: type} of a device's kind, from the local templates."""
        device = self.get("devices", device_id)
        if device is None:
            return None
        items = self.checklists().get(str(device["fields"].get("kind")))
        return None if items is None else schema.item_types(items)

    def progress(self, inspection_id: str, site_id: str | None = None) -> tuple[int, int]:
        """(checked, total) active devices of the inspection's site, as this client shows them;
        `site_id`: the site of an inspection this client does not hold yet."""
        return self._progress([inspection_id], site_id).get(inspection_id, (0, 0))

    def outcomes(self, inspection_id: str, device_ids: Sequence[str]) -> dict[str, str]:
        """{device_id: outcome} of the devices whose check in this inspection already has an outcome
        (pulled or still in the outbox)."""
        found = {}
        for device_id in device_ids:
            check = self.get("device_checks", schema.device_check_id(inspection_id, device_id))
            if check is not None and not check["deleted"] and check["fields"].get("outcome") is not None:
                found[device_id] = str(check["fields"]["outcome"])
        return found

    def _progress(self, inspection_ids: Sequence[str], site_id: str | None = None) -> dict[str, tuple[int, int]]:
        """(checked, total) of several inspections, reading the devices and checks once; `site_id`
        for one this client does not hold."""
        sites = {}
        for insp in inspection_ids:
            found = self.get("inspections", insp)
            if found is not None or site_id is not None:
                sites[insp] = found["fields"].get("site_id") if found is not None else site_id
        return schema.progress(sites, self.rows("devices"), self.rows("device_checks"))

    def create(self, collection: str, row_id: str, fields: dict[str, Scalar]) -> int:
        """Queue a change that creates (or brings back) a row: `delete: false`."""
        return self.write(collection, row_id, fields, delete=False)

    def delete(self, collection: str, row_id: str) -> int:
        """Queue a deletion of a row."""
        return self.write(collection, row_id, {}, delete=True)

    # -- the technician's workflow (all local: sync later) ----------------------

    def my_inspections(self, include_all: bool = False) -> list[InspectionSummary]:
        """The inspections assigned to me (with `include_all`, every one in my sites), due first.

        A row without a status reads as scheduled, as at the server.
        """
        sites = {s["id"]: s["fields"] for s in self.rows("sites")}
        shown = [
            i for i in self.rows("inspections")
            if include_all or i["fields"].get("assigned_to") == self.db.meta("username")
        ]
        progress = self._progress([i["id"] for i in shown])
        out = []
        for inspection in shown:
            f = inspection["fields"]
            site = sites.get(f.get("site_id"), {})
            status = f.get("status") or "scheduled"
            due = f.get("due_on")
            checked, total = progress.get(inspection["id"], (0, 0))
            out.append(InspectionSummary(
                id=inspection["id"], sheet_no=f.get("sheet_no"), period=f.get("period"),
                site_id=f.get("site_id"), site_name=site.get("name"), status=status, due_on=due,
                assigned_to=f.get("assigned_to"), started_at=f.get("started_at"),
                completed_at=f.get("completed_at"), checked=checked, total=total,
                overdue=bool(due) and status not in ("completed", "signed")
                and self._site_today(site.get("tz")) > str(due),
            ))
        out.sort(key=lambda i: (i.due_on or "9999-99-99", i.sheet_no or "", i.id))
        return out

    def _site_today(self, tz: Any) -> str:  # at record_time: a slow phone read 31 Dec at 00:10 on 1 Jan
        return datetime.fromtimestamp(hlc.parse_ts(self.record_time()) / 1000, site_zone(tz)).date().isoformat()

    def _inspection(self, inspection_id: str) -> dict[str, Any]:
        found = self.get("inspections", inspection_id)
        if found is None or found["deleted"]:
            raise E.NotFound(f"no inspection {inspection_id} on this client; sync first")
        return found

    def inspection_devices(self, inspection_id: str) -> list[SystemGroup]:
        """The active devices of the inspection's site, grouped by system, then location.

        Systems come in the protocol's order (video, access, network, broadcast,
        telephone, alarm; any other after them), locations and device codes in
        natural order (`pillar 3` before `pillar 12`); see `views.DeviceView`.
        """
        inspection = self._inspection(inspection_id)
        site_id = inspection["fields"].get("site_id")
        checklists = self.checklists()
        checks = {
            c["fields"].get("device_id"): c for c in self.rows("device_checks")
            if c["fields"].get("inspection_id") == inspection_id
        }
        waiting = self.outbox.pending_ids("device_checks")
        devices = []
        for d in self.rows("devices"):
            f = d["fields"]
            if f.get("site_id") != site_id or f.get("status", "active") != "active":
                continue
            check = checks.get(d["id"])
            view = None
            if check is not None:
                cf = check["fields"]
                view = CheckView(
                    id=check["id"], outcome=cf.get("outcome"), note=cf.get("note"),
                    checked_by=cf.get("checked_by"), checked_at=cf.get("checked_at"),
                    items={k[5:]: v for k, v in sorted(cf.items()) if k.startswith("item.")},
                    sealed=cf.get("sealed_by") is not None,
                )
            devices.append(DeviceView(
                id=d["id"], code=f.get("code"), name=f.get("name"), kind=f.get("kind"),
                system=f.get("system"), location=f.get("location"),
                items=checklists.get(str(f.get("kind")), []), check=view,
                pending=check is not None and check["id"] in waiting,
            ))
        devices.sort(key=lambda d: (_system_rank(d.system), _natural(d.location), _natural(d.code), d.id))
        groups: list[SystemGroup] = []
        for device in devices:
            if not groups or groups[-1].system != device.system:
                groups.append(SystemGroup(device.system, []))
            locations = groups[-1].locations
            if not locations or locations[-1].location != device.location:
                locations.append(LocationGroup(device.location, []))
            locations[-1].devices.append(device)
        return groups

    def remaining(self, inspection_id: str) -> list[DeviceView]:
        """The active devices of the inspection without an outcome yet, in the order of `inspection_devices`."""
        return [
            device
            for group in self.inspection_devices(inspection_id)
            for location in group.locations
            for device in location.devices
            if device.check is None or device.check.outcome is None
        ]

    def record_check(
        self,
        inspection_id: str,
        device_id: str,
        outcome: str,
        note: str | None = None,
        items: dict[str, Scalar] | None = None,
        checked_at: str | None = None,
    ) -> str:
        """Record the check of one device in one inspection; returns the check's id.

        The id is deterministic, so two clients checking the same device write
        the same row. `items` are checklist items (`{"lens_cleaned": True}`).
        As `record_checks`, it starts a scheduled inspection first. It replaces
        an outcome the device already has: naming one device is an edit.
        """
        return self.record_checks(inspection_id, [device_id], outcome, note, items, checked_at, overwrite=True)[0]

    def record_checks(
        self,
        inspection_id: str,
        device_ids: Sequence[str],
        outcome: str,
        note: str | None = None,
        items: dict[str, Scalar] | None = None,
        checked_at: str | None = None,
        overwrite: bool = False,
        items_of: Mapping[str, dict[str, Scalar]] | None = None,
    ) -> list[str]:
        """Record the same check of many devices at once; returns the recorded checks' ids, in order.

        A technician walking a car park of 40 cameras marks them all serviced
        with the same items in one call, then edits the exceptions with
        `record_check`. One change per device, queued in one local transaction:
        if the server's rules would refuse the check of any device (an outcome
        outside the four, a fault or not_accessible without a note, an item key
        the template of its kind does not have, a wrongly typed item value),
        nothing is recorded and the error names the devices. Locally refused
        items are never silently dropped: the technician fixes them on the spot.

        Devices whose check already has an outcome (synced or in the outbox)
        are left alone, unless `overwrite`: a bulk "serviced" must not wipe out
        a recorded fault and its note. `outcomes()` tells which those are; when
        every device is left alone, nothing is recorded and this returns [].

        If the inspection is still scheduled, a change setting it `in_progress` with `started_at` is
        queued first, in the same transaction (as `start`). Device ids repeated in `device_ids` are
        recorded once. `items_of`: each device's own items (typed by its kind's template), for `items`.
        """
        actor = self.actor()
        wanted = list(dict.fromkeys(device_ids))
        if not wanted:
            raise E.InvalidRequest("name at least one device to record a check of")
        if not overwrite:
            recorded = self.outcomes(inspection_id, wanted)
            wanted = [device_id for device_id in wanted if device_id not in recorded]
            if not wanted:
                return []
        at = checked_at or self.record_time()
        changes: list[LocalChange] = []
        begin = self._start_change(inspection_id, actor)
        if begin is not None:
            changes.append(begin)
        check_ids, refused = [], []
        for device_id in wanted:
            check_id = schema.device_check_id(inspection_id, device_id)
            fields: dict[str, Scalar] = {
                "inspection_id": inspection_id, "device_id": device_id, "outcome": outcome, "note": note,
                "checked_by": actor.username, "checked_at": at,
            }
            for key, value in ((items_of or {}).get(device_id, items) or {}).items():
                fields[key if key.startswith("item.") else f"item.{key}"] = value
            try:
                changes.append(self._prepare("device_checks", check_id, fields, False, actor))
            except E.SyncError as exc:
                refused.append((device_id, exc))
            check_ids.append(check_id)
        if refused:
            if len(wanted) == 1:
                raise refused[0][1]
            raise self._refusal(refused, len(wanted))
        self.outbox.queue(changes)
        return check_ids

    def _refusal(self, refused: list[tuple[str, E.SyncError]], asked: int) -> E.SyncError:
        """One error for a bulk check: each reason once, with the devices it concerns; `refused` in its extra
        gives each refused device's reason and detail (the CLI names each with its own)."""
        by_detail: dict[str, list[str]] = {}
        for device_id, exc in refused:
            found = self.get("devices", device_id)
            name = str(found["fields"].get("code") or device_id) if found else device_id
            by_detail.setdefault(exc.detail, []).append(name)
        parts = []
        for detail, names in by_detail.items():
            shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
            parts.append(f"{detail} ({shown})")
        first = refused[0][1]
        return type(first)(
            f"nothing recorded: the checks of {len(refused)} of {asked} devices would be refused: "
            + "; ".join(parts),
            reason=first.extra.get("reason"), devices=[device_id for device_id, _ in refused],
            refused={device_id: {"reason": exc.extra.get("reason"), "detail": exc.detail} for device_id, exc in refused},
        )

    def _start_change(self, inspection_id: str, actor: Actor) -> LocalChange | None:
        """The change that starts a scheduled inspection, or None when it is not scheduled (or unknown here)."""
        found = self.get("inspections", inspection_id)
        if found is None or found["deleted"] or (found["fields"].get("status") or "scheduled") != "scheduled":
            return None
        fields: dict[str, Scalar] = {"status": "in_progress"}
        if not found["fields"].get("started_at"):
            fields["started_at"] = self.record_time()
        return self._prepare("inspections", inspection_id, fields, None, actor)

    def start(self, inspection_id: str) -> int | None:
        """Start a scheduled inspection: `status: in_progress` and `started_at`; returns the seq.

        None when it is already in progress (nothing to write). A completed or
        signed inspection is not started again: `InvalidRequest`. Recording a
        check starts a scheduled inspection on its own.
        """
        actor = self.actor()
        status = self._inspection(inspection_id)["fields"].get("status") or "scheduled"
        if status in ("completed", "signed"):
            raise E.InvalidRequest(f"inspection {inspection_id} is already {status}")
        change = self._start_change(inspection_id, actor)
        return None if change is None else self.outbox.queue([change])[0]

    def complete(self, inspection_id: str) -> int | None:
        """Mark the inspection completed; returns the seq, or None when it already is.

        Refused locally exactly as the server refuses it: while any active
        device of the site lacks an outcome (as this client shows it), this
        raises `sync.errors.InvalidRequest` with `extra["reason"] ==
        "incomplete"` and the server's detail (`3 active devices of the site
        have no outcome yet`); `remaining()` lists them. (The server answers
        such a push with a per-change `rejected` result, not an HTTP error; the
        SDK raises the `SyncError` whose `reason` is that result's, as every
        local refusal does.) The server also completes an inspection on its
        own once every device has an outcome, so this change may come back
        `superseded` by that equal value.
        """
        actor = self.actor()
        found = self._inspection(inspection_id)
        if (found["fields"].get("status") or "scheduled") in ("completed", "signed"):
            return None
        fields: dict[str, Scalar] = {"status": "completed"}
        if not found["fields"].get("started_at"):
            fields["started_at"] = self.record_time()
        return self.outbox.queue([self._prepare("inspections", inspection_id, fields, None, actor)])[0]

    # -- reads ----------------------------------------------------------------

    def get(self, collection: str, row_id: str) -> dict[str, Any] | None:
        """A row as this client shows it: as last pulled, with the outbox laid over.

        `{"collection", "id", "fields", "deleted", "version"}`; None when unknown.
        """
        return self.db.get(collection, row_id)

    def rows(self, collection: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        """Every row of a collection as shown (overlay), sorted by id."""
        return self.db.views(collection, include_deleted)

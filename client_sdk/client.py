"""The technician's client: local writes into an outbox, push, pull, and recovery.

The client keeps the protocol's "Client side" (docs/sync-protocol.md): reads
show the rows as last pulled with the outbox laid over them; an `applied`
change stays laid over until a pull has covered the push's `version`;
`superseded` and `rejected` changes drop their overlay at once and are listed
by `problems()`. Every local state change that a server response causes is
written in one SQLite transaction, so a connection cut at any point leaves a
state that the next `sync()` finishes without duplicates or lost edits.

Local writes are checked with the server's own rules before they are queued.
What the server would reject (or whose fields it would drop) is refused on the
spot with the `sync.errors` class of the HTTP problem closest to it,
`InvalidRequest` or `Forbidden`, whose `extra["reason"]` is the reason the
server's per-change result would give (`invalid_field`, `incomplete`,
`forbidden`, `sealed`, ...): the technician fixes it while still at the device.

The technician's workflow (`my_inspections`, `inspection_devices`,
`record_checks`, `remaining`, `start`, `complete`) reads and writes only the
local database; the next `sync()` sends it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec

from sync import errors as E
from sync import hlc, schema
from sync.merge import NOTE_REQUIRED, Actor, RowState, Rules, validate
from sync.periods import site_zone
from sync.wire import (
    ChangeResult,
    Conflict,
    ConflictPage,
    PullResponse,
    Scalar,
    TokenResponse,
)

from . import media
from .outbox import MAX_RECOVERIES, LocalChange, OnProgress, Outbox, Progress
from .replica import Entry, Replica, lay_over
from .session import Credentials, EpochChanged, Session

# Systems in the protocol's order: a site's devices are listed by system in this order.
SYSTEMS = schema.COLLECTIONS["devices"].fields["system"].choices

_pull_response = msgspec.json.Decoder(PullResponse)
_conflict_page = msgspec.json.Decoder(ConflictPage)



@dataclass
class SyncReport:
    """What one `sync()` did: changes pushed, rows pulled, and each change's result."""

    pushed: int
    pulled: int
    results: list[ChangeResult] = field(default_factory=list)
    uploaded: int = 0  # blobs that reached the server


def _natural(text: Any) -> list[Any]:
    """A sort key that orders `pillar 3` before `pillar 12` and `CAM-9` before `CAM-10`."""
    parts = re.split(r"(\d+)", str(text or "").casefold())
    return [int(part) if i % 2 else part for i, part in enumerate(parts)]


def _system_rank(system: Any) -> tuple[int, str]:
    return (SYSTEMS.index(system), "") if system in SYSTEMS else (len(SYSTEMS), str(system or ""))


class Client:
    """A technician's phone or tablet: its own SQLite file, an outbox, and sync.

    `http` is an `httpx.Client` whose `base_url` is the server (tests pass the
    server's ASGI test client). `wall` returns Unix milliseconds; tests pass
    one to skew a client's clock.
    """

    chunk_size: int = media.DEFAULT_CHUNK  # bytes per tus PATCH (client_sdk/media.py)
    # Called after each pushed batch, pulled page and uploaded chunk (a CLI on a terminal shows it).
    on_progress: OnProgress | None = None
    _uploads: media.UploadQueue | None = None  # opened on first use

    def __init__(
        self,
        db_path: Path | str,
        http: httpx.Client,
        *,
        batch_size: int = 500,
        page_size: int = 500,
        wall: Callable[[], int] | None = None,
    ) -> None:
        if batch_size < 1 or page_size < 1:
            raise ValueError("batch_size and page_size must be at least 1")
        self.db = Replica(db_path)
        self.http = http
        self.session = Session(http, self.db, self._adopt)
        self.page_size = min(page_size, 1000)
        self._wall: Callable[[], int] = wall or hlc.wall_ms
        if self.db.meta("password") is not None:
            # Older versions kept the password here (issue 9 #2): it goes, the token stays.
            self.db.set_meta(password=None)
        self.outbox = Outbox(self.db, self.session, self._wall, batch_size,
                             hlc.Clock(self.client_id or "unenrolled", self.db.meta("hlc") or None))

    def close(self) -> None:
        """Close the local database (the `httpx.Client` belongs to the caller)."""
        self.db.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state ---------------------------------------------------------------

    @property
    def client_id(self) -> str | None:
        """This client's id at the server, or None before the first sign-in."""
        return self.db.meta("client_id")

    @property
    def username(self) -> str | None:
        return self.db.meta("username")

    @property
    def role(self) -> str | None:
        return self.db.meta("role")

    @property
    def cursor(self) -> str:
        """The pull cursor; "0" asks for a full snapshot."""
        return self.db.meta("cursor") or "0"

    @property
    def acked_seq(self) -> int:
        """The highest seq the server has acknowledged, as far as this client knows."""
        return self.db.meta_int("acked_seq")

    @property
    def server_epoch(self) -> str | None:
        return self.db.meta("server_epoch")

    @property
    def server_url(self) -> str | None:
        """The server this database belongs to (kept for the CLI)."""
        return self.db.meta("server_url")

    @server_url.setter
    def server_url(self, url: str) -> None:
        self.db.set_meta(server_url=url)

    def status(self) -> dict[str, Any]:
        """Who and where this client is: ids, counts, cursor, epoch, last sync time."""
        return {
            "client_id": self.client_id,
            "user": self.username,
            "pending": self.db.pending_count(),
            "acked_seq": self.acked_seq,
            "cursor": self.cursor,
            "server_epoch": self.server_epoch,
            "last_sync": self.db.meta("last_sync"),
        }

    # -- identity -------------------------------------------------------------

    def login(self, username: str, password: str, client_name: str = "fieldsync-client") -> None:
        """Sign in with the password the technician types: enrol this client, or sign it in
        again with its own `client_id` (a revoked client: a new one, the outbox kept).

        The password serves this one call and is never stored (issue 9 #2): the client
        keeps its token and a refresh credential bound to its `client_id`, which a
        revocation, a new password or a disabled account kills at the server.
        """
        owner = self.username
        if owner is not None and owner != username:
            if self._holds_data():
                raise E.InvalidRequest(
                    f"this client database belongs to {owner}; use another database file"
                )
            # Nothing of the other user's is left: start as a fresh client.
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM meta WHERE key != 'server_url'")
            self.outbox.clock = hlc.Clock("unenrolled")
        credentials: Credentials = (username, password, client_name)
        renumber: str | None = None
        try:
            answer = self.session.token(self.client_id, credentials)
        except E.ClientUnavailable:
            answer = self.session.token(None, credentials)
            renumber = "pending"
        with self.db.transaction():
            self.db.set_meta_tx(username=username, client_name=client_name, signed_out=None)
        stored = self.server_epoch
        if renumber is None and stored and answer.server_epoch and answer.server_epoch != stored:
            self.session.recover(answer.server_epoch, credentials)
            return
        self._adopt(answer, renumber=renumber)

    def _holds_data(self) -> bool:
        return bool(
            self.db.conn.execute("SELECT EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM rows)").fetchone()[0]
        )

    def _adopt(self, answer: TokenResponse, renumber: str | None) -> None:
        """Store a sign-in; with `renumber`, this is a new enrolment of an existing outbox.

        `renumber="pending"` keeps only the unacknowledged changes (seq_reused,
        a revoked client); `renumber="all"` resends everything still held and
        takes a fresh snapshot (the server was restored from a backup).
        """
        old = self.client_id
        stored = self.server_epoch
        if renumber == "pending" and stored and answer.server_epoch and answer.server_epoch != stored:
            # A new client, of a restored server: it lost what it had acknowledged, so resend all.
            renumber = "all"
        with self.db.transaction():
            self.db.set_meta_tx(
                client_id=answer.client_id,
                token=answer.token,
                role=answer.user.role,
                user_name=answer.user.name,
                user_id=answer.user.id,
            )
            if answer.refresh_token:
                self.db.set_meta_tx(refresh_token=answer.refresh_token)
            if answer.server_epoch and (renumber == "all" or not self.server_epoch):
                self.db.set_meta_tx(server_epoch=answer.server_epoch)
            if answer.client_id != old:
                clock = hlc.Clock(answer.client_id, self.outbox.clock.last if old else None)
                self.outbox.clock = clock
                self.db.set_meta_tx(hlc=clock.last if old else None)
            if renumber is not None or old is None:
                self.outbox.renumber_tx(answer.client_id, keep_acked=renumber == "all")
            if renumber == "all":
                self.db.start_snapshot_tx()

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
        return self.outbox.queue([self._prepare(collection, row_id, fields, delete, self._actor())])[0]

    def _actor(self) -> Actor:
        client_id, role, username = self.client_id, self.role, self.username
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

        def lookup(parent_collection: str, parent_id: str) -> RowState:
            # No foreign keys locally (children may arrive before parents):
            # the server decides `unknown_parent`.
            found = self.get(parent_collection, parent_id)
            return RowState(parent_collection, parent_id, dict(found["fields"]) if found else {})

        def unchecked(inspection_id: str) -> int:
            done, total = self.progress(inspection_id)
            return total - done

        rules = Rules(template_items=self._template_items, unchecked=unchecked)
        rejection, rejected_fields, _ = validate(collection, row_id, fields, delete, row, actor, lookup, rules)
        if rejection is None and collection == "device_checks":
            # The server's rule about the row as it will stand after the merge.
            merged = lay_over(current, Entry(0, collection, row_id, "", fields, delete, 0))
            outcome, note = merged["fields"].get("outcome"), merged["fields"].get("note")
            if not merged["deleted"] and outcome in NOTE_REQUIRED and not str(note or "").strip():
                rejection = ("invalid_field", f"device_checks.note is required when the outcome is {outcome}")
        if rejection is not None:
            reason, detail = rejection
            if reason in ("forbidden", "sealed"):
                raise E.Forbidden(detail, reason=reason)
            raise E.InvalidRequest(detail, reason=reason)
        if rejected_fields:
            names = ", ".join(f"{name} ({why})" for name, why in sorted(rejected_fields.items()))
            raise E.InvalidRequest(f"{collection}: fields the server would refuse: {names}",
                                   reason="invalid_field")

    def checklists(self) -> dict[str, list[dict[str, Any]]]:
        """The checklist of every device kind with a template, from the local templates.

        `{kind: [{"key", "label", "label_zh", "type"}, ...]}`; `label_zh` is None
        when the template has none. A template whose items cannot be read is left out.
        """
        found: dict[str, list[dict[str, Any]]] = {}
        for template in self.rows("checklist_templates"):
            kind = template["fields"].get("kind")
            try:
                items = json.loads(template["fields"].get("items") or "[]")
                found[str(kind)] = [
                    {"key": item["key"], "label": item.get("label"), "label_zh": item.get("label_zh"),
                     "type": item["type"]}
                    for item in items
                ]
            except (ValueError, KeyError, TypeError):
                continue
        return found

    def _template_items(self, device_id: str) -> dict[str, str] | None:
        """The checklist items {key: type} of a device's kind, from the local templates."""
        device = self.get("devices", device_id)
        if device is None:
            return None
        items = self.checklists().get(str(device["fields"].get("kind")))
        return None if items is None else {item["key"]: item["type"] for item in items}

    def progress(self, inspection_id: str) -> tuple[int, int]:
        """(checked, total) active devices of the inspection's site, as this client shows them."""
        return self._progress([inspection_id]).get(inspection_id, (0, 0))

    def outcomes(self, inspection_id: str, device_ids: Sequence[str]) -> dict[str, str]:
        """{device_id: outcome} of the devices whose check in this inspection already has an outcome
        (pulled or still in the outbox)."""
        found = {}
        for device_id in device_ids:
            check = self.get("device_checks", schema.device_check_id(inspection_id, device_id))
            if check is not None and not check["deleted"] and check["fields"].get("outcome") is not None:
                found[device_id] = str(check["fields"]["outcome"])
        return found

    def _progress(self, inspection_ids: Sequence[str]) -> dict[str, tuple[int, int]]:
        """(checked, total) of several inspections, reading the devices and checks once."""
        sites = {}
        for insp in inspection_ids:
            found = self.get("inspections", insp)
            if found is not None:
                sites[insp] = found["fields"].get("site_id")
        active: dict[Any, set[str]] = {}
        for d in self.rows("devices"):
            if d["fields"].get("status", "active") == "active":
                active.setdefault(d["fields"].get("site_id"), set()).add(d["id"])
        checked: dict[Any, set[Any]] = {}
        for c in self.rows("device_checks"):
            if c["fields"].get("outcome") is not None:
                checked.setdefault(c["fields"].get("inspection_id"), set()).add(c["fields"].get("device_id"))
        out = {}
        for insp, site_id in sites.items():
            devices = active.get(site_id, set())
            out[insp] = (len(devices & checked.get(insp, set())), len(devices))
        return out

    def create(self, collection: str, row_id: str, fields: dict[str, Scalar]) -> int:
        """Queue a change that creates (or brings back) a row: `delete: false`."""
        return self.write(collection, row_id, fields, delete=False)

    def delete(self, collection: str, row_id: str) -> int:
        """Queue a deletion of a row."""
        return self.write(collection, row_id, {}, delete=True)

    # -- the technician's workflow (all local: sync later) ----------------------

    def my_inspections(self, include_all: bool = False) -> list[dict[str, Any]]:
        """The inspections assigned to me (with `include_all`, every one in my sites), due first.

        Each is `{"id", "sheet_no", "period", "site_id", "site_name", "status",
        "due_on", "assigned_to", "started_at", "completed_at", "checked", "total",
        "overdue"}`: `checked`/`total` count the site's active devices, as this
        client shows them; `overdue` is a due date passed in the site's time zone
        on an inspection not completed. A row without a status reads as scheduled,
        as at the server.
        """
        sites = {s["id"]: s["fields"] for s in self.rows("sites")}
        shown = [
            i for i in self.rows("inspections")
            if include_all or i["fields"].get("assigned_to") == self.username
        ]
        progress = self._progress([i["id"] for i in shown])
        out = []
        for inspection in shown:
            f = inspection["fields"]
            site = sites.get(f.get("site_id"), {})
            status = f.get("status") or "scheduled"
            due = f.get("due_on")
            checked, total = progress.get(inspection["id"], (0, 0))
            out.append({
                "id": inspection["id"], "sheet_no": f.get("sheet_no"), "period": f.get("period"),
                "site_id": f.get("site_id"), "site_name": site.get("name"), "status": status, "due_on": due,
                "assigned_to": f.get("assigned_to"), "started_at": f.get("started_at"),
                "completed_at": f.get("completed_at"), "checked": checked, "total": total,
                "overdue": bool(due) and status not in ("completed", "signed")
                and self._site_today(site.get("tz")) > str(due),
            })
        out.sort(key=lambda i: (i["due_on"] or "9999-99-99", i["sheet_no"] or "", i["id"]))
        return out

    def _site_today(self, tz: Any) -> str:
        return datetime.fromtimestamp(self._wall() / 1000, site_zone(tz)).date().isoformat()

    def _inspection(self, inspection_id: str) -> dict[str, Any]:
        found = self.get("inspections", inspection_id)
        if found is None or found["deleted"]:
            raise E.NotFound(f"no inspection {inspection_id} on this client; sync first")
        return found

    def inspection_devices(self, inspection_id: str) -> list[dict[str, Any]]:
        """The active devices of the inspection's site, grouped by system, then location.

        `[{"system", "locations": [{"location", "devices": [device, ...]}, ...]}, ...]`.
        Systems come in the protocol's order (video, access, network, broadcast,
        telephone, alarm; any other after them), locations and device codes in
        natural order (`pillar 3` before `pillar 12`). Each device is `{"id",
        "code", "name", "kind", "system", "location", "items", "check",
        "pending"}`: `items` is the checklist of its kind (`[{"key", "label",
        "label_zh", "type"}]`, empty without a template); `check` is its check
        as this client shows it (the outbox laid over the pulled rows) as
        `{"id", "outcome", "note", "checked_by", "checked_at", "items": {key:
        value}, "sealed"}`, or None; `pending` says a change of that check is
        still waiting to be sent.
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
                view = {
                    "id": check["id"], "outcome": cf.get("outcome"), "note": cf.get("note"),
                    "checked_by": cf.get("checked_by"), "checked_at": cf.get("checked_at"),
                    "items": {k[5:]: v for k, v in sorted(cf.items()) if k.startswith("item.")},
                    "sealed": cf.get("sealed_by") is not None,
                }
            devices.append({
                "id": d["id"], "code": f.get("code"), "name": f.get("name"), "kind": f.get("kind"),
                "system": f.get("system"), "location": f.get("location"),
                "items": checklists.get(str(f.get("kind")), []), "check": view,
                "pending": check is not None and check["id"] in waiting,
            })
        devices.sort(key=lambda d: (_system_rank(d["system"]), _natural(d["location"]), _natural(d["code"]), d["id"]))
        groups: list[dict[str, Any]] = []
        for device in devices:
            if not groups or groups[-1]["system"] != device["system"]:
                groups.append({"system": device["system"], "locations": []})
            locations = groups[-1]["locations"]
            if not locations or locations[-1]["location"] != device["location"]:
                locations.append({"location": device["location"], "devices": []})
            locations[-1]["devices"].append(device)
        return groups

    def remaining(self, inspection_id: str) -> list[dict[str, Any]]:
        """The active devices of the inspection without an outcome yet, in the order of `inspection_devices`."""
        return [
            device
            for group in self.inspection_devices(inspection_id)
            for location in group["locations"]
            for device in location["devices"]
            if device["check"] is None or device["check"]["outcome"] is None
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

        If the inspection is still scheduled, a change setting it `in_progress`
        with `started_at` is queued first, in the same transaction (as `start`).
        Device ids repeated in `device_ids` are recorded once.
        """
        actor = self._actor()
        wanted = list(dict.fromkeys(device_ids))
        if not wanted:
            raise E.InvalidRequest("name at least one device to record a check of")
        if not overwrite:
            recorded = self.outcomes(inspection_id, wanted)
            wanted = [device_id for device_id in wanted if device_id not in recorded]
            if not wanted:
                return []
        at = checked_at or hlc.format_ts(self._wall())
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
            for key, value in (items or {}).items():
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
        """One error for a bulk check: each reason once, with the devices it concerns."""
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
        )

    def _start_change(self, inspection_id: str, actor: Actor) -> LocalChange | None:
        """The change that starts a scheduled inspection, or None when it is not scheduled (or unknown here)."""
        found = self.get("inspections", inspection_id)
        if found is None or found["deleted"] or (found["fields"].get("status") or "scheduled") != "scheduled":
            return None
        fields: dict[str, Scalar] = {"status": "in_progress"}
        if not found["fields"].get("started_at"):
            fields["started_at"] = hlc.format_ts(self._wall())
        return self._prepare("inspections", inspection_id, fields, None, actor)

    def start(self, inspection_id: str) -> int | None:
        """Start a scheduled inspection: `status: in_progress` and `started_at`; returns the seq.

        None when it is already in progress (nothing to write). A completed or
        signed inspection is not started again: `InvalidRequest`. Recording a
        check starts a scheduled inspection on its own.
        """
        actor = self._actor()
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
        actor = self._actor()
        found = self._inspection(inspection_id)
        if (found["fields"].get("status") or "scheduled") in ("completed", "signed"):
            return None
        fields: dict[str, Scalar] = {"status": "completed"}
        if not found["fields"].get("started_at"):
            fields["started_at"] = hlc.format_ts(self._wall())
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

    def server_rows(self) -> list[dict[str, Any]]:
        """Every row exactly as last pulled, without the overlay, sorted by (collection, id)."""
        return self.db.pulled_views()

    def pending(self) -> list[dict[str, Any]]:
        """The changes the server has not acknowledged yet, in seq order."""
        return self.outbox.pending()

    def problems(self, unresolved_only: bool = False) -> list[dict[str, Any]]:
        """Acknowledged changes that did not (fully) count: superseded, rejected, or with rejected fields.

        With `unresolved_only`, a problem is left out once the technician acted
        on it: a later change of the same row is in the outbox (recorded again),
        or a signature of its inspection taken after the server's answer (the
        sheet, as it now stands, was shown and signed again).
        """
        return self.outbox.problems(unresolved_only)

    def mismatched_signatures(self) -> list[dict[str, Any]]:
        """Signatures the server found not to match their sheet, not yet followed by a new one.

        A mismatch seals nothing and is never verified again: the signer has to
        sign again. It is settled by a later signature of the same inspection
        and signer role that is not a mismatch (valid, or still on its way).
        Rows as `get` shows them, oldest first.
        """
        signatures = self.rows("signatures")
        found = []
        for sig in signatures:
            f = sig["fields"]
            if f.get("verification") != "mismatch":
                continue
            settled = any(
                o["fields"].get("inspection_id") == f.get("inspection_id")
                and o["fields"].get("signer_role") == f.get("signer_role")
                and str(o["fields"].get("signed_at") or "") > str(f.get("signed_at") or "")
                and o["fields"].get("verification") != "mismatch"
                for o in signatures
            )
            if not settled:
                found.append(sig)
        return sorted(found, key=lambda s: (str(s["fields"].get("signed_at") or ""), s["id"]))

    def conflicts(self, after: int = 0) -> list[Conflict]:
        """The server's conflict log entries that concern this user (GET /api/conflicts)."""
        found: list[Conflict] = []
        while True:
            try:
                resp = self.session.request("GET", "/api/conflicts", params=partial(dict, after=after, limit=1000))
            except EpochChanged as exc:
                self.session.recover(exc.epoch)
                continue
            page = _conflict_page.decode(resp.content)
            found.extend(page.conflicts)
            if page.next_after is None:
                return found
            after = page.next_after

    # -- sync -----------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Upload sheets, push the outbox, upload images, then pull until the server has nothing more.

        Sheets go first: the protocol wants a sheet blob stored before the
        signature naming it is pushed, and this server a customer's signature
        image too (a few KB). Photos go after the push, so rows never wait for
        megabytes.
        """
        self.outbox.prune()
        uploaded = media.upload_waiting(self, ("sheet",), self.chunk_size)
        signing = {e["fields"].get("image_sha256") for e in self.pending() if e["collection"] == "signatures"}
        uploaded += media.upload_waiting(self, ("image",), self.chunk_size, only=signing)
        results = self.push()
        uploaded += media.upload_waiting(self, ("image",), self.chunk_size)
        pulled = self.pull()
        self.db.set_meta(last_sync=hlc.format_ts(self._wall()))
        return SyncReport(pushed=len(results), pulled=pulled, results=results, uploaded=uploaded)

    # -- photos, signatures and uploads (client_sdk/media.py) -------------------

    @property
    def upload_queue(self) -> media.UploadQueue:
        """The blobs waiting to upload (and those that did), kept in this client's database."""
        if self._uploads is None:
            self._uploads = media.UploadQueue(self.db)
        return self._uploads

    def add_photo(self, inspection_id: str, device_id: str | None, path: Path | str, stage: str = "after",
                  caption: str | None = None) -> str:
        """Shrink a photo (long edge 2,000 px, JPEG 85, orientation applied, capture time and GPS
        kept), queue its upload and write its `photos` row; returns the row's id."""
        return media.add_photo(self, inspection_id, device_id, path, stage, caption)

    def sheet(self, inspection_id: str) -> dict[str, Any]:
        """The maintenance sheet to show the technician and the customer before signing."""
        return media.show_sheet(self, inspection_id)

    def sign(self, inspection_id: str, signer_name: str, signer_role: str = "customer",
             strokes: Sequence[Sequence[Sequence[float]]] | None = None, png: bytes | None = None,
             devices: Sequence[str] | None = None) -> str:
        """Sign the sheet with pen strokes (rendered to a PNG) or a PNG; returns the signature's id.

        Checks the sheet as the server will, queues the canonical sheet and the
        image for upload, and writes the `signatures` row.
        """
        return media.sign(self, inspection_id, signer_name, signer_role, strokes, png, devices)

    def uploads(self, waiting_only: bool = False) -> list[dict[str, Any]]:
        """Queued blobs: sha256, kind, content_type, length, offset, state, error (sheets first)."""
        states = ("queued", "uploading", "failed") if waiting_only else ("queued", "uploading", "failed", "done")
        return [u.as_dict() for u in self.upload_queue.listed(states)]

    def upload(self) -> int:
        """Send every waiting upload now (sheets first); returns how many reached the server."""
        return media.upload_waiting(self, ("sheet",), self.chunk_size) + media.upload_waiting(
            self, ("image",), self.chunk_size)

    def push(self) -> list[ChangeResult]:
        """Send the pending changes in seq order, `batch_size` at a time; return their results."""
        return self.outbox.push(self.on_progress)

    def pull(self) -> int:
        """Pull pages until `has_more` is false; return the number of rows received."""
        received = 0
        recoveries = 0
        while True:
            if recoveries > MAX_RECOVERIES:
                raise E.SyncError("the server keeps refusing to pull; try again later")
            cursor = self.cursor
            try:
                resp = self.session.request(
                    "GET", "/sync/pull", params=lambda: {"cursor": self.cursor, "limit": self.page_size}
                )
            except (E.CursorExpired, E.InvalidCursor):
                # Expired, or not one this server signs (issued before an upgrade that signs
                # cursors): a fresh snapshot, the outbox kept.
                recoveries += 1
                with self.db.transaction():
                    self.db.start_snapshot_tx()
                continue
            except EpochChanged as exc:
                recoveries += 1
                self.session.recover(exc.epoch)
                self.push()
                continue
            page = _pull_response.decode(resp.content)
            self.db.apply_page(page, cursor, self.outbox.observe_tx)
            received += len(page.rows)
            if self.on_progress is not None:
                self.on_progress(Progress("pull", received, 0))
            if not page.has_more:
                return received

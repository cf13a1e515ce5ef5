"""The sync engine and identity, over the SQLite connections of `storage/sqlite/connection.py`.

Every push runs in one `BEGIN IMMEDIATE` transaction on the writer: receipts,
`acked_seq`, rows, versions and the conflict log commit together or not at all.
Pulls read a consistent snapshot on a reader connection and never wait for a
push.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from datetime import date
from typing import Any

import msgspec

from sync import PROTOCOL_VERSION, hlc, schema
from sync import errors as E
from sync.merge import (
    Actor,
    LogEntry,
    RowState,
    apply_change,
    outside_scope,
    site_of,
)
from sync.schema import COLLECTIONS, GLOBAL_COLLECTIONS
from sync.wire import (
    Change,
    ChangeResult,
    Conflict,
    ConflictPage,
    PullResponse,
    PushRequest,
    PushResponse,
    Row,
)

from .blobs import BlobStore, FileBlobStore
from .domains.identity import audit as security
from .domains.identity.service import Caller, Identity
from .domains.inspections.hooks import InspectionHooks
from .domains.media.hooks import MediaHooks
from .domains.signatures.hooks import SignatureHooks
from .engine.cursor import Cursor, decode_cursor, encode_cursor
from .engine.hooks import Hooks
from .engine.window import Window, window_periods
from .filters import one_of
from .sealing import SheetCache, preload
from .settings import Settings
from .storage.sqlite.connection import Database, select_in
from .storage.sqlite.rows import Transaction
from .storage.sqlite.scope import memberships, sites_at, window_at

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.decode
_result_decoder = msgspec.json.Decoder(ChangeResult)
_TOKEN_TOUCH_MS = 60_000
INITIAL_HLC = str(hlc.Hlc(0, 0, hlc.SERVER_NODE))


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.database = Database(settings.db_path, settings.read_connections)
        self.read = self.database.read
        self.write = self.database.write
        self._meta = Database.meta
        meta = self._meta(self.database.writer)
        self.server_epoch = meta["server_epoch"]
        # Signs pull cursors; in the database, so it survives restarts, is shared by every
        # process on this database and travels with its backups (m011 in storage/sqlite/migrations.py).
        self.cursor_secret = bytes.fromhex(meta["cursor_secret"])
        self.clock = hlc.Clock(hlc.SERVER_NODE, meta["hlc"] or None)
        self.clock.now()
        self.window = Window(self.database)
        self.identity = Identity(self.database, settings, self.server_epoch, self.now_ms)
        self.throttle = self.identity.throttle
        self._touched = self.identity.touched
        (self.create_user, self.add_member, self.remove_member, self.members, self.login, self.refresh,
         self.update_user, self.authenticate, self.revoke_client) = (
            self.identity.create_user, self.identity.add_member, self.identity.remove_member,
            self.identity.members, self.identity.login, self.identity.refresh, self.identity.update_user,
            self.identity.authenticate, self.identity.revoke_client)
        # Photos, signature images and sheet snapshots (server/uploads.py puts them in).
        self.blobs: BlobStore = FileBlobStore(settings.data_dir / "blobs")
        # Sheets parsed once per hash, before a push takes the writer lock (server/sealing.py).
        self.sheets = SheetCache()
        # What each domain derives from a write, in its transaction; signatures verify before
        # media records their creator, as they always did.
        self.hooks = Hooks([InspectionHooks(), SignatureHooks(), MediaHooks()])

    def close(self) -> None:
        self.database.close()

    def now_ms(self) -> int:
        return hlc.wall_ms()

    # -- push ---------------------------------------------------------------

    def push(self, caller: Caller, req: PushRequest, app: str | None = None) -> PushResponse:
        changes = req.changes
        limit = self.settings.max_changes_per_push
        if len(changes) > limit:
            raise E.TooManyChanges(f"{len(changes)} changes; at most {limit} per push", limit=limit)
        if req.client_id != caller.client_id:
            raise E.ClientMismatch(f"the token belongs to client {caller.client_id}")
        if req.protocol < 1 or req.protocol > PROTOCOL_VERSION:
            raise E.InvalidRequest(f"protocol {req.protocol} is not one this server knows")
        try:
            client_ms = hlc.parse_ts(req.client_time)
        except ValueError as exc:
            raise E.InvalidRequest(f"client_time: {exc}") from None
        for i, change in enumerate(changes):
            if change.seq < 1 or change.seq != changes[0].seq + i:
                raise E.SeqNotConsecutive(
                    f"change {i} has seq {change.seq}; seqs start at 1 and rise by one within a batch"
                )
        preload(self, changes)  # outside the writer lock: verifying then only compares
        with self.write() as db:
            now = self.now_ms()
            offset = now - client_ms
            acked = db.execute("SELECT acked_seq FROM clients WHERE id = ?", [caller.client_id]).fetchone()[0]
            replayed = [c for c in changes if c.seq <= acked]
            fresh = changes[len(replayed):]
            results = self._replayed_results(db, caller.client_id, replayed)
            if fresh and fresh[0].seq != acked + 1:
                raise E.SeqGap(f"the server has acknowledged up to seq {acked}", acked_seq=acked)
            if fresh:
                batch = _Batch(db, self, now, caller)
                batch.prefetch(fresh)
                actor = caller.actor
                for change in fresh:
                    results.append(self._apply(batch, change, caller, actor, offset, now))
                batch.flush(caller)
                acked = fresh[-1].seq
            db.execute(
                "UPDATE clients SET acked_seq = ?, last_sync_at = ?, clock_offset_ms = ?,"
                " app = coalesce(?, app) WHERE id = ?",
                [acked, hlc.format_ts(now), offset, app, caller.client_id],
            )
            db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [self.clock.last])
            version = int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])
        return PushResponse(
            acked_seq=acked,
            version=version,
            results=results,
            server_time=hlc.format_ts(now),
            server_hlc=self.clock.last,
            server_epoch=self.server_epoch,
            clock_offset_ms=offset,
        )

    def _replayed_results(
        self, db: sqlite3.Connection, client_id: str, replayed: Sequence[Change]
    ) -> list[ChangeResult]:
        if not replayed:
            return []
        receipts = {
            seq: (sent, result)
            for seq, sent, result in db.execute(
                "SELECT seq, hlc, result FROM receipts WHERE client_id = ? AND seq BETWEEN ? AND ?",
                [client_id, replayed[0].seq, replayed[-1].seq],
            )
        }
        results = []
        for change in replayed:
            sent, result = receipts[change.seq]
            if sent != change.hlc:
                raise E.SeqReused(
                    f"seq {change.seq} was acknowledged with another change; enrol a new client"
                    " and resend the outbox renumbered"
                )
            results.append(_result_decoder.decode(result))
        return results

    def _apply(
        self, batch: _Batch, change: Change, caller: Caller, actor: Actor, offset: int, now: int
    ) -> ChangeResult:
        clock_flag = None
        try:
            stamp = hlc.parse(change.hlc)
            if stamp.node != caller.client_id:
                raise ValueError(f"HLC node {stamp.node} is not the pushing client")
        except ValueError as exc:
            detail = clip(str(exc), self.settings.max_detail_chars)
            result = ChangeResult(seq=change.seq, status="rejected", reason="invalid_hlc", detail=detail)
            batch.log(change, caller, [LogEntry("rejected", None, None, dict(change.fields),
                                                 reason="invalid_hlc", detail=detail)])
            batch.receipt(change, result)
            return result
        skew = self.settings.max_clock_skew_ms
        effective = change.hlc
        if abs(offset) > skew:
            stamp = hlc.Hlc(min(max(stamp.ms + offset, 0), 10**13 - 1), stamp.counter, stamp.node)
            effective, clock_flag = str(stamp), "corrected"
        if stamp.ms > now + skew:
            effective, clock_flag = self.clock.now(now), "clamped"
        if clock_flag is None:
            self.clock.observe(stamp, now)
        row = batch.lookup(change.collection, change.id)
        outcome = apply_change(
            row, change.collection, change.id, dict(change.fields), change.delete, effective, actor,
            batch.lookup, batch.rules,
        )
        if outcome.status != "rejected" and outcome.changed and outcome.row is not None:
            batch.settle(row, outcome.row)
        batch.log(change, caller, outcome.log, effective)
        hidden = outside_scope(row, actor)
        if outcome.status == "rejected" and (outcome.reason == "forbidden" or hidden):
            # A permission rejection is audited in the push's own transaction, like its log entry;
            # a write to another site's row (answered as if it did not exist) with its true site.
            security.audit(batch.db, security.PUSH_FORBIDDEN, username=caller.username, client_id=caller.client_id,
                           address=caller.address, now_ms=now, collection=change.collection, row_id=change.id,
                           seq=change.seq, detail=clip(outcome.detail, self.settings.max_detail_chars),
                           **({"site_id": row.site_id} if hidden and row is not None else {}))
        if outcome.status == "rejected":
            result = ChangeResult(
                seq=change.seq, status="rejected", reason=outcome.reason,
                detail=clip(outcome.detail, self.settings.max_detail_chars), clock=clock_flag,
            )
        else:
            result = ChangeResult(
                seq=change.seq,
                status=outcome.status,
                rejected_fields=outcome.rejected_fields or None,
                clock=clock_flag,
            )
        batch.receipt(change, result)
        return result

    def write_server_changes(
        self,
        changes: Sequence[tuple[str, str, dict[str, Any], bool | None]],
        initial: Sequence[tuple[str, str, dict[str, Any]]] = (),
    ) -> int:
        """The server's own writes (demo data, scheduler): merged like any change, HLC node `srv`.

        `initial` values are written at the lowest possible HLC, so that any
        client's write of the same register wins, even one made offline before
        the server wrote (an inspection's first `scheduled` status).
        """
        with self.write() as db:
            now = self.now_ms()
            batch = _Batch(db, self, now)
            batch.prefetch([Change(seq=0, collection=c, id=i, hlc="", fields=f) for c, i, f, _ in changes])
            actor = Actor.server()
            stamped = [(c, i, f, d, self.clock.now(now)) for c, i, f, d in changes]
            stamped += [(c, i, f, None, INITIAL_HLC) for c, i, f in initial]
            for collection, row_id, fields, delete, stamp in stamped:
                row = batch.lookup(collection, row_id)
                outcome = apply_change(
                    row, collection, row_id, fields, delete, stamp, actor, batch.lookup, batch.rules
                )
                if outcome.status == "rejected":
                    raise E.InvalidRequest(f"{collection} {row_id}: {outcome.reason}: {outcome.detail}")
                if outcome.changed and outcome.row is not None:
                    batch.settle(row, outcome.row)
            batch.flush(None)
            db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [self.clock.last])
            return batch.version

    # -- pull ---------------------------------------------------------------

    def pull(self, caller: Caller, cursor: str | None, limit: int | None) -> PullResponse:
        """One page: first any scope catch-up (sites gained or lost since the cursor), then rows by version."""
        at = decode_cursor(cursor, self.cursor_secret, caller.user_id)
        size = min(max(limit or self.settings.default_pull_limit, 1), self.settings.max_pull_limit)
        self._ensure_window()
        with self.read() as db:
            meta = self._meta(db)
            top = int(meta["version"])
            # A snapshot's own pages never expire: it brings every live row, and the
            # client drops what it did not bring when the snapshot completes.
            if not at.snapshot and at.version < int(meta["horizon_version"]):
                raise E.CursorExpired(
                    "rows were deleted and forgotten since this cursor; push, then pull from cursor 0"
                )
            user = None if caller.role == schema.SUPERVISOR else caller.user_id
            rows, has_more, after = self._scoped_page(db, user, at, size, top)
            acked = db.execute("SELECT acked_seq FROM clients WHERE id = ?", [caller.client_id]).fetchone()[0]
        return PullResponse(
            rows=rows,
            cursor=encode_cursor(after, self.cursor_secret, caller.user_id),
            has_more=has_more,
            acked_seq=acked,
            server_time=hlc.format_ts(self.now_ms()),
            server_hlc=self.clock.last,
            server_epoch=self.server_epoch,
            version=after.version,
        )

    # -- the sync window ------------------------------------------------------------

    def window_periods(self) -> list[str]:
        """The periods clients receive (`engine/window.py`).

        Computed in the users' default time zone (Asia/Shanghai); sites in other
        zones differ at most by hours around a period's start.
        """
        return window_periods(self.today())

    def today(self) -> date:
        from .periods import site_today

        return site_today(None)

    def _ensure_window(self) -> None:
        """Record the window when it moves (a new period began), at a place in the version sequence."""
        self.window.ensure(self.window_periods(), hlc.format_ts(self.now_ms()))

    @staticmethod
    def _scope_filter(sites: set[str] | None, window: set[str] | None) -> tuple[str, list[Any]]:
        """SQL (and its arguments) for rows inside a scope: some sites, some periods."""
        where, args = "", []
        if sites is not None:
            # A row without a site reaches everyone only when its collection is global by declaration:
            # a row whose site could not be found is nobody's, not everybody's.
            where += (f" AND (site_id IN ({','.join('?' * len(sites))})"
                      f" OR (site_id IS NULL AND collection IN ({','.join('?' * len(GLOBAL_COLLECTIONS))})))")
            args += [*sorted(sites), *GLOBAL_COLLECTIONS]
        if window is not None:
            where += f" AND (period IS NULL OR period IN ({','.join('?' * len(window))}))"
            args += sorted(window)
        return where, args

    def _stream(
        self, db: sqlite3.Connection, sites: set[str] | None, window: set[str] | None, at: Cursor, size: int,
        top: int,
    ) -> tuple[list[Row], bool, Cursor]:
        where, args = self._scope_filter(sites, window)
        found = db.execute(
            f"SELECT collection, id, fields, deleted, version FROM rows WHERE version > ?{where}"
            " ORDER BY version LIMIT ?",
            [at.version, *args, size + 1],
        ).fetchall()
        has_more = len(found) > size
        found = found[:size]
        reached = found[-1][4] if has_more else max(top, at.version)
        scope = at.scope if at.scope is not None and at.scope > reached else None
        rows = [
            Row(collection=c, id=i, fields=_json_decode(f), deleted=bool(d), version=v)
            for c, i, f, d, v in found
        ]
        return rows, has_more, Cursor(reached, at.snapshot and has_more, scope)

    def _scoped_page(
        self, db: sqlite3.Connection, user_id: str | None, at: Cursor, size: int, top: int
    ) -> tuple[list[Row], bool, Cursor]:
        """One page of the caller's scope: their sites (every site for a supervisor) and the
        sync window's periods. When the scope changed since the cursor's, rows that left it
        arrive once as `removed` and older rows that entered it come whole, in pages of
        their own, before the version stream goes on."""
        target = at.target or top
        then = at.scope_version
        sites_then = sites_at(db, user_id, then)
        # The cursor's tags only say what the client holds and what to catch up with; the
        # memberships as they stand now bound what may come whole, whatever the tags say
        # (issue 9: a cursor from before a removal brought the site back). A site of
        # `sites_then` outside them only ever leaves as `removed` rows.
        sites_now = sites_at(db, user_id, target)
        if sites_now is not None:
            sites_now &= memberships(db, user_id)
        window_then, window_now = window_at(db, then), window_at(db, target)
        if not at.target and sites_then == sites_now and window_then == window_now:
            return self._stream(db, sites_now, window_now, at, size, top)
        if at.version == 0:
            # Nothing delivered yet: the stream from 0 brings exactly the scope at `target`.
            return self._stream(db, sites_now, window_now, Cursor(0, at.snapshot, target), size, top)
        entries = self._scope_changes(db, at.version, sites_then, sites_now, window_then, window_now)
        if at.offset >= len(entries):
            # Nothing to catch up with (a snapshot from 0 brings what entered the scope anyway).
            return self._stream(db, sites_now, window_now, Cursor(at.version, at.snapshot, target), size, top)
        page = entries[at.offset:at.offset + size]
        full = {
            (c, i): (f, d, v)
            for removed, c, i, _ in page if not removed
            for f, d, v in db.execute(
                "SELECT fields, deleted, version FROM rows WHERE collection = ? AND id = ?", [c, i])
        }
        rows = [
            Row(collection=c, id=i, removed=True) if removed
            else Row(collection=c, id=i, fields=_json_decode(full[(c, i)][0]), deleted=bool(full[(c, i)][1]),
                     version=full[(c, i)][2])
            for removed, c, i, _ in page
        ]
        if at.offset + size < len(entries):
            return rows, True, Cursor(at.version, at.snapshot, at.scope, target, at.offset + size)
        # Caught up: the client's rows now reflect the scope at `target`.
        return rows, True, Cursor(at.version, at.snapshot, target if target > at.version else None)

    def _scope_changes(
        self,
        db: sqlite3.Connection,
        delivered: int,
        sites_then: set[str] | None,
        sites_now: set[str] | None,
        window_then: set[str] | None,
        window_now: set[str] | None,
    ) -> list[tuple[bool, str, str, int]]:
        """(removed, collection, id, version) of every row that left or entered the scope,
        in a fixed order so that a catch-up can page through it. A row that left is sent as
        removed whatever its version (the client may hold an older copy); a row that entered
        is sent whole only up to `delivered` (later ones come with the version stream)."""
        all_sites = sorted({r for (r,) in db.execute("SELECT id FROM rows WHERE collection = 'sites'")})
        then = set(all_sites) if sites_then is None else sites_then
        now = set(all_sites) if sites_now is None else sites_now
        entries: list[tuple[bool, str, str, int]] = []

        def rows_of(site_id: str, extra: str, args: list[Any]) -> list[tuple[str, str, int]]:
            return db.execute(
                f"SELECT collection, id, version FROM rows WHERE site_id = ?{extra} ORDER BY version",
                [site_id, *args],
            ).fetchall()

        def in_window(window: set[str] | None) -> tuple[str, list[Any]]:
            if window is None:
                return "", []
            return f" AND (period IS NULL OR period IN ({','.join('?' * len(window))}))", sorted(window)

        left_window = None if window_then is None else sorted(window_then - (window_now or window_then))
        for site_id in sorted(then - now):  # a lost site: everything of it the client may hold
            entries += [(True, *r) for r in rows_of(site_id, *in_window(window_then))]
        for site_id in sorted(then & now):  # a kept site: the periods that left the window
            if window_now is not None and window_then != window_now:
                if window_then is None:
                    extra = f" AND period IS NOT NULL AND period NOT IN ({','.join('?' * len(window_now))})"
                    entries += [(True, *r) for r in rows_of(site_id, extra, sorted(window_now))]
                elif left_window:
                    extra = f" AND period IN ({','.join('?' * len(left_window))})"
                    entries += [(True, *r) for r in rows_of(site_id, extra, left_window)]
        for site_id in sorted(now - then):  # a gained site: its rows in the window, up to the cursor
            extra, args = in_window(window_now)
            entries += [(False, *r) for r in rows_of(site_id, extra + " AND version <= ?", [*args, delivered])]
        if window_then is not None and window_now is not None:
            entered = sorted(window_now - window_then)
            for site_id in sorted(then & now) if entered else []:  # periods that entered the window
                extra = f" AND period IN ({','.join('?' * len(entered))}) AND version <= ?"
                entries += [(False, *r) for r in rows_of(site_id, extra, [*entered, delivered])]
        return entries

    # -- conflict log ---------------------------------------------------------

    def conflicts(
        self,
        caller: Caller,
        collection: str | None = None,
        row_id: str | None = None,
        site_id: str | None = None,
        after: int = 0,
        limit: int = 200,
        no_op: bool | None = None,
    ) -> ConflictPage:
        """A page of the conflict log; `no_op=False` leaves out the entries where both sides
        wrote the same value (`no_op=True` lists only those)."""
        collection = one_of("collection", collection, COLLECTIONS)
        where, args = ["k.id > ?"], [after]
        for column, value in (("k.collection", collection), ("k.row_id", row_id), ("k.site_id", site_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if caller.role != schema.SUPERVISOR:
            # A technician sees what concerns them: their own values that lost or were overwritten,
            # and only of the sites they are a member of now (issue 9: an ex-member kept reading
            # the new values of registers he once wrote). An entry of no site is shown only to
            # its own pusher.
            where.append("(k.user_id = ? OR oc.user_id = ?)"
                         " AND (k.site_id IN (SELECT value FROM json_each(?)) OR (k.site_id IS NULL AND k.user_id = ?))")
            args += [caller.user_id, caller.user_id, _json_encode(sorted(caller.sites or ())).decode(),
                     caller.user_id]
        size = min(max(limit, 1), 1000)
        budget = self.settings.max_conflict_page_bytes
        items: list[Conflict] = []
        more = False
        used = 0
        with self.read() as db:
            found = db.execute(
                "SELECT k.id, k.at, k.kind, k.collection, k.row_id, k.register, k.reason, k.detail,"
                " k.site_id, k.client_id, u.username, k.hlc, k.seq, k.old_value, k.new_value,"
                " k.other_client_id, ou.username, k.other_hlc"
                " FROM conflicts k LEFT JOIN users u ON u.id = k.user_id"
                " LEFT JOIN clients oc ON oc.id = k.other_client_id LEFT JOIN users ou ON ou.id = oc.user_id"
                f" WHERE {' AND '.join(where)} ORDER BY k.id LIMIT ?",
                # Read row by row: with the no_op filter, entries left out do not count.
                [*args, size + 1 if no_op is None else -1],
            )
            for r in found:  # row by row: a page stops at `size` entries or `budget` bytes of them
                if len(items) == size:
                    more = True
                    break
                item = Conflict(
                    id=r[0], at=r[1], kind=r[2], collection=r[3], row_id=r[4], register=r[5], reason=r[6],
                    detail=r[7], site_id=r[8], client_id=r[9], user=r[10], hlc=r[11], seq=r[12],
                    old_value=_json_decode(r[13]) if r[13] is not None else None,
                    new_value=_json_decode(r[14]) if r[14] is not None else None,
                    other_client_id=r[15], other_user=r[16], other_hlc=r[17],
                )
                item.no_op = item.kind in ("lost", "overwritten") and _same(item.old_value, item.new_value)
                if no_op is not None and item.no_op != no_op:
                    continue
                used += len(_json_encode(item)) + 1 + _LABEL_ROOM
                if items and used > budget:
                    more = True
                    break
                items.append(item)
            _label(db, items)
        return ConflictPage(
            conflicts=items,
            next_after=items[-1].id if more else None,
            server_epoch=self.server_epoch,
        )

    # -- tombstones -----------------------------------------------------------

    def purge_tombstones(self, now_ms: int | None = None) -> int:
        """Forget rows deleted longer ago than the horizon; older cursors then get 410."""
        now = self.now_ms() if now_ms is None else now_ms
        cutoff = now - int(self.settings.tombstone_horizon_days * 86_400_000)
        with self.write() as db:
            top = db.execute(
                "SELECT max(version), count(*) FROM rows WHERE deleted = 1 AND updated_ms < ?", [cutoff]
            ).fetchone()
            if not top[1]:
                return 0
            db.execute("DELETE FROM rows WHERE deleted = 1 AND updated_ms < ?", [cutoff])
            db.execute(
                "UPDATE meta SET value = max(CAST(value AS INTEGER), ?) WHERE key = 'horizon_version'", [top[0]]
            )
            return int(top[1])


_sorted_json = msgspec.json.Encoder(order="sorted").encode
_LABEL_ROOM = 220  # bytes a page keeps for each entry's label (a text field is at most 200 characters)


def _same(a: Any, b: Any) -> bool:
    """The same JSON value: `false` is not `0`, and a group's fields may come in any order."""
    return _sorted_json(a) == _sorted_json(b)


def _label(db: sqlite3.Connection, items: list[Conflict]) -> None:
    """Name each entry's row as a person knows it: a device's code (for a device, its checks and
    photos), a sheet number (an inspection, its signatures and photos of no device), a site's name.

    Only from rows of the entry's own site: an entry logged for a row outside its pusher's scope
    has no site, and its label must not name what is there.
    """
    def rows(ids: set[str]) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
        return {i: (c, site, _json_decode(f)) for i, c, site, f in select_in(
            db, "SELECT id, collection, site_id, fields FROM rows WHERE id IN ({marks})", sorted(ids))}

    found = rows({c.row_id for c in items})
    refs = {str(f.get(key)) for _, _, f in found.values() for key in ("device_id", "inspection_id") if f.get(key)}
    found.update(rows(refs - found.keys()))

    def name(row_id: object, collection: str, site: str | None) -> str | None:
        row = found.get(str(row_id))
        if row is None or row[0] != collection or row[1] != site:
            return None
        fields = row[2]
        value = {"sites": "name", "devices": "code", "inspections": "sheet_no",
                 "checklist_templates": "kind"}.get(collection)
        if value is not None:
            return clip(str(fields.get(value) or "") or None, 200)
        if fields.get("device_id"):
            return name(fields["device_id"], "devices", site)
        return name(fields.get("inspection_id"), "inspections", site)

    for item in items:
        item.label = name(item.row_id, item.collection, item.site_id)


def clip(text: str | None, limit: int) -> str | None:
    """A message bounded to `limit` characters (it may quote what a client sent)."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"


def _has_junk(collection: str, fields: Any, limit: int) -> bool:
    """Whether a rejected change holds a value over `limit` characters of JSON that is no valid
    value of its field. Valid values are bounded by the schema and kept whole: a change
    rejected for who sent it (a removed member's check) can then be recovered from the log."""
    spec = COLLECTIONS.get(collection)
    for name, value in (fields or {}).items():
        field = spec.field(name) if spec is not None else None
        if len(_json_encode(value)) > limit and (field is None or not field.valid(value)):
            return True
    return False


def _logged(value: Any, limit: int | None) -> str:
    """A value as the conflict log keeps it: its JSON, or past `limit` characters of it, only
    `{"truncated": true, "length": <characters>, "sha256": <of the JSON>}`."""
    text = _json_encode(value).decode()
    if limit is None or len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()
    return _json_encode({"truncated": True, "length": len(text), "sha256": digest}).decode()


class _Batch(Transaction):
    """A write transaction of the sync engine: the rows it stages, with what the hooks derive
    from them, its receipts and its conflict log entries."""

    def __init__(self, db: sqlite3.Connection, store: Store, now: int, caller: Caller | None = None) -> None:
        super().__init__(db, now)
        self.store = store
        self.caller = caller  # the pushing client; None for the server's own writes
        self.receipts: list[tuple[int, str, bytes]] = []
        self.conflicts: list[tuple[Any, ...]] = []
        self.changes: list[Change] = []  # what this batch was asked to apply (for bulk lookups)
        self.memo: dict[str, Any] = {}  # per-batch caches of the modules that settle rows
        self.at = hlc.format_ts(now)
        self.rules = store.hooks.rules(self)

    @property
    def check_writes(self) -> int:
        """device_checks rows staged so far (server/sealing.py caches by it)."""
        return self.writes["device_checks"]

    def prefetch(self, changes: Sequence[Change]) -> None:
        """Load the rows the changes name, and the parents they name, in bulk."""
        self.changes.extend(changes)
        wanted: dict[str, set[str]] = {}
        for change in changes:
            wanted.setdefault(change.collection, set()).add(change.id)
            spec = COLLECTIONS.get(change.collection)
            if spec is None:
                continue
            for name, pspec in spec.parents.items():
                value = change.fields.get(name)
                if isinstance(value, str) and pspec.parent in schema.ROW_PARENTS:
                    wanted.setdefault(pspec.parent, set()).add(value)
        self.load(wanted)

    # -- what the server derives from a write, in the same transaction ----------

    def settle(self, before: RowState | None, row: RowState) -> None:
        """Stage a merged row, with what the server derives from it (`engine/hooks.py`)."""
        hooks = self.store.hooks.for_collection(row.collection)
        for hook in hooks:
            hook.settle(self, before, row)
        self.put(row)
        for hook in hooks:
            hook.staged(self, before, row)

    def _server_set(self, row: RowState, name: str, value: Any) -> None:
        row.fields[name] = value
        row.clocks[name] = [self.store.clock.now(self.now), hlc.SERVER_NODE]

    # For server/sealing.py, which derives seals inside this transaction.
    def server_set(self, row: RowState, name: str, value: Any) -> None:
        self._server_set(row, name, value)

    def receipt(self, change: Change, result: ChangeResult) -> None:
        self.receipts.append((change.seq, change.hlc, _json_encode(result)))

    def log(self, change: Change, caller: Caller | None, entries: list[LogEntry], hlc_: str | None = None) -> None:
        if not entries:
            return
        row = self.rows.get((change.collection, change.id))
        if caller is not None and outside_scope(row, caller.actor):
            row = None  # logged as for a row that does not exist: nothing of its site
        site = row.site_id if row is not None else None
        if site is None and change.collection in COLLECTIONS:
            # A rejected creation has no row; its parent still says which site it was for.
            site = site_of(change.collection, change.id, change.fields, self.lookup)
        settings = self.store.settings
        for e in entries:
            # What lost or was overwritten passed the schema's limits; what was rejected may be
            # anything a client sent, so it is kept whole only up to a bound (issue 9).
            bound = {"rejected_field": settings.max_logged_field_chars,
                     "rejected": settings.max_logged_change_chars}.get(e.kind)
            if e.kind == "rejected" and _has_junk(change.collection, e.new_value, settings.max_logged_field_chars):
                bound = settings.max_logged_field_chars
            self.conflicts.append((
                self.at, e.kind, change.collection, change.id, site, e.register, e.reason,
                clip(e.detail, settings.max_detail_chars),
                caller.client_id if caller else "srv", caller.user_id if caller else None,
                hlc_ or change.hlc, change.seq,
                None if e.old_value is None else _json_encode(e.old_value).decode(),
                None if e.new_value is None else _logged(e.new_value, bound),
                e.other_writer, e.other_hlc,
            ))

    def flush(self, caller: Caller | None) -> None:
        self.finish(caller.client_id if caller is not None else None, self.receipts, self.conflicts)

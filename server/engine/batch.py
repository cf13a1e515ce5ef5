"""A write transaction of the sync engine: the rows it stages with what the hooks derive
from them (`engine/hooks.py`), its receipts, and its conflict log entries, bounded.

The SQL is the storage's (`storage/writes.py`'s `Transaction`, in the dialect of the store's
backend); this adds the protocol: hooks, the merge rules' callbacks, who is writing, and what
gets logged.

It takes versions, so it begins by taking the version counter (on PostgreSQL a lock held to
commit, before anything else the transaction touches, so that every writer takes locks in the
same order), then catches the process's HLC clock up with the one saved by the last transaction
that stamped, in whichever process: server HLCs never repeat or go back across processes.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import msgspec

from sync import hlc, schema
from sync.errors import clip
from sync.merge import LogEntry, RowState, hidden, site_of
from sync.schema import COLLECTIONS
from sync.wire import Change, ChangeResult

from ..domains.identity.service import Caller
from ..storage import conflicts as logged
from ..storage.base import Connection
from ..storage.protocol import server_clock
from ..storage.scope import sites_ever
from ..storage.writes import Transaction

if TYPE_CHECKING:
    from ..services import Store

_json_encode = msgspec.json.Encoder().encode


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

    db: Connection  # the domains' hooks query it (`tx.db`)

    def __init__(self, db: Connection, store: Store, now: int, caller: Caller | None = None,
                 offset_ms: int = 0) -> None:
        self.sql = store.backend.sql
        super().__init__(db, now)  # takes the version counter
        saved = server_clock(db)
        if saved > store.clock.last:
            store.clock.see(saved, now)
        self.store = store
        self.caller = caller  # the pushing client; None for the server's own writes
        self.offset_ms = offset_ms  # the pushing client's measured clock offset (server - client)
        self.notes: list[LogEntry] = []  # what hooks flag about the change being applied
        self.receipts: list[tuple[int, str, str, bytes]] = []
        self.conflicts: list[tuple[Any, ...]] = []
        # Values this batch logs (see `_on_record`), and where: those already in the log are left out at flush.
        self.on_record: set[tuple[str, str, str, str, str | None]] = set()
        self.to_check: list[tuple[int, tuple[str, str, str, str, str | None]]] = []
        self.changes: list[Change] = []  # what this batch was asked to apply (for bulk lookups)
        self.memo: dict[Any, Any] = {}  # per-batch caches of the modules that settle rows
        self._at_end: dict[str, Callable[[], None]] = {}  # work a hook does once for the whole batch
        self._ending = False  # running that work: no change is being applied (`note`)
        self.committed: dict[str, Callable[[], None]] = {}  # work for after the commit (`after_commit`)
        self.at = hlc.format_ts(now)
        self.rules = replace(store.hooks.rules(self), was_member=self._was_member)

    def _was_member(self, site_id: str) -> bool:
        """Whether the pushing user was ever a member of the site (`sync.rules.left_site`); read once a batch."""
        if self.caller is None or self.caller.sites is None:
            return False
        if "sites_ever" not in self.memo:
            self.memo["sites_ever"] = sites_ever(self.db, self.caller.user_id)
        return site_id in self.memo["sites_ever"]

    @property
    def check_writes(self) -> int:
        """device_checks rows staged so far (the signatures service caches by it)."""
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

    def _server_set(self, row: RowState, name: str, value: Any, stamp: str | None = None) -> None:
        row.fields[name] = value
        row.clocks[name] = [stamp or self.store.clock.now(self.now), hlc.SERVER_NODE]

    # For the signatures service (domains/signatures/service.py), which derives seals inside this transaction.
    def server_set(self, row: RowState, name: str, value: Any, stamp: str | None = None) -> None:
        """Set a field only the server writes, at a new server HLC, or at `stamp`: one the hook took
        earlier in this transaction, for a register no client writes (a photo's `blob`, issue 15)."""
        self._server_set(row, name, value, stamp)

    def receipt(self, change: Change, result: ChangeResult, digest: str) -> None:
        self.receipts.append((change.seq, change.hlc, digest, _json_encode(result)))

    def note(self, entry: LogEntry) -> None:
        """A hook flags something about the change being applied (a clamped time, an event out of
        order): logged with that change's own entries. From `settle` or `staged` only: work run at the
        batch's end (`at_end`) has no change being applied, and a note it made would be logged with
        none, so it is refused loudly (the transaction rolls back) rather than lost (s29)."""
        if self._ending:
            raise RuntimeError(f"tx.note({entry.kind} {entry.register!r}) in work run at the batch's end: a note"
                               " belongs to the change being applied; make it from the hook's settle or staged")
        self.notes.append(entry)

    def log(self, change: Change, caller: Caller | None, entries: list[LogEntry], hlc_: str | None = None) -> None:
        entries, self.notes = [*entries, *self.notes], []
        if not entries:
            return
        row = self.rows.get((change.collection, change.id))
        if caller is not None and hidden(row, caller.actor, self.rules):
            row = None  # logged as for a row that does not exist: nothing of its site
        site = row.site_id if row is not None else None
        if site is None and change.collection in COLLECTIONS:
            # A rejected creation has no row; its parent still says which site it was for.
            site = site_of(change.collection, change.id, change.fields, self.lookup)
        settings = self.store.settings
        writer = caller.client_id if caller else "srv"
        for e in entries:
            if self._on_record(change, e, writer):
                continue
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

    def _on_record(self, change: Change, e: LogEntry, writer: str) -> bool:
        """Whether the value this entry keeps, a writer's value that lost or was overwritten, is logged
        already for the same register (issue 15): nothing is lost by not logging it twice, and a
        register that forty phones fight over would otherwise log each one's value again and again.
        This answers for the batch; the log's earlier entries are checked at flush, all at once."""
        if e.kind == "lost":
            value = e.new_value
        elif e.kind == "overwritten" and e.other_writer is not None:
            value, writer = e.old_value, e.other_writer
        else:
            return False
        key = (change.collection, change.id, str(e.register), writer,
               None if value is None else _json_encode(value).decode())  # null is logged as NULL
        if key in self.on_record:
            return True
        self.on_record.add(key)
        self.to_check.append((len(self.conflicts), key))
        return False

    def at_end(self, key: str, work: Callable[[], None]) -> None:
        """Run `work` once, when the batch is flushed, however many rows asked for it (by `key`):
        what a hook derives from all the rows of a push together (a request's stored clocks after
        its fifty events, not fifty times)."""
        self._at_end.setdefault(key, work)

    def after_commit(self, key: str, work: Callable[[], None]) -> None:
        """Run `work` in the background once this transaction has committed, never if it rolls back
        (`engine/after_commit.py`); the same key registered again replaces it. Only registered here:
        whoever commits the transaction hands it over (`hand_over`)."""
        self.committed.pop(key, None)
        self.committed[key] = work

    def hand_over(self) -> None:
        """After the commit: the work registered goes to the store's background worker."""
        self.store.after_commit.submit(self.committed)
        self.committed = {}

    def flush(self, caller: Caller | None) -> None:
        self._ending = True
        while self._at_end:
            self._at_end.pop(next(iter(self._at_end)))()
        found = logged.on_record(self.db, [key for _, key in self.to_check])
        if found:
            drop = {self.to_check[i][0] for i in found}
            self.conflicts = [entry for i, entry in enumerate(self.conflicts) if i not in drop]
        self.finish(caller.client_id if caller is not None else None, self.receipts, self.conflicts)

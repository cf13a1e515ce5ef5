"""The phone's replica: its own SQLite file (meta, rows as last pulled, the outbox,
the upload queue), the reads that lay the outbox over the pulled rows, and the
application of pulled pages. The only module of the client that imports
`sqlite3`; the schema is `client_sdk/migrations.py`.

One connection per `Client`, in autocommit mode with explicit `BEGIN IMMEDIATE`
transactions, so a page of rows and its cursor, or a push's results and
`acked_seq`, commit together or not at all. WAL and `synchronous=FULL`: the
outbox is the technician's work of the day and must survive a flat battery.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlite_utils

from sync.wire import PullResponse

from .migrations import migrations

_OUTBOX_COLUMNS = (
    'seq, collection, id, hlc, fields, "delete", created_ms, state, reason, detail,'
    " rejected_fields, clock, push_version, acked_ms, label, sent_seq, told_ms"
)


@dataclass
class Entry:
    """One outbox entry."""

    seq: int
    collection: str
    id: str
    hlc: str
    fields: dict[str, Any]
    delete: bool | None
    created_ms: int
    state: str = "pending"
    reason: str | None = None
    detail: str | None = None
    rejected_fields: dict[str, str] | None = None
    clock: str | None = None
    push_version: int | None = None
    acked_ms: int | None = None
    # What the technician calls the row, read when the change was recorded (client_sdk/labels.py).
    label: dict[str, str] | None = None
    # The seq the server knew it by, when a new enrolment moved it below seq 1 (`Outbox.renumber_tx`).
    sent_seq: int | None = None
    # When the technician was told its result stays unknown (`Outbox.told`); None: not yet, or not such a change.
    told_ms: int | None = None

    @classmethod
    def from_row(cls, r: Sequence[Any]) -> Entry:
        return cls(
            seq=r[0],
            collection=r[1],
            id=r[2],
            hlc=r[3],
            fields=json.loads(r[4]),
            delete=None if r[5] is None else bool(r[5]),
            created_ms=r[6],
            state=r[7],
            reason=r[8],
            detail=r[9],
            rejected_fields=None if r[10] is None else json.loads(r[10]),
            clock=r[11],
            push_version=r[12],
            acked_ms=r[13],
            label=None if r[14] is None else json.loads(r[14]),
            sent_seq=r[15],
            told_ms=r[16],
        )


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


# -- row views ----------------------------------------------------------------


def view(collection: str, row_id: str, fields: dict[str, Any], deleted: bool, version: int) -> dict[str, Any]:
    return {"collection": collection, "id": row_id, "fields": fields, "deleted": deleted, "version": version}


def lay_over(shown: dict[str, Any] | None, entry: Entry) -> dict[str, Any]:
    """One outbox change laid over a row view (a missing field reads as null)."""
    if shown is None:
        shown = view(entry.collection, entry.id, {}, False, 0)
    fields = dict(shown["fields"])
    skipped = entry.rejected_fields or {}
    for name, value in entry.fields.items():
        if name in skipped:
            continue
        if value is None:
            fields.pop(name, None)
        else:
            fields[name] = value
    deleted = shown["deleted"] if entry.delete is None else entry.delete
    return view(entry.collection, entry.id, fields, deleted, shown["version"])


class TransactionLost(sqlite3.OperationalError):
    """A local transaction SQLite rolled back after an error that a caller caught inside it (`Replica.transaction`)."""


class Replica:
    """The client's SQLite file. Methods named `*_tx` expect an open transaction."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(str(self.path), isolation_level=None, timeout=30)
        self._savepoints = 0  # blocks joined to the open transaction (`transaction`), each its SAVEPOINT
        self._lost = False  # the open transaction was rolled back by SQLite under a joined block (`transaction`)
        self.conn.execute("PRAGMA busy_timeout = 30000")
        self.conn.execute("PRAGMA journal_mode = WAL")
        # An acknowledgement lets the outbox entry leave `pending`: it must be on disk first.
        self.conn.execute("PRAGMA synchronous = FULL")
        migrations.apply(sqlite_utils.Database(self.conn))

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One `BEGIN IMMEDIATE` transaction, rolled back on any error. Inside one already open, it is
        part of that one (an upload's row and the change naming it: `UploadQueue.adding`) as a SAVEPOINT:
        an error rolls back this block's writes only, so a caller that catches it inside the outer
        block commits none of them; without an error the outer transaction commits them.

        An error SQLite rolled the whole transaction back for (SQLITE_FULL) leaves no savepoint to roll
        back to: the block's error goes up as it was, and a new transaction is opened at once, so what a
        caller that caught it writes next is not committed on its own; the outer block then rolls back
        and raises `TransactionLost`. A failing ROLLBACK TO is handled alike and never hides the error."""
        if self.conn.in_transaction:
            self._savepoints += 1
            name = f"joined_{self._savepoints}"
            self.conn.execute(f"SAVEPOINT {name}")
            try:
                yield self.conn
            except BaseException:
                self._roll_back_to(name)
                raise
            finally:
                self._savepoints -= 1
            if self.conn.in_transaction:
                self.conn.execute(f"RELEASE {name}")
            else:  # the block caught an error SQLite rolled the transaction back for
                self._roll_back_to(name)
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._lost = False
        try:
            yield self.conn
        except BaseException:
            if self.conn.in_transaction:  # else SQLite rolled it back itself: its error is the one to raise
                with suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise
        if self._lost or not self.conn.in_transaction:
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            raise TransactionLost("SQLite rolled back this local transaction after an error; nothing of it was kept")
        self.conn.execute("COMMIT")

    def _roll_back_to(self, name: str) -> None:
        """A joined block's error: its savepoint rolled back to, or, when SQLite already rolled back the whole
        transaction or the rollback fails, the transaction marked lost and (if none is open) a new one begun."""
        try:
            if self.conn.in_transaction:
                self.conn.execute(f"ROLLBACK TO {name}")
                self.conn.execute(f"RELEASE {name}")
                return
        except sqlite3.Error:
            pass
        self._lost = True
        if not self.conn.in_transaction:
            with suppress(sqlite3.Error):
                self.conn.execute("BEGIN IMMEDIATE")

    # -- meta ----------------------------------------------------------------

    def meta(self, key: str, default: str | None = None) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()
        return default if row is None else str(row[0])

    def meta_int(self, key: str) -> int:
        return int(self.meta(key) or 0)

    def set_meta_tx(self, **values: str | int | None) -> None:
        for key, value in values.items():
            if value is None:
                self.conn.execute("DELETE FROM meta WHERE key = ?", [key])
            else:
                self.conn.execute(
                    "INSERT INTO meta(key, value) VALUES (?, ?)"
                    " ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    [key, str(value)],
                )

    def set_meta(self, **values: str | int | None) -> None:
        with self.transaction():
            self.set_meta_tx(**values)

    def count_tx(self, key: str, by: int) -> None:
        """Add `by` to the count kept as `key`, in the transaction that stores what it counts: a sync's
        changes pushed, rows pulled and uploads sent (`Client.sync_so_far`) are then what is stored, however
        the sync was cut."""
        self.set_meta_tx(**{key: self.meta_int(key) + by})

    # -- rows as pulled --------------------------------------------------------

    def row(self, collection: str, row_id: str) -> tuple[dict[str, Any], bool, int] | None:
        found = self.conn.execute(
            "SELECT fields, deleted, version FROM rows WHERE collection = ? AND id = ?", [collection, row_id]
        ).fetchone()
        return None if found is None else (json.loads(found[0]), bool(found[1]), int(found[2]))

    def rows(self, collection: str | None = None) -> list[tuple[str, str, dict[str, Any], bool, int]]:
        sql = "SELECT collection, id, fields, deleted, version FROM rows"
        args: list[str] = []
        if collection is not None:
            sql += " WHERE collection = ?"
            args.append(collection)
        return [
            (c, i, json.loads(f), bool(d), int(v))
            for c, i, f, d, v in self.conn.execute(sql + " ORDER BY collection, id", args)
        ]

    def upsert_row_tx(
        self, collection: str, row_id: str, fields: dict[str, Any], deleted: bool, version: int
    ) -> None:
        self.conn.execute(
            "INSERT INTO rows(collection, id, fields, deleted, version, seen) VALUES (?, ?, ?, ?, ?, 1)"
            " ON CONFLICT(collection, id) DO UPDATE SET fields = excluded.fields,"
            " deleted = excluded.deleted, version = excluded.version, seen = 1",
            [collection, row_id, dumps(fields), int(deleted), version],
        )

    def remove_row_tx(self, collection: str, row_id: str) -> None:
        self.conn.execute("DELETE FROM rows WHERE collection = ? AND id = ?", [collection, row_id])

    # -- service terms, as the server last handed them (GET /api/sites/{id}/service-terms) --

    def terms(self, site_id: str) -> tuple[str, dict[str, Any], int] | None:
        """(contract, merged terms, when fetched in Unix ms) of a site; None when never fetched."""
        found = self.conn.execute(
            "SELECT contract, terms, fetched_ms FROM service_terms WHERE site_id = ?", [site_id]).fetchone()
        return None if found is None else (str(found[0]), json.loads(found[1]), int(found[2]))

    def terms_fetched(self) -> dict[str, int]:
        """{site_id: when its terms were last fetched, Unix ms}."""
        return {str(s): int(ms) for s, ms in self.conn.execute("SELECT site_id, fetched_ms FROM service_terms")}

    def set_terms(self, site_id: str, contract: str, terms: dict[str, Any], fetched_ms: int) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO service_terms(site_id, contract, terms, fetched_ms) VALUES (?, ?, ?, ?)"
                " ON CONFLICT(site_id) DO UPDATE SET contract = excluded.contract, terms = excluded.terms,"
                " fetched_ms = excluded.fetched_ms",
                [site_id, contract, dumps(terms), fetched_ms])

    # -- reference data, as the server last handed it (GET /api/fee-schedules, /api/duty/rules) --

    def reference(self, name: str) -> dict[str, Any] | None:
        """The body last fetched under `name` (`fee_schedules`, `duty_rules`); None when never fetched."""
        found = self.conn.execute("SELECT body FROM reference_data WHERE name = ?", [name]).fetchone()
        return None if found is None else dict(json.loads(found[0]))

    def set_reference(self, name: str, body: dict[str, Any], fetched_ms: int) -> None:
        with self.transaction():
            self.conn.execute(
                "INSERT INTO reference_data(name, body, fetched_ms) VALUES (?, ?, ?)"
                " ON CONFLICT(name) DO UPDATE SET body = excluded.body, fetched_ms = excluded.fetched_ms",
                [name, dumps(body), fetched_ms])

    # -- outbox ----------------------------------------------------------------

    def entries(self, where: str = "1", args: Sequence[Any] = (), limit: int | None = None) -> list[Entry]:
        sql = f"SELECT {_OUTBOX_COLUMNS} FROM outbox WHERE {where} ORDER BY seq"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        return [Entry.from_row(r) for r in self.conn.execute(sql, list(args))]

    def pending_count(self) -> int:
        return int(self.conn.execute("SELECT count(*) FROM outbox WHERE state = 'pending'").fetchone()[0])

    def insert_entry_tx(self, entry: Entry) -> None:
        self.conn.execute(
            f"INSERT INTO outbox({_OUTBOX_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                entry.seq,
                entry.collection,
                entry.id,
                entry.hlc,
                dumps(entry.fields),
                None if entry.delete is None else int(entry.delete),
                entry.created_ms,
                entry.state,
                entry.reason,
                entry.detail,
                None if entry.rejected_fields is None else dumps(entry.rejected_fields),
                entry.clock,
                entry.push_version,
                entry.acked_ms,
                None if entry.label is None else dumps(entry.label),
                entry.sent_seq,
                entry.told_ms,
            ],
        )

    # -- reads: the pulled rows with the outbox laid over (docs/sync-protocol.md, "Client side") --

    def overlay_entries(self, collection: str | None = None, row_id: str | None = None) -> list[Entry]:
        where = "(state = 'pending' OR (state = 'applied' AND push_version > ?))"
        args: list[Any] = [self.meta_int("pulled_version")]
        if collection is not None:
            where += " AND collection = ?"
            args.append(collection)
        if row_id is not None:
            where += " AND id = ?"
            args.append(row_id)
        return self.entries(where, args)

    def get(self, collection: str, row_id: str) -> dict[str, Any] | None:
        found = self.row(collection, row_id)
        shown = None if found is None else view(collection, row_id, *found)
        for entry in self.overlay_entries(collection, row_id):
            shown = lay_over(shown, entry)
        return shown

    def views(self, collection: str, include_deleted: bool = False) -> list[dict[str, Any]]:
        shown: dict[str, dict[str, Any] | None] = {
            i: view(c, i, f, d, v) for c, i, f, d, v in self.rows(collection)
        }
        for entry in self.overlay_entries(collection):
            shown[entry.id] = lay_over(shown.get(entry.id), entry)
        return [
            one for _, one in sorted(shown.items())
            if one is not None and (include_deleted or not one["deleted"])
        ]

    def pulled_views(self) -> list[dict[str, Any]]:
        return [view(c, i, f, d, v) for c, i, f, d, v in self.rows()]

    # -- pull --------------------------------------------------------------------

    def start_snapshot_tx(self, versions_reused: bool = False) -> None:
        """Pull from 0 again. The version pulled up to stays (a snapshot pages up from 0, and an
        applied change it covers must not be laid over again), unless `versions_reused`: the
        server lost versions it had handed out (restored from a backup) and will issue them anew."""
        self.conn.execute("UPDATE rows SET seen = 0")
        self.set_meta_tx(cursor="0", snapshot="running", **({"pulled_version": None} if versions_reused else {}))

    def apply_page(self, page: PullResponse, cursor: str, observe_tx: Callable[[str], None]) -> None:
        """Store one pulled page and its cursor in one transaction; `observe_tx` takes the server's clock."""
        with self.transaction():
            if cursor == "0" and self.meta("snapshot") != "running":
                self.start_snapshot_tx()
            for row in page.rows:
                if row.removed:
                    self.remove_row_tx(row.collection, row.id)
                else:
                    self.upsert_row_tx(row.collection, row.id, dict(row.fields), row.deleted, row.version)
            self.set_meta_tx(cursor=page.cursor, pulled_version=max(page.version, self.meta_int("pulled_version")))
            self.count_tx("sync_pulled", len(page.rows))
            if not page.has_more and self.meta("snapshot") == "running":
                # The snapshot is complete: what it did not bring is no longer ours.
                self.conn.execute("DELETE FROM rows WHERE seen = 0")
                self.set_meta_tx(snapshot=None)
            observe_tx(page.server_hlc)

"""The lean push server's storage: only what the push contract obliges, on SQLite (bench-only, issue 15).

One process, one writer thread (`Writer`), SQLite in WAL with `synchronous = FULL`. Its tables:

- `rows` keyed by (collection, id), without rowid: fields and a clock per register as JSON,
  `deleted`, `site_id`, `version`; a unique index on `version` and one on (site_id, version), the
  pull's two ("every row write gets its own version ... so paging can never skip or repeat a row").
- `receipts` (client_id, seq, hlc, result) and `clients.acked_seq`, written in the push's transaction.
- `conflicts`: an entry for every value that stops being current, every rejected change or field;
  no index. Whether a value is on record already (the project's dedupe, issue 15) is answered from
  a set held in memory, loaded at start and grown at each commit: this is the only writer.
- `users`, `clients`, `tokens` (sha256 of the bearer token), `members`, `meta` (the server's HLC,
  its epoch).

The merge, validation and HLCs are `sync/`'s own (`apply_change`, `hlc`), so the lean server
decides every register as the real one does. Nothing here is imported by `server/`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import secrets
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from pathlib import Path
from queue import Empty, SimpleQueue
from typing import Any, NamedTuple

import msgspec

from sync import hlc
from sync.errors import clip
from sync.merge import Actor, LogEntry, RowState, apply_change
from sync.schema import COLLECTIONS, ROW_PARENTS
from sync.wire import ChangeResult, PushRequest, PushResponse

DB_NAME = "fieldsync.db"  # the rush's driver reads the conflict log and receipts from it, as from the real server's
MAX_CHANGES = 1000  # the real server's `max_changes_per_push`
MAX_SKEW_MS = 5 * 60 * 1000  # `max_clock_skew_ms`
MAX_DETAIL = 512  # `max_detail_chars`
MAX_LOGGED_CHANGE = 16 * 1024  # `max_logged_change_chars`: a rejected change's fields, longer kept as length and hash

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
_result_decoder = msgspec.json.Decoder(ChangeResult)

SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (collection TEXT NOT NULL, id TEXT NOT NULL, site_id TEXT, fields BLOB NOT NULL,
  clocks BLOB NOT NULL, deleted INTEGER NOT NULL, version INTEGER NOT NULL, PRIMARY KEY (collection, id)) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS rows_version ON rows (version);
CREATE INDEX IF NOT EXISTS rows_site_version ON rows (site_id, version);
CREATE TABLE IF NOT EXISTS receipts (client_id TEXT NOT NULL, seq INTEGER NOT NULL, hlc TEXT NOT NULL,
  result BLOB NOT NULL, PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS conflicts (id INTEGER PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL,
  collection TEXT NOT NULL, row_id TEXT NOT NULL, site_id TEXT, register TEXT, reason TEXT, detail TEXT,
  client_id TEXT, user_id TEXT, hlc TEXT, seq INTEGER, old_value TEXT, new_value TEXT, other_client_id TEXT,
  other_hlc TEXT);
CREATE TABLE IF NOT EXISTS users (id TEXT PRIMARY KEY, username TEXT UNIQUE NOT NULL, name TEXT NOT NULL,
  role TEXT NOT NULL, salt BLOB NOT NULL, password BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS clients (id TEXT PRIMARY KEY, user_id TEXT NOT NULL, name TEXT NOT NULL,
  acked_seq INTEGER NOT NULL DEFAULT 0, offset_ms INTEGER NOT NULL DEFAULT 0, revoked INTEGER NOT NULL DEFAULT 0);
CREATE TABLE IF NOT EXISTS tokens (hash BLOB PRIMARY KEY, client_id TEXT NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS members (user_id TEXT NOT NULL, site_id TEXT NOT NULL, PRIMARY KEY (user_id, site_id))
  WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


class Problem(Exception):
    """A 4xx answer (RFC 9457) with a stable code; nothing of the push was written."""

    def __init__(self, status: int, code: str, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.extra = status, code, detail, extra

    def body(self) -> bytes:
        return _encode({"type": "about:blank", "title": self.code.replace("_", " "), "status": self.status,
                        "detail": self.detail, "code": self.code, **self.extra})


class Caller(NamedTuple):
    client_id: str
    user_id: str
    username: str
    role: str
    sites: frozenset[str] | None  # None: every site (a supervisor)

    @property
    def actor(self) -> Actor:
        return Actor(self.client_id, self.username, self.role, self.sites)


def name_thread(name: str) -> None:
    """The calling thread's name as the kernel shows it (/proc/…/task/…/stat), so the bench can say
    which thread spent the worker's CPU (`bench.uploads.thread_cpu`)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, name.encode()[:15], 0, 0, 0)  # PR_SET_NAME


def connect(data: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(data / DB_NAME, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA busy_timeout = 10000")
    return conn


def _password(salt: bytes, password: str) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", password.encode(), salt, 10_000)


def create(data: Path, users: Iterable[tuple[str, str, str, list[str]]],
           rows: Iterable[tuple[str, str, dict[str, Any]]]) -> None:
    """A new database: users (username, password, role, sites) and the server's own rows
    (collection, id, fields), each written at a server HLC as the real server's demo data is."""
    data.mkdir(parents=True, exist_ok=True)
    conn = connect(data)
    conn.executescript(SCHEMA)
    clock = hlc.Clock(hlc.SERVER_NODE)
    conn.execute("BEGIN IMMEDIATE")
    for username, password, role, sites in users:
        user_id, salt = str(uuid.uuid4()), os.urandom(16)
        conn.execute("INSERT INTO users VALUES (?, ?, ?, ?, ?, ?)",
                     [user_id, username, username, role, salt, _password(salt, password)])
        conn.executemany("INSERT INTO members VALUES (?, ?)", [(user_id, s) for s in sites])
    for version, (collection, row_id, fields) in enumerate(rows, 1):
        stamp = [clock.now(), hlc.SERVER_NODE]
        spec = COLLECTIONS[collection]
        clocks = {spec.register_of(n): stamp for n in fields if n not in spec.parents}
        site = fields.get("site_id") if collection != "sites" else row_id
        conn.execute("INSERT INTO rows VALUES (?, ?, ?, ?, ?, 0, ?)",
                     [collection, row_id, site, _encode(fields), _encode(clocks), version])
    conn.executemany("INSERT OR REPLACE INTO meta VALUES (?, ?)",
                     [("clock", clock.last), ("epoch", secrets.token_hex(8))])
    conn.execute("COMMIT")
    conn.close()


class _Tx:
    """One write transaction: the rows it read and staged, and what it writes at the end."""

    def __init__(self, db: sqlite3.Connection, now: int) -> None:
        self.db, self.now, self.at = db, now, hlc.format_ts(now)
        self.rows: dict[tuple[str, str], RowState | None] = {}
        self.staged: dict[tuple[str, str], RowState] = {}
        self.receipts: list[tuple[str, int, str, bytes]] = []
        self.log: list[tuple[Any, ...]] = []
        self.keys: set[tuple[str, str, str, str, str | None]] = set()
        self.clients: dict[str, tuple[int, int]] = {}  # client -> (acked_seq, offset) written by this transaction

    def prefetch(self, changes: list[Any]) -> None:
        """The rows the changes name and the parents they name, in one statement (a statement a row
        let the GIL go and come back hundreds of times a push, each a wait behind the other threads)."""
        wanted: set[tuple[str, str]] = set()
        for change in changes:
            wanted.add((change.collection, change.id))
            spec = COLLECTIONS.get(change.collection)
            for name, pspec in (spec.parents.items() if spec is not None else ()):
                value = change.fields.get(name)
                if isinstance(value, str) and pspec.parent in ROW_PARENTS:
                    wanted.add((pspec.parent, value))
        wanted -= self.rows.keys()
        keys = sorted(wanted)
        for start in range(0, len(keys), 400):
            chunk = keys[start:start + 400]
            # A join from the keys, each a search of the primary key: `(collection, id) IN (VALUES …)` scanned
            # the whole table (SQLite 3.40's plan), a fifth of the writer's time in-process.
            for c, i, f, k, d, site, v in self.db.execute(
                    f"WITH k(c, i) AS (VALUES {', '.join(['(?, ?)'] * len(chunk))}) SELECT r.collection, r.id, fields,"
                    " clocks, deleted, site_id, version FROM k CROSS JOIN rows r ON r.collection = k.c AND r.id = k.i",
                    [x for key in chunk for x in key]):
                self.rows[(c, i)] = RowState(c, i, _decode(f), _decode(k), bool(d), site, v)
        for key in wanted:
            self.rows.setdefault(key, None)

    def lookup(self, collection: str, row_id: str) -> RowState | None:
        key = (collection, row_id)
        if key not in self.rows:
            r = self.db.execute("SELECT fields, clocks, deleted, site_id, version FROM rows"
                                " WHERE collection = ? AND id = ?", key).fetchone()
            self.rows[key] = None if r is None else RowState(collection, row_id, _decode(r[0]), _decode(r[1]),
                                                             bool(r[2]), r[3], r[4])
        return self.rows[key]


class Writer:
    """The one writer: a thread taking pushes from a queue, each answered after its commit.

    `group`: how many waiting pushes one transaction (one commit, one fsync) may take; 1 is a
    commit a push, as the real server does."""

    def __init__(self, data: Path, group: int = 1) -> None:
        self.db = connect(data)
        self.group = group
        self.epoch = self.db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]
        self.clock = hlc.Clock(hlc.SERVER_NODE, self.db.execute("SELECT value FROM meta WHERE key = 'clock'")
                               .fetchone()[0])
        self.version = self.db.execute("SELECT coalesce(max(version), 0) FROM rows").fetchone()[0]
        self.on_record = {tuple(r) for r in self.db.execute(
            "SELECT collection, row_id, register, CASE kind WHEN 'lost' THEN client_id ELSE other_client_id END,"
            " CASE kind WHEN 'lost' THEN new_value ELSE old_value END FROM conflicts"
            " WHERE kind = 'lost' OR (kind = 'overwritten' AND other_client_id IS NOT NULL)")}
        self.queue: SimpleQueue[tuple[Caller, PushRequest, Future[PushResponse]] | None] = SimpleQueue()
        self.commits = 0
        self.thread = threading.Thread(target=self._run, name="lean-writer", daemon=True)
        self.thread.start()

    def submit(self, caller: Caller, req: PushRequest) -> Future[PushResponse]:
        done: Future[PushResponse] = Future()
        self.queue.put((caller, req, done))
        return done

    def stop(self) -> None:
        self.queue.put(None)
        self.thread.join()
        self.db.close()

    def _run(self) -> None:
        name_thread("lean-writer")
        while True:
            first = self.queue.get()
            if first is None:
                return
            jobs = [first]
            while len(jobs) < self.group:
                try:
                    job = self.queue.get_nowait()
                except Empty:
                    break
                if job is None:
                    self.queue.put(None)
                    break
                jobs.append(job)
            self._transaction(jobs)

    def _transaction(self, jobs: list[tuple[Caller, PushRequest, Future[PushResponse]]]) -> None:
        now = hlc.wall_ms()
        tx = _Tx(self.db, now)
        clock, version = self.clock.last, self.version
        answers: list[Callable[[], None]] = []
        try:
            self.db.execute("BEGIN IMMEDIATE")
            built: list[tuple[Future[PushResponse], PushResponse | Problem]] = []
            for caller, req, done in jobs:
                try:
                    built.append((done, self._push(tx, caller, req)))
                except Problem as problem:  # refused before it wrote anything
                    built.append((done, problem))
            self._flush(tx)
            self.db.execute("COMMIT")
        except BaseException as exc:
            if self.db.in_transaction:
                self.db.execute("ROLLBACK")
            self.clock, self.version = hlc.Clock(hlc.SERVER_NODE, clock), version
            for _, _, done in jobs:
                done.set_exception(exc)
            return
        self.commits += 1
        self.on_record |= tx.keys
        for done, answer in built:
            if isinstance(answer, Problem):
                answers.append(lambda d=done, a=answer: d.set_exception(a))
            else:
                answer.version = self.version
                answers.append(lambda d=done, a=answer: d.set_result(a))
        for answer_ in answers:  # only now, after the commit: acknowledged means durable
            answer_()

    def _acked(self, tx: _Tx, client_id: str) -> tuple[int, int]:
        if client_id not in tx.clients:
            found = self.db.execute("SELECT acked_seq, offset_ms FROM clients WHERE id = ?", [client_id]).fetchone()
            tx.clients[client_id] = (found[0], found[1]) if found else (0, 0)
        return tx.clients[client_id]

    def _push(self, tx: _Tx, caller: Caller, req: PushRequest) -> PushResponse:
        changes, now = req.changes, tx.now
        acked, _ = self._acked(tx, caller.client_id)
        replayed = [c for c in changes if c.seq <= acked]
        fresh = changes[len(replayed):]
        if fresh and fresh[0].seq > acked + 1:
            raise Problem(409, "seq_gap", f"the server has acknowledged up to seq {acked}", acked_seq=acked)
        if len(fresh) > MAX_CHANGES:
            raise Problem(413, "too_many_changes", f"{len(fresh)} new changes; at most {MAX_CHANGES} per push")
        results = self._replayed(caller.client_id, replayed)
        offset = now - hlc.parse_ts(req.client_time)
        actor = caller.actor
        tx.prefetch(fresh)
        for change in fresh:
            results.append(self._apply(tx, caller, actor, change, offset))
        if fresh:
            acked = fresh[-1].seq
        tx.clients[caller.client_id] = (acked, offset)
        return PushResponse(acked_seq=acked, version=0, results=results, server_time=tx.at,
                            server_hlc=self.clock.last, server_epoch=self.epoch, clock_offset_ms=offset)

    def _replayed(self, client_id: str, replayed: list[Any]) -> list[ChangeResult]:
        if not replayed:
            return []
        kept = {seq: (h, r) for seq, h, r in self.db.execute(
            "SELECT seq, hlc, result FROM receipts WHERE client_id = ? AND seq BETWEEN ? AND ?",
            [client_id, replayed[0].seq, replayed[-1].seq])}
        results = []
        for change in replayed:
            found = kept.get(change.seq)
            if found is None or found[0] != change.hlc:
                raise Problem(409, "seq_reused", f"seq {change.seq} was acknowledged with another change;"
                              " enrol a new client and resend the outbox renumbered")
            results.append(_result_decoder.decode(found[1]))
        return results

    def _apply(self, tx: _Tx, caller: Caller, actor: Actor, change: Any, offset: int) -> ChangeResult:
        flag: Any = None
        try:
            stamp = hlc.parse(change.hlc)
            if stamp.node != caller.client_id:
                raise ValueError(f"HLC node {stamp.node} is not the pushing client")
        except ValueError as exc:
            detail = clip(str(exc), MAX_DETAIL)
            result = ChangeResult(seq=change.seq, status="rejected", reason="invalid_hlc", detail=detail)
            self._log(tx, caller, change, change.hlc, None,
                      [LogEntry("rejected", None, None, dict(change.fields), reason="invalid_hlc", detail=detail)])
            tx.receipts.append((caller.client_id, change.seq, change.hlc, _encode(result)))
            return result
        effective = change.hlc
        if abs(offset) > MAX_SKEW_MS:
            stamp = hlc.Hlc(min(max(stamp.ms + offset, 0), 10**13 - 1), stamp.counter, stamp.node)
            effective, flag = str(stamp), "corrected"
        if stamp.ms > tx.now + MAX_SKEW_MS:
            effective, flag = self.clock.now(tx.now), "clamped"
        if flag is None:
            self.clock.see(stamp, tx.now)
        spec = COLLECTIONS.get(change.collection)
        row = tx.lookup(change.collection, change.id)
        outcome = apply_change(row, change.collection, change.id, dict(change.fields), change.delete, effective,
                               actor, tx.lookup, None, valid=spec is not None and spec.values_valid(change.fields))
        if outcome.status != "rejected" and outcome.changed and outcome.row is not None:
            key = (change.collection, change.id)
            tx.rows[key] = tx.staged[key] = outcome.row
            tx.staged[key] = tx.staged.pop(key)  # in the order of their last write
        site = outcome.row.site_id if outcome.row is not None else (row.site_id if row is not None else None)
        self._log(tx, caller, change, effective, site, outcome.log)
        if outcome.status == "rejected":
            result = ChangeResult(seq=change.seq, status="rejected", reason=outcome.reason,
                                  detail=clip(outcome.detail, MAX_DETAIL), clock=flag)
        else:
            result = ChangeResult(seq=change.seq, status=outcome.status,
                                  rejected_fields=outcome.rejected_fields or None, clock=flag)
        tx.receipts.append((caller.client_id, change.seq, change.hlc, _encode(result)))
        return result

    def _log(self, tx: _Tx, caller: Caller, change: Any, stamp: str, site: str | None,
             entries: list[LogEntry]) -> None:
        for e in entries:
            new = None if e.new_value is None else _encode(e.new_value).decode()
            old = None if e.old_value is None else _encode(e.old_value).decode()
            if e.kind in ("lost", "overwritten") and (e.kind == "lost" or e.other_writer is not None):
                key = ((change.collection, change.id, str(e.register), caller.client_id, new) if e.kind == "lost"
                       else (change.collection, change.id, str(e.register), str(e.other_writer), old))
                if key in tx.keys or key in self.on_record:
                    continue  # this writer's value of this register is on record already
                tx.keys.add(key)
            if new is not None and e.kind.startswith("rejected") and len(new) > MAX_LOGGED_CHANGE:
                new = _encode({"truncated": True, "length": len(new),
                               "sha256": hashlib.sha256(new.encode()).hexdigest()}).decode()
            tx.log.append((tx.at, e.kind, change.collection, change.id, site, e.register, e.reason,
                           clip(e.detail, MAX_DETAIL), caller.client_id, caller.user_id, stamp, change.seq,
                           old, new, e.other_writer, e.other_hlc))

    def _flush(self, tx: _Tx) -> None:
        rows = []
        for row in tx.staged.values():
            self.version += 1
            rows.append((row.collection, row.id, row.site_id, _encode(row.fields), _encode(row.clocks),
                         int(row.deleted), self.version))
        db = self.db
        _many(db, "INSERT INTO rows VALUES {} ON CONFLICT (collection, id) DO UPDATE SET"
              " site_id = excluded.site_id, fields = excluded.fields, clocks = excluded.clocks,"
              " deleted = excluded.deleted, version = excluded.version", rows)
        _many(db, "INSERT INTO receipts VALUES {}", tx.receipts)
        _many(db, "INSERT INTO conflicts (at, kind, collection, row_id, site_id, register, reason, detail, client_id,"
              " user_id, hlc, seq, old_value, new_value, other_client_id, other_hlc) VALUES {}", tx.log)
        db.executemany("UPDATE clients SET acked_seq = ?, offset_ms = ? WHERE id = ?",
                       [(a, o, c) for c, (a, o) in tx.clients.items()])
        db.execute("UPDATE meta SET value = ? WHERE key = 'clock'", [self.clock.last])


_SIZES = (64, 16, 4, 1)


def _many(db: sqlite3.Connection, statement: str, rows: list[tuple[Any, ...]]) -> None:
    """`statement` (its `VALUES {}`) for all `rows`, in multi-row statements of 64, 16, 4 and 1 rows
    (four texts, compiled once): a statement a row releases the GIL and waits to take it back at each
    step, behind the event loop's thread and the pulls' (issue 15, session 32)."""
    if not rows:
        return
    group = "(" + ", ".join("?" * len(rows[0])) + ")"
    start = 0
    for size in _SIZES:
        text = statement.format(", ".join([group] * size))
        while len(rows) - start >= size:
            db.execute(text, [x for row in rows[start:start + size] for x in row])
            start += size

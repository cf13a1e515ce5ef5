"""The floor under any push: what the sync contract obliges a push to write, as raw SQL (issue 15).

    python bench/push_floor.py [--rows 20000] [--batch 500] [--clients 40] [--changes 500]
                               [--rush-batch 100] [--devices 200] [--repeat 3]

Two workloads, each the benches' own: `bench/sync_throughput.py`'s new photos in pushes of 500,
and `bench/morning_rush.py`'s forty outboxes taken in turn in pushes of 100 (`bench/push_cpu.py`).
For each, in one script, on SQLite in WAL with `synchronous = FULL` as the server runs it:

- (a) the ceiling, exactly `sync_throughput.ceiling` (photos only): one `executemany` of bare
  tuples into a table with only a primary key, one commit;
- (b) the floor: what docs/sync-protocol.md obliges, and nothing else, as precomputed tuples
  written in the server's own multi-row statements (`writes.write_many`), one commit (one fsync) a
  push: each row written (fields, per-register clocks, deleted, version, site) under its key, a
  unique version index (a pull by version) and a site-version index (a pull by site scope); a
  receipt a change (client, seq, hlc, result); the client's acked_seq; and, in the rush, a
  conflict-log entry for every value that stopped being current, as many per change as the real
  server wrote for the very same changes;
- (c) the same through the server's real schema (a database `Store` made and the bench's
  `prepare` filled, with every table's indexes): the very rows, creators, receipts, pruning,
  version, clock, client and log entries the real push wrote, in its statements, one commit a push;
- (d) the real push, in-process (`push_cpu.pushed`, wall clock).

No reads in (a) to (c): the floor is below what a push must also read (the stored clocks it
merges against, acked_seq, the parents). Each is measured `--repeat` times; the tuples of (b)
and (c) come from the first real run (its stored rows, receipts and log), so they are the same
bytes the server wrote. Prints min and median, and the ratios against the issue's targets:
push >= 0.3 of the ceiling; the rush's p99 < 300 ms, which for forty closed-loop phones waiting
on one writer is 40 times the writer's time a push (Little's law).
"""

from __future__ import annotations

import argparse
import functools
import shutil
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import morning_rush, push_cpu, sync_throughput
from server.domains.identity.service import Caller
from server.services import Store
from server.settings import Settings
from server.storage import protocol, receipts, writes
from server.storage.sqlite.connection import connect
from server.storage.sqlite.rows import SQL
from sync.wire import ChangeResult, PushRequest

Requests = list[tuple[Caller, PushRequest]]
PHOTOS_TARGET = 0.3  # of the ceiling
RUSH_TARGET_MS = 300.0  # p99

# The floor's schema: the contract's row, receipt, client and log, with the two indexes a pull reads.
FLOOR_SCHEMA = """
    CREATE TABLE rows (collection TEXT NOT NULL, id TEXT NOT NULL, site_id TEXT, fields TEXT NOT NULL,
                       clocks TEXT NOT NULL, deleted INTEGER NOT NULL, version INTEGER NOT NULL,
                       PRIMARY KEY (collection, id));
    CREATE UNIQUE INDEX rows_version ON rows(version);
    CREATE INDEX rows_site_version ON rows(site_id, version);
    CREATE TABLE receipts (client_id TEXT NOT NULL, seq INTEGER NOT NULL, hlc TEXT NOT NULL, result TEXT NOT NULL,
                           PRIMARY KEY (client_id, seq)) WITHOUT ROWID;
    CREATE TABLE clients (id TEXT PRIMARY KEY, acked_seq INTEGER NOT NULL);
    CREATE TABLE conflicts (id INTEGER PRIMARY KEY, collection TEXT, row_id TEXT, register TEXT, client_id TEXT,
                            user_id TEXT, at TEXT, hlc TEXT, other_hlc TEXT, old_value TEXT, new_value TEXT);
"""
FLOOR_ROW = ("INSERT INTO rows(collection, id, site_id, fields, clocks, deleted, version) VALUES (?, ?, ?, ?, ?, ?, ?)"
             " ON CONFLICT(collection, id) DO UPDATE SET fields = excluded.fields, clocks = excluded.clocks,"
             " deleted = excluded.deleted, version = excluded.version")
FLOOR_RECEIPT = "INSERT INTO receipts(client_id, seq, hlc, result) VALUES (?, ?, ?, ?)"
FLOOR_CONFLICT = ("INSERT INTO conflicts(collection, row_id, register, client_id, user_id, at, hlc, other_hlc,"
                  " old_value, new_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
FLOOR_ACKED = "UPDATE clients SET acked_seq = ? WHERE id = ?"
ROW_COLUMNS = "collection, id, site_id, parent_id, device_id, fields, clocks, deleted, version, updated_ms, period"
CONFLICT_COLUMNS = ("at, kind, collection, row_id, site_id, register, reason, detail, client_id, user_id, hlc, seq,"
                    " old_value, new_value, other_client_id, other_hlc")


@dataclass
class Push:
    """One push's writes as the real server made them (the tuples of `writes.Transaction.finish`)."""

    client_id: str
    first: int  # its first seq
    acked: int  # its last
    hlc: str  # its highest change HLC (the server's clock after it)
    rows: list[tuple[Any, ...]] = field(default_factory=list)  # ROW_COLUMNS, version to be taken
    creators: list[tuple[Any, ...]] = field(default_factory=list)
    receipts: list[tuple[Any, ...]] = field(default_factory=list)  # client_id, seq, hlc, digest, result
    conflicts: list[tuple[Any, ...]] = field(default_factory=list)  # CONFLICT_COLUMNS


@dataclass
class Run:
    """A real run: its seconds, and (the first) the writes it made push by push, on the database as before."""

    seconds: float
    pushes: list[Push]
    before: Path


def real_run(data: Path, make: Callable[[Store], Requests], keep: bool) -> Run:
    """(d): the server's own push of `make`'s requests, in turn, on a prepared `data`; with `keep`, the
    database as it was before the pushes is copied aside and the writes read back from the one after."""
    store = Store(Settings(data_dir=data))
    try:
        requests = make(store)
        before = data / "before.db"
        if keep:
            with sqlite3.connect(before) as copy:
                store.database.writer.backup(copy)
        seconds = push_cpu.pushed(store, requests, time.perf_counter)
    finally:
        store.close()
    return Run(seconds, _writes(data / "fieldsync.db", before, requests) if keep else [], before)


def _writes(after: Path, before: Path, requests: Requests) -> list[Push]:
    """Each push's writes, as the real run left them: its rows' stored values, the creators of those it
    made, a receipt a change (its stored result, while the server keeps it) and its log entries."""
    with sqlite3.connect(after) as db:
        stored = {(r[0], r[1]): r for r in db.execute(f"SELECT {ROW_COLUMNS} FROM rows")}
        creators = {(r[0], r[1]): r for r in db.execute("SELECT collection, row_id, user_id, client_id FROM row_creators")}
        results = {(r[0], r[1]): r[2] for r in db.execute("SELECT client_id, seq, result FROM receipts")}
        logged: dict[tuple[str, int], list[tuple[Any, ...]]] = defaultdict(list)
        for entry in db.execute(f"SELECT {CONFLICT_COLUMNS} FROM conflicts ORDER BY id"):
            logged[(entry[8], entry[11])].append(entry)
        total = db.execute("SELECT count(*) FROM conflicts").fetchone()[0]
    with sqlite3.connect(before) as db:
        existing = {(r[0], r[1]) for r in db.execute("SELECT collection, id FROM rows")}
    pushes = []
    for caller, request in requests:
        push = Push(caller.client_id, request.changes[0].seq, request.changes[-1].seq,
                    max(c.hlc for c in request.changes))
        written: dict[tuple[str, str], tuple[Any, ...]] = {}
        for change in request.changes:
            key = (change.collection, change.id)
            result = results.get((caller.client_id, change.seq)) or \
                msgspec.json.encode(ChangeResult(seq=change.seq, status="applied")).decode()
            push.receipts.append((caller.client_id, change.seq, change.hlc, change.digest(), result))
            push.conflicts += logged.pop((caller.client_id, change.seq), [])
            if '"applied"' in result:
                written[key] = stored[key]
                if key not in existing and key in creators:
                    push.creators.append(creators[key])
                    existing.add(key)
        push.rows = list(written.values())
        pushes.append(push)
    assert not logged, f"log entries of no change pushed: {sum(map(len, logged.values()))} of {total}"
    return pushes


# What the floor can be run without; fsync: `synchronous = NORMAL`, with which WAL syncs only checkpoints.
LEAVE_OUT = {"fsync": "fsync", "log": "the log", "indexes": "the pull indexes"}


def floor(path: Path, pushes: list[Push], leave_out: tuple[str, ...] = ()) -> float:
    """(b): the contract's writes alone, one commit a push; the seconds of the pushes. `leave_out`
    names what of it to drop (`LEAVE_OUT`), to see what a target would need given up."""
    db = connect(path)
    if "fsync" in leave_out:
        db.execute("PRAGMA synchronous = NORMAL")  # in WAL: a commit is not synced, only checkpoints are
    db.executescript(FLOOR_SCHEMA if "indexes" not in leave_out else
                     "\n".join(line for line in FLOOR_SCHEMA.splitlines() if "INDEX" not in line))
    db.executemany("INSERT OR IGNORE INTO clients VALUES (?, 0)", [(p.client_id,) for p in pushes])
    version = 0
    work = []
    for p in pushes:
        rows = []
        for r in p.rows:
            version += 1
            rows.append((r[0], r[1], r[2], r[5], r[6], r[7], version))
        work.append((rows, [(r[0], r[1], r[2], r[4]) for r in p.receipts],
                     [] if "log" in leave_out else
                     [(c[2], c[3], c[5], c[8], c[9], c[0], c[10], c[15], c[12], c[13]) for c in p.conflicts],
                     (p.acked, p.client_id)))
    t0 = time.perf_counter()
    for rows, sent, conflicts, acked in work:
        with writes.atomic(db, "BEGIN IMMEDIATE"):
            writes.write_many(db, FLOOR_ROW, rows)
            writes.write_many(db, FLOOR_RECEIPT, sent)
            writes.write_many(db, FLOOR_CONFLICT, conflicts)
            db.execute(FLOOR_ACKED, acked)
    seconds = time.perf_counter() - t0
    db.close()
    return seconds


def real_schema(path: Path, before: Path, pushes: list[Push]) -> float:
    """(c): the real push's writes, through the server's tables and every index, by raw SQL in its own
    statements; one commit a push; the seconds of the pushes."""
    shutil.copy(before, path)
    db = connect(path)
    version = int(db.execute(SQL.version).fetchone()[0])
    keep = Settings(data_dir=path.parent).receipts_kept_per_client
    work = []
    for p in pushes:
        rows = []
        for r in p.rows:
            version += 1
            rows.append((*r[:8], version, *r[9:]))
        work.append((p, rows, version))
    t0 = time.perf_counter()
    for p, rows, last in work:
        with writes.atomic(db, "BEGIN IMMEDIATE"):
            receipts.prune(db, p.client_id, p.first, p.acked, keep)
            writes.write_many(db, writes.CREATORS, p.creators)
            writes.write_many(db, SQL.upsert, rows)
            writes._set_version(db, last)
            writes.write_many(db, writes.RECEIPTS, p.receipts)
            writes.write_many(db, writes.CONFLICTS, p.conflicts)
            protocol.record_sync(db, p.client_id, p.acked, "2026-12-07T08:00:00.000Z", 0, None)
            protocol.save_clock(db, p.hlc)
    seconds = time.perf_counter() - t0
    db.close()
    return seconds


PHOTOS_WITHOUT = (("fsync",), ("indexes",), ("fsync", "indexes"))
RUSH_WITHOUT = (("fsync",), ("log",), ("indexes",), ("fsync", "log", "indexes"))


def _measure(times: dict[str, list[float]], tmp: Path, name: str, run: Run, without: tuple[tuple[str, ...], ...]) -> None:
    """(b), each variant of it, and (c) once more, into `times`."""
    for leave_out in ((), *without):
        key = "+".join(("floor", *leave_out))
        times[key].append(floor(tmp / f"{name}-{key}-{len(times[key])}.db", run.pushes, leave_out))
    times["schema"].append(real_schema(tmp / f"{name}-schema-{len(times['schema'])}.db", run.before, run.pushes))


def photos(tmp: Path, n: int, batch: int, repeat: int) -> dict[str, list[float]]:
    """Seconds of (a) to (d) for `n` new photos in pushes of `batch`, `repeat` times each."""
    times: dict[str, list[float]] = defaultdict(list)
    run: Run | None = None
    for i in range(repeat):
        data = tmp / f"photos{i}"
        insp = sync_throughput.prepare(data)
        real = real_run(data, functools.partial(push_cpu.photo_requests, insp=insp, count=n, batch=batch), run is None)
        run = run or real
        times["real"].append(real.seconds)
        times["ceiling"].append(sync_throughput.ceiling(tmp / f"ceiling{i}.db", sync_throughput.photo_rows(n, insp), 1)[0])
        _measure(times, tmp, "photos", run, PHOTOS_WITHOUT)
    return times


def rush(tmp: Path, clients: int, changes: int, batch: int, devices: int, repeat: int) -> tuple[dict[str, list[float]], int]:
    """Seconds of (b) to (d) for the morning rush, `repeat` times each, and the log entries it writes."""
    names = [f"tech{i:02d}" for i in range(clients)]
    times: dict[str, list[float]] = defaultdict(list)
    run: Run | None = None
    for i in range(repeat):
        data = tmp / f"rush{i}"
        ids = morning_rush.prepare(data, names, devices)
        real = real_run(data, functools.partial(push_cpu.rush_requests, names=names, ids=ids, changes=changes, batch=batch), run is None)
        run = run or real
        times["real"].append(real.seconds)
        _measure(times, tmp, "rush", run, RUSH_WITHOUT)
    assert run is not None
    return times, sum(len(p.conflicts) for p in run.pushes)


def _name(key: str) -> str:
    first, *leave_out = key.split("+")
    if leave_out:
        return "    without " + ", ".join(LEAVE_OUT[x] for x in leave_out)
    return {"ceiling": "(a) SQLite ceiling", "floor": "(b) contract floor", "schema": "(c) real schema, raw SQL",
            "real": "(d) real push, in-process"}[first]


def main(argv: list[str] | None = None) -> dict[str, float]:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rows", type=int, default=20_000)
    ap.add_argument("--batch", type=int, default=500)
    ap.add_argument("--clients", type=int, default=40)
    ap.add_argument("--changes", type=int, default=500)
    ap.add_argument("--rush-batch", type=int, default=100)
    ap.add_argument("--devices", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="runs of each, min and median printed: the machine is shared")
    args = ap.parse_args(argv)
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        shot = photos(Path(tmp), args.rows, args.batch, args.repeat)
        rushed, entries = rush(Path(tmp), args.clients, args.changes, args.rush_batch, args.devices, args.repeat)
    n = args.rows
    ceiling = statistics.median(shot["ceiling"])
    budget = ceiling / PHOTOS_TARGET  # the seconds a push of the n rows may take
    print(f"photos: {n:,} new rows in pushes of {args.batch}; {args.repeat} runs each; target >= {PHOTOS_TARGET} of the ceiling")
    print(f"{'':44}rows/s best  median  of ceiling  of budget")
    for key in ("ceiling", "floor", *("+".join(("floor", *x)) for x in PHOTOS_WITHOUT), "schema", "real"):
        best, median = min(shot[key]), statistics.median(shot[key])
        results[f"photos_{key}"] = n / median
        results[f"photos_{key}_vs_ceiling"] = ceiling / median
        print(f"  {_name(key):<42}{n / best:>11,.0f}{n / median:>8,.0f}{ceiling / median:>12.3f}{median / budget:>10.2f}")
    pushes = -(-args.clients * args.changes // args.rush_batch)
    results["rush_log_entries"] = entries
    print(f"\nthe rush: {args.clients} phones x {args.changes} changes in {pushes} pushes of {args.rush_batch},"
          f" {args.devices} shared devices, {entries:,} log entries; {args.repeat} runs each")
    print(f"p99 by Little's law: {args.clients} x the median push; target < {RUSH_TARGET_MS:.0f} ms")
    print(f"{'':44}ms a push best  median    p99 ms  of budget")
    for key in ("floor", *("+".join(("floor", *x)) for x in RUSH_WITHOUT), "schema", "real"):
        best, median = 1000 * min(rushed[key]) / pushes, 1000 * statistics.median(rushed[key]) / pushes
        p99 = args.clients * median
        results[f"rush_{key}_ms"], results[f"rush_{key}_p99_ms"] = median, p99
        print(f"  {_name(key):<42}{best:>14.2f}{median:>8.2f}{p99:>10.0f}{p99 / RUSH_TARGET_MS:>11.2f}")
    return results


if __name__ == "__main__":
    main()

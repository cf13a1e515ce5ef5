"""A push's CPU time in-process, no HTTP: the server's own `push` over the benches' own rows.

    python bench/push_cpu.py [--rush] [--photos] [--rounds 1] [--drop rows_parent,...]

`--rush`: the morning rush's 20,000 changes (`bench/morning_rush.py`: 40 technicians × 500,
60 % checks of 200 shared devices) in pushes of 100, the forty outboxes taken in turn as the
phones send them. `--photos`: `bench/sync_throughput.py`'s 20,000 photos in pushes of 500.
Prints changes per second of this process's CPU time (the commit's fsync waits are not CPU), and a push's wall time (p50, p99, the longest and all of them: what the pushes waiting for the writer wait for).
For an A/B of two trees, copy this file into the other tree's `bench/` and run both in turn;
under py-spy (`py-spy record -r 500 -- python bench/push_cpu.py --rush`) it is the profile's
harness (docs/performance.md, "Issue 15: the push path"). `--drop` drops the named indexes after the
benches' data is written, before the pushes: what each costs a push ("Issue 15: the rows table's indexes").
"""

from __future__ import annotations

import argparse
import functools
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import morning_rush, sync_throughput
from server.domains.identity.service import Caller
from server.services import Store
from server.settings import Settings
from sync import hlc
from sync.wire import PushRequest, TokenRequest


def _caller(store: Store, name: str, password: str) -> Caller:
    return store.identity.authenticate(store.identity.login(TokenRequest(username=name, password=password)).token)


def _requests(caller: Caller, changes: list[dict[str, object]], batch: int) -> list[tuple[Caller, PushRequest]]:
    out = []
    for start in range(0, len(changes), batch):
        body = {"protocol": 1, "client_id": caller.client_id, "client_time": hlc.format_ts(hlc.wall_ms()),
                "changes": changes[start:start + batch]}
        out.append((caller, msgspec.json.decode(msgspec.json.encode(body), type=PushRequest)))
    return out


WALLS: list[float] = []  # each push's wall time, seconds, of the last `pushed` (`--walls`)


def pushed(store: Store, requests: list[tuple[Caller, PushRequest]],
           clock: Callable[[], float] = time.process_time) -> float:
    """Push them in turn; the CPU time it took (or `clock`'s, `time.perf_counter` for the wall's). The
    loop runs inside `functools.reduce`, a C function: `valgrind --tool=callgrind
    --toggle-collect=functools_reduce` counts the pushes' instructions alone. Each push's wall time
    goes to `WALLS`."""
    WALLS.clear()

    def one(_: object, request: tuple[Caller, PushRequest]) -> None:
        t = time.perf_counter()
        store.push(*request)
        WALLS.append(time.perf_counter() - t)

    t0 = clock()
    functools.reduce(one, requests, None)
    return clock() - t0


def _drop(data: Path, indexes: tuple[str, ...]) -> None:
    with sqlite3.connect(data / "fieldsync.db") as db:
        for name in indexes:
            db.execute(f"DROP INDEX {name}")


def rush(data: Path, clients: int = 40, changes: int = 500, batch: int = 100, devices: int = 200,
         drop: tuple[str, ...] = ()) -> float:
    names = [f"tech{i:02d}" for i in range(clients)]
    ids = morning_rush.prepare(data, names, devices)
    _drop(data, drop)
    store = Store(Settings(data_dir=data))
    try:
        return clients * changes / pushed(store, rush_requests(store, names, ids, changes, batch))
    finally:
        store.close()


def rush_requests(store: Store, names: list[str], ids: list[str], changes: int = 500,
                  batch: int = 100) -> list[tuple[Caller, PushRequest]]:
    """Each technician signed in, and the pushes of their outboxes, the forty taken in turn."""
    rng = random.Random(7)
    queues = []
    for name in names:
        caller = _caller(store, name, "demo")
        queues.append(_requests(caller, morning_rush.outbox(rng, name, caller.client_id, ids, changes), batch))
    return [q[i] for i in range(len(queues[0])) for q in queues]


def photos(data: Path, count: int = 20_000, batch: int = 500, drop: tuple[str, ...] = ()) -> float:
    insp = sync_throughput.prepare(data)
    _drop(data, drop)
    store = Store(Settings(data_dir=data))
    try:
        return count / pushed(store, photo_requests(store, insp, count, batch))
    finally:
        store.close()


def photo_requests(store: Store, insp: str, count: int = 20_000, batch: int = 500) -> list[tuple[Caller, PushRequest]]:
    """The bench's client signed in, and its pushes of `count` new photos of the inspection `insp`."""
    caller = _caller(store, "bench", "bench")
    clock = hlc.Clock(caller.client_id)
    changes: list[dict[str, object]] = [
        {"seq": seq, "collection": "photos", "id": row_id, "hlc": clock.now(), "fields": fields, "delete": False}
        for seq, (row_id, fields) in enumerate(sync_throughput.photo_rows(count, insp), 1)]
    return _requests(caller, changes, batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rush", action="store_true")
    ap.add_argument("--photos", action="store_true")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--scale", type=float, default=1.0, help="of the changes (1: 20,000 each)")
    ap.add_argument("--drop", default="", help="indexes to drop before the pushes, comma-separated")
    args = ap.parse_args()
    for _ in range(args.rounds):
        for name in ("rush", "photos"):
            if getattr(args, name) or not (args.rush or args.photos):
                with tempfile.TemporaryDirectory() as tmp:
                    drop = tuple(n for n in args.drop.split(",") if n)
                    rate = rush(Path(tmp), changes=int(500 * args.scale), drop=drop) if name == "rush" else \
                        photos(Path(tmp), count=int(20_000 * args.scale), drop=drop)
                    walls = sorted(WALLS)
                    print(f"{name}: {rate:,.0f} changes/s of CPU time; a push's wall time p50 / p99 / max"
                          f" {walls[len(walls) // 2] * 1e3:.1f} / {walls[int(len(walls) * 0.99)] * 1e3:.1f}"
                          f" / {walls[-1] * 1e3:.1f} ms, all {sum(walls):.2f} s", flush=True)


if __name__ == "__main__":
    main()

"""The recount of the stored clocks at a start on an edited terms file, at company size (fixyearend32).

    python bench/recount.py [--scale 1000] [--history 40] [--rounds 2] [--database postgresql://…|auto]

Builds bench/service.py's data (`build`: 20 open requests a site; `build_history`: N ended ones a site),
then, in alternate rounds, marks every stored clock row as counted with another file and counts them
again: A as one write holding the version lock over every request (the recount before fixyearend32),
B as `recount_if_terms_changed` does it (`BATCH` requests a write). Meanwhile another thread takes
the version lock every 50 ms as a push in the same process does, and lets it go: the longest it
waited is how long a push waits behind the recount. Prints per round the total,
the longest single write and the longest push wait, and at the end the spreads and the ratio of the
longest waits (A over B). Then the cost of a start on an unchanged file (the rows to count: none).

Prints figures; never asserts a time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._postgres import chosen
from bench.service import build, build_history
from server.domains.service.recount import BATCH, recount_if_terms_changed
from server.domains.service.service import refresh_clocks
from server.services import Store
from server.settings import Settings


def _timed_writes(store: Store, holds: list[float]) -> Callable[[], None]:
    """`store.write` timed: each write's time from asking for it to its commit goes to `holds`."""
    real = store.write

    @contextmanager
    def write(*args: Any, **kwargs: Any) -> Iterator[Any]:
        t0 = time.perf_counter()
        with real(*args, **kwargs) as db:
            yield db
        holds.append(time.perf_counter() - t0)

    store.write = write  # type: ignore[method-assign]
    return lambda: setattr(store, "write", real)


def _one_write(store: Store) -> int:
    """The recount before fixyearend32: every request in one write under the version lock."""
    with store.write(versions=True) as db:
        ids = [r[0] for r in db.execute("SELECT request_id FROM service_clocks")]
        refresh_clocks(db, ids, store.now_ms())
    return len(ids)


def _round(store: Store, recount: Callable[[Store], int | None]) -> dict[str, float]:
    with store.write() as db:
        db.execute("UPDATE service_clocks SET terms = NULL")  # counted with another file
    waits: list[float] = []
    done, ready = threading.Event(), threading.Event()
    push_write = store.write  # as a push in this process takes the version lock (not timed as the recount's)

    def pushes() -> None:
        ready.set()
        while not done.is_set():
            t0 = time.perf_counter()
            with push_write(versions=True):
                pass
            waits.append(time.perf_counter() - t0)
            done.wait(0.05)

    probe = threading.Thread(target=pushes)
    holds: list[float] = []
    probe.start()
    ready.wait()
    restore = _timed_writes(store, holds)
    t0 = time.perf_counter()
    try:
        counted = recount(store)
    finally:
        total = time.perf_counter() - t0
        done.set()
        probe.join()
        restore()
    return {"total_s": total, "writes": len(holds), "longest_write_s": max(holds), "counted": counted or 0,
            "longest_push_wait_s": max(waits, default=0.0), "pushes": len(waits)}


def run(data: Path, scale: int, history: int, rounds: int, database: str | None) -> dict[str, Any]:
    with chosen(database) as url:
        return _run(data, scale, history, rounds, url)


def _run(data: Path, scale: int, history: int, rounds: int, database: str | None) -> dict[str, Any]:
    settings = Settings(data_dir=data, database=database)
    store = Store(settings)
    out: dict[str, Any] = {"backend": "PostgreSQL" if database else "SQLite", "A": [], "B": []}
    try:
        t0 = time.perf_counter()
        out["requests"] = build(store, scale) + build_history(store, scale, history)
        print(f"built {scale} sites, {out['requests']:,} requests ({out['backend']}): {time.perf_counter() - t0:.1f} s")
        for n in range(rounds):
            for key, recount in (("A", _one_write), ("B", recount_if_terms_changed)):
                found = _round(store, recount)
                out[key].append(found)
                print(f"round {n + 1} {key}: {found['counted']:,} counted in {found['total_s']:.1f} s,"
                      f" {found['writes']} writes, longest write {found['longest_write_s']:.2f} s,"
                      f" longest push wait {found['longest_push_wait_s']:.2f} s ({found['pushes']} pushes)")
        took = []
        for _ in range(20):
            t0 = time.perf_counter()
            recount_if_terms_changed(store)  # the file unchanged: nothing to count
            took.append(time.perf_counter() - t0)
        out["unchanged_ms"] = sorted(took)[len(took) // 2] * 1000
    finally:
        store.close()
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=1000, help="sites (bench/service.py's: 1000)")
    parser.add_argument("--history", type=int, default=40, help="ended requests a site (s29: 40)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--database", help="a PostgreSQL database's URL, or `auto` for a throwaway server")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        out = run(Path(tmp), args.scale, args.history, args.rounds, args.database)
    for key, label in (("A", "one write (before)"), ("B", f"batches of {BATCH}")):
        for figure in ("total_s", "longest_write_s", "longest_push_wait_s"):
            values = [r[figure] for r in out[key]]
            print(f"{label:20} {figure:20} {min(values):7.2f} .. {max(values):7.2f} s")
    a, b = ([r["longest_push_wait_s"] for r in out[k]] for k in ("A", "B"))
    print(f"longest push wait, A/B: {min(a) / max(*b, 1e-3):.0f}x .. {max(a) / max(min(b), 1e-3):.0f}x")
    print(f"a start on an unchanged file: {out['unchanged_ms']:.1f} ms (median of 20)")
    return out


if __name__ == "__main__":
    main()

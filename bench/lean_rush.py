"""The morning rush against the real server and the lean push server, alternately (issue 15, session 32).

    python bench/lean_rush.py [--rounds 3] [--variants lean,lean-group8] [morning_rush's options]

Each round runs `morning_rush.run` (its workload, its measures: push latencies, the worker's CPU,
errors, convergence, the conflict log) against the real `fieldsync serve`, then against each
variant of `bench/lean/` (a server that keeps only what the push contract obliges; see its
docstrings), in turn, and prints them side by side with the ratio to the real server and the
machine's load around each run. Variants: `lean` (a commit a push), `lean-groupN` (group commit:
one transaction and one fsync for up to N pushes waiting on the writer, each answered after it),
`lean-threadsN` (granian's runtime threads), `lean-pullloop` (pulls read on the event loop, not
in a worker thread), `lean-switchMS` (Python's GIL switch interval), `lean-pypage` (a pull's rows read one by one and
encoded in Python instead of the page built as JSON by SQLite), combinable as
`lean-group8-pullloop`; `-deferpull` on any (`real-deferpull` too): the phones pull only once all
have pushed, so no pull shares the worker with a push (pulls served by other processes).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import morning_rush as rush
from bench import push_cpu
from bench._server import ServerProcess
from bench.lean import store as lean
from bench.uploads import profiler, thread_cpu, worker_pid
from server.domains.identity.service import Caller
from server.services import Store
from server.settings import Settings
from sync.wire import PushRequest, PushResponse


def lean_prepare(data: Path, technicians: list[str], devices: int) -> list[str]:
    """The morning rush's users, memberships and rows, in the lean server's tables."""
    ids = rush.device_ids(devices)
    users = [("lin", "demo", "supervisor", []), *[(name, "demo", "technician", [rush.SITE]) for name in technicians]]
    lean.create(data, users, [(c, i, f) for c, i, f, _ in rush.server_rows(ids)])
    return ids


def lean_beside(data: Path, store: Store, names: list[str], ids: list[str], group: int = 1) -> lean.Writer:
    """A lean database with the rush's rows and the real `store`'s clients (the same ids, so the same
    pushes apply to both), and its writer."""
    lean_prepare(data, names, len(ids))
    with store.read() as db:
        clients = list(db.execute("SELECT c.id, u.username FROM clients c JOIN users u ON u.id = c.user_id"))
    conn = lean.connect(data)
    conn.executemany("INSERT INTO clients (id, user_id, name) SELECT ?, id, 'bench' FROM users WHERE username = ?",
                     clients)
    conn.close()
    return lean.Writer(data, group)


def closed_loop(writer: lean.Writer, requests: list[tuple[Caller, PushRequest]]) -> list[float]:
    """The rush in-process: each phone submits its next push as soon as the last is answered, all
    phones at once; each push's seconds from its submission to its answer (after its commit)."""
    queues: dict[str, list[PushRequest]] = {}
    callers: dict[str, lean.Caller] = {}
    for caller, request in requests:
        queues.setdefault(caller.client_id, []).append(request)
        callers[caller.client_id] = lean.Caller(caller.client_id, caller.user_id, caller.username, caller.role,
                                                caller.sites)
    walls: list[float] = []
    finished = threading.Semaphore(0)

    def submit(client_id: str) -> None:
        if not queues[client_id]:
            finished.release()
            return
        t0 = time.perf_counter()
        done = writer.submit(callers[client_id], queues[client_id].pop(0))

        def answered(future: Future[PushResponse]) -> None:
            future.result()
            walls.append(time.perf_counter() - t0)
            submit(client_id)

        done.add_done_callback(answered)

    for client_id in list(queues):
        submit(client_id)
    for _ in queues:
        finished.acquire()
    return walls


def in_process(args: argparse.Namespace, groups: list[int]) -> None:
    """The push path alone, no HTTP: the real push (`push_cpu`, pushes in turn: p99 by Little's law,
    the phones times a push's median) and the lean writer with the very same pushes, the forty phones
    in a closed loop (its p99 measured), alternated; CPU of the whole process."""
    names = [f"tech{i:02d}" for i in range(args.clients)]
    print(f"in-process, no HTTP: {args.clients} phones × {args.changes} changes in pushes of {args.batch}")
    print(f"{'writer':22s} {'p50':>6s} {'p99':>6s}  p99 by  µs/chg commits  load")
    for number in range(1, args.rounds + 1):
        with tempfile.TemporaryDirectory() as tmp:
            ids = rush.prepare(Path(tmp) / "real", names, args.devices)
            store = Store(Settings(data_dir=Path(tmp) / "real"))
            try:
                requests = push_cpu.rush_requests(store, names, ids, args.changes, args.batch)
                load = os.getloadavg()[0]
                cpu = push_cpu.pushed(store, requests)
                walls = sorted(push_cpu.WALLS)
                p50 = rush.percentile(walls, 0.5)
                print(f"real, round {number:<11d} {p50 * 1e3:6.1f} {args.clients * p50 * 1e3:6.0f}  Little"
                      f" {cpu / len(requests) / args.batch * 1e6:6.0f} {len(requests):7d}  {load:.1f}", flush=True)
                for group in groups:
                    sub = Path(tmp) / f"lean{group}"
                    writer = lean_beside(sub, store, names, ids, group)
                    load, c0 = os.getloadavg()[0], time.process_time()
                    walls = closed_loop(writer, requests)
                    cpu = time.process_time() - c0
                    writer.stop()
                    print(f"{'lean-group' + str(group):22s} {rush.percentile(walls, 0.5) * 1e3:6.1f}"
                          f" {rush.percentile(walls, 0.99) * 1e3:6.0f}  closed"
                          f" {cpu / len(requests) / args.batch * 1e6:6.0f} {writer.commits:7d}  {load:.1f}", flush=True)
            finally:
                store.close()


def serve_lean(variant: str, spies: list[subprocess.Popen[bytes]] | None = None,
               profile: Path | None = None, threads_cpu: dict[str, float] | None = None,
               ) -> Callable[[Path], ServerProcess]:
    """Starts the lean server of `variant`; with `profile`, py-spy samples its worker's thread holding the
    GIL (Python's own work) into that file
    (its process appended to `spies`, to be stopped with SIGINT when the rush ends)."""
    group = re.search(r"group(\d+)", variant)
    threads = re.search(r"threads(\d+)", variant)
    switch = re.search(r"switch([\d.]+)", variant)
    args = ("--group", group.group(1) if group else "1", "--threads", threads.group(1) if threads else "1",
            "--pull", "loop" if "pullloop" in variant else "thread", "--page", "python" if "pypage" in variant else "sql", "--switch", switch.group(1) if switch else "0")

    def serve(data: Path) -> ServerProcess:
        server = ServerProcess(data, args=args, module="bench.lean.serve").start()
        if profile is not None and spies is not None:
            spies.append(profiler(worker_pid(server), profile, gil=True))
        if threads_cpu is not None:
            watch(worker_pid(server), threads_cpu)
        return server

    return serve


def watch(pid: int, into: dict[str, float]) -> None:
    """Keep `into` at the worker's CPU seconds by thread (`thread_cpu`), read every 0.2 s until it exits."""
    def poll() -> None:
        while Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError, ValueError):
                into.update(thread_cpu(pid))
            time.sleep(0.2)

    threading.Thread(target=poll, daemon=True).start()


def once(args: argparse.Namespace, variant: str, profile: Path | None = None) -> dict[str, Any]:
    pulling = "deferpull" not in variant
    if variant.startswith("real"):
        return rush.run(args, pull_while_pushing=pulling)
    spies: list[subprocess.Popen[bytes]] = []
    threads: dict[str, float] = {}
    try:
        result = rush.run(args, prepare=lean_prepare, serve=serve_lean(variant, spies, profile, threads),
                          pull_while_pushing=pulling)
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait()
    result["threads"] = threads
    return result


def line(name: str, r: dict[str, Any], real: dict[str, Any] | None) -> str:
    ratio = f"{r['p99'] / real['p99']:5.2f}" if real else "    –"
    return (f"{name:22s} {r['p50'] * 1e3:6.0f} {r['p95'] * 1e3:6.0f} {r['p99'] * 1e3:6.0f}   {ratio}"
            f" {r['server_cpu'] / r['total'] * 1e6:7.0f} {len(r['errors']):4d} {r['converged']:3d}/{r['clients']}"
            f" {sum(r['kinds'].values()):7,} {len(r['superseded_logged']):5}/{len(r['superseded']):<5}"
            f" {r['load'][0]:4.1f}–{r['load'][1]:.1f}")


HEADER = (f"{'server':22s} {'p50':>6s} {'p95':>6s} {'p99':>6s}  p99/real {'µs/chg':>6s} {'err':>4s} conv"
          f" {'log':>7s} lost/superseded load")


def main(argv: list[str] | None = None) -> dict[str, list[dict[str, Any]]]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--variants", default="lean", help="comma-separated: lean, lean-group8, lean-threads2, …")
    parser.add_argument("--in-process", default="", help="comma-separated group sizes: the push path alone, no HTTP,"
                        " the real push and the lean writer with these group commits (e.g. 1,8)")
    parser.add_argument("--lean-only", action="store_true", help="no real server (to profile the lean one)")
    parser.add_argument("--profile", type=Path, help="a directory: py-spy samples each lean run's worker into it")
    args = rush.arguments(argv, parser)
    if args.in_process:
        in_process(args, [int(g) for g in args.in_process.split(",")])
        return {}
    variants = [*([] if args.lean_only else ["real"]), *[v for v in args.variants.split(",") if v]]
    every: dict[str, list[dict[str, Any]]] = {v: [] for v in variants}
    print(f"the morning rush: {args.clients} phones × {args.changes} changes in pushes of {args.batch},"
          f" {args.devices} shared devices; {args.rounds} rounds, alternated; ms, worker µs a change")
    for number in range(1, args.rounds + 1):
        print(f"round {number}\n{HEADER}", flush=True)
        real: dict[str, Any] | None = None
        for variant in variants:
            where = args.profile / f"{variant}-{number}.txt" if args.profile and variant != "real" else None
            result = once(args, variant, where)
            every[variant].append(result)
            real = result if variant == "real" else real
            print(line(variant, result, None if variant == "real" else real), flush=True)
            if result.get("threads"):  # the whole run's, sign-in and start-up included
                print(f"{'':22s} worker CPU by thread: " + ", ".join(
                    f"{name} {seconds:.1f} s" for name, seconds in sorted(result["threads"].items(),
                                                                         key=lambda kv: -kv[1]) if seconds >= 0.05))
    print(f"all rounds (median)\n{HEADER}")
    for variant, results in every.items():
        mid = {key: statistics.median(r[key] for r in results) for key in ("p50", "p95", "p99")}
        summary = {**results[0], **mid, "server_cpu": statistics.median(r["server_cpu"] for r in results),
                   "errors": [e for r in results for e in r["errors"]], "converged": min(r["converged"] for r in results),
                   "load": (min(r["load"][0] for r in results), max(r["load"][1] for r in results))}
        real_mid = None if variant == "real" or "real" not in every else {
            "p99": statistics.median(r["p99"] for r in every["real"])}
        print(line(variant, summary, real_mid) + f"   p99 {min(r['p99'] for r in results) * 1e3:.0f}–"
              f"{max(r['p99'] for r in results) * 1e3:.0f} ms")
    return every


if __name__ == "__main__":
    main()

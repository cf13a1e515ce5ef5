"""Small pushes: what a push costs the server beyond its changes (issue 15, session 28).

    python bench/small_pushes.py [--clients 8] [--changes 200] [--batch -1,0,1,5,10,100] [--profile DIR]

A phone on a repair call pushes a handful of changes (an arrival, a fix, a signature), so the
server's fixed cost of a push, whatever its size, is what a technician waits on most days.
For each batch size, a fresh real server (`fieldsync serve`); CLIENTS technicians, each with
CHANGES pending changes of the morning rush's mix (`bench/morning_rush.py`: checks of shared
devices, photos, photo edits), push them concurrently in batches of BATCH, with nothing else
(no pull). Prints the server worker's CPU time a push and a change, and the push latencies;
then the least-squares line of worker CPU a push against the changes in it, whose intercept
is the fixed cost of a push. Batch 0 is CHANGES pushes of no change a technician (the sign-in check,
the writer's transaction and its commit, the answer: nothing else), and -1 as many `GET /` (a
redirect: the HTTP server and the framework alone, no thread). `--profile DIR` samples the worker with py-spy (raw stacks, one
file a batch size; docs/performance.md "Issue 15: the fixed cost of a push (session 28)").
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import morning_rush
from bench._server import ServerProcess
from bench.uploads import cpu_seconds, profiler, thread_cpu, worker_pid
from sync import hlc


def run(batch: int, clients: int, changes: int, devices: int, seed: int,
        profile: Path | None = None) -> tuple[float, int, list[float], int, dict[str, float]]:
    """One batch size against a fresh server: (worker CPU seconds, pushes, latencies, errors, the
    worker's CPU seconds by its kind of thread)."""
    names = [f"tech{i:02d}" for i in range(clients)]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "server"
        ids = morning_rush.prepare(data, names, devices)
        server = ServerProcess(data).start()
        try:
            techs = [morning_rush.Technician(server.url, name) for name in names]
            rng = random.Random(seed)
            for tech in techs:
                tech.changes = morning_rush.outbox(random.Random(rng.random()), tech.name, tech.client_id, ids, changes)
            worker = worker_pid(server)
            spy = profiler(worker, profile / f"batch{batch}.txt") if profile is not None else None
            start = threading.Barrier(clients + 1)

            def work(tech: morning_rush.Technician) -> None:
                start.wait()
                if batch > 0:
                    tech.push_all(batch)
                    return
                for _ in range(changes):  # batch 0: as many pushes of no change (-1: `GET /`, a redirect)
                    t0 = time.perf_counter()
                    resp = tech.http.get("/") if batch < 0 else tech.http.post("/sync/push", headers=tech.headers, json={
                        "protocol": 1, "client_id": tech.client_id, "client_time": hlc.format_ts(hlc.wall_ms()),
                        "changes": []})
                    tech.latencies.append(time.perf_counter() - t0)
                    if resp.status_code != (302 if batch < 0 else 200):
                        tech.errors.append(f"{resp.status_code}: {resp.text[:200]}")

            threads = [threading.Thread(target=work, args=(t,)) for t in techs]
            for thread in threads:
                thread.start()
            start.wait()
            cpu0, threads0 = cpu_seconds(worker), thread_cpu(worker)
            for thread in threads:
                thread.join()
            cpu, by_thread = cpu_seconds(worker) - cpu0, thread_cpu(worker)
            by_thread = {name: by_thread[name] - threads0.get(name, 0.0) for name in by_thread}
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait()
            for tech in techs:
                tech.http.close()
        finally:
            server.stop()
    latencies = [x for t in techs for x in t.latencies]
    return cpu, len(latencies), latencies, sum(len(t.errors) for t in techs), by_thread


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--changes", type=int, default=200)
    parser.add_argument("--batch", default="-1,0,1,5,10,100",
                        help="batch sizes, comma-separated; 0: pushes of no change, -1: `GET /` (a bare request)")
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--profile", type=Path, default=None, help="a folder for py-spy's raw stacks of the worker")
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    points: list[tuple[float, float]] = []
    print(f"clients: {args.clients}, changes each: {args.changes}, load average {os.getloadavg()[0]:.1f}")
    print("batch   pushes   worker CPU   µs a push   µs a change   p50 ms   p99 ms   errors")
    for batch in (int(b) for b in args.batch.split(",")):
        t0 = time.perf_counter()
        cpu, pushes, latencies, errors, by_thread = run(batch, args.clients, args.changes, args.devices, args.seed, args.profile)
        wall = time.perf_counter() - t0
        per_push = cpu / pushes
        per_change = f"{cpu / (args.clients * args.changes) * 1e6:,.0f}" if batch > 0 else "-"
        if batch > 0:
            points.append((args.clients * args.changes / pushes, per_push))
        print(f"{batch:5d} {pushes:8d} {cpu:10.2f} s {per_push * 1e6:10,.0f} {per_change:>13}"
              f" {morning_rush.percentile(latencies, 0.5) * 1e3:8.1f} {morning_rush.percentile(latencies, 0.99) * 1e3:8.1f}"
              f" {errors:8d}   ({wall:.0f} s with the set-up)", flush=True)
        print("        µs a push by the worker's threads: " + ", ".join(
            f"{name} {seconds / pushes * 1e6:,.0f}" for name, seconds in sorted(by_thread.items(), key=lambda kv: -kv[1])
            if seconds > 0), flush=True)
    if len(points) > 1 and len({x for x, _ in points}) > 1:
        n = len(points)
        mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
        slope = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x, _ in points)
        print(f"worker CPU a push = {(my - slope * mx) * 1e6:,.0f} µs fixed + {slope * 1e6:,.0f} µs a change"
              " (least squares over the batch sizes)")


if __name__ == "__main__":
    main()

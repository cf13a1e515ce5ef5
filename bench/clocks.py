"""How many service requests' clocks one process evaluates per second (issue 12: at least 20,000/s).

    python bench/clocks.py [--requests 20000] [--calendar] [--repeat 5] [--profile]

Realistic requests: a repair request at an annual-contract site (all six kinds of
milestone), with 5 to 12 events each (accepted, departed, arrived, a pause and its
resume, fixed, a unit sent away and back, a voided event), one sealed visit and its
call-back, each read an hour after its last event. `--calendar` counts only the office hours of `fixtures/service_terms.json`'s
2026 calendar; `--profile` prints the top of cProfile's table instead.

Beside it, in the same run and on the same data: a plain loop that only reads each
event's kind and time (the floor of any evaluation), and the previous algorithm
(`tests/sync/clocks_reference.py`), whose milestones must equal the new ones. Times are
this process's CPU time, the median of `--repeat` rounds run alternately, so the other
work on a shared machine moves the figures less than wall-clock time would.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, os.environ.get("FIELDSYNC_CODE") or str(Path(__file__).resolve().parent.parent))

from sync.clocks import evaluate, load_terms
from sync.hlc import format_ts
from tests.sync.clocks_reference import clocks as reference

ROOT = Path(os.environ.get("FIELDSYNC_CODE") or Path(__file__).resolve().parent.parent)

TARGET = 20_000
KINDS = ["accepted", "departed", "arrived", "paused", "resumed", "fixed", "unit_sent", "unit_returned",
         "left", "loaner_installed", "voided", "closed"]


def requests(count: int, seed: int = 12) -> list[tuple[dict, list[dict], dict, list[dict], int]]:
    rng = random.Random(seed)
    out = []
    for n in range(count):
        reported = 1_780_000_000_000 + rng.randrange(0, 300 * 86_400_000)
        events, at = [], reported
        for i, kind in enumerate(KINDS[: rng.randint(5, 12)]):
            at += rng.randrange(60_000, 3 * 3_600_000)
            event = {"id": f"e{n}-{i}", "kind": kind, "at": format_ts(at), "effective_at": format_ts(at)}
            if kind == "paused":
                event["reason"] = "customer_unavailable"
            if kind == "voided":
                event["note"] = f"e{n}-0"
            events.append(event)
        request = {"reported_at": format_ts(reported), "kind": "repair", "complexity": rng.choice(["ordinary", "complex"])}
        signed = {f"v{n}": format_ts(at)}
        calls = [{"visit_id": f"v{n}", "called_at": format_ts(at + 3_600_000), "reached": True}]
        out.append((request, events, signed, calls, at + 3_600_000))  # read an hour after its last event
    return out


def cpu_seconds(run: Callable[[], object]) -> float:
    began = time.process_time()
    run()
    return time.process_time() - began


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--calendar", action="store_true")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    data = json.loads((ROOT / "fixtures" / "service_terms.json").read_text(encoding="utf-8"))
    terms = load_terms(data, "annual", {"calendar": "cn-2026-office"} if args.calendar else None)
    site, device = {"zone": "urban", "tz": "Asia/Shanghai"}, {"system": "video"}
    batch = requests(args.requests)

    def run() -> int:
        return sum(len(evaluate(r, e, s, c, terms, site, device, now)) for r, e, s, c, now in batch)

    def previous() -> int:
        return sum(len(reference(r, e, s, c, terms, site, device, now)) for r, e, s, c, now in batch)

    def plain() -> int:
        return sum(len([(ev.get("kind"), ev.get("effective_at") or ev.get("at")) for ev in e]) for _, e, _, _, _ in batch)

    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(run)
        pstats.Stats(profiler).sort_stats("tottime").print_stats(12)
        return
    for r, e, s, c, now in batch[:2_000]:  # the same answers, or the speed means nothing
        assert evaluate(r, e, s, c, terms, site, device, now) == [
            clock.milestone for clock in reference(r, e, s, c, terms, site, device, now)]
    milestones = run()  # also warms up (a calendar memoises its days)
    rounds: dict[str, list[float]] = {"plain": [], "previous": [], "evaluate": []}
    for _ in range(args.repeat):
        for name, job in (("plain", plain), ("previous", previous), ("evaluate", run)):
            rounds[name].append(len(batch) / cpu_seconds(job))
    rate = {name: statistics.median(rates) for name, rates in rounds.items()}
    events = sum(len(e) for _, e, _, _, _ in batch) / len(batch)
    print(f"{len(batch)} requests, {events:.1f} events and {milestones / len(batch):.1f} milestones each,"
          f" {'office-hours calendar' if args.calendar else 'wall-clock'}; median of {args.repeat} rounds, CPU time")
    print(f"plain loop (read each event):  {rate['plain']:>10,.0f} requests/s")
    print(f"previous algorithm:            {rate['previous']:>10,.0f} requests/s")
    print(f"evaluate:                      {rate['evaluate']:>10,.0f} requests/s"
          f" (range {min(rounds['evaluate']):,.0f}-{max(rounds['evaluate']):,.0f})")
    print(f"evaluate / previous {rate['evaluate'] / rate['previous']:.2f}x;"
          f" plain loop / evaluate {rate['plain'] / rate['evaluate']:.1f}x;"
          f" {rate['evaluate'] / TARGET:.2f}x the {TARGET:,}/s target")


if __name__ == "__main__":
    main()

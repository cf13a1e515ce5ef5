"""The supervisor's questions at company size, over HTTP against a real server, next to the same work in-process.

    python bench/coverage.py [--scale 1000] [--data DIR] [--requests 200]

Builds (or reuses, with --data) a database of `fieldsync init --demo --scale N`,
starts `fieldsync serve` on it, signs in as the supervisor lin, and measures:

- coverage of one site-period (random generated sites and past quarters);
- device history (random devices);
- generating a period's inspections for all sites (one POST, then again:
  the second run creates nothing);
- and, with no target, the inspection list of one past quarter (every
  site's, with progress) and of what is overdue, a few requests each.

Next to each HTTP figure it prints the same call made in-process on the
database (the `Inspections` service on a `Store`, no HTTP), and for coverage
and history the SQL statements alone, so the HTTP layer's share and the
Python share are visible. Prints figures; never asserts a time.
Targets (issue 3): coverage < 20 ms median, history < 10 ms, generate for
1,000 sites < 2 s.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import ServerProcess
from server.cli import main as fieldsync
from server.db import connect
from server.inspections import Inspections
from server.settings import Settings
from server.store import Caller, Store
from sync.periods import period_of, site_today
from sync.schema import inspection_id

SUPERVISOR = Caller("bench", "lin", "Lin", "supervisor", "bench", None)


def _ms(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered) * 1000, ordered[max(0, round(0.95 * len(ordered)) - 1)] * 1000


def _timed(calls: list[Callable[[], object]]) -> list[float]:
    out = []
    for call in calls:
        t0 = time.perf_counter()
        call()
        out.append(time.perf_counter() - t0)
    return out


def build(data: Path, scale: int, seed: int) -> None:
    if (data / "fieldsync.db").exists():
        print(f"reusing {data / 'fieldsync.db'}")
        return
    t0 = time.perf_counter()
    assert fieldsync(["init", "--data", str(data), "--demo", "--scale", str(scale), "--seed", str(seed)]) == 0
    print(f"init --demo --scale {scale}: {time.perf_counter() - t0:.1f} s")


def next_quarter(period: str) -> str:
    year, quarter = int(period[:4]), int(period[6])
    return f"{year + 1}-Q1" if quarter == 4 else f"{year}-Q{quarter + 1}"


def sample(data: Path, requests: int, rng: random.Random) -> tuple[list[tuple[str, str]], list[str], list[str]]:
    """Random (site, past period) pairs with an inspection, random devices, and two unscheduled quarters."""
    db = connect(data / "fieldsync.db")
    try:
        inspections = db.execute(
            "SELECT parent_id, json_extract(fields, '$.period') FROM rows WHERE collection = 'inspections'"
            " AND json_extract(fields, '$.status') = 'completed'"
        ).fetchall()
        devices = [d for (d,) in db.execute("SELECT id FROM rows WHERE collection = 'devices'")]
        planned = [s for (s,) in db.execute("SELECT site_id FROM plans")]
        scheduled = {(s, p) for s, p in db.execute(
            "SELECT parent_id, json_extract(fields, '$.period') FROM rows WHERE collection = 'inspections'")}
    finally:
        db.close()
    # The first quarter from the current one on that is not scheduled for the generated sites yet.
    period = period_of(site_today("Asia/Shanghai"))
    while sum((s, period) in scheduled for s in planned) > 2:
        period = next_quarter(period)
    return (rng.sample(inspections, min(requests, len(inspections))), rng.sample(devices, requests),
            [period, next_quarter(period)])


def over_http(url: str, pairs: list[tuple[str, str]], devices: list[str], period: str) -> dict[str, object]:
    with httpx.Client(base_url=url, timeout=300) as http:
        body = http.post("/auth/token", json={"username": "lin", "password": "demo", "client_name": "bench"}).json()
        headers = {"Authorization": f"Bearer {body['token']}"}

        def get(path: str, **params: str) -> Callable[[], object]:
            def call() -> object:
                r = http.get(path, headers=headers, params=params)
                r.raise_for_status()
                return r

            return call

        # Warm up: the first requests of a fresh process pay for imports and caches.
        for site, p in pairs[:10]:
            get(f"/api/sites/{site}/coverage", period=p)()
        coverage = _timed([get(f"/api/sites/{s}/coverage", period=p) for s, p in pairs])
        history = _timed([get(f"/api/devices/{d}/history") for d in devices])
        listing = _timed([get("/api/inspections", period=pairs[0][1])] * 5)
        overdue = _timed([get("/api/inspections", overdue="true")] * 5)
        t0 = time.perf_counter()
        r = http.post("/api/inspections/generate", headers=headers, json={"period": period})
        generate = time.perf_counter() - t0
        r.raise_for_status()
        created = len(r.json()["created"])
        t0 = time.perf_counter()
        r = http.post("/api/inspections/generate", headers=headers, json={"period": period})
        again = time.perf_counter() - t0
        r.raise_for_status()
        assert r.json()["created"] == []
        sizes = [len(get(f"/api/sites/{s}/coverage", period=p)().content) for s, p in pairs[:20]]  # type: ignore[attr-defined]
    return {"coverage": coverage, "history": history, "generate": generate, "created": created, "again": again,
            "coverage_bytes": statistics.median(sizes), "list": listing, "overdue": overdue}


def in_process(data: Path, pairs: list[tuple[str, str]], devices: list[str], period: str) -> dict[str, object]:
    store = Store(Settings(data_dir=data))
    service = Inspections(store)
    try:
        for site, p in pairs[:10]:
            service.coverage(SUPERVISOR, site, p)
        coverage = _timed([lambda s=s, p=p: service.coverage(SUPERVISOR, s, p) for s, p in pairs])
        history = _timed([lambda d=d: service.device_history(SUPERVISOR, d) for d in devices])
        listing = _timed([lambda: service.list(SUPERVISOR, period=pairs[0][1])] * 5)
        overdue = _timed([lambda: service.list(SUPERVISOR, overdue=True)] * 5)
        # The SQL statements alone, on a plain connection.
        db = connect(data / "fieldsync.db")
        coverage_sql = _timed([lambda s=s, p=p: (
            db.execute("SELECT id, fields FROM rows WHERE collection = 'devices' AND parent_id = ? AND deleted = 0",
                       [s]).fetchall(),
            db.execute("SELECT device_id, fields FROM rows WHERE collection = 'device_checks' AND parent_id = ?"
                       " AND deleted = 0", [inspection_id(s, p)]).fetchall(),
        ) for s, p in pairs])
        history_sql = _timed([lambda d=d: db.execute(
            "SELECT c.parent_id, c.fields, i.fields FROM rows c LEFT JOIN rows i"
            " ON i.collection = 'inspections' AND i.id = c.parent_id"
            " WHERE c.device_id = ? AND c.collection = 'device_checks' AND c.deleted = 0", [d]).fetchall()
            for d in devices])
        db.close()
        t0 = time.perf_counter()
        created = len(service.generate(period).created)
        generate = time.perf_counter() - t0
        t0 = time.perf_counter()
        service.generate(period)
        again = time.perf_counter() - t0
    finally:
        store.close()
    return {"coverage": coverage, "history": history, "coverage_sql": coverage_sql, "history_sql": history_sql,
            "generate": generate, "created": created, "again": again, "list": listing, "overdue": overdue}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--scale", type=int, default=1000, help="generated sites (default 1000)")
    parser.add_argument("--data", help="data directory to build in, or to reuse when it holds a database")
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(args.data) if args.data else Path(tmp) / "server"
        build(data, args.scale, args.seed)
        rng = random.Random(args.seed)
        pairs, devices, (period, later) = sample(data, args.requests, rng)
        db = connect(data / "fieldsync.db")
        rows, checks, sites = db.execute(
            "SELECT count(*), sum(collection = 'device_checks'), sum(collection = 'sites') FROM rows").fetchone()
        db.close()
        print(f"database: {sites:,} sites, {rows:,} rows, {checks:,} device checks,"
              f" {(data / 'fieldsync.db').stat().st_size / 2**30:.2f} GiB")
        server = ServerProcess(data).start()
        try:
            http = over_http(server.url, pairs, devices, period)
        finally:
            server.stop()
        direct = in_process(data, pairs, devices, later)

    n = args.requests
    print(f"\n{'':34}{'median':>9}{'p95':>9}   target")
    for label, key, target in (("coverage of one site-period", "coverage", "< 20 ms median"),
                               ("device history", "history", "< 10 ms median")):
        h_med, h_p95 = _ms(http[key])  # type: ignore[arg-type]
        d_med, d_p95 = _ms(direct[key])  # type: ignore[arg-type]
        s_med, s_p95 = _ms(direct[f"{key}_sql"])  # type: ignore[arg-type]
        print(f"{label} ({n} requests)")
        print(f"  over HTTP                       {h_med:>7.2f}ms{h_p95:>7.2f}ms   {target}")
        print(f"  in-process (Inspections)        {d_med:>7.2f}ms{d_p95:>7.2f}ms")
        print(f"  its SQL alone                   {s_med:>7.2f}ms{s_p95:>7.2f}ms")
        print(f"  HTTP layer's share of median    {max(0.0, 1 - d_med / h_med):>8.0%}")
    print(f"  (a coverage response is {http['coverage_bytes'] / 1024:.0f} KiB at the median)")
    for label, key in ((f"list of one past quarter, {pairs[0][1]}", "list"), ("list of what is overdue", "overdue")):
        h_med, d_med = _ms(http[key])[0], _ms(direct[key])[0]  # type: ignore[arg-type]
        print(f"{label} (5 requests, no target)")
        print(f"  over HTTP {h_med:>9.1f}ms    in-process {d_med:>9.1f}ms")
    print("generate a period for all sites")
    print(f"  over HTTP, {period}: {http['created']} created    {http['generate']:.3f} s   target < 2 s"
          f" (again, nothing new: {http['again']:.3f} s)")
    print(f"  in-process, {later}: {direct['created']} created   {direct['generate']:.3f} s"
          f" (again: {direct['again']:.3f} s)")


if __name__ == "__main__":
    main()

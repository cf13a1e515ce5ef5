"""The service desk's breach list at company size, over HTTP against a real server, beside the plain SQL.

    python bench/service.py [--scale 1000] [--data DIR] [--samples 200]

Builds (or reuses, with --data) a database of N sites (default 50; the issue's
figure is `--scale 1000`) with 20 open service requests each, reported over the
last three days, with their events (accepted, departed, arrived, pauses, fixed,
units sent away) and their stored clock columns; starts `fieldsync serve` on it,
signs in as the supervisor lin, and measures:

- the breach list (`GET /api/service-requests?breached=true`, a page of 50),
  beside the plain SQL read of the same rows (the stored columns and the rows'
  fields, in the same run): target median < 50 ms;
- one request's detail (`GET /api/service-requests/{id}`): target < 10 ms;
- a caller's requests by their number (`GET /api/service-requests?caller_phone=...`, the whole number
  and its last four digits), beside the plain SQL that would find them without m034's column (every
  request's number read out of its JSON, spaces and dashes dropped);
- the clock evaluation in-process (`sync.clocks.clocks`, requests/s), and
  recomputing every request's stored columns.

Prints figures; never asserts a time. Issue 12, "Speed".
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import ServerProcess, signed_in
from bench.coverage import _ms, _timed
from server.domains.service.service import load_inputs, refresh_clocks
from server.scale import _clocks, _Writer
from server.services import Store
from server.settings import Settings
from server.storage import service as q
from server.storage.sqlite.connection import connect
from sync import hlc, schema
from sync.collections.service import request_status
from sync.merge import RowState

REQUESTS_PER_SITE = 20
HOUR = 3_600_000
# Every register of a generated row, one clock each.
_REGS = {name: [*collection.fields, "deleted"] for name, collection in schema.COLLECTIONS.items()}
# What happened to a request so far, most often nothing much: (kinds, share).
_STORIES = [
    ((), 3), (("accepted",), 3), (("accepted", "departed"), 2), (("accepted", "departed", "arrived"), 4),
    (("accepted", "departed", "arrived", "paused"), 2), (("accepted", "departed", "arrived", "paused", "resumed"), 1),
    (("accepted", "departed", "arrived", "unit_sent"), 1), (("accepted", "departed", "arrived", "fixed"), 4),
]


def _phone(site: int, n: int) -> str:
    """A caller's number as a desk types it: a mobile, or the site's landline with an extension's digit."""
    digits = f"{(site * REQUESTS_PER_SITE + n) * 7919 % 10**8:08d}"  # each its own, tails spread
    return f"139 {digits[:4]} {digits[4:]}" if n % 2 else f"021-{digits[:4]} {digits[4:]}"


def _scan(db: Any, digits: str) -> list[str]:
    """The requests whose number ends with `digits`, found without m034's column: every request's number
    read out of its JSON (what a filter over `rows` alone would do)."""
    number = "replace(replace(json_extract(fields, '$.caller_phone'), ' ', ''), '-', '')"
    return [r[0] for r in db.execute(
        f"SELECT id FROM rows WHERE collection = 'service_requests' AND deleted = 0 AND {number} LIKE ?"
        " ORDER BY id LIMIT 51", ["%" + digits])]


def build(store: Store, scale: int, seed: int = 0) -> int:
    """`scale` sites with 20 open requests each and their events, bulk-loaded, and their stored
    clock columns; the number of requests."""
    rng = random.Random(seed)
    namespace = uuid.uuid5(schema.NS, f"service-bench/{seed}")
    stories = [kinds for kinds, share in _STORIES for _ in range(share)]
    ids = []
    with store.write() as db:
        now = store.now_ms()
        out = _Writer(store, db, now)
        for index in range(scale):
            site_id = str(uuid.uuid5(namespace, f"site/{index}"))
            out.add("sites", site_id, {"name": f"Site {index}", "tz": "Asia/Shanghai",
                                       "zone": rng.choice(["urban", "suburban"]),
                                       "contract": rng.choice(["annual", "per_visit"])},
                    _clocks(_REGS["sites"], out.hlc()))
            devices = [str(uuid.uuid5(namespace, f"device/{index}/{n}")) for n in range(4)]
            for n, device_id in enumerate(devices):
                out.add("devices", device_id, {"site_id": site_id, "system": "video" if n < 3 else "access",
                                               "kind": "dome_camera" if n < 3 else "door_controller",
                                               "code": f"D-{n}", "status": "active"},
                        _clocks(_REGS["devices"], out.hlc()))
            for n in range(REQUESTS_PER_SITE):
                request_id = str(uuid.uuid5(namespace, f"request/{index}/{n}"))
                reported = now - rng.randrange(10 * 60_000, 72 * HOUR)
                kinds = rng.choice(stories)
                status, _ = request_status(True, list(kinds))
                fields = {
                    "site_id": site_id, "device_id": rng.choice(devices), "reported_at": hlc.format_ts(reported),
                    "channel": "hotline", "kind": "repair", "complexity": rng.choice(["ordinary", "complex"]),
                    "caller_name": "Ms Chen", "assigned_to": "lin", "number": f"SR-B-{index:04d}-{n:02d}",
                    "caller_phone": _phone(index, n),
                    "status": status}
                out.add("service_requests", request_id, fields, _clocks(_REGS["service_requests"], out.hlc()))
                # Its events find their site through it.
                out.parents[("service_requests", request_id)] = RowState("service_requests", request_id, fields,
                                                                         site_id=site_id)
                at = reported
                for e, kind in enumerate(kinds):
                    at = min(at + rng.randrange(5 * 60_000, 3 * HOUR), now)
                    fields = {"request_id": request_id, "kind": kind, "at": hlc.format_ts(at),
                              "effective_at": hlc.format_ts(at), "clock": "as_sent", "by": "lin"}
                    if kind == "paused":
                        fields["reason"] = "customer_unavailable"
                    out.add("service_events", str(uuid.uuid5(namespace, f"event/{index}/{n}/{e}")), fields,
                            _clocks(_REGS["service_events"], out.hlc()))
                ids.append(request_id)
        out.close()
        db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [store.clock.last])
        refresh_clocks(db, ids, now)
    return len(ids)


def _prepare(data: Path, scale: int) -> list[str]:
    store = Store(Settings(data_dir=data))
    try:
        if not (data / ".built").exists():
            store.create_user("lin", "Lin", "supervisor", "demo", demo=True)
            t0 = time.perf_counter()
            count = build(store, scale)
            print(f"built {scale} sites, {count} open requests with their events and stored clocks:"
                  f" {time.perf_counter() - t0:.1f} s")
            (data / ".built").write_text(str(scale))
        else:
            print(f"reusing {data}")
        with store.read() as db:
            return [r[0] for r in db.execute("SELECT request_id FROM service_clocks ORDER BY request_id")]
    finally:
        store.close()


def _plain_sql(db: Any, now: int) -> list[str]:
    """The breach list's first page read with plain SQL, the same statements as the server's: the
    stored columns (`list_requests`) and the requests' fields."""
    ids = [i for i, _ in q.list_requests(db, sites=None, site_id=None, status=None, assigned_to=None, open_=None,
                                         breached=True, at_risk=None, now_ms=now, after=None, limit=51)][:50]
    q.live_rows(db, "service_requests", ids)
    return ids


def run(data: Path, scale: int, samples: int) -> dict[str, Any]:
    ids = _prepare(data, scale)
    rng = random.Random(1)
    results: dict[str, Any] = {"requests": len(ids)}
    server = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=server.url, timeout=60) as http:
            auth = signed_in(http)

            def breach_list() -> list[str]:
                r = http.get("/api/service-requests", params={"breached": "true"}, headers=auth)
                r.raise_for_status()
                return [x["id"] for x in r.json()["requests"]]

            def one_detail() -> None:
                http.get(f"/api/service-requests/{rng.choice(ids)}", headers=auth).raise_for_status()

            listed = breach_list()
            db = connect(data / "fieldsync.db")
            try:
                results["same_rows"] = listed == _plain_sql(db, hlc.wall_ms())
                sql = _timed([lambda: _plain_sql(db, hlc.wall_ms())] * samples)
            finally:
                db.close()
            results["breach_list_ms"] = _ms(_timed([breach_list] * samples))
            results["plain_sql_ms"] = _ms(sql)
            results["detail_ms"] = _ms(_timed([one_detail] * samples))

            def by_phone(typed: str) -> Callable[[], list[str]]:
                def call() -> list[str]:
                    site, n = rng.randrange(scale), rng.randrange(REQUESTS_PER_SITE)
                    number = _phone(site, n) if typed == "whole" else _phone(site, n)[-4:]
                    r = http.get("/api/service-requests", params={"caller_phone": number}, headers=auth)
                    r.raise_for_status()
                    return [x["id"] for x in r.json()["requests"]]
                return call

            results["phone_ms"] = _ms(_timed([by_phone("whole")] * samples))
            results["phone_tail_ms"] = _ms(_timed([by_phone("tail")] * samples))
            results["phone_tail_found"] = len(by_phone("tail")())
            db = connect(data / "fieldsync.db")
            try:
                results["phone_scan_ms"] = _ms(_timed(
                    [lambda: _scan(db, _phone(rng.randrange(scale), 1).replace(" ", ""))] * samples))
            finally:
                db.close()
            results["breached_on_page"] = len(listed)
    finally:
        server.stop()
    store = Store(Settings(data_dir=data))
    try:
        with store.read() as db:
            inputs = list(load_inputs(db, ids).values())
        now = store.now_ms()
        t0 = time.perf_counter()
        for x in inputs:
            x.clocks(now)
        results["clocks_per_s"] = len(inputs) / (time.perf_counter() - t0)
        t0 = time.perf_counter()
        with store.write() as db:
            refresh_clocks(db, ids, now)
        results["refresh_all_s"] = time.perf_counter() - t0
    finally:
        store.close()
    return results


def run_main(argv: list[str] | None, doc: str, scale: tuple[int, str], samples: int,
             run: Callable[[Path, int, int], dict[str, Any]]) -> tuple[argparse.Namespace, dict[str, Any]]:
    """A bench's command line (`--scale`, `--data`, `--samples`) and its run, in a temporary
    directory unless `--data` keeps it."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=scale[0], help=scale[1])
    parser.add_argument("--data", type=Path, help="reuse or keep the database here")
    parser.add_argument("--samples", type=int, default=samples)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        return args, run(args.data or Path(tmp), args.scale, args.samples)


def print_timings(results: dict[str, Any], rows: tuple[tuple[str, str, str], ...]) -> None:
    """One line per (label, key of a (median, p95) in ms, target)."""
    for label, key, target in rows:
        median, p95 = results[key]
        print(f"{label} median {median:.2f} ms, p95 {p95:.2f} ms{target}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, results = run_main(argv, __doc__, (50, "sites, 20 open requests each (issue 12: 1000)"), 200, run)
    n = results["requests"]
    print(f"{n} open requests at {args.scale} sites; {results['breached_on_page']} on the breach list's first page"
          f" (the same rows as the plain SQL read: {results['same_rows']})")
    print_timings(results, (("breach list, HTTP     ", "breach_list_ms", " (target median < 50 ms)"),
                            ("breach list, plain SQL", "plain_sql_ms", ""),
                            ("one request's detail  ", "detail_ms", " (target < 10 ms)"),
                            ("by caller's number    ", "phone_ms", ""),
                            ("by its last 4 digits  ", "phone_tail_ms", f" ({results['phone_tail_found']} found)"),
                            ("number, JSON scan SQL ", "phone_scan_ms", " (without m034's column)")))
    print(f"clock evaluation in-process: {results['clocks_per_s']:,.0f} requests/s")
    print(f"recomputing every request's stored clocks: {results['refresh_all_s']:.2f} s")
    return results


if __name__ == "__main__":
    main()

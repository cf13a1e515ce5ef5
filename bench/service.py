"""The service desk's breach list at company size, over HTTP against a real server, beside the plain SQL.

    python bench/service.py [--scale 1000] [--data DIR] [--samples 200]
    python bench/service.py --scale 1000 --history 40 --samples 15 [--database postgresql://…|auto]

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

With `--history N` it measures instead, in-process, the 待回访 count and the list's first page
(`callback_due=true`) over the same open requests plus N ended ones a site (a year of them, each
signed, its call-back made in time, late or never: `build_history`), on SQLite or, with
`--database`, an empty PostgreSQL database or `auto` (s29, docs/performance.md).

Prints figures; never asserts a time. Issue 12, "Speed".
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
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


def _each_site(store: Store, scale: int, seed: int,
               site: Callable[[_Writer, uuid.UUID, int, str], list[str]]) -> int:
    """Rows of `scale` sites bulk-loaded in one transaction (`site(out, namespace, index, site_id)` writes
    a site's, the requests' ids it returns), then those requests' stored clocks; how many requests."""
    namespace = uuid.uuid5(schema.NS, f"service-bench/{seed}")
    ids: list[str] = []
    with store.write() as db:
        now = store.now_ms()
        out = _Writer(store, db, now)
        for index in range(scale):
            ids += site(out, namespace, index, str(uuid.uuid5(namespace, f"site/{index}")))
        out.close()
        db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [store.clock.last])
        refresh_clocks(db, ids, now)
    return len(ids)


def _request(out: _Writer, request_id: str, fields: dict[str, Any]) -> None:
    out.add("service_requests", request_id, fields, _clocks(_REGS["service_requests"], out.hlc()))
    # Its events and visits find their site through it.
    out.parents[("service_requests", request_id)] = RowState("service_requests", request_id, fields,
                                                             site_id=fields["site_id"])


def build(store: Store, scale: int, seed: int = 0) -> int:
    """`scale` sites with 20 open requests each and their events, bulk-loaded, and their stored
    clock columns; the number of requests."""
    rng = random.Random(seed)
    stories = [kinds for kinds, share in _STORIES for _ in range(share)]

    def site(out: _Writer, namespace: uuid.UUID, index: int, site_id: str) -> list[str]:
        now, ids = out.now, []
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
            _request(out, request_id, {
                "site_id": site_id, "device_id": rng.choice(devices), "reported_at": hlc.format_ts(reported),
                "channel": "hotline", "kind": "repair", "complexity": rng.choice(["ordinary", "complex"]),
                "caller_name": "Ms Chen", "assigned_to": "lin", "number": f"SR-B-{index:04d}-{n:02d}",
                "caller_phone": _phone(index, n), "status": status})
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
        return ids

    return _each_site(store, scale, seed, site)


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


def run(data: Path, scale: int, samples: int, history: int = 0, database: str | None = None) -> dict[str, Any]:
    if history:
        return run_history(data, scale, samples, history, database)
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


DAY = 24 * HOUR
_ENDED_ROWS = " WHERE status IN ('signed', 'closed')"


def build_history(store: Store, scale: int, per_site: int, seed: int = 0) -> int:
    """`per_site` ended requests at each of `build`'s sites (a year of them, one in four `signed`, the others
    `closed`), each with a visit a customer's valid signature sealed and its call-backs: 80 % reached the day
    it was signed, 15 % two days late, 5 % never made; their stored clocks. Rows written as `build` writes
    them (not through a push); the number of requests."""
    rng = random.Random(seed + 1)

    def site(out: _Writer, namespace: uuid.UUID, index: int, site_id: str) -> list[str]:
        ids = []
        for n in range(per_site):
            request_id, visit_id, signature_id = (str(uuid.uuid5(namespace, f"{kind}/{index}/{n}"))
                                                  for kind in ("ended", "ended-visit", "ended-signature"))
            reported = out.now - rng.randrange(3 * DAY, 365 * DAY)
            signed = reported + rng.randrange(2 * HOUR, DAY)
            _request(out, request_id, {
                "site_id": site_id, "reported_at": hlc.format_ts(reported), "channel": "hotline", "kind": "repair",
                "caller_name": "Ms Chen", "assigned_to": "lin", "number": f"SR-H-{index:04d}-{n:03d}",
                "status": "signed" if n % 4 == 0 else "closed"})
            visit = {"request_id": request_id, "technician": "lin", "outcome": "resolved", "recorded_by": "lin",
                     "recorded_at": hlc.format_ts(signed), "visit_no": 1, "sealed_by": signature_id}
            out.add("service_visits", visit_id, visit, _clocks(_REGS["service_visits"], out.hlc()))
            out.parents[("service_visits", visit_id)] = RowState("service_visits", visit_id, visit, site_id=site_id)
            out.add("signatures", signature_id, {
                "visit_id": visit_id, "signer_name": "陈女士", "signer_role": "customer",
                "signed_at": hlc.format_ts(signed), "verification": "valid"}, _clocks(_REGS["signatures"], out.hlc()))
            made = rng.random()
            if made < 0.95:
                called = signed + (HOUR if made < 0.8 else 2 * DAY)
                out.add("callbacks", str(uuid.uuid5(namespace, f"ended-callback/{index}/{n}")), {
                    "visit_id": visit_id, "called_at": hlc.format_ts(called), "reached": True, "called_by": "lin",
                    "rating": "satisfied"}, _clocks(_REGS["callbacks"], out.hlc()))
            ids.append(request_id)
        return ids

    return _each_site(store, scale, seed, site)


def run_history(data: Path, scale: int, samples: int, per_site: int, database: str | None) -> dict[str, Any]:
    """The 待回访 count (every site, as a supervisor's dashboard) and the list's first page of 50, in-process,
    `samples` times each, over `build`'s open requests and `build_history`'s ended ones: (median, min) ms.
    `database`: a PostgreSQL database's URL, or `auto` for a new one on a throwaway server of our own."""
    if database == "auto":
        from bench._postgres import PostgresServer, new_database

        pg = PostgresServer(durable=True).start()
        try:
            return run_history(data, scale, samples, per_site, new_database(pg.url))
        finally:
            pg.stop()
    store = Store(Settings(data_dir=data, database=database))
    try:
        with store.read() as db:
            built = int(db.execute("SELECT count(*) FROM service_clocks").fetchone()[0])
        if not built:
            t0 = time.perf_counter()
            count = build(store, scale) + build_history(store, scale, per_site)
            print(f"built {scale} sites, {count:,} requests and their stored clocks: {time.perf_counter() - t0:.1f} s")
        else:
            print(f"reusing {database or data}")
        now = store.now_ms()
        results: dict[str, Any] = {"backend": "PostgreSQL" if database else "SQLite"}
        with store.read() as db:
            results["requests"], results["ended"] = (int(db.execute(f"SELECT count(*) FROM service_clocks{where}")
                                                         .fetchone()[0]) for where in ("", _ENDED_ROWS))
            results["to_make"] = q.count_callbacks_due(db, sites=None, now_ms=now)
            calls = {"count_ms": lambda: q.count_callbacks_due(db, sites=None, now_ms=now),
                     "list_ms": lambda: q.list_requests(db, sites=None, site_id=None, status=None, assigned_to=None,
                                                        open_=None, breached=None, at_risk=None, now_ms=now, after=None,
                                                        limit=51, callback_due=True)}
            for key, call in calls.items():
                call()  # warm
                took = sorted(_timed([call] * samples))
                results[key] = (took[len(took) // 2] * 1000, took[0] * 1000)
    finally:
        store.close()
    return results


def run_main(argv: list[str] | None, doc: str, scale: tuple[int, str], samples: int,
             run: Callable[..., dict[str, Any]],
             options: Sequence[tuple[str, dict[str, Any]]] = ()) -> tuple[argparse.Namespace, dict[str, Any]]:
    """A bench's command line (`--scale`, `--data`, `--samples`, and its own `options`: flag and
    `add_argument`'s keywords, passed to `run` by name) and its run, in a temporary directory unless
    `--data` keeps it."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=scale[0], help=scale[1])
    parser.add_argument("--data", type=Path, help="reuse or keep the database here")
    parser.add_argument("--samples", type=int, default=samples)
    for flag, keywords in options:
        parser.add_argument(flag, **keywords)
    args = parser.parse_args(argv)
    more = {name: getattr(args, name) for name in (flag.lstrip("-").replace("-", "_") for flag, _ in options)}
    with tempfile.TemporaryDirectory() as tmp:
        return args, run(args.data or Path(tmp), args.scale, args.samples, **more)


def print_timings(results: dict[str, Any], rows: tuple[tuple[str, str, str], ...]) -> None:
    """One line per (label, key of a (median, p95) in ms, target)."""
    for label, key, target in rows:
        median, p95 = results[key]
        print(f"{label} median {median:.2f} ms, p95 {p95:.2f} ms{target}")


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, results = run_main(argv, __doc__, (50, "sites, 20 open requests each (issue 12: 1000)"), 200, run, (
        ("--history", {"type": int, "default": 0, "help": "N ended requests a site with their call-backs: measure"
                       " the 待回访 count and list in-process instead (s29: 40)"}),
        ("--database", {"help": "with --history: a PostgreSQL database's URL instead of the SQLite file, or"
                        " `auto` for a new one on a throwaway server of its own"})))
    if args.history:
        print_history(results)
        return results
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


def print_history(results: dict[str, Any]) -> None:
    print(f"{results['ended']:,} signed or closed requests of {results['requests']:,},"
          f" {results['to_make']:,} call-backs still to make ({results['backend']})")
    for label, key in (("the 待回访 count, every site  ", "count_ms"), ("the 待回访 list's first page ", "list_ms")):
        median, least = results[key]
        print(f"{label} median {median:.1f} ms (min {least:.1f})")


if __name__ == "__main__":
    main()

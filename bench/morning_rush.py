"""The morning rush: forty technicians back from a day offline sync at once, against a real server.

    python bench/morning_rush.py [--clients 40] [--changes 500] [--batch 100] [--devices 200]

Every technician's client holds CHANGES pending changes made during the day
(HLCs spread over the last eight hours): checks of the same DEVICES devices
of one inspection (random outcomes and checklist items: real conflicts, as
when a team splits a large site and overlaps), new photos of its own, and
edits of those photos. All clients start together, each pushes its outbox in
batches of BATCH and then pulls to the end. When everyone has pushed, each
client pulls from its cursor once more, and its copy must equal the server's
merged state (a supervisor's full pull). Prints the total time, push
latencies, the server worker's CPU time, errors (must be 0), convergence and the conflict log.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import contextlib

from bench._server import ServerProcess
from bench.uploads import cpu_seconds, worker_pid
from server.services import Store
from server.settings import Settings
from sync import hlc
from sync.schema import device_check_id, inspection_id

SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "morning-rush-site"))
INSPECTION = inspection_id(SITE, "2026-Q4")
ITEMS = ["lens_cleaned", "focus_adjusted", "aim_checked", "cabling_safe", "ptz_ok", "night_ir_ok"]
OUTCOMES = ["serviced", "serviced", "serviced", "fault", "not_accessible", "skipped"]
DAY_MS = 8 * 3600 * 1000


def device_ids(devices: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"morning-rush-device-{i}")) for i in range(devices)]


def server_rows(ids: list[str]) -> list[tuple[str, str, dict[str, Any], bool]]:
    """The rows the server writes before the rush: a template, the site, its devices, the inspection."""
    items = [{"key": k, "label": k, "type": "bool"} for k in ITEMS]
    return [
        ("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "morning-rush-template")),
         {"kind": "dome_camera", "title": "Dome camera", "items": msgspec.json.encode(items).decode()}, False),
        ("sites", SITE, {"name": "Morning rush park", "customer": "ACME"}, False),
        *[("devices", d, {"site_id": SITE, "system": "video", "kind": "dome_camera", "code": f"CAM-{i:03d}",
                          "status": "active"}, False) for i, d in enumerate(ids)],
        ("inspections", INSPECTION, {"site_id": SITE, "period": "2026-Q4", "status": "in_progress"}, False),
    ]


def prepare(data: Path, technicians: list[str], devices: int) -> list[str]:
    store = Store(Settings(data_dir=data))
    try:
        store.create_user("lin", "Lin", "supervisor", "demo", demo=True)
        for name in technicians:
            store.create_user(name, name, "technician", "demo", demo=True)
            store.add_member(SITE, name)
        ids = device_ids(devices)
        store.write_server_changes(server_rows(ids))
    finally:
        store.close()
    return ids


def outbox(rng: random.Random, name: str, client_id: str, devices: list[str], count: int) -> list[dict[str, Any]]:
    """A day's changes of one technician, numbered 1..count, HLCs in the past and rising."""
    now = hlc.wall_ms()
    stamps = sorted(now - rng.randrange(DAY_MS) for _ in range(count))
    changes: list[dict[str, Any]] = []
    photos = 0
    last = (0, 0)
    for seq, ms in enumerate(stamps, 1):
        counter = last[1] + 1 if ms == last[0] else 0
        last = (ms, counter)
        change: dict[str, Any] = {"seq": seq, "hlc": str(hlc.Hlc(ms, counter, client_id)), "delete": False}
        roll = rng.random()
        if roll < 0.6:
            device = rng.choice(devices)
            fields: dict[str, Any] = {
                "inspection_id": INSPECTION, "device_id": device, "outcome": rng.choice(OUTCOMES),
                "note": f"{name}: {rng.choice(['ok', 'cleaned', 'cable loose', 'lens fogged'])}",
                "checked_by": name, "checked_at": hlc.format_ts(ms),
            }
            for key in rng.sample(ITEMS, rng.randint(1, 4)):
                fields[f"item.{key}"] = rng.random() < 0.7
            change.update(collection="device_checks", id=device_check_id(INSPECTION, device), fields=fields)
        elif roll < 0.93 or photos == 0:
            photos += 1
            change.update(collection="photos", id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{client_id}/{photos}")),
                          fields={
                              "inspection_id": INSPECTION, "device_id": rng.choice(devices),
                              "sha256": hashlib.sha256(f"{client_id}/{photos}".encode()).hexdigest(),
                              "content_type": "image/jpeg", "bytes": rng.randrange(200_000, 5_000_000),
                              "taken_at": hlc.format_ts(ms), "caption": f"{name} photo {photos}",
                              "stage": rng.choice(["before", "after", "evidence"]),
                          })
        else:
            number = rng.randint(1, photos)
            change.update(collection="photos", id=str(uuid.uuid5(uuid.NAMESPACE_URL, f"{client_id}/{number}")),
                          fields={"caption": f"{name} photo {number}, retaken"})
            del change["delete"]
        changes.append(change)
    return changes


class Technician:
    def __init__(self, url: str, name: str) -> None:
        self.name = name
        self.http = httpx.Client(base_url=url, timeout=300)
        body = self.http.post("/auth/token", json={"username": name, "password": "demo"}).json()
        self.client_id: str = body["client_id"]
        self.headers = {"Authorization": f"Bearer {body['token']}"}
        self.changes: list[dict[str, Any]] = []
        self.latencies: list[float] = []
        self.errors: list[str] = []
        self.results: list[dict[str, Any]] = []
        self.cursor = "0"
        self.rows: dict[tuple[str, str], tuple[Any, bool, int]] = {}

    def push_all(self, batch: int) -> None:
        for start in range(0, len(self.changes), batch):
            body = {"protocol": 1, "client_id": self.client_id, "client_time": hlc.format_ts(hlc.wall_ms()),
                    "changes": self.changes[start:start + batch]}
            t0 = time.perf_counter()
            resp = self.http.post("/sync/push", json=body, headers=self.headers)
            self.latencies.append(time.perf_counter() - t0)
            if resp.status_code != 200:
                self.errors.append(f"push {resp.status_code}: {resp.text[:200]}")
                return
            self.results += resp.json()["results"]

    def pull_to_end(self) -> None:
        while True:
            resp = self.http.get("/sync/pull", params={"cursor": self.cursor, "limit": 1000}, headers=self.headers)
            if resp.status_code != 200:
                self.errors.append(f"pull {resp.status_code}: {resp.text[:200]}")
                return
            body = resp.json()
            for row in body["rows"]:
                self.rows[(row["collection"], row["id"])] = (row["fields"], row["deleted"], row["version"])
            self.cursor = body["cursor"]
            if not body["has_more"]:
                return


def _stored(conn: sqlite3.Connection, table: str) -> tuple[int, int]:
    """A table's rows, and the bytes of the pages it and its indexes take (SQLite's dbstat)."""
    count = conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    size = conn.execute(
        "SELECT coalesce(sum(pgsize), 0) FROM dbstat WHERE name = ?"
        " OR name IN (SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = ?)", [table, table],
    ).fetchone()[0]
    return int(count), int(size)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def arguments(argv: list[str] | None = None, parser: argparse.ArgumentParser | None = None) -> argparse.Namespace:
    parser = parser or argparse.ArgumentParser()
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--changes", type=int, default=500)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--devices", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def serve_real(data: Path) -> ServerProcess:
    return ServerProcess(data).start()


def run(args: argparse.Namespace, prepare: Callable[[Path, list[str], int], list[str]] = prepare,
        serve: Callable[[Path], ServerProcess] = serve_real, keep_log: bool = False,
        pull_while_pushing: bool = True) -> dict[str, Any]:
    """One rush against the server `serve` starts on the data `prepare` made: its figures; with
    `keep_log`, also the values the log keeps as (row id, register, writer, value as JSON): a
    writer's value that lost, or that another client overwrote. Without `pull_while_pushing`, a phone
    pulls only once every phone has pushed: no pull shares the server with a push (what a design that
    served pulls from other processes would give the pushes)."""
    rng = random.Random(args.seed)
    names = [f"tech{i:02d}" for i in range(args.clients)]
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "server"
        devices = prepare(data, names, args.devices)
        server = serve(data)
        try:
            techs = [Technician(server.url, name) for name in names]
            for tech in techs:
                tech.changes = outbox(random.Random(rng.random()), tech.name, tech.client_id, devices, args.changes)
            start = threading.Barrier(len(techs) + 1)
            pushed = threading.Barrier(len(techs) + 1)
            crashed: list[BaseException] = []

            def work(tech: Technician) -> None:
                try:
                    start.wait()
                    tech.push_all(args.batch)
                    if pull_while_pushing:
                        tech.pull_to_end()
                    pushed.wait()
                    tech.pull_to_end()  # everyone has pushed: catch up with the others
                except BaseException as exc:
                    crashed.append(exc)
                    pushed.abort()

            threads = [threading.Thread(target=work, args=(t,)) for t in techs]
            for thread in threads:
                thread.start()
            worker = worker_pid(server)
            load0 = os.getloadavg()[0]
            start.wait()
            t0, cpu0 = time.perf_counter(), cpu_seconds(worker)
            with contextlib.suppress(threading.BrokenBarrierError):
                pushed.wait()
            push_s = time.perf_counter() - t0
            for thread in threads:
                thread.join()
            total_s, server_cpu = time.perf_counter() - t0, cpu_seconds(worker) - cpu0
            load1 = os.getloadavg()[0]
            for tech in techs:
                tech.http.close()
            if crashed:
                raise crashed[0]
            lin = Technician(server.url, "lin")
            lin.pull_to_end()
            lin.http.close()
        finally:
            server.stop()
        conn = sqlite3.connect(data / "fieldsync.db")
        kinds = dict(conn.execute("SELECT kind, count(*) FROM conflicts GROUP BY kind").fetchall())
        lost = set(conn.execute("SELECT client_id, seq FROM conflicts WHERE kind = 'lost'").fetchall())
        integrity = conn.execute("PRAGMA integrity_check").fetchone()[0]
        stored = {table: _stored(conn, table) for table in ("receipts", "conflicts")}
        log = conn.execute(
            "SELECT row_id, register, CASE kind WHEN 'lost' THEN client_id ELSE other_client_id END,"
            " CASE kind WHEN 'lost' THEN new_value ELSE old_value END FROM conflicts"
            " WHERE kind IN ('lost', 'overwritten')").fetchall() if keep_log else []
        conn.close()

    statuses: dict[str, int] = {}
    superseded = set()
    for tech in techs:
        for result in tech.results:
            statuses[result["status"]] = statuses.get(result["status"], 0) + 1
            if result["status"] == "superseded":
                superseded.add((tech.client_id, result["seq"]))
    latencies = [x for t in techs for x in t.latencies]
    return {
        "clients": len(techs), "total": sum(len(t.changes) for t in techs), "total_s": total_s, "push_s": push_s,
        "latencies": latencies, "p50": percentile(latencies, 0.5), "p95": percentile(latencies, 0.95),
        "p99": percentile(latencies, 0.99), "server_cpu": server_cpu, "load": (load0, load1),
        "errors": [e for t in techs for e in t.errors], "statuses": statuses,
        "converged": sum(1 for t in techs if t.rows == lin.rows), "rows": len(lin.rows),
        "checks": sum(1 for key in lin.rows if key[0] == "device_checks"), "kinds": kinds,
        "superseded": superseded, "superseded_logged": superseded & lost, "stored": stored, "integrity": integrity,
        "changes": {t.client_id: t.changes for t in techs}, "log": log,
    }


def report(args: argparse.Namespace, r: dict[str, Any]) -> None:
    total, total_s, push_s = r["total"], r["total_s"], r["push_s"]
    errors = r["errors"]
    print(f"clients: {r['clients']}, changes each: {args.changes}, batch: {args.batch}, shared devices: {args.devices}")
    print(f"total (push, pull, catch up)      {total_s:8.2f} s   {total / total_s:10,.0f} changes/s")
    print(f"  of which until the last push    {push_s:8.2f} s   {total / push_s:10,.0f} changes/s"
          " (and its pull to the end)")
    print(f"push latency                      p50 {r['p50'] * 1000:7.0f} ms   p95 {r['p95'] * 1000:7.0f} ms"
          f"   p99 {r['p99'] * 1000:7.0f} ms   ({len(r['latencies'])} pushes)")
    print(f"server worker CPU                 {r['server_cpu']:8.2f} s   {r['server_cpu'] / total * 1e6:10,.0f} µs"
          f" a change (push, pull, catch up; load average {r['load'][0]:.1f}–{r['load'][1]:.1f})")
    print(f"results                           {r['statuses']}")
    print(f"errors                            {len(errors)}" + (f"  first: {errors[0]}" if errors else ""))
    print(f"converged                         {r['converged']}/{r['clients']} clients equal the server's"
          f" {r['rows']} rows ({r['checks']} checks)")
    print(f"conflict log                      {sum(r['kinds'].values())} entries {r['kinds']}")
    # A value already on record for the same writer and register is not logged again (issue 15),
    # so a superseded change may have no entry of its own.
    print(f"superseded changes logged as lost {len(r['superseded_logged'])}/{len(r['superseded'])}"
          " (the others lost only values already logged)")
    for table, (count, size) in r["stored"].items():
        print(f"{table + ' stored':34s}{count:8,} rows {size / 1e6:8.2f} MB with indexes"
              f"   per 100,000 changes: {count * 100_000 / total:9,.0f} rows {size * 1e5 / total / 1e6:6.2f} MB")
    print(f"integrity_check                   {r['integrity']}")


def main() -> None:
    args = arguments()
    report(args, run(args))


if __name__ == "__main__":
    main()

"""Push and pull throughput over real HTTP against a real server, next to SQLite's own ceiling.

    python bench/sync_throughput.py [--rows 20000] [--batch 500] [--repeat 3] [--no-peer]

One client pushes N new `photos` rows of 8 fields in batches over HTTP; a
fresh client pulls them all from cursor 0 in pages. In the same run, the two
yardsticks: pouchdb-server 4.2.0 (CouchDB's replication protocol, which many
offline apps speak; `bench/_pouch.py`) taking the same rows through `_bulk_docs`
in the same batches and giving them back through `_changes?include_docs=true`
in the same pages, and the ceiling: the same rows written straight into SQLite
with `executemany` in one transaction, then read back and JSON-encoded. Prints
rows/s and fieldsync's ratio against each. Every pull and the ceiling's read
run `--repeat` times and keep the fastest (a push cannot be repeated on the
same rows): on a shared machine a single pass measures the neighbours.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sqlite3
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _pouch
from bench._server import ServerProcess
from server.services import Store
from server.settings import Settings
from sync import hlc
from sync.schema import inspection_id
from sync.wire import PullResponse

PAGE = msgspec.json.Decoder(PullResponse)
SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "bench-site"))
DEVICE = str(uuid.uuid5(uuid.NAMESPACE_URL, "bench-device"))


def photo_rows(n: int, insp: str) -> list[tuple[str, dict[str, object]]]:
    rows = []
    for i in range(n):
        rows.append((str(uuid.uuid5(uuid.NAMESPACE_URL, f"photo{i}")), {
            "inspection_id": insp, "device_id": DEVICE,
            "sha256": hashlib.sha256(str(i).encode()).hexdigest(), "content_type": "image/jpeg",
            "bytes": 1_000_000 + i, "taken_at": "2026-11-20T10:15:00.000Z",
            "caption": f"CAM-{i % 117:03d} lens after cleaning", "stage": "after",
        }))
    return rows


def prepare(data: Path) -> str:
    store = Store(Settings(data_dir=data))
    store.create_user("bench", "Bench", "supervisor", "bench", demo=True)
    insp = inspection_id(SITE, "2026-Q4")
    store.write_server_changes([
        ("sites", SITE, {"name": "Bench park"}, False),
        ("devices", DEVICE, {"site_id": SITE, "kind": "dome_camera", "code": "CAM-001"}, False),
        ("inspections", insp, {"site_id": SITE, "period": "2026-Q4"}, False),
    ])
    store.close()
    return insp


def login(http: httpx.Client) -> tuple[str, dict[str, str]]:
    body = http.post("/auth/token", json={"username": "bench", "password": "bench"}).json()
    return body["client_id"], {"Authorization": f"Bearer {body['token']}"}


def bench_push(url: str, rows: list[tuple[str, dict[str, object]]], batch: int) -> float:
    with httpx.Client(base_url=url, timeout=120) as http:
        client_id, headers = login(http)
        clock = hlc.Clock(client_id)
        seq = 0
        bodies = []
        for start in range(0, len(rows), batch):
            changes = []
            for row_id, fields in rows[start:start + batch]:
                seq += 1
                changes.append({"seq": seq, "collection": "photos", "id": row_id, "hlc": clock.now(),
                                "fields": fields, "delete": False})
            bodies.append(json.dumps({"protocol": 1, "client_id": client_id,
                                      "client_time": hlc.format_ts(hlc.wall_ms()), "changes": changes}))
        t0 = time.perf_counter()
        for body in bodies:
            r = http.post("/sync/push", content=body, headers={**headers, "content-type": "application/json"})
            r.raise_for_status()
            assert all(x["status"] == "applied" for x in r.json()["results"]), r.text[:300]
        return time.perf_counter() - t0


def bench_pull(url: str, expected: int, page: int) -> float:
    with httpx.Client(base_url=url, timeout=120) as http:
        _, headers = login(http)
        t0 = time.perf_counter()
        cursor, got = "0", 0
        while True:
            # Decoded as the phone decodes it (client_sdk/client.py), into the wire's Structs.
            body = PAGE.decode(http.get("/sync/pull", params={"cursor": cursor, "limit": page}, headers=headers).content)
            got += len(body.rows)
            cursor = body.cursor
            if not body.has_more:
                break
        elapsed = time.perf_counter() - t0
        assert got >= expected, (got, expected)
        return elapsed


def ceiling(path: Path, rows: list[tuple[str, dict[str, object]]], repeat: int) -> tuple[float, float]:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = FULL")
    names = list(rows[0][1])
    conn.execute(f"CREATE TABLE photos (id TEXT PRIMARY KEY, {', '.join(names)})")
    values = [(row_id, *fields.values()) for row_id, fields in rows]
    t0 = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany(f"INSERT INTO photos VALUES ({', '.join('?' * (len(names) + 1))})", values)
    conn.execute("COMMIT")
    write = time.perf_counter() - t0
    read = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = [json.dumps({"id": r[0], **dict(zip(names, r[1:], strict=True))})
               for r in conn.execute("SELECT * FROM photos")]
        read = min(read, time.perf_counter() - t0)
    assert len(out) == len(rows)
    conn.close()
    return write, read


def main(argv: list[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=3,
                        help="pulls (and the ceiling's read) taken this many times, the fastest kept: the machine is shared")
    parser.add_argument("--no-peer", action="store_true",
                        help="leave out pouchdb-server (installed with npm into bench/peer/ on first use)")
    args = parser.parse_args(argv)
    n = args.rows
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "server"
        insp = prepare(data)
        rows = photo_rows(n, insp)
        server = ServerProcess(data).start()
        try:
            push_s = bench_push(server.url, rows, args.batch)
            pull_s = min(bench_pull(server.url, n, args.batch) for _ in range(args.repeat))
        finally:
            server.stop()
        write_s, read_s = ceiling(Path(tmp) / "ceiling.db", rows, args.repeat)
    peer_push_s = peer_pull_s = None
    if not args.no_peer:
        with _pouch.running() as peer:
            if peer is not None:
                peer_push_s = peer.push(rows, args.batch)
                peer_pull_s = min(peer.pull(n, args.batch) for _ in range(args.repeat))
    results = {"push": n / push_s, "pull": n / pull_s, "ceiling_write": n / write_s, "ceiling_read": n / read_s,
               "push_vs_ceiling": write_s / push_s, "pull_vs_ceiling": read_s / pull_s}
    print(f"rows: {n}, batch/page: {args.batch}      rows/s      fieldsync vs it   target")
    for way, ours, peer, sqlite, targets, how in (
        ("push", push_s, peer_push_s, write_s, (3, 0.3), "executemany, one transaction"),
        ("pull", pull_s, peer_pull_s, read_s, (5, 0.5), "SELECT *, json.dumps per row"),
    ):
        print(f"{way}  fieldsync        {n / ours:>10,.0f}")
        if peer is not None:
            results |= {f"peer_{way}": n / peer, f"{way}_vs_peer": peer / ours}
            print(f"{way}  pouchdb-server   {n / peer:>10,.0f}   {peer / ours:>8.2f}x        >= {targets[0]}x")
        print(f"{way}  SQLite ceiling   {n / sqlite:>10,.0f}   {sqlite / ours:>8.2f}         >= {targets[1]}   ({how})")
    return results


if __name__ == "__main__":
    main()

"""Push and pull throughput over real HTTP against a real server, next to SQLite's own ceiling.

    python bench/sync_throughput.py [--rows 20000] [--batch 500] [--repeat 3] [--no-peer]
                                    [--database postgresql://…|auto [--processes 1,2,4] [--clients 4]]

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

With `--database` (issue 16), then: the same rows pushed by `--clients` clients at once, each its
share, and pulled whole by each of them at once, against 1, 2 and 4 `fieldsync serve --database`
processes (real processes; client i talks to process i mod P), beside one SQLite process taking the
same clients. Each takes a new database: `--database` names a PostgreSQL server on which the bench
may create (and then drops) databases, or `auto` starts a throwaway server of our own with fsync on
(bench/_postgres.py), as the server's SQLite commits with `synchronous = FULL`.
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
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

import httpx
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import _pouch
from bench._postgres import PostgresServer, drop_database, new_database
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


def prepare(data: Path, database: str | None = None) -> str:
    store = Store(Settings(data_dir=data, database=database))
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


def push_bodies(http: httpx.Client, rows: list[tuple[str, dict[str, object]]], batch: int) -> list[str]:
    """A new client signed in on `http` (its token set there), and its pushes of `rows`, ready to send."""
    client_id, headers = login(http)
    http.headers.update(headers)
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
    return bodies


def send_pushes(http: httpx.Client, bodies: list[str]) -> None:
    for body in bodies:
        r = http.post("/sync/push", content=body, headers={"content-type": "application/json"})
        r.raise_for_status()
        assert all(x["status"] == "applied" for x in r.json()["results"]), r.text[:300]


def pull_all(http: httpx.Client, expected: int, page: int) -> None:
    cursor, got = "0", 0
    while True:
        # Decoded as the phone decodes it (client_sdk/client.py), into the wire's Structs.
        body = PAGE.decode(http.get("/sync/pull", params={"cursor": cursor, "limit": page}).content)
        got += len(body.rows)
        cursor = body.cursor
        if not body.has_more:
            break
    assert got >= expected, (got, expected)


def bench_push(url: str, rows: list[tuple[str, dict[str, object]]], batch: int) -> float:
    with httpx.Client(base_url=url, timeout=120) as http:
        bodies = push_bodies(http, rows, batch)
        t0 = time.perf_counter()
        send_pushes(http, bodies)
        return time.perf_counter() - t0


def bench_pull(url: str, expected: int, page: int) -> float:
    with httpx.Client(base_url=url, timeout=120) as http:
        http.headers.update(login(http)[1])
        t0 = time.perf_counter()
        pull_all(http, expected, page)
        return time.perf_counter() - t0


@contextmanager
def database_server(database: str) -> Iterator[str]:
    """The URL of a PostgreSQL server to make databases on: `database` itself, or with `auto` one of our own."""
    if database != "auto":
        yield database
        return
    pg = PostgresServer(durable=True).start()
    try:
        yield pg.url
    finally:
        pg.stop()


def at_once(urls: list[str], rows: list[tuple[str, dict[str, object]]], batch: int, clients: int,
            repeat: int) -> tuple[float, float]:
    """Seconds for `clients` clients at once (client i on urls[i mod len]) to push `rows`, each its
    share, and (the fastest of `repeat`) for each to pull them all."""
    https = [httpx.Client(base_url=urls[i % len(urls)], timeout=300) for i in range(clients)]
    try:
        with ThreadPoolExecutor(clients) as pool:
            bodies = [push_bodies(http, rows[i::clients], batch) for i, http in enumerate(https)]
            t0 = time.perf_counter()
            list(pool.map(send_pushes, https, bodies))
            push_s = time.perf_counter() - t0
            pull_s = float("inf")
            for _ in range(repeat):
                t0 = time.perf_counter()
                list(pool.map(lambda http: pull_all(http, len(rows), batch), https))
                pull_s = min(pull_s, time.perf_counter() - t0)
    finally:
        for http in https:
            http.close()
    return push_s, pull_s


def processes(tmp: Path, database: str | None, count: int, n: int, batch: int, clients: int,
              repeat: int) -> tuple[float, float]:
    """`at_once` against `count` server processes over a new database: PostgreSQL if `database`
    (a server's URL) is given, else one SQLite file (then `count` is 1)."""
    url = new_database(database) if database else None
    data = tmp / f"{'postgresql' if url else 'sqlite'}-{count}"
    try:
        rows = photo_rows(n, prepare(data / "prepare", url))
        args = ("--database", url) if url else ()
        servers = [ServerProcess(data / "prepare" if url is None else data / f"p{i}", args=args)
                   for i in range(count)]
        try:
            for server in servers:
                server.start()
            return at_once([s.url for s in servers], rows, batch, clients, repeat)
        finally:
            for server in servers:
                server.stop()
    finally:
        if url:
            drop_database(url)


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
    parser.add_argument("--database", metavar="URL",
                        help="also over PostgreSQL: a server's postgresql:// URL on which the bench may create"
                             " databases, or `auto` for a throwaway server of its own")
    parser.add_argument("--processes", default="1,2,4", help="with --database: how many server processes, in turn")
    parser.add_argument("--clients", type=int, default=4, help="with --database: clients pushing and pulling at once")
    args = parser.parse_args(argv)
    n = args.rows
    counts = [int(c) for c in args.processes.split(",")]
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
    if args.database:
        results |= several(args.database, counts, n, args.batch, args.clients, args.repeat)
    return results


def several(database: str, counts: list[int], n: int, batch: int, clients: int, repeat: int) -> dict[str, float]:
    """The same rows through `clients` clients at once: one SQLite process, then PostgreSQL's."""
    results: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp, database_server(database) as server:
        push_s, pull_s = processes(Path(tmp), None, 1, n, batch, clients, repeat)
        results |= {"sqlite_push": n / push_s, "sqlite_pull": clients * n / pull_s}
        for count in counts:
            push_s, pull_s = processes(Path(tmp), server, count, n, batch, clients, repeat)
            results |= {f"pg{count}_push": n / push_s, f"pg{count}_pull": clients * n / pull_s}
    print(f"\n{clients} clients at once: the {n} rows pushed, each client its share; each pulls them all")
    print("                         push rows/s  vs SQLite   pull rows/s  vs SQLite")
    for name, key in (("SQLite, 1 process", "sqlite"),
                      *((f"PostgreSQL, {c} process{'es' if c > 1 else ''}", f"pg{c}") for c in counts)):
        push, pull = results[f"{key}_push"], results[f"{key}_pull"]
        print(f"{name:<24} {push:>11,.0f} {push / results['sqlite_push']:>9.2f}x"
              f"  {pull:>11,.0f} {pull / results['sqlite_pull']:>9.2f}x")
    return results


if __name__ == "__main__":
    main()

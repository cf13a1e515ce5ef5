"""Helpers for the reliability tests: a prepared data directory and clients speaking the wire by hand.

The clients here are deliberately not the SDK: they keep an outbox of fixed
batches (seqs and HLCs decided up front), so a test knows exactly which
change the server acknowledged and can compare runs of the same workload.
"""

from __future__ import annotations

import hashlib
import random
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import msgspec

from bench._server import ServerProcess
from server.services import Store, backend_of
from server.settings import Settings
from sync import hlc
from sync.schema import COLLECTIONS, device_check_id, inspection_id

SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-reliability-site"))
PERIOD = "2026-Q4"
INSPECTION = inspection_id(SITE, PERIOD)
ITEMS = ["lens_cleaned", "focus_adjusted", "aim_checked", "cabling_safe", "night_ir_ok"]
OUTCOMES = ["serviced", "fault", "not_accessible", "skipped"]
# The clients here speak plain HTTP, yet httpx builds an SSL context for each `httpx.Client` (loading certifi's
# bundle: 20-30 ms of CPU), and `Wire.reconnect` makes a client every 20 ms while a killed server restarts: four
# of them kept this process busy on a core through each restart of the crash test, beside the server's start.
# One context, made once, serves them all (httpx reuses a context given as `verify`).
_SSL = httpx.create_ssl_context()


def device_ids(count: int) -> list[str]:
    return [str(uuid.uuid5(uuid.NAMESPACE_URL, f"fieldsync-reliability-device-{i}")) for i in range(count)]


def prepare(data: Path, technicians: Iterable[str], devices: int, supervisors: Iterable[str] = ("lin",),
            database: str | None = None) -> list[str]:
    """A database with a site of `devices` dome cameras, their template, an inspection, and accounts.

    Every technician is a member of the site; `supervisors` (`lin`) are supervisors. All passwords are `demo`.
    The database is the SQLite file under `data`, or the PostgreSQL one at `database` (`Settings.database`).
    """
    store = Store(Settings(data_dir=data, database=database))
    try:
        for name in supervisors:
            store.create_user(name, name.title(), "supervisor", "demo", demo=True)
        for name in technicians:
            store.create_user(name, name.title(), "technician", "demo", demo=True)
            store.add_member(SITE, name)
        ids = device_ids(devices)
        items = [{"key": key, "label": key, "type": "bool"} for key in ITEMS]
        store.write_server_changes([
            ("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-reliability-template")),
             {"kind": "dome_camera", "title": "Dome camera", "items": msgspec.json.encode(items).decode()}, False),
            ("sites", SITE, {"name": "Reliability park", "customer": "ACME"}, False),
            *[("devices", d, {"site_id": SITE, "system": "video", "kind": "dome_camera",
                              "code": f"CAM-{i:03d}", "status": "active"}, False) for i, d in enumerate(ids)],
            ("inspections", INSPECTION, {"site_id": SITE, "period": PERIOD, "status": "scheduled"}, False),
        ])
    finally:
        store.close()
    return ids


@dataclass
class Spec:
    """A change decided before any client exists: its HLC's (ms, counter) are fixed, the node is not."""

    collection: str
    id: str
    fields: dict[str, Any]
    ms: int
    counter: int = 0
    delete: bool | None = False


def check_spec(rng: random.Random, username: str, device: str, ms: int) -> Spec:
    fields: dict[str, Any] = {
        "inspection_id": INSPECTION, "device_id": device,
        "outcome": rng.choice(OUTCOMES), "note": f"{username}: {rng.randrange(10**6)}",
        "checked_by": username, "checked_at": hlc.format_ts(ms),
    }
    for key in rng.sample(ITEMS, rng.randint(1, 3)):
        fields[f"item.{key}"] = rng.random() < 0.5
    return Spec("device_checks", device_check_id(INSPECTION, device), fields, ms)


def photo_spec(rng: random.Random, username: str, number: int, ms: int, device: str | None) -> Spec:
    photo = str(uuid.uuid5(uuid.NAMESPACE_URL, f"fieldsync-reliability-photo/{username}/{number}"))
    fields: dict[str, Any] = {
        "inspection_id": INSPECTION,
        "sha256": hashlib.sha256(f"{username}/{number}".encode()).hexdigest(),
        "content_type": "image/jpeg", "bytes": rng.randrange(100_000, 5_000_000),
        "taken_at": hlc.format_ts(ms), "caption": f"{username} photo {number}",
        "stage": rng.choice(["before", "after", "evidence"]),
    }
    if device is not None:
        fields["device_id"] = device
    return Spec("photos", photo, fields, ms)


def workload(
    seed: int, usernames: list[str], devices: list[str], batches: int, batch_size: int, base_ms: int
) -> dict[str, list[list[Spec]]]:
    """Each client's batches: checks of shared devices (real conflicts) and photos of its own.

    Every change gets a distinct HLC (ms, counter) across all clients, so the
    merged result does not depend on which client's id breaks a tie, nor on
    the order in which the server receives the batches: a run with kills must
    end where a run without them does.
    """
    rng = random.Random(seed)
    plan: dict[str, list[list[Spec]]] = {name: [] for name in usernames}
    photos: dict[str, int] = dict.fromkeys(usernames, 0)
    tick = 0
    for _ in range(batches):
        for name in usernames:
            batch = []
            for _ in range(batch_size):
                tick += 1
                ms = base_ms + tick
                roll = rng.random()
                if roll < 0.6:
                    batch.append(check_spec(rng, name, rng.choice(devices), ms))
                elif roll < 0.9 or photos[name] == 0:
                    photos[name] += 1
                    batch.append(photo_spec(rng, name, photos[name], ms, rng.choice([None, *devices])))
                else:
                    # Edit or delete one of its own earlier photos.
                    number = rng.randint(1, photos[name])
                    spec = photo_spec(rng, name, number, ms, None)
                    if rng.random() < 0.3:
                        spec.fields, spec.delete = {}, True
                    else:
                        spec.fields, spec.delete = {"caption": f"{name} photo {number} (edited {tick})"}, None
                    batch.append(spec)
            plan[name].append(batch)
    return plan


class ServerError(AssertionError):
    """The server answered something a correct server never answers."""


class Wire:
    """A signed-in client speaking the wire protocol over httpx."""

    def __init__(self, url: str, username: str, client_id: str | None = None, timeout: float = 60) -> None:
        self.url = url
        self.username = username
        self.timeout = timeout
        self.http = httpx.Client(base_url=url, timeout=timeout, verify=_SSL)
        body = self._login(client_id)
        self.client_id: str = body["client_id"]

    def _login(self, client_id: str | None) -> dict[str, Any]:
        request: dict[str, Any] = {"username": self.username, "password": "demo", "client_name": "reliability"}
        if client_id is not None:
            request["client_id"] = client_id
        body = self.checked(self.http.post("/auth/token", json=request))
        self.headers = {"Authorization": f"Bearer {body['token']}"}
        return body

    def reconnect(self, wait: float = 60, urls: list[str] | None = None) -> None:
        """A fresh connection, then sign this client in again; retried until a server answers. With
        `urls` (the processes behind one address), each is tried in turn, starting after this one's."""
        urls = urls or [self.url]
        at = urls.index(self.url) if self.url in urls else -1
        deadline = time.monotonic() + wait
        while True:
            at = (at + 1) % len(urls)
            self.url = urls[at]
            self.http.close()
            self.http = httpx.Client(base_url=self.url, timeout=self.timeout, verify=_SSL)
            try:
                self._login(self.client_id)
                return
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    @staticmethod
    def checked(resp: httpx.Response) -> Any:
        if resp.status_code != 200 or "database is locked" in resp.text:
            raise ServerError(f"{resp.request.method} {resp.request.url.path}: {resp.status_code} {resp.text[:500]}")
        return resp.json()

    def changes(self, first_seq: int, specs: list[Spec]) -> list[dict[str, Any]]:
        out = []
        for i, spec in enumerate(specs):
            change: dict[str, Any] = {
                "seq": first_seq + i, "collection": spec.collection, "id": spec.id,
                "hlc": str(hlc.Hlc(spec.ms, spec.counter, self.client_id)), "fields": spec.fields,
            }
            if spec.delete is not None:
                change["delete"] = spec.delete
            out.append(change)
        return out

    def push(self, changes: list[dict[str, Any]]) -> Any:
        return self.checked(self.http.post("/sync/push", headers=self.headers, json={
            "protocol": 1, "client_id": self.client_id, "client_time": hlc.format_ts(hlc.wall_ms()),
            "changes": changes}))

    def pull(self, cursor: str, limit: int = 1000, http: httpx.Client | None = None) -> Any:
        """A page from `cursor`; through `http` (another process's address), if given, as this client."""
        return self.checked((http or self.http).get("/sync/pull", headers=self.headers,
                                                    params={"cursor": cursor, "limit": limit}))

    def close(self) -> None:
        self.http.close()


def full_pull(url: str, username: str = "lin") -> dict[tuple[str, str], dict[str, Any]]:
    """Every row in the caller's scope, from cursor 0: {(collection, id): row}."""
    wire = Wire(url, username)
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    cursor = "0"
    try:
        while True:
            body = wire.pull(cursor)
            for row in body["rows"]:
                rows[(row["collection"], row["id"])] = row
            cursor = body["cursor"]
            if not body["has_more"]:
                return rows
    finally:
        wire.close()


def merged(rows: dict[tuple[str, str], dict[str, Any]], collections: Iterable[str]) -> dict[Any, Any]:
    """The merged state of the given collections: fields and deleted, without versions."""
    wanted = set(collections)
    return {key: (row["fields"], row["deleted"]) for key, row in rows.items() if key[0] in wanted}


def registers_written(change: dict[str, Any]) -> list[str]:
    spec = COLLECTIONS[change["collection"]]
    regs = {spec.register_of(name) for name in change["fields"] if name not in spec.parents}
    if "delete" in change:
        regs.add("deleted")
    return sorted(regs)


def missing_acknowledged(settings: Settings, acknowledged: dict[str, list[dict[str, Any]]]) -> list[str]:
    """Acknowledged changes the database `settings` names does not hold: no receipt, an acked_seq behind,
    or a register whose clock is older than the change (an acknowledged write may lose to a newer one,
    never vanish). Read in one snapshot, on either backend."""
    database = backend_of(settings).open(settings.database or settings.db_path, 1)
    problems: list[str] = []
    try:
        with database.read() as conn:
            clocks = {(c, i): msgspec.json.decode(k) for c, i, k in conn.execute("SELECT collection, id, clocks FROM rows")}
            for client_id, changes in acknowledged.items():
                if not changes:
                    continue
                acked = conn.execute("SELECT acked_seq FROM clients WHERE id = ?", [client_id]).fetchone()[0]
                if acked < changes[-1]["seq"]:
                    problems.append(f"client {client_id}: acked_seq {acked} < acknowledged {changes[-1]['seq']}")
                receipts = dict(conn.execute("SELECT seq, hlc FROM receipts WHERE client_id = ?", [client_id]))
                kept = acked - Settings.receipts_kept_per_client  # older ones a client pushed past are forgotten (issue 15)
                for change in changes:
                    problems += _missing_change(client_id, change, receipts, kept, clocks)
    finally:
        database.close()
    return problems


def _missing_change(client_id: str, change: dict[str, Any], receipts: dict[int, str], kept: int,
                    clocks: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    problems = []
    found = receipts.get(change["seq"])
    if found != change["hlc"] and not (found is None and change["seq"] <= kept):
        problems.append(f"client {client_id}: no receipt for seq {change['seq']}")
    row = clocks.get((change["collection"], change["id"]))
    if row is None:
        return [*problems, f"client {client_id} seq {change['seq']}: row {change['id']} missing"]
    for reg in registers_written(change):
        stored = row.get(reg)
        stamp = stored if isinstance(stored, str) else (stored or [""])[0]
        if not stamp or stamp < change["hlc"]:
            problems.append(f"client {client_id} seq {change['seq']}: {reg} older than acknowledged")
    return problems


def integrity(db_path: Path) -> str:
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=60)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


@dataclass
class Threads:
    """Worker threads whose exceptions are collected and raised in the test's thread."""

    errors: list[BaseException] = field(default_factory=list)
    threads: list[threading.Thread] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, target: Callable[[], None], name: str) -> None:
        def run() -> None:
            try:
                target()
            except BaseException as exc:
                with self.lock:
                    self.errors.append(exc)

        thread = threading.Thread(target=run, name=name, daemon=True)
        self.threads.append(thread)
        thread.start()

    def join(self, timeout: float = 300) -> None:
        deadline = time.monotonic() + timeout
        for thread in self.threads:
            thread.join(max(deadline - time.monotonic(), 0))
        alive = [t.name for t in self.threads if t.is_alive()]
        self.raise_first()
        assert not alive, f"threads still running: {alive}"

    def raise_first(self) -> None:
        if self.errors:
            raise self.errors[0]


def start_all(servers: list[ServerProcess]) -> None:
    """Start the processes side by side: each spends seconds importing the app."""
    threads = Threads()
    for i, server in enumerate(servers):
        threads.start(server.start, f"server{i}")
    threads.join()

"""Hypothesis stateful test: 2–4 clients editing offline against one server.

Responses get lost after the server committed, pushes are duplicated, an app
is reinstalled from an old copy of its database under its old `client_id`,
and client clocks are skewed by up to a day either way. A phone restored from
a copy older than its last enrolment holds a client the server has replaced:
it is signed out, keeps its unsent changes, and its technician signs in again
with the password. After a final push and pull, every client holds exactly
the server's rows; every value of an acknowledged change is current, in the
conflict log, or replaced by a later change of the same client; a replayed
push changes nothing.

It runs on both backends (issue 16). On PostgreSQL two `Store`s (two
processes' worth of state: clocks, caches, background work) serve one
database, and each phone's requests alternate between them: a push may be
replayed, or its lost response recovered, on the other process. One database
serves the whole run, emptied and reseeded between examples (`reset`).
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import shutil
import sqlite3
import tempfile
import uuid
from pathlib import Path
from typing import Any

import httpx
import msgspec
import psycopg
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from litestar.testing import TestClient

from client_sdk import Client
from client_sdk.replica import Replica
from server.services import Store
from server.settings import Settings
from server.storage.postgres.migrations import _seed as seed
from server.storage.postgres.migrations import migrate
from sync import errors as E
from sync import hlc
from sync.canonical import canonical_json
from sync.schema import device_check_id, inspection_id
from sync.wire import Change
from tests.helpers import copy_seeded, seeded_sqlite
from tests.pg import drop_database, new_database
from tests.servers import app_over

SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "stateful-site"))
DEVICES = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"stateful-cam{i}")) for i in range(2)]
INSPECTION = inspection_id(SITE, "2026-Q4")
CHECKS = [device_check_id(INSPECTION, d) for d in DEVICES]
RESULT = ("outcome", "note", "checked_by", "checked_at")
DAY_MS = 86_400_000
STATUS = ("scheduled", "in_progress", "completed", "signed")


class FlakyTransport(httpx.BaseTransport):
    """Forwards to the apps, in turn; can lose the response after the server committed, or send a push twice."""

    def __init__(self, inners: list[httpx.BaseTransport], store: Store) -> None:
        self.inners = inners
        self.turn = 0
        self.store = store
        self.lose_next = False
        self.duplicate_next = False

    @property
    def inner(self) -> httpx.BaseTransport:
        self.turn += 1
        return self.inners[self.turn % len(self.inners)]

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        response.read()
        if self.duplicate_next and request.url.path == "/sync/push":
            self.duplicate_next = False
            before = server_dump(self.store)
            again = self.inner.handle_request(request)
            again.read()
            assert server_dump(self.store) == before, "a replayed push changed the server"
            assert again.status_code == response.status_code
            if response.status_code == 200:
                assert again.json()["results"] == response.json()["results"]
        if self.lose_next:
            self.lose_next = False
            raise httpx.ReadError("response lost after the server committed")
        return response


def server_dump(store: Store) -> tuple[Any, ...]:
    with store.read() as db:
        rows = db.execute("SELECT collection, id, fields, clocks, deleted, version FROM rows ORDER BY 1, 2").fetchall()
        conflicts = db.execute("SELECT count(*) FROM conflicts").fetchone()[0]
        acked = db.execute("SELECT id, acked_seq FROM clients ORDER BY id").fetchall()
    return rows, conflicts, acked


def accounts(store: Store) -> None:
    """Two technicians, members of the site."""
    store.create_user("wang", "Wang", "technician", "demo", demo=True)
    store.create_user("li", "Li", "technician", "demo", demo=True)
    for name in ("wang", "li"):
        store.add_member(SITE, name)


@functools.cache
def seeded() -> Path:
    """A SQLite server file holding `accounts`, made once per test process: each example on SQLite
    starts from a copy (migrating and two scrypt hashes were a fifth of an example's time)."""
    where = Path(tempfile.mkdtemp(prefix="fieldsync-stateful-seeded-"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    return seeded_sqlite(where / "server", accounts)


@functools.cache
def empty_phone() -> Path:
    """A phone's database as a new install makes it (`Replica` migrated, nothing else), made once per test
    process: each phone an example enrols starts from a copy, which its `Client` opens as it opens any
    phone's file (migrating it again cost 60-75 ms a phone, over 150 phones a run)."""
    where = Path(tempfile.mkdtemp(prefix="fieldsync-stateful-phone-"))
    atexit.register(shutil.rmtree, where, ignore_errors=True)
    Replica(where / "phone.db").close()
    assert not (where / "phone.db-wal").exists(), "the file holds all of its pages"
    return where / "phone.db"


class Phones(RuleBasedStateMachine):
    database: str | None = None  # a PostgreSQL database for the run (`Settings.database`), else SQLite's file
    servers = 1  # Stores (processes' worth of state) over the one database, the phones' requests alternating

    def __init__(self) -> None:
        super().__init__()
        self.tmp = Path(tempfile.mkdtemp(prefix="fieldsync-stateful-"))
        if self.database is not None:
            reset(self.database)
        self.settings = Settings(data_dir=self.tmp / "server", database=self.database)
        if self.database is None:  # a copy of the accounts, migrated and hashed once
            copy_seeded(seeded(), self.settings.db_path)
        self.stores = [Store(self.settings) for _ in range(self.servers)]
        self.store = self.stores[0]
        if self.database is not None:
            accounts(self.store)
        self.store.write_server_changes([
            ("sites", SITE, {"name": "Stateful park"}, False),
            *[("devices", d, {"site_id": SITE, "kind": "dome_camera", "code": f"CAM-{i:03d}"}, False)
              for i, d in enumerate(DEVICES, 1)],
            ("inspections", INSPECTION, {"site_id": SITE, "period": "2026-Q4"}, False),
        ])
        self.serving = contextlib.ExitStack()  # each store's app (built once a process) and its client
        apps = [self.serving.enter_context(app_over(self.settings, store)) for store in self.stores]
        self.test_clients = [self.serving.enter_context(TestClient(app)) for app in apps]
        self.test_client = self.test_clients[0]
        self.phones: list[Client] = []
        self.transports: list[FlakyTransport] = []
        self.https: list[httpx.Client] = []
        self.backups: dict[int, Path] = {}
        self.restored: set[int] = set()  # phones reinstalled from a backup at least once
        # (client_id, seq, hlc, digest) -> (collection, id, {register: value}) of every change a
        # phone ever queued; which of them the server acknowledged is read from its receipts, so
        # a change committed by the server after the phone forgot it (lost response, then a
        # reinstall from an old copy) still counts. The digest tells apart two changes a restored
        # phone stamped with the same seq and HLC (its clock came back with the copy).
        self.queued: dict[tuple[str, int, str, str], tuple[str, str, dict[str, Any]]] = {}

    @initialize(skews=st.lists(st.integers(-DAY_MS, DAY_MS), min_size=2, max_size=4))
    def enrol(self, skews: list[int]) -> None:
        for i, skew in enumerate(skews):
            transport = FlakyTransport([c._transport for c in self.test_clients], self.store)  # type: ignore[attr-defined]
            http = httpx.Client(transport=transport, base_url=str(self.test_client.base_url))
            shutil.copy(empty_phone(), self.tmp / f"phone{i}.db")
            phone = Client(self.tmp / f"phone{i}.db", http, batch_size=3, page_size=4,
                           wall=lambda skew=skew: hlc.wall_ms() + skew)
            phone.login("wang" if i % 2 == 0 else "li", "demo", client_name=f"phone{i}")
            self.phones.append(phone)
            self.transports.append(transport)
            self.https.append(http)

    def teardown(self) -> None:
        try:
            if self.phones:
                self.final_check()
        finally:
            for phone in self.phones:
                phone.close()
            for http in self.https:
                http.close()
            self.serving.close()
            for store in self.stores:
                store.close()
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _phone(self, data: st.DataObject) -> int:
        return data.draw(st.integers(0, len(self.phones) - 1))

    def _user(self, i: int) -> str:
        return "wang" if i % 2 == 0 else "li"

    # -- edits, all offline ------------------------------------------------

    @rule(data=st.data(), device=st.integers(0, 1),
          outcome=st.sampled_from(["serviced", "fault", "not_accessible", "skipped"]),
          note=st.sampled_from([None, "dusty", "lens cracked", "no key to the room"]),
          lens=st.booleans())
    def record_check(self, data: st.DataObject, device: int, outcome: str, note: str | None, lens: bool) -> None:
        if outcome in ("fault", "not_accessible") and note is None:
            note = "see photo"  # the server requires a note for these outcomes
        self.phones[self._phone(data)].record_check(
            INSPECTION, DEVICES[device], outcome, note=note, items={"lens_cleaned": lens})

    @rule(data=st.data(), device=st.integers(0, 1), focus=st.booleans())
    def tick_item(self, data: st.DataObject, device: int, focus: bool) -> None:
        self.phones[self._phone(data)].write("device_checks", CHECKS[device], {
            "inspection_id": INSPECTION, "device_id": DEVICES[device], "item.focus_adjusted": focus})

    @rule(data=st.data(), device=st.integers(0, 1))
    def delete_check(self, data: st.DataObject, device: int) -> None:
        i = self._phone(data)
        if self.phones[i].get("device_checks", CHECKS[device]) is not None:
            self.phones[i].delete("device_checks", CHECKS[device])

    # -- syncing, with the network misbehaving -----------------------------

    @rule(data=st.data(), lose=st.booleans(), duplicate=st.booleans())
    def sync(self, data: st.DataObject, lose: bool, duplicate: bool) -> None:
        i = self._phone(data)
        self._record_queued(i)
        self.transports[i].lose_next = lose
        self.transports[i].duplicate_next = duplicate
        with contextlib.suppress(httpx.TransportError):
            self._sync(i)
        self.transports[i].lose_next = self.transports[i].duplicate_next = False
        self._record_queued(i)

    def _sync(self, i: int) -> None:
        """Sync phone i; signed out, its technician signs in again with the password, and syncs.

        A phone restored from a copy older than a re-enrolment (seq_reused) holds a client the
        server revoked when it replaced it: its refresh credential is rightly refused (a copy
        of a phone must not sign in by itself). What the technician may expect is that nothing
        unsent is lost: the same changes wait in the outbox, and go out after the sign-in.
        """
        phone = self.phones[i]
        try:
            phone.sync()
            return
        except E.ClientUnavailable:
            pass
        with self.store.read() as db:  # signed out only because its client was replaced, never else
            revoked = db.execute("SELECT revoked_at FROM clients WHERE id = ?", [phone.client_id]).fetchone()
        assert i in self.restored and revoked[0] is not None
        unsent = [(c["collection"], c["id"], c["fields"], c["delete"]) for c in phone.pending()]
        self._record_queued(i)
        phone.login(self._user(i), "demo", client_name=f"phone{i}")
        assert [(c["collection"], c["id"], c["fields"], c["delete"]) for c in phone.pending()] == unsent
        self._record_queued(i)
        phone.sync()

    @rule(data=st.data())
    def back_up_phone(self, data: st.DataObject) -> None:
        i = self._phone(data)
        self._record_queued(i)
        target = self.tmp / f"phone{i}.backup.db"
        source = sqlite3.connect(self.tmp / f"phone{i}.db")
        dest = sqlite3.connect(target)
        source.backup(dest)
        source.close()
        dest.close()
        self.backups[i] = target

    @precondition(lambda self: bool(self.backups))
    @rule(data=st.data())
    def reinstall_from_backup(self, data: st.DataObject) -> None:
        """The phone is restored from an old copy: same client_id, old seq numbers."""
        i = data.draw(st.sampled_from(sorted(self.backups)))
        self._record_queued(i)
        self.phones[i].close()
        path = self.tmp / f"phone{i}.db"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        shutil.copy(self.backups[i], path)
        self.phones[i] = Client(path, self.https[i], batch_size=3, page_size=4,
                                wall=self.phones[i].wall)
        self.restored.add(i)

    # -- invariants ----------------------------------------------------------

    def _record_queued(self, i: int) -> None:
        path = self.tmp / f"phone{i}.db"
        conn = sqlite3.connect(path)
        try:
            client_id = conn.execute("SELECT value FROM meta WHERE key = 'client_id'").fetchone()[0]
            for seq, collection, row_id, stamp, fields, delete in conn.execute(
                'SELECT seq, collection, id, hlc, fields, "delete" FROM outbox'
            ):
                decoded, delete = msgspec.json.decode(fields), None if delete is None else bool(delete)
                digest = Change(seq=seq, collection=collection, id=row_id, hlc=stamp, fields=decoded,
                                delete=delete).digest()
                self.queued[(client_id, seq, stamp, digest)] = (collection, row_id, registers(decoded, delete))
        finally:
            conn.close()

    @invariant()
    def server_is_consistent(self) -> None:
        with self.store.read() as db:
            versions = [v for (v,) in db.execute("SELECT version FROM rows")]
            top = int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])
        assert len(versions) == len(set(versions)) and (not versions or max(versions) <= top)

    def final_check(self) -> None:
        for transport in self.transports:
            transport.lose_next = transport.duplicate_next = False
        for _ in range(2):
            for i in range(len(self.phones)):
                self._sync(i)
                self._record_queued(i)
        with self.store.read() as db:
            server_rows = {
                (c, i): (msgspec.json.decode(f), bool(d))
                for c, i, f, d in db.execute("SELECT collection, id, fields, deleted FROM rows")
            }
            log = db.execute("SELECT client_id, collection, row_id, register, old_value, new_value FROM conflicts").fetchall()
        for phone in self.phones:
            assert phone.pending() == []
            held = {(r["collection"], r["id"]): (r["fields"], r["deleted"]) for r in phone.server_rows()}
            assert held == server_rows
            for key, (fields, deleted) in server_rows.items():
                view = phone.get(*key)
                assert view is not None and view["fields"] == fields and view["deleted"] == deleted
            receipts = db.execute("SELECT client_id, seq, hlc, digest, result FROM receipts").fetchall()
        logged = {(c, r, reg, canonical_json(msgspec.json.decode(v)))
                  for _, c, r, reg, old, new in log for v in (old, new) if v is not None}
        acked = {
            (client_id, seq): self.queued[(client_id, seq, stamp, digest)]
            for client_id, seq, stamp, digest, result in receipts
            if msgspec.json.decode(result)["status"] in ("applied", "superseded")
            and (client_id, seq, stamp, digest) in self.queued
        }
        latest: dict[tuple[str, str, str, str], int] = {}
        for (client_id, seq), (collection, row_id, regs) in acked.items():
            for reg in regs:
                key = (client_id, collection, row_id, reg)
                latest[key] = max(latest.get(key, 0), seq)
        for (client_id, seq), (collection, row_id, regs) in acked.items():
            fields, deleted = server_rows.get((collection, row_id), ({}, False))
            for reg, value in regs.items():
                if latest[(client_id, collection, row_id, reg)] > seq:
                    continue  # the same client wrote this register again later
                current = deleted if reg == "deleted" else (
                    {f: fields.get(f) for f in RESULT} if reg == "result" else fields.get(reg))
                if reg == "status" and STATUS.index(current or "scheduled") > STATUS.index(value):
                    continue  # the server moved the inspection on (completed), as it should
                assert current == value or (collection, row_id, reg, canonical_json(value)) in logged, (
                    f"acknowledged value lost: {client_id} seq {seq} {collection} {row_id} {reg}={value!r}")


def registers(fields: dict[str, Any], delete: bool | None) -> dict[str, Any]:
    regs: dict[str, Any] = {}
    for name, value in fields.items():
        if name in RESULT:
            regs["result"] = {f: fields.get(f) for f in RESULT}
        elif name not in ("inspection_id", "device_id"):
            regs[name] = value
    if delete is not None:
        regs["deleted"] = delete
    return regs


def reset(database: str) -> None:
    """The PostgreSQL database as a new server finds it: migrated, every table emptied, `meta` seeded
    afresh (a new server epoch and cursor key). A new database per example costs over a second; a
    TRUNCATE 0.3 s (new files for every table); DELETEs of these few rows, foreign keys unchecked, 0.05 s."""
    with psycopg.connect(database, autocommit=True) as conn:
        migrate(conn)
        tables = [t for (t,) in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'migrations'")]
        with conn.transaction():
            conn.execute("SET LOCAL session_replication_role = replica")  # the tests' superuser may
            for table in tables:
                conn.execute(f"DELETE FROM {table}")
            seed(conn)


SETTINGS = settings(
    max_examples=50, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
Phones.TestCase.settings = SETTINGS
test_phones = Phones.TestCase
# Each PostgreSQL example costs more (two Stores started, the database reset): fewer by default.
PG_EXAMPLES = 50 if os.environ.get("FIELDSYNC_LONG") == "1" else 10


def test_phones_on_postgresql_with_two_servers(postgres: str) -> None:
    database = new_database(postgres)
    try:
        machine = type("PhonesOnPostgres", (Phones,), {"database": database, "servers": 2})
        run_state_machine_as_test(machine, settings=settings(SETTINGS, max_examples=PG_EXAMPLES))
    finally:
        drop_database(database)

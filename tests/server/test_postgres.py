"""The PostgreSQL the tests start (tests/pg.py) is a real server, and the PostgreSQL storage backend
(server/storage/postgres/, issue 16) on it: what the backend contract (test_storage_contract.py)
does not show step by step."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pytest

from server.storage.postgres import rows
from server.storage.postgres.backend import POSTGRES
from server.storage.postgres.connection import Database
from server.storage.postgres.migrations import STEPS
from server.storage.sqlite.backend import SQLITE
from sync import hlc
from sync.merge import RowState
from tests.pg import drop_database, new_database


def test_two_connections_see_each_others_committed_rows(postgres: str) -> None:
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS harness")
        admin.execute("CREATE TABLE harness (id integer PRIMARY KEY, note text NOT NULL)")
    with psycopg.connect(postgres) as a, psycopg.connect(postgres) as b:
        a.execute("INSERT INTO harness VALUES (1, '东区园区')")
        # Not yet committed: the other connection does not see it (a server, not a file per connection).
        assert b.execute("SELECT count(*) FROM harness").fetchone() == (0,)
        b.rollback()
        a.commit()
        assert b.execute("SELECT note FROM harness WHERE id = 1").fetchone() == ("东区园区",)
        b.execute("INSERT INTO harness VALUES (2, 'from b')")
        b.commit()
        assert a.execute("SELECT id FROM harness ORDER BY id").fetchall() == [(1,), (2,)]
        # A primary key is enforced across connections.
        try:
            a.execute("INSERT INTO harness VALUES (2, 'again')")
        except psycopg.errors.UniqueViolation:
            a.rollback()
        else:
            raise AssertionError("a duplicate key was accepted")
    with psycopg.connect(postgres) as c:
        version = c.execute("SHOW server_version_num").fetchone()
    assert version is not None and int(version[0]) >= 130000


# -- the PostgreSQL storage backend (server/storage/postgres/) ---------------------------------





@pytest.fixture
def database(postgres: str) -> Iterator[str]:
    url = new_database(postgres)
    yield url
    drop_database(url)


def _site(row_id: str) -> RowState:
    return RowState("sites", row_id, {"name": row_id}, {"name": [str(hlc.Hlc(1, 0, hlc.SERVER_NODE)), hlc.SERVER_NODE]},
                    False, row_id)


class _Unlocked(rows.Transaction):
    """The version counter read without its lock: what `rows.SQL.version` must not be."""

    sql = rows.SQL._replace(version=rows.SQL.version.replace(" FOR UPDATE", ""))


class _Second:
    """A second writer, in a thread, started while the first holds version 1 uncommitted."""

    def __init__(self, db: Database, transaction: type[rows.Transaction]) -> None:
        self.db, self.transaction = db, transaction
        self.pid: list[int] = []
        self.started = threading.Event()  # it has read the version counter
        self.versions: list[int] = []
        self.thread = threading.Thread(target=self._write)
        self.thread.start()

    def _write(self) -> None:
        try:
            with self.db.write() as conn:
                self.pid.append(conn.raw.info.backend_pid)
                tx = self.transaction(conn, 1000)
                self.started.set()
                tx.put(row := _site("second"))
                self.versions.append(row.version)
                if self.transaction is _Unlocked:
                    raise LookupError("roll back: its version is taken")
                tx.finish(None, [], [])
        except LookupError:
            pass


def _race(database: str, transaction: type[rows.Transaction], during: Callable[[Database, _Second], None]) -> list[int]:
    """A first transaction holds version 1 while a second writer starts and `during` runs; after
    the first commits (version 1) and the second ends, the versions the second took."""
    db = POSTGRES.open(database)
    try:
        with db.write() as conn:
            tx = POSTGRES.transaction(conn, 1000)
            tx.put(first := _site("first"))
            tx.flush_rows()
            during(db, second := _Second(db, transaction))
            tx.finish(None, [], [])
        second.thread.join()
        with db.read() as reader:
            assert POSTGRES.page(reader, 0, None, None, 10)[0][1:5:3] == ("first", first.version) == ("first", 1)
        return second.versions
    finally:
        db.close()


def _waiting_on_a_lock(database: str, pid: int) -> bool:
    with psycopg.connect(database, autocommit=True) as admin:
        found = admin.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid]).fetchone()
    return found is not None and found[0] == "Lock"


def test_a_writer_waits_for_the_transaction_holding_versions_to_commit(database: str) -> None:
    """The mechanism behind the contract's ordering, step by step: while one transaction holds
    version 1 uncommitted, another cannot take a version (it waits on the counter row's lock), a
    reader sees neither, and after the commit the second takes 2."""

    def during(db: Database, second: _Second) -> None:
        while not (second.pid and _waiting_on_a_lock(database, second.pid[0])):
            assert not second.started.wait(0.01), "the second writer took versions while the first held some"
            assert second.thread.is_alive()
        with db.read() as reader:
            assert POSTGRES.page(reader, 0, None, None, 10) == []

    assert _race(database, rows.Transaction, during) == [2]


def test_without_the_lock_two_writers_would_take_the_same_version(database: str) -> None:
    """Why the lock: read without it, the counter gives a second transaction the version the first
    holds uncommitted (one of them then fails on the unique version, or a pull skips a row)."""
    assert _race(database, _Unlocked, lambda db, second: second.thread.join()) == [1]


def test_opening_again_migrates_nothing_twice(database: str) -> None:
    first = POSTGRES.open(database)
    second = POSTGRES.open(database)  # a second process starting on a migrated database
    try:
        with first.read() as a, second.read() as b:
            assert a.execute("SELECT name FROM migrations ORDER BY name").fetchall() == sorted((name,) for name, _ in STEPS)
            epoch = "SELECT value FROM meta WHERE key = 'server_epoch'"
            assert a.execute(epoch).fetchall() == b.execute(epoch).fetchall()
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("owner", ["wang", "zhao", None])
def test_a_site_less_duty_call_reaches_only_its_owner_as_on_sqlite(database: str, tmp_path: Any, owner: str | None) -> None:
    """`pages.page`'s owner filter reads a field through the dialect (`fields ->> 'logged_by'` on
    PostgreSQL, `json_extract` on SQLite), and must select what SQLite's does."""
    found = {}
    for backend, location in ((SQLITE, tmp_path / "db"), (POSTGRES, database)):
        db: Any = backend.open(location)
        try:
            with db.write() as conn:
                tx = backend.transaction(conn, 1000)
                clocks = {"logged_by": [str(hlc.Hlc(1, 0, hlc.SERVER_NODE)), hlc.SERVER_NODE]}
                tx.put(RowState("duty_calls", "call-1", {"logged_by": "wang"}, clocks, False, None))
                tx.finish(None, [], [])
            with db.read() as conn:
                found[backend.name] = [r[1] for r in backend.page(conn, 0, {"site-1"}, None, 10, owner=owner)]
        finally:
            db.close()
    assert found["postgresql"] == found["sqlite"] == (["call-1"] if owner == "wang" else [])


def test_a_database_from_before_pg027_keeps_its_rows_and_then_stores_fields_verbatim(postgres: str) -> None:
    # Regression (issue 16, pull bytes): `rows.fields` was jsonb, which prints its own text back (a space
    # after `:` and `,`, keys reordered), so a pull page was not the bytes SQLite sends. A database
    # migrated up to m026 (jsonb) takes pg027: its stored row stays readable and findable by a field
    # through the rebuilt expression index, and a row written after reads back as written.
    from server.storage.postgres import migrations

    url = new_database(postgres)
    before = [name for name, _ in STEPS].index("pg027_rows_fields_json")
    try:
        with psycopg.connect(url, autocommit=True) as old:
            old.execute("CREATE TABLE migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())")
            for name, sql in STEPS[:before]:
                old.execute(sql.encode())
                old.execute("INSERT INTO migrations(name) VALUES (%s)", [name])
            migrations._seed(old)
            old.execute("INSERT INTO rows(collection, id, fields, clocks, version, updated_ms)"
                        """ VALUES ('devices', 'd1', '{"site_id":"s","code":"CAM-1"}', '{}', 1, 0)""")
            old.execute("UPDATE meta SET value = '1' WHERE key = 'version'")
            assert old.execute("SELECT fields::text FROM rows").fetchone()[0] == '{"code": "CAM-1", "site_id": "s"}'
        db = POSTGRES.open(url)  # migrates
        try:
            with db.write(versions=True) as conn:
                tx = POSTGRES.transaction(conn, 1000)
                tx.put(RowState("devices", "d2", {"site_id": "s", "code": "CAM-2", "a": 1}, {}, False, "s"))
                tx.finish(None, [], [])
            with db.read() as reader:
                code = POSTGRES.sql.field("fields", "code")
                found = reader.execute(f"SELECT id, fields FROM rows WHERE collection = 'devices' AND {code} IN (?, ?)"
                                       " ORDER BY id", ["CAM-1", "CAM-2"])
                assert found.fetchall() == [("d1", '{"code": "CAM-1", "site_id": "s"}'),
                                            ("d2", '{"site_id":"s","code":"CAM-2","a":1}')]
                kind = reader.execute("SELECT data_type FROM information_schema.columns"
                                      " WHERE table_name = 'rows' AND column_name = 'fields'").fetchone()[0]
                assert kind == "json"
                indexdef = "SELECT indexdef FROM pg_indexes WHERE indexname = 'rows_device_code'"
                assert "fields ->> 'code'" in reader.execute(indexdef).fetchone()[0]
        finally:
            db.close()
    finally:
        drop_database(url)


def test_no_json_extract_is_left_on_postgresql(database: str) -> None:
    # Regression (closing note, pages.page): m001's `json_extract(doc, '$.name')` shim outlived its last
    # caller; a query written against it would work on PostgreSQL only through the shim. pg030 drops it,
    # so SQL that names it fails on both backends' tests alike, and a field goes through the dialect.
    db: Any = POSTGRES.open(database)
    try:
        with db.read() as conn:
            assert conn.execute("SELECT count(*) FROM pg_proc WHERE proname = 'json_extract'").fetchone()[0] == 0
            with pytest.raises(psycopg.errors.UndefinedFunction):
                conn.execute("SELECT json_extract(fields, '$.code') FROM rows")
    finally:
        db.close()


def test_purge_leaves_alone_a_tombstone_a_push_revives_meanwhile(database: str) -> None:
    # Regression (closing note, purge without the version lock): purge counted the old tombstones and
    # took the horizon from a SELECT, then deleted. A push in another process reviving one of them
    # (holding the version lock, uncommitted) made the DELETE wait and then skip it, but the purge still
    # reported it forgotten and raised the horizon to its version: cursors below it got 410 for nothing.
    # The count and the horizon now come from the DELETE itself; the purge still takes no version lock.
    pusher, purger = POSTGRES.open(database), POSTGRES.open(database)
    try:
        with pusher.write(versions=True) as conn:
            tx = POSTGRES.transaction(conn, 1000)
            tx.put(RowState("sites", "old", {"name": "x"}, {}, True, "old"))
            tx.finish(None, [], [])
        purged: list[int] = []
        with pusher.write(versions=True) as conn:
            tx = POSTGRES.transaction(conn, 900_000)
            tx.put(RowState("sites", "old", {"name": "back"}, {}, False, "old"))
            tx.flush_rows()
            thread = threading.Thread(target=lambda: purged.append(_purge(purger, 2000)))
            thread.start()
            waiting = ("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                       " AND query LIKE 'DELETE FROM rows%'")
            while not conn.execute(waiting).fetchone()[0]:  # the purge waits for the revived row
                assert thread.is_alive()
                conn.execute("SELECT pg_stat_clear_snapshot()")  # else this transaction sees its first look
            tx.finish(None, [], [])
        thread.join()
        assert purged == [0]
        with purger.read() as conn:
            assert POSTGRES.horizon(conn) == 0
            assert conn.execute("SELECT deleted FROM rows WHERE id = 'old'").fetchone()[0] == 0
    finally:
        pusher.close()
        purger.close()


def _purge(db: Any, cutoff_ms: int) -> int:
    with db.write() as conn:
        return int(POSTGRES.purge_tombstones(conn, cutoff_ms))


def _traced_push(db: Any, n: int, trace: Any) -> list[str]:
    """A push of `n` new rows, each with a creator (the first one's twice), a receipt and a log entry, as
    the libpq trace of its connection shows it: the messages this process sent, by kind, in order."""
    with db.write(versions=True) as conn, open(trace, "w") as out:
        conn.raw.pgconn.trace(out.fileno())
        tx = POSTGRES.transaction(conn, 1000)
        for i in range(n):
            tx.put(RowState("sites", f"{n}-{i}", {"name": f"site {i}"}, {}, False, f"{n}-{i}"))
            tx.creators.append(("sites", f"{n}-{i}", "wang", "phone"))
        tx.creators.append(("sites", f"{n}-0", "zhao", "tablet"))  # created as a tombstone, then again
        log = [("at", "lost", "sites", f"{n}-{i}", None, "name", None, None, "phone", "wang", "h", i,
                None, '"x"', None, None) for i in range(n)]
        tx.finish("phone", [(n * 1000 + i, "h", "d", b"{}") for i in range(n)], log)
        conn.raw.pgconn.untrace()
    return [line.split("\t")[3] for line in trace.read_text().splitlines() if line.split("\t")[1] == "F"]


def test_a_push_writes_each_table_in_one_statement_whatever_its_rows(database: str, tmp_path: Any) -> None:
    # Regression (issue 16, the push's round trips): `executemany` sent a statement per row and table
    # (rows, creators, receipts, log), each a round trip made while the version counter's lock is held.
    # Now a push of 60 rows sends what a push of 3 sends; what it wrote is all there, the last creator
    # of a row kept as upserts one after the other would keep it.
    db = POSTGRES.open(database)
    try:
        small, large = _traced_push(db, 3, tmp_path / "3"), _traced_push(db, 60, tmp_path / "60")
        assert small == large and large.count("Execute") == 5, large  # rows, creators, version, receipts, log
        with db.read() as reader:
            counts = [reader.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                      for t in ("rows", "row_creators", "receipts", "conflicts")]
            assert counts == [63] * 4
            assert reader.execute("SELECT max(version) FROM rows").fetchone()[0] == 63
            creator = "SELECT user_id, client_id FROM row_creators WHERE row_id = ?"
            assert reader.execute(creator, ["60-0"]).fetchone() == ("zhao", "tablet")
            assert reader.execute(creator, ["60-1"]).fetchone() == ("wang", "phone")
            assert reader.execute("SELECT fields FROM rows WHERE id = '60-7'").fetchone()[0] == '{"name":"site 7"}'
    finally:
        db.close()

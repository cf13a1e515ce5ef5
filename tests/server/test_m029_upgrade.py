"""m029 (`clients.enrolled`) upgrading a database that already has clients, on SQLite and PostgreSQL:
the database is built as it stood before m029 (each backend's migrations stopped there), clients are
written as that schema held them, then the migrations run as a server's start runs them."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path
from typing import Any

import psycopg
import sqlite_utils

from server.storage import identity
from server.storage.postgres import migrations as pg_migrations
from server.storage.postgres.backend import POSTGRES
from server.storage.sqlite import migrations as sqlite_migrations
from server.storage.sqlite.backend import SQLITE

M029 = "m029_clients_enrolled"
# Four clients in the order they were enrolled; two in one millisecond, one of them enrolled
# earlier in the day than its id sorts (ids are random UUIDs).
CLIENTS = [
    ("c-3", "2026-11-01T08:00:00.000Z"),
    ("c-2", "2026-11-01T08:00:00.001Z"),
    ("c-9", "2026-11-01T08:00:00.002Z"),
    ("c-1", "2026-11-01T08:00:00.002Z"),
]
USER = ("u-1", "lin", "Lin", "technician", "x", "2026-11-01T00:00:00.000Z")


def _write_clients(db: Any, mark: str) -> None:
    db.execute(f"INSERT INTO users(id, username, name, role, password_hash, created_at)"
               f" VALUES ({', '.join([mark] * 6)})", USER)
    for client_id, created_at in CLIENTS:
        db.execute(f"INSERT INTO clients(id, user_id, name, created_at) VALUES ({mark}, {mark}, {mark}, {mark})",
                   [client_id, USER[0], "phone", created_at])


def _order_after_upgrade(database: Any) -> list[tuple[str, int]]:
    """(id, enrolled) of every client once `database` is opened (which migrates), one enrolled after
    the upgrade (`new`) last."""
    try:
        with database.write() as db:
            new = identity.enrol(db, USER[0], "new phone", 1_800_000_000_000, None)
        with database.read() as db:
            return [("new" if i == new else i, n)
                    for i, n in db.execute("SELECT id, enrolled FROM clients ORDER BY enrolled")]
    finally:
        database.close()


def test_m029_numbers_a_sqlite_databases_clients_in_their_order_of_insertion(tmp_path: Path) -> None:
    path = tmp_path / "fieldsync.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        sqlite_migrations.migrations.apply(sqlite_utils.Database(conn), stop_before=M029)
        with conn:
            assert "enrolled" not in {c[1] for c in conn.execute("PRAGMA table_info(clients)")}
            _write_clients(conn, "?")
    order = _order_after_upgrade(SQLITE.open(path))
    # By rowid: the order they came in, the millisecond's two included (c-9 before c-1).
    assert order == [("c-3", 1), ("c-2", 2), ("c-9", 3), ("c-1", 4), ("new", 5)]


def test_m029_numbers_a_postgresql_databases_clients_by_enrolment_time(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        pg_migrations.migrate(conn, stop_before=M029)
        assert not conn.execute("SELECT 1 FROM information_schema.columns WHERE table_name = 'clients'"
                                " AND column_name = 'enrolled'").fetchall()
        with conn.transaction():
            _write_clients(conn, "%s")
    order = _order_after_upgrade(POSTGRES.open(pg_url))
    # No rowid here: by enrolment time, and within one millisecond by id (c-1 before c-9, documented in
    # the step); the sequence goes on past them, so a client enrolled after the upgrade comes last.
    assert order == [("c-3", 1), ("c-2", 2), ("c-1", 3), ("c-9", 4), ("new", 5)]

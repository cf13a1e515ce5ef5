"""An upgrade as the operator meets it (docs/operations.md, "Upgrading"): a database an older fieldsync
made is brought up to date on open, on SQLite and PostgreSQL; one a newer fieldsync upgraded is refused,
untouched, rather than served by code that does not know its steps."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

import psycopg
import pytest
import sqlite_utils

from bench._server import ServerProcess
from server.storage.base import NewerSchema
from server.storage.postgres import migrations as pg_migrations
from server.storage.postgres.backend import POSTGRES
from server.storage.sqlite import migrations as sqlite_migrations
from server.storage.sqlite.backend import SQLITE

OLDER = "m027_pending_imports"  # a database made before this step: an older fieldsync's


def _sqlite_steps(path: Path) -> list[str]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        return [m.name for m in sqlite_migrations.migrations.applied(sqlite_utils.Database(conn))]


def test_a_sqlite_database_an_older_fieldsync_made_is_brought_up_to_date(tmp_path: Path) -> None:
    path = tmp_path / "fieldsync.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        sqlite_migrations.migrations.apply(sqlite_utils.Database(conn), stop_before=OLDER)
    assert OLDER not in _sqlite_steps(path)
    SQLITE.open(path).close()
    assert _sqlite_steps(path) == [m.name for m in sqlite_migrations.migrations._migrations]


def test_a_sqlite_database_a_newer_fieldsync_upgraded_is_refused_untouched(tmp_path: Path) -> None:
    # Regression (session 26, ops): an older server served it without a word, writing rows the
    # newer steps do not expect (a downgrade by mistake, or a backup restored into the old version).
    path = tmp_path / "fieldsync.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        sqlite_migrations.migrations.apply(sqlite_utils.Database(conn), stop_before=OLDER)
        with conn:
            conn.execute("INSERT INTO _sqlite_migrations(migration_set, name, applied_at)"
                         " VALUES ('fieldsync', 'm099_from_the_future', '2027-01-01')")
    before = _sqlite_steps(path)
    with pytest.raises(NewerSchema, match="m099_from_the_future"):
        SQLITE.open(path)
    assert _sqlite_steps(path) == before  # nothing migrated


def test_a_postgresql_database_a_newer_fieldsync_upgraded_is_refused_untouched(pg_url: str) -> None:
    # Regression (session 26, ops): the same over PostgreSQL, where every process migrates on start.
    with psycopg.connect(pg_url) as conn:
        pg_migrations.migrate(conn, stop_before=OLDER)
        conn.execute("INSERT INTO migrations(name) VALUES ('pg099_from_the_future')")
        conn.commit()
        before = conn.execute("SELECT count(*) FROM migrations").fetchone()
    with pytest.raises(NewerSchema, match="pg099_from_the_future"):
        POSTGRES.open(pg_url)
    with psycopg.connect(pg_url) as conn:
        assert conn.execute("SELECT count(*) FROM migrations").fetchone() == before
    with psycopg.connect(pg_url) as conn:  # the steps this code knows apply once the stranger is gone
        conn.execute("DELETE FROM migrations WHERE name = 'pg099_from_the_future'")
        conn.commit()
    POSTGRES.open(pg_url).close()


def test_serve_names_the_schema_steps_it_applied_on_an_upgrade(tmp_path: Path) -> None:
    # Regression (session 26, ops2, item 4): `fieldsync serve` migrated an older database silently; the
    # operator after an upgrade saw nothing of what changed. One line names the steps; the next start, none.
    path = tmp_path / "fieldsync.db"
    with contextlib.closing(sqlite3.connect(path)) as conn:
        sqlite_migrations.migrations.apply(sqlite_utils.Database(conn), stop_before=OLDER)
    names = [m.name for m in sqlite_migrations.migrations._migrations]
    newer = names[names.index(OLDER):]
    for expected in ([f"fieldsync: upgraded the database's schema, applied: {', '.join(newer)}"], []):
        server = ServerProcess(tmp_path).start()
        try:
            said = [line for line in server.output().splitlines() if "schema" in line]
        finally:
            server.stop()
        assert said == expected, server.output()
    assert _sqlite_steps(path) == names


def test_every_process_over_postgresql_says_only_the_steps_it_applied(pg_url: str) -> None:
    with psycopg.connect(pg_url) as conn:
        pg_migrations.migrate(conn, stop_before=OLDER)
        conn.commit()
    names = [name for name, _ in pg_migrations.STEPS]
    first = POSTGRES.open(pg_url)
    first.close()
    second = POSTGRES.open(pg_url)  # another process, after the first migrated: nothing left to apply
    second.close()
    assert (first.migrated, second.migrated) == (tuple(names[names.index(OLDER):]), ())

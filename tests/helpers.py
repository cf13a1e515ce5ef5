"""Assertions and loops the test modules share."""

from __future__ import annotations

import contextlib
import secrets
import shutil
import sqlite3
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

PROBLEM = "application/problem+json"


def ok(response: Any) -> Any:
    """The JSON body of a 200 response."""
    assert response.status_code == 200, response.text
    return response.json()


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem body with this status and stable code, whole and well formed."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:fieldsync:problem:{code}"
    assert body["code"] == code and body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert response.headers.get("fieldsync-server-epoch")
    return body  # type: ignore[no-any-return]


def pull_all(session: Any, cursor: str = "0", limit: int = 2) -> tuple[list[dict[str, Any]], str]:
    """Every page from a cursor to the end: the rows in order, and the final cursor."""
    rows: list[dict[str, Any]] = []
    while True:
        body = ok(session.pull(cursor=cursor, limit=limit))
        rows += body["rows"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return rows, cursor


def seeded_sqlite(data_dir: Path, seed: Callable[[Any], None]) -> Path:
    """A SQLite server file under `data_dir`, migrated and then `seed`ed through a `Store`, closed whole:
    made once, copied for each test or example by `copy_seeded` (migrating and scrypt-hashing the
    accounts' passwords again each time cost a `make test` run minutes)."""
    from server.services import Store
    from server.settings import Settings

    settings = Settings(data_dir=data_dir)
    store = Store(settings)
    seed(store)
    store.close()
    assert not Path(f"{settings.db_path}-wal").exists(), "the seeded file holds all of its pages"
    return settings.db_path


def copy_seeded(seeded: Path, db_path: Path) -> None:
    """`seeded` as a new server's database at `db_path`: a server epoch and cursor secret of its own."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(seeded, db_path)
    with contextlib.closing(sqlite3.connect(db_path)) as db, db:
        db.executemany("UPDATE meta SET value = ? WHERE key = ?", [
            (str(uuid.uuid4()), "server_epoch"), (secrets.token_hex(32), "cursor_secret")])


def upgraded(where: Path | str, before: str, fill: Callable[[Any, str], None]) -> Any:
    """A database migrated up to the step `before` (a SQLite file's path, or a PostgreSQL database's URL),
    `fill(connection, mark)` writing rows as that schema held them (`mark` the backend's `?`/`%s`), then
    opened by its backend, which applies `before` and the steps after it: the database to read back."""
    import psycopg
    import sqlite_utils

    from server.storage.postgres import migrations as pg_migrations
    from server.storage.postgres.backend import POSTGRES
    from server.storage.sqlite import migrations as sqlite_migrations
    from server.storage.sqlite.backend import SQLITE

    if isinstance(where, Path):
        with contextlib.closing(sqlite3.connect(where)) as conn:
            sqlite_migrations.migrations.apply(sqlite_utils.Database(conn), stop_before=before)
            with conn:
                fill(conn, "?")
        return SQLITE.open(where)
    with psycopg.connect(where) as pg:
        pg_migrations.migrate(pg, stop_before=before)
        with pg.transaction():
            fill(pg, "%s")
    return POSTGRES.open(where)

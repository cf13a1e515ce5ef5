"""Fixtures for the server tests: a look into the server's database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import pytest
from litestar.testing import TestClient

from server.services import Store
from server.settings import Settings
from tests.conftest import BACKEND
from tests.servers import app_over


@pytest.fixture
def other_http(settings: Settings, store: Store) -> Iterator[TestClient[Any]]:
    """Another process: its own `Store` and app over the same database and blob store."""
    second = Store(settings)
    with app_over(settings, second) as app, TestClient(app) as client:
        yield client
    second.close()


@pytest.fixture
def dump(store: Store) -> Callable[[], dict[str, Any]]:
    """Everything a push may change: rows with clocks and versions, receipts, acks, the log, meta."""

    def snapshot() -> dict[str, Any]:
        with store.read() as db:
            return {
                "rows": db.execute(
                    "SELECT collection, id, site_id, fields, clocks, deleted, version FROM rows ORDER BY version"
                ).fetchall(),
                "receipts": db.execute("SELECT client_id, seq, hlc, result FROM receipts ORDER BY 1, 2").fetchall(),
                "acked": db.execute("SELECT id, acked_seq, revoked_at FROM clients ORDER BY id").fetchall(),
                "conflicts": db.execute("SELECT * FROM conflicts ORDER BY id").fetchall(),
                "meta": db.execute("SELECT key, value FROM meta WHERE key <> 'hlc' ORDER BY key").fetchall(),
            }

    return snapshot


@pytest.fixture
def row_of(store: Store) -> Callable[[str, str], dict[str, Any] | None]:
    """A row as stored: fields, clocks, deleted, version."""

    def read(collection: str, row_id: str) -> dict[str, Any] | None:
        with store.read() as db:
            found = db.execute(
                "SELECT fields, clocks, deleted, version, site_id FROM rows WHERE collection = ? AND id = ?",
                [collection, row_id],
            ).fetchone()
        if found is None:
            return None
        # A register's clock is [hlc, writer]; storage may keep a bare hlc when its node is the writer.
        clocks = {reg: [c, c.split("-", 2)[2]] if isinstance(c, str) else c
                  for reg, c in msgspec.json.decode(found[1]).items()}
        return {"fields": msgspec.json.decode(found[0]), "clocks": clocks,
                "deleted": bool(found[2]), "version": found[3], "site_id": found[4]}

    return read


@pytest.fixture
def refuse_inserts(store: Store) -> Callable[[str, str], Callable[[], None]]:
    """A real failure inside a write: the database refuses inserts into `table` where `when` (on
    NEW) holds, in each backend's own trigger syntax; the call it returns lifts the refusal."""

    def install(table: str, when: str) -> Callable[[], None]:
        with store.write() as db:
            if BACKEND == "sqlite":
                db.execute(f"CREATE TRIGGER boom BEFORE INSERT ON {table} WHEN {when}"
                           " BEGIN SELECT RAISE(ABORT, 'disk full'); END")
            else:
                db.execute("CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql"
                           " AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$")
                db.execute(f"CREATE TRIGGER boom BEFORE INSERT ON {table} FOR EACH ROW WHEN ({when})"
                           " EXECUTE FUNCTION boom()")

        def lift() -> None:
            with store.write() as db:
                db.execute("DROP TRIGGER boom" + ("" if BACKEND == "sqlite" else f" ON {table}"))

        return lift

    return install


def field(name: str, cast: str | None = None) -> str:
    """A row's JSON field in SQL for the tests' own reads, in the dialect of the suite's backend."""
    from server.storage.postgres.backend import POSTGRES
    from server.storage.sqlite.backend import SQLITE

    return (POSTGRES if BACKEND == "postgresql" else SQLITE).sql.field("fields", name, cast)

"""The backend contract (server/storage/testing.py) against every storage backend: SQLite (a
file under tmp_path) and PostgreSQL (a new database on the test server of tests/pg.py per test)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from server.storage.base import Backend
from server.storage.postgres.backend import POSTGRES
from server.storage.sqlite.backend import SQLITE
from server.storage.testing import CONTRACT, Locate
from sync import hlc
from sync.merge import RowState
from tests.pg import drop_database, new_database

BACKENDS: list[Backend[Any]] = [SQLITE, POSTGRES]


@pytest.fixture
def locate(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Locate]:
    """Fresh databases for the backend under test, by name; PostgreSQL's are dropped afterwards."""
    if request.node.callspec.params["backend"] is SQLITE:
        yield lambda name: tmp_path / f"{name}.db"
        return
    server: str = request.getfixturevalue("postgres")
    made: dict[str, str] = {}
    yield lambda name: made.setdefault(name, new_database(server))
    for url in made.values():
        drop_database(url)


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("backend", BACKENDS, ids=lambda backend: backend.name)
def test_backend_contract(backend: Backend[Any], check: Callable[[Backend[Any], Locate], None], locate: Locate) -> None:
    check(backend, locate)


def test_the_contract_is_not_empty() -> None:
    assert len(CONTRACT) >= 6 and len({check.__name__ for check in CONTRACT}) == len(CONTRACT)


def test_a_field_as_the_dialect_writes_it_uses_sqlites_expression_indexes(tmp_path: Path) -> None:
    # SQLite uses an index on an expression only for the same expression: a query must name a
    # field (`SQLITE.sql.field`) as the index does. INDEXED BY makes a mismatch an error.
    db = SQLITE.open(tmp_path / "db.db")
    try:
        with db.read() as conn:
            indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'"
                                   " AND tbl_name = 'rows' AND sql LIKE '%json_extract%'").fetchall()
            leading = [(name, m[1], m[2] or "") for name, sql in indexes
                       if (m := re.search(r"ON rows\(json_extract\(fields, '\$\.(\w+)'\)\)\s*(WHERE .*)?$", sql, re.S))]
            assert len(leading) >= 7, leading
            for name, field, where in leading:
                plan = conn.execute(f"EXPLAIN QUERY PLAN SELECT r.id FROM rows r INDEXED BY {name}"
                                    f" {where or 'WHERE 1'} AND {SQLITE.sql.field('r.fields', field)} = ?", ["x"]).fetchall()
                assert f"USING INDEX {name} (<expr>=?)" in str(plan), (name, plan)
    finally:
        db.close()


def test_sqlite_writes_a_transactions_rows_many_to_a_statement(tmp_path: Path) -> None:
    # Each run of a statement opens a cursor on every index of `rows` (17): 85 rows are written by
    # four runs (64, 16, 4, 1 rows), not 85 (docs/performance.md, "Issue 15: the rows table's indexes").
    db = SQLITE.open(tmp_path / "db.db")
    runs: list[str] = []
    try:
        with db.write() as conn:
            conn.set_trace_callback(runs.append)
            tx = SQLITE.transaction(conn, 1000)
            clocks = {"name": [str(hlc.Hlc(1, 0, hlc.SERVER_NODE)), hlc.SERVER_NODE]}
            for i in range(85):
                tx.put(RowState("sites", f"s{i:02d}", {"name": str(i)}, dict(clocks), False, f"s{i:02d}"))
            tx.finish(None, [], [])
            conn.set_trace_callback(None)
        with db.read() as conn:
            assert conn.execute("SELECT count(*) FROM rows").fetchone()[0] == 85
    finally:
        db.close()
    upserts = [r for r in runs if r.startswith("INSERT INTO rows(")]
    assert [r.count("), (") + 1 for r in upserts] == [64, 16, 4, 1]

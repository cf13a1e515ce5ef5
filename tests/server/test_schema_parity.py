"""SQLite's schema and PostgreSQL's agree (issue 16): the two migration histories differ, the schemas
they end in must not. Read from each database's own catalogue after a fresh migration: tables, columns
(order, NOT NULL, defaults, types), keys, CHECKs, foreign keys, indexes by name, the seeded `meta` keys.

A new SQLite step without its PostgreSQL one fails here: that is the point."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest

from server.storage.postgres.backend import POSTGRES
from server.storage.sqlite.backend import SQLITE
from tests.pg import drop_database, new_database

# SQLite's declared type -> PostgreSQL's.
TYPES = {"INTEGER": "bigint", "TEXT": "text", "REAL": "double precision", "BLOB": "bytea"}
# Where PostgreSQL deliberately differs (postgres/migrations_domains.py says why): (table, column) -> type.
OWN_TYPES = {("rows", "fields"): "json", ("rows", "period_moved"): "boolean"}
OWN_DEFAULTS = {("rows", "period_moved"): ("0", "false")}  # SQLite's, PostgreSQL's


class Index(NamedTuple):
    unique: bool
    columns: tuple[str, ...]  # a column's name, or "expr"
    fields: tuple[str, ...]  # the JSON fields its expressions name, in order
    where: tuple[str, ...]  # the literals of its WHERE (a partial index's collections), sorted


class Table(NamedTuple):
    columns: list[tuple[str, str, bool, str | None]]  # name, PostgreSQL type, NOT NULL, default
    keys: set[tuple[str, ...]]  # the column lists of its primary key and unique indexes
    checks: set[tuple[str, frozenset[str]]]  # `column IN (values)`
    references: set[tuple[str, str, str, str]]  # column, table, its column, ON DELETE
    indexes: dict[str, Index]  # by name, those made by CREATE INDEX (or renamed to SQLite's)


class Schema(NamedTuple):
    tables: dict[str, Table]
    meta: set[str]


def _default(value: str | None) -> str | None:
    """A default as both print it: `'{}'::text` and `'{}'` alike."""
    return None if value is None else re.sub(r"::[\w ]+$", "", value).strip("'")


def _sqlite(conn: sqlite3.Connection) -> Schema:
    tables = {}
    names = [n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                        " AND name NOT LIKE 'sqlite%' AND name != '_sqlite_migrations'")]
    for t in names:
        info = conn.execute(f"PRAGMA table_info({t})").fetchall()
        # A key column is NOT NULL: SQLite lets a TEXT PRIMARY KEY hold NULL, but nothing of ours stores one.
        columns = [(name, OWN_TYPES.get((t, name), TYPES[kind.upper()]), bool(notnull or pk), _default(default))
                   for _, name, kind, notnull, default, pk in info]
        pk = tuple(name for _, name in sorted((pk, name) for _, name, _, _, _, pk in info if pk))
        keys = {pk} if pk else set()
        indexes = {}
        for _, name, unique, origin, partial in conn.execute(f"PRAGMA index_list({t})"):
            cols = tuple(c or "expr" for _, _, c in conn.execute(f"PRAGMA index_info({name})"))
            if unique and "expr" not in cols:
                keys.add(cols)
            if origin == "c":
                sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [name]).fetchone()[0]
                where = sql.partition(" WHERE ")[2] if partial else ""
                indexes[name] = Index(bool(unique), cols, tuple(re.findall(r"'\$\.(\w+)'", sql)),
                                      tuple(sorted(re.findall(r"'(\w+)'", where))))
        sql = conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", [t]).fetchone()[0]
        checks = {(c, frozenset(re.findall(r"'(\w+)'", values)))
                  for c, values in re.findall(r"CHECK \((\w+) IN \(([^)]*)\)\)", sql)}
        references = {(f[3], f[2], f[4], f[6]) for f in conn.execute(f"PRAGMA foreign_key_list({t})")}
        tables[t] = Table(columns, keys, checks, references, indexes)
    return Schema(tables, {k for (k,) in conn.execute("SELECT key FROM meta")})


def _own_default(table: str, column: str, default: str | None) -> str | None:
    """PostgreSQL's default as SQLite's where it says the same in its own type (`false` for 0)."""
    lite, pg = OWN_DEFAULTS.get((table, column), (None, None))
    return lite if default is not None and default == pg else default


ON_DELETE = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}


def _postgres(conn: psycopg.Connection[Any]) -> Schema:
    tables = {}
    names = [n for (n,) in conn.execute("SELECT table_name FROM information_schema.tables"
                                        " WHERE table_schema = 'public' AND table_name != 'migrations'")]
    for t in names:
        columns = [(n, kind, nullable == "NO", _own_default(t, n, _default(d))) for n, kind, nullable, d in conn.execute(
            "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns"
            " WHERE table_schema = 'public' AND table_name = %s ORDER BY ordinal_position", [t])]
        keys, indexes = set(), {}
        for name, unique, cols, definition, where, constraint in conn.execute(
                "SELECT c.relname, i.indisunique, ARRAY(SELECT coalesce(a.attname, 'expr') FROM unnest(i.indkey)"
                "  WITH ORDINALITY k(n, o) LEFT JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n"
                "  ORDER BY k.o), pg_get_indexdef(i.indexrelid), pg_get_expr(i.indpred, i.indrelid),"
                "  (SELECT conname FROM pg_constraint WHERE conindid = i.indexrelid AND contype IN ('p', 'u'))"
                " FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = %s::regclass", [t]):
            cols = tuple(cols)
            if unique and "expr" not in cols:
                keys.add(cols)
            if constraint not in (f"{t}_pkey", f"{t}_{'_'.join(cols)}_key"):  # PostgreSQL's own names
                indexes[name] = Index(unique, cols, tuple(re.findall(r"->> '(\w+)'", definition)),
                                      tuple(sorted(re.findall(r"'(\w+)'", where or ""))))
        checks = {(c, frozenset(re.findall(r"'(\w+)'", values))) for (definition,) in conn.execute(
            "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE contype = 'c' AND conrelid = %s::regclass", [t])
            for c, values in re.findall(r"\((\w+) = ANY \(ARRAY\[([^]]*)\]", definition)}
        references = set(conn.execute(
            "SELECT a.attname, f.relname, b.attname, k.confdeltype FROM pg_constraint k"
            " JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = k.conkey[1]"
            " JOIN pg_class f ON f.oid = k.confrelid"
            " JOIN pg_attribute b ON b.attrelid = k.confrelid AND b.attnum = k.confkey[1]"
            " WHERE k.contype = 'f' AND k.conrelid = %s::regclass", [t]))
        references = {(a, f, b, ON_DELETE[d]) for a, f, b, d in references}
        tables[t] = Table(columns, keys, checks, references, indexes)
    return Schema(tables, {k for (k,) in conn.execute("SELECT key FROM meta")})


def differences(lite: Schema, pg: Schema) -> list[str]:
    """What PostgreSQL's schema lacks or has otherwise than SQLite's, one line each."""
    found = [f"table {t}: only on {side}" for t, side in
             [*((t, "SQLite") for t in lite.tables.keys() - pg.tables.keys()),
              *((t, "PostgreSQL") for t in pg.tables.keys() - lite.tables.keys())]]
    for t in sorted(lite.tables.keys() & pg.tables.keys()):
        a, b = lite.tables[t], pg.tables[t]
        for aspect in ("columns", "keys", "checks", "references", "indexes"):
            if getattr(a, aspect) != getattr(b, aspect):
                found.append(f"{t} {aspect}: SQLite {getattr(a, aspect)} != PostgreSQL {getattr(b, aspect)}")
    if lite.meta != pg.meta:
        found.append(f"meta keys: SQLite {sorted(lite.meta)} != PostgreSQL {sorted(pg.meta)}")
    return found


@pytest.fixture(scope="module")
def schemas(postgres: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, str]]:
    """A new database of each backend, migrated as a server opens it: the SQLite file and PostgreSQL's URL."""
    path = tmp_path_factory.mktemp("parity") / "db.db"
    SQLITE.open(path).close()
    url = new_database(postgres)
    POSTGRES.open(url).close()
    yield path, url
    drop_database(url)


def _read(schemas: tuple[Path, str]) -> tuple[Schema, Schema]:
    lite = sqlite3.connect(schemas[0])
    try:
        with psycopg.connect(schemas[1]) as pg:
            return _sqlite(lite), _postgres(pg)
    finally:
        lite.close()


def test_postgresql_has_sqlites_schema(schemas: tuple[Path, str]) -> None:
    lite, pg = _read(schemas)
    assert len(lite.tables) >= 20 and "verifications" in pg.tables  # both read, up to SQLite's newest step
    assert differences(lite, pg) == []


def test_the_comparison_sees_each_kind_of_difference(tmp_path: Path, schemas: tuple[Path, str]) -> None:
    """What a SQLite step without its PostgreSQL one would leave, each kind once: the comparison names it."""
    copy = tmp_path / "db.db"
    with sqlite3.connect(schemas[0]) as source, sqlite3.connect(copy) as target:
        source.backup(target)
    with sqlite3.connect(copy) as db:
        db.executescript("""
            ALTER TABLE clients ADD COLUMN note TEXT NOT NULL DEFAULT '';
            CREATE INDEX rows_photo_taken ON rows(json_extract(fields, '$.taken_at')) WHERE collection = 'photos';
            CREATE UNIQUE INDEX users_name ON users(name);
            CREATE TABLE notes (id TEXT PRIMARY KEY, state TEXT CHECK (state IN ('a', 'b')),
                                user_id TEXT REFERENCES users(id) ON DELETE CASCADE);
            DROP INDEX tokens_client;
            INSERT INTO meta(key, value) VALUES ('flag', '1');
        """)
    lite = sqlite3.connect(copy)
    try:
        with psycopg.connect(schemas[1]) as pg:
            found = differences(_sqlite(lite), _postgres(pg))
    finally:
        lite.close()
    assert [line.split(":")[0] for line in found] == [
        "table notes", "clients columns", "rows indexes", "tokens indexes", "users keys", "users indexes", "meta keys"]
    assert "'note', 'text', True, ''" in found[1] and "rows_photo_taken" in found[2] and "flag" in found[-1]


def test_a_field_as_the_dialect_writes_it_uses_postgresqls_expression_indexes(schemas: tuple[Path, str]) -> None:
    # As test_storage_contract's SQLite test: PostgreSQL uses an index on an expression only for the same
    # expression, so the indexes name a field as `POSTGRES.sql.field` does. Seq scans off and the other
    # indexes dropped (in a transaction rolled back): with its index the plan scans it.
    with psycopg.connect(schemas[1]) as pg:
        leading = [(name, field, where) for name, field, where in pg.execute(
            "SELECT c.relname, substring(pg_get_indexdef(i.indexrelid, 1, true) from '->> ''(\\w+)'''),"
            " pg_get_expr(i.indpred, i.indrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid"
            " WHERE i.indrelid = 'rows'::regclass AND i.indkey[0] = 0")]
        assert len(leading) >= 7, leading
        others = [n for (n,) in pg.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'rows'"
                                             " AND indexname NOT IN (SELECT conname FROM pg_constraint)")]
        pg.rollback()
        for name, field, where in leading:
            pg.execute("SET LOCAL enable_seqscan = off")
            for other in others:
                if other != name:
                    pg.execute(f"DROP INDEX {other}")
            sql = f"EXPLAIN SELECT id FROM rows WHERE {where} AND {POSTGRES.sql.field('fields', field)} = %s"
            plan = "\n".join(line for (line,) in pg.execute(sql, ["x"]))
            pg.rollback()
            assert re.search(rf"(Index Scan using|Bitmap Index Scan on) {name}\b", plan), (name, plan)

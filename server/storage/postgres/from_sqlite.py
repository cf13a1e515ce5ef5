"""A SQLite deployment's database copied into PostgreSQL (`fieldsync migrate`), and a new server
epoch for a PostgreSQL database put back from a dump (`fieldsync new-epoch`).

The copy is generic over the tables both schemas have: each table's columns by name, in the
order of PostgreSQL's foreign keys, with COPY (each value parsed by its column's type: SQLite's
0/1 becomes a boolean, a JSON text JSONB). It is exact, `meta` included, so the server epoch,
the version counter and the cursor secret carry over and every client's cursor and `acked_seq`
stay valid: the same server, moved. Anything it cannot carry (a table or column PostgreSQL
lacks that holds data, a target that already holds data) refuses before anything is written,
and the whole copy is one transaction: it commits whole or not at all.
"""

from __future__ import annotations

import json
import sqlite3
import uuid
from contextlib import suppress
from dataclasses import dataclass
from graphlib import TopologicalSorter
from pathlib import Path
from typing import Any

import psycopg

from ..sqlite.backup import BackupError
from .connection import conninfo
from .migrations import MIGRATING, migrate

# Each backend's record of its own schema steps: not data, and not the same steps.
OWN_RECORDS = {"_sqlite_migrations", "migrations"}
_NUL_SHOWN = 20  # values holding a NUL named in `migrate`'s refusal; past it, how many more


@dataclass(frozen=True)
class Moved:
    server_epoch: str
    version: int
    tables: dict[str, int]  # rows copied per table


def _other_sessions(target: psycopg.Connection[Any]) -> int:
    """Connections to this database but ours: a running `fieldsync serve` keeps its pool open."""
    found = target.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                           " AND pid <> pg_backend_pid() AND backend_type = 'client backend'").fetchone()
    return int(found[0]) if found else 0


def _alone(target: psycopg.Connection[Any]) -> None:
    if others := _other_sessions(target):
        raise BackupError(f"{others} other connections to the database: stop every fieldsync serve on it first")


def _target_columns(target: psycopg.Connection[Any]) -> dict[str, list[str]]:
    columns: dict[str, list[str]] = {}
    for table, column in target.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " ORDER BY table_name, ordinal_position"):
        columns.setdefault(table, []).append(column)
    return columns


def _fk_order(target: psycopg.Connection[Any], tables: set[str]) -> list[str]:
    """`tables`, every one after the tables its foreign keys point at."""
    graph: dict[str, set[str]] = {t: set() for t in tables}
    for child, parent in target.execute(
            "SELECT child.relname, parent.relname FROM pg_constraint c JOIN pg_class child ON child.oid = c.conrelid"
            " JOIN pg_class parent ON parent.oid = c.confrelid WHERE c.contype = 'f'"
            " AND c.connamespace = current_schema()::regnamespace"):
        if child in graph and parent in graph and child != parent:
            graph[child].add(parent)
    return list(TopologicalSorter(graph).static_order())


def _count(conn: Any, table: str) -> int:
    return int(conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0])


def _refuse_filled(target: psycopg.Connection[Any], columns: dict[str, list[str]]) -> None:
    """Only an empty database is a target: its schema and `meta`'s seeds, nothing a server wrote."""
    filled = sorted(t for t in columns if t not in OWN_RECORDS | {"meta"} and _count(target, t))
    version = target.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()
    if filled or (version and version[0] != "0"):
        raise BackupError("the PostgreSQL database already holds data (" + (", ".join(filled) or "meta's version")
                          + "); migrate into a new, empty database")


def _sequence_floors(source: sqlite3.Connection) -> dict[str, int]:
    """SQLite's AUTOINCREMENT high-water marks: ids never handed out again, even those since deleted."""
    if not source.execute("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_sequence'").fetchone():
        return {}
    return {name: int(seq) for name, seq in source.execute("SELECT name, seq FROM sqlite_sequence")}


def _set_sequences(target: psycopg.Connection[Any], floors: dict[str, int]) -> None:
    """Identity sequences, and those a column owns (`clients_enrolled`), past the copied numbers, so
    the next row gets a new one."""
    for table, column in target.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND pg_get_serial_sequence(quote_ident(table_name), column_name) IS NOT NULL").fetchall():
        found = target.execute(f'SELECT max("{column}") FROM "{table}"').fetchone()
        top = max(int(found[0] or 0) if found else 0, floors.get(table, 0))
        if top:
            target.execute("SELECT setval(pg_get_serial_sequence(%s, %s), %s)", [table, column, top])


def _keys(target: psycopg.Connection[Any]) -> dict[str, list[str]]:
    """Each table's primary key columns in PostgreSQL: what names a row to an operator."""
    keys: dict[str, list[str]] = {}
    for table, column in target.execute(
            "SELECT tc.table_name, k.column_name FROM information_schema.table_constraints tc"
            " JOIN information_schema.key_column_usage k ON k.constraint_name = tc.constraint_name"
            " AND k.table_schema = tc.table_schema WHERE tc.constraint_type = 'PRIMARY KEY'"
            " AND tc.table_schema = current_schema() ORDER BY tc.table_name, k.ordinal_position"):
        keys.setdefault(table, []).append(column)
    return keys


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(map(_holds_nul, value)) or any(map(_holds_nul, value.values()))
    return isinstance(value, list) and any(map(_holds_nul, value))


def _refuse_nul(source: sqlite3.Connection, lite: dict[str, list[str]], target: psycopg.Connection[Any]) -> None:
    """A NUL stored before the server refused it (console form values, spreadsheet cells, tus file names
    were kept as given) has no place in PostgreSQL: text refuses it, JSON's `\\u0000` fails each read.
    Refused, every such value named, rather than changed: a value changed here would differ from the
    copy every client holds, unseen (no new version). Mended on the SQLite server, an edit reaches them."""
    found: list[str] = []
    keys = _keys(target)
    for table, column, kind in target.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema ="
            " current_schema() AND data_type IN ('text', 'character varying', 'json', 'jsonb')").fetchall():
        if column not in lite.get(table, ()):
            continue
        key = keys.get(table) or ["rowid"]
        names = ", ".join(f'"{k}"' for k in key)
        for *named, value in source.execute(
                f'SELECT {names}, "{column}" FROM "{table}" WHERE instr(CAST("{column}" AS BLOB), x\'00\') > 0'
                f" OR instr(\"{column}\", '\\u0000') > 0"):
            if kind.startswith("json") and isinstance(value, str):
                with suppress(ValueError):  # not JSON: its text is looked at
                    value = json.loads(value, strict=False)
            if _holds_nul(value):
                row = ", ".join(f"{k}={str(v).replace(chr(0), '<NUL>')}" for k, v in zip(key, named, strict=True))
                found.append(f"{table} ({row}) {column}")
    if found:
        more = len(found) - _NUL_SHOWN
        shown = "; ".join(found[:_NUL_SHOWN]) + (f"; and {more} more" if more > 0 else "")
        raise BackupError(f"{len(found)} values hold a NUL character, which PostgreSQL cannot store: {shown}."
                          " Nothing was copied. Mend each on the SQLite server (a row's field: edit it in the"
                          " console or the app, so every client gets the change; another column: sqlite3's"
                          " UPDATE ... SET col = replace(col, char(0), '')), then migrate again")


def copy_database(sqlite_path: Path, url: str) -> Moved:
    """Copy the SQLite database at `sqlite_path` into the empty PostgreSQL database at `url`.

    The caller holds the data directory's lock (no server writes to the file meanwhile)."""
    source = sqlite3.connect(sqlite_path, isolation_level=None)
    try:
        source.execute("BEGIN")  # one snapshot, though nothing should write
        lite = {name: [c[1] for c in source.execute(f'PRAGMA table_info("{name}")')] for (name,) in source.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite%'").fetchall()
                if name not in OWN_RECORDS}
        # Never ended for idling (a server-wide idle_in_transaction_session_timeout): between two tables'
        # COPYs, it reads and counts the SQLite file. No server runs meanwhile (`_alone`).
        with psycopg.connect(conninfo(url, idle="0"), autocommit=True) as target:
            migrate(target)
            with target.transaction():
                # Servers starting meanwhile wait for this lock (they migrate under it), then see the copy.
                target.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATING])
                _alone(target)
                columns = _target_columns(target)
                _refuse_filled(target, columns)
                lacking = sorted(t for t in lite if t not in columns and _count(source, t))
                lost = sorted(f"{t}.{c}" for t in lite if t in columns for c in lite[t] if c not in columns[t]
                              and source.execute(f'SELECT 1 FROM "{t}" WHERE "{c}" IS NOT NULL LIMIT 1').fetchone())
                if lacking or lost:
                    raise BackupError("the PostgreSQL schema has no place for " + ", ".join(lacking + lost)
                                      + ": upgrade fieldsync, then migrate")
                _refuse_nul(source, lite, target)
                copied: dict[str, int] = {}
                target.execute("DELETE FROM meta")  # its seeds give way to the copy's
                for table in _fk_order(target, set(lite) & set(columns)):
                    names = [c for c in lite[table] if c in columns[table]]
                    quoted = ", ".join(f'"{c}"' for c in names)
                    try:
                        with target.cursor().copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
                            for row in source.execute(f'SELECT {quoted} FROM "{table}"'):
                                copy.write_row(row)
                    except psycopg.Error as exc:
                        raise BackupError(f"copying {table}: {exc}; nothing was written") from None
                    copied[table] = _count(target, table)
                    if copied[table] != _count(source, table):
                        raise BackupError(f"{table}: {copied[table]} rows copied of {_count(source, table)};"
                                          " nothing was written")
                _set_sequences(target, _sequence_floors(source))
                meta: dict[str, str] = dict(target.execute("SELECT key, value FROM meta WHERE key IN ('server_epoch', 'version')"))
    finally:
        source.close()
    return Moved(server_epoch=meta["server_epoch"], version=int(meta["version"]), tables=copied)


def new_epoch(url: str) -> str:
    """Give the PostgreSQL database at `url` a new server epoch (after `pg_restore`), as `fieldsync
    restore` does to a SQLite backup: clients then resend what they hold and pull afresh. Refused
    while a server is connected, since it would keep answering with the old epoch."""
    epoch = str(uuid.uuid4())
    with psycopg.connect(conninfo(url), autocommit=True) as target, target.transaction():
        _alone(target)
        # No `meta` at all: a pg_restore that failed, or a URL naming another database.
        if target.execute("SELECT to_regclass('meta')").fetchone() == (None,) or not target.execute(
                "UPDATE meta SET value = %s WHERE key = 'server_epoch'", [epoch]).rowcount:
            raise BackupError(f"no fieldsync database there (no server_epoch in {target.info.dbname}'s meta):"
                              " check the URL, and that pg_restore ended without an error")
    return epoch

"""PostgreSQL connections: a pool of readers and a pool of writers, each in its own transaction.

Unlike SQLite's one writer, writes run side by side, here and in other processes: what must
be serialised (the version counter) is locked inside the database, where every process sees
the lock (`rows.py`). Readers hold one REPEATABLE READ snapshot for the whole block, as a
SQLite reader does; writers run READ COMMITTED, so that a statement after a lock wait sees
what the transaction it waited for committed.

Storage code speaks to both backends alike (`base.Sql`): `?` marks, `execute` and
`executemany` on the connection, rows as tuples, JSON read back as its text.
"""

from __future__ import annotations

import queue
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.types.string import TextLoader

from ..base import Cursor, Unreachable
from ..writes import atomic
from .migrations import migrate

Raw = psycopg.Connection[tuple[Any, ...]]


@lru_cache(maxsize=1024)
def _marks(sql: str) -> str:
    """sqlite3's `?` marks as psycopg's `%s` (a literal `%` doubled). No statement of ours holds
    a `?` of its own: JSONB's `?` operators are not used."""
    return sql.replace("%", "%%").replace("?", "%s")


class Connection:
    """A psycopg connection with sqlite3's calls (`base.Sql`), for the SQL both backends share."""

    def __init__(self, raw: Raw) -> None:
        self.raw = raw

    def execute(self, sql: str, parameters: Any = (), /) -> Cursor:
        return self.raw.execute(_marks(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor:
        cursor = self.raw.cursor()
        cursor.executemany(_marks(sql), parameters)
        return cursor


def connect(url: str) -> Connection:
    """A connection in autocommit mode (transactions are explicit, as on SQLite), reading JSON as text:
    a pull sends a row's fields as stored, without parsing them."""
    raw = psycopg.connect(url, autocommit=True)
    for kind in ("json", "jsonb"):
        raw.adapters.register_loader(kind, TextLoader)
    return Connection(raw)


class Database:
    """The database at `url`, migrated on open: `readers` readers and `writers` writers."""

    def __init__(self, url: str, readers: int, writers: int = 2) -> None:
        try:
            first = psycopg.connect(url, autocommit=True, connect_timeout=30)
        except psycopg.OperationalError as exc:  # libpq's message names the host, never the password
            raise Unreachable(" ".join(str(exc).split())) from None
        with first:
            migrate(first)
        self._readers: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._writers: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._all = [connect(url) for _ in range(readers + writers)]
        for n, conn in enumerate(self._all):
            (self._readers if n < readers else self._writers).put(conn)

    def close(self) -> None:
        for conn in self._all:
            conn.raw.close()

    @contextmanager
    def _in(self, pool: queue.LifoQueue[Connection], begin: str) -> Iterator[Connection]:
        conn = pool.get()
        try:
            with atomic(conn, begin):
                yield conn
        finally:
            pool.put(conn)

    @contextmanager
    def write(self, versions: bool = False) -> Iterator[Connection]:
        """A writer in a READ COMMITTED transaction; rolled back on any error. With `versions`, it
        takes the version counter's lock first (`rows.py`), before anything else it touches: every
        transaction that takes both the counter and a client's row takes them in that order, so a
        push and a revoke or a membership change never wait for each other in a cycle."""
        with self._in(self._writers, "BEGIN ISOLATION LEVEL READ COMMITTED") as conn:
            if versions:
                from .rows import SQL

                conn.execute(SQL.version)
            yield conn

    def read(self) -> AbstractContextManager[Connection]:
        """A reader holding one snapshot for the whole block."""
        return self._in(self._readers, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

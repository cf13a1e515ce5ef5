"""PostgreSQL connections: a pool of readers and a pool of writers, each in its own transaction.

Unlike SQLite's one writer, writes run side by side, here and in other processes: what must
be serialised (the version counter) is locked inside the database, where every process sees
the lock (`rows.py`). Readers hold one REPEATABLE READ snapshot for the whole block, as a
SQLite reader does; writers run READ COMMITTED, so that a statement after a lock wait sees
what the transaction it waited for committed.

Storage code speaks to both backends alike (`base.Sql`): `?` marks, `execute` and
`executemany` on the connection, rows as tuples, JSON read back as its text.

A connection that breaks (PostgreSQL restarted, the backend terminated, the network) is
replaced in its place in the pool. Found at BEGIN, before the transaction did anything, the
block goes on over the new one; found later, the block's transaction is gone (PostgreSQL rolls
back what did not commit) and the request gets `DatabaseUnavailable` (503): a push's retry is
answered from its receipts. A database that cannot be reached is the same 503, and the next
request tries again. docs/operations.md, "PostgreSQL settings that matter", says why the
session settings below.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from functools import lru_cache
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.types.string import TextLoader

from sync.errors import DatabaseUnavailable

from ..base import Cursor, Unreachable
from ..writes import atomic
from .migrations import migrate

log = logging.getLogger("fieldsync")

# Each session of ours: a transaction idle this long between statements is ended by PostgreSQL, so a
# process frozen (or a machine gone) while holding the version lock stalls pushes for a minute, not until
# someone notices. Our own transactions never pause that long: a push's longest gap between statements is
# its merge in Python, milliseconds (docs/operations.md). TCP keepalives, and a minute's limit on data sent
# and not acknowledged, on both ends: the server frees a vanished machine's connection, and a request
# waiting on a vanished database host gets its 503 in about a minute instead of the kernel's 15.
IDLE_IN_TRANSACTION = "60s"
SESSION = "-c idle_in_transaction_session_timeout={idle} -c tcp_keepalives_idle=30 -c tcp_keepalives_interval=10" \
          " -c tcp_keepalives_count=3 -c tcp_user_timeout=60000"
LIBPQ = {"connect_timeout": "10", "keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10",
         "keepalives_count": "3", "tcp_user_timeout": "60000"}
RETRY_AFTER_SECONDS = 5  # a PostgreSQL restart takes a few seconds

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


def conninfo(url: str, idle: str = IDLE_IN_TRANSACTION) -> str:
    """`url` with our session settings and keepalives, where it sets none of its own: an operator
    overrides them in the URL (`?keepalives_idle=60`, `?options=-c%20idle_in_transaction_session_timeout%3D5min`;
    PostgreSQL takes the last `-c` of a name, and theirs come after ours). `idle` "0": no limit."""
    given = conninfo_to_dict(url)
    options = f"{SESSION.format(idle=idle)} {given.get('options') or ''}".strip()
    return make_conninfo("", **{**LIBPQ, **given, "options": options})


def _raw(info: str) -> Raw:
    """A connection in autocommit mode (transactions are explicit, as on SQLite), reading JSON as text:
    a pull sends a row's fields as stored, without parsing them."""
    raw = psycopg.connect(info, autocommit=True)
    for kind in ("json", "jsonb"):
        raw.adapters.register_loader(kind, TextLoader)
    return raw


def unreachable(exc: psycopg.OperationalError) -> Unreachable:
    """libpq's refusal in one line (its message names the host, never the password; a hint is on a line of its own)."""
    return Unreachable(" ".join(str(exc).split()))


class Database:
    """The database at `url`, migrated on open: `readers` readers and `writers` writers."""

    def __init__(self, url: str, readers: int, writers: int = 2) -> None:
        try:
            first = psycopg.connect(conninfo(url), autocommit=True, connect_timeout=30)
        except psycopg.OperationalError as exc:
            raise unreachable(exc) from None
        with first:
            self.migrated = migrate(first)
        self._readers: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._writers: queue.LifoQueue[Connection] = queue.LifoQueue()
        self._info = conninfo(url)
        self._all = [Connection(_raw(self._info)) for _ in range(readers + writers)]
        for n, conn in enumerate(self._all):
            (self._readers if n < readers else self._writers).put(conn)

    def close(self) -> None:
        for conn in self._all:
            conn.raw.close()

    @contextmanager
    def _in(self, pool: queue.LifoQueue[Connection], begin: str) -> Iterator[Connection]:
        conn, begun = pool.get(), False
        try:
            for again in (False, True):  # again only if the connection broke at BEGIN, before the block ran
                try:
                    with atomic(conn, begin):
                        begun = True
                        yield conn
                    return
                except psycopg.Error as exc:
                    if not conn.raw.closed:
                        raise
                    self._renew(conn, exc)
                    if begun or again:
                        raise DatabaseUnavailable("the connection to the database broke; this request's"
                                                  " transaction did not commit, or its answer was lost",
                                                  retry_after=RETRY_AFTER_SECONDS) from exc
        finally:
            pool.put(conn)

    def _renew(self, conn: Connection, why: BaseException) -> None:
        """A broken connection replaced in its place in the pool; `DatabaseUnavailable` (it stays
        broken, and the next transaction tries again) while the database cannot be reached."""
        log.warning("a database connection broke (%s); reconnecting", " ".join(str(why).split())[:200])
        with suppress(psycopg.Error):
            conn.raw.close()
        try:
            conn.raw = _raw(self._info)
        except psycopg.OperationalError as exc:  # libpq's message names the host, never the password
            log.warning("the database cannot be reached: %s", " ".join(str(exc).split())[:200])
            raise DatabaseUnavailable("the database cannot be reached", retry_after=RETRY_AFTER_SECONDS) from None

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

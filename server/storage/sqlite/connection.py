"""SQLite connections: one writer for every write, a pool of readers.

Every write runs in one `BEGIN IMMEDIATE` transaction on the writer, so a push's
receipts, rows, versions and conflict log commit together or not at all. Reads
hold one snapshot on a reader connection and never wait for the writer.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from ..base import refuse_newer
from ..protocol import meta
from ..writes import atomic
from ..writes import select_in as select_in
from .migrations import migrate, migrations

# SQLite's refusal to open or write (a file this user cannot write, a lock held by another process).
Refused = sqlite3.OperationalError


def connect(path: Path | str) -> sqlite3.Connection:
    """A connection in autocommit mode; transactions are explicit (BEGIN IMMEDIATE for writes)."""
    conn = sqlite3.connect(str(path), isolation_level=None, check_same_thread=False, timeout=60)
    conn.execute("PRAGMA busy_timeout = 60000")
    conn.execute("PRAGMA journal_mode = WAL")
    # An acknowledgement lets a client drop its outbox: the commit must be on disk first.
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA wal_autocheckpoint = 20000")
    conn.execute("PRAGMA cache_size = -65536")
    return conn


class Database:
    """The database file, migrated on open: the one writer (behind a lock) and `readers` readers."""

    def __init__(self, path: Path, readers: int) -> None:
        self.writer = connect(path)
        applied = {m.name for m in migrations.applied(sqlite_utils.Database(self.writer))}
        refuse_newer(sorted(applied), [m.name for m in migrations._migrations])
        migrate(self.writer)
        self.migrated = tuple(m.name for m in migrations._migrations if m.name not in applied)
        self.lock = threading.Lock()
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        for _ in range(readers):
            self._readers.put(connect(path))

    def close(self) -> None:
        with self.lock:
            self.writer.close()
        while not self._readers.empty():
            self._readers.get_nowait().close()

    @contextmanager
    def write(self, versions: bool = False) -> Iterator[sqlite3.Connection]:
        """The one writer, in a BEGIN IMMEDIATE transaction; rolled back on any error. It serialises
        every write, so `versions` (`base.Connections`) asks for nothing more."""
        with self.lock, atomic(self.writer, "BEGIN IMMEDIATE") as conn:
            yield conn

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A reader holding one snapshot for the whole block."""
        conn = self._readers.get()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        finally:
            self._readers.put(conn)

    meta = staticmethod(meta)


"""SQLite connections: one writer for every write, a pool of readers.

Every write runs in one `BEGIN IMMEDIATE` transaction on the writer, so a push's
receipts, rows, versions and conflict log commit together or not at all. Reads
hold one snapshot on a reader connection and never wait for the writer.
"""

from __future__ import annotations

import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlite_utils

from ..base import refuse_newer
from ..protocol import meta
from ..writes import atomic
from ..writes import select_in as select_in
from .migrations import migrate, migrations

log = logging.getLogger(__name__)

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


class Checkpointer:
    """The WAL checkpointed from a connection and thread of its own, outside the writer lock.

    SQLite's automatic checkpoint runs in the committing connection, inside the push whose commit
    crossed `wal_autocheckpoint`: that push, and every push waiting for the writer, waited for it
    (about 100 ms twice in a morning rush, issue 15). After a commit the writer nudges this thread,
    which runs a PASSIVE checkpoint (it never waits for, or blocks, the writer or a reader) at most
    every `every` seconds while commits keep coming; the WAL starts over once a checkpoint has
    copied all of it. Durability is the commit's alone (`synchronous = FULL` fsyncs the WAL): a
    checkpoint only moves committed pages into the database file. The writer's own automatic
    checkpoint stays as the backstop, should this thread fall behind."""

    def __init__(self, path: Path, every: float) -> None:
        self.path, self.every = path, every
        self.done = 0  # checkpoints run (tests)
        self._due = False
        self._closed = False
        self._last = 0.0
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None

    def nudge(self) -> None:
        """A commit happened: checkpoint soon. Returns at once."""
        with self._cond:
            if self._closed:
                return
            self._due = True
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="wal-checkpoint", daemon=True)
                self._thread.start()
            self._cond.notify()

    def _run(self) -> None:
        conn = connect(self.path)
        try:
            while True:
                with self._cond:
                    self._cond.wait_for(lambda: self._due or self._closed)
                    # Commits that come while it waits out `every` are taken by the same checkpoint.
                    self._cond.wait_for(lambda: self._closed, max(0.0, self._last + self.every - time.monotonic()))
                    if self._closed:
                        return
                    self._due = False
                    self._last = time.monotonic()
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.done += 1
        except sqlite3.Error:
            log.exception("the WAL checkpointer stopped; the writer's automatic checkpoints go on")
        finally:
            conn.close()

    def close(self) -> None:
        """Stop the thread (a checkpoint running ends first)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None:
            thread.join()


class Database:
    """The database file, migrated on open: the one writer (behind a lock), `readers` readers, and a
    thread that checkpoints the WAL outside the writer lock (`Checkpointer`)."""

    checkpoint_every = 0.25  # seconds between checkpoints at most, while commits keep coming

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
        self.checkpointer = Checkpointer(path, self.checkpoint_every)

    def close(self) -> None:
        self.checkpointer.close()
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
        self.checkpointer.nudge()

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


"""The SQLite backend as one object (`storage/base.py`'s `Backend`): the contract tests' and `Store`'s."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .. import pages, writes
from ..base import Lookup
from . import rows
from .connection import Database


class SQLiteBackend:
    name = "sqlite"

    def open(self, location: Path | str, readers: int = 2) -> Database:
        return Database(Path(location), readers)

    def transaction(self, db: sqlite3.Connection, now: int) -> rows.Transaction:
        return rows.Transaction(db, now)

    def bulk_load(self, db: sqlite3.Connection, now: int, lookup: Lookup) -> rows.BulkLoad:
        return rows.BulkLoad(db, now, lookup)

    @staticmethod
    @contextmanager
    def bulk(db: sqlite3.Connection) -> Iterator[None]:
        """A bigger page cache while the indexes of millions of random keys grow (`server/scale.py`)."""
        db.execute("PRAGMA cache_size = -1000000")
        try:
            yield
        finally:
            db.execute("PRAGMA cache_size = -65536")  # as `connection.connect` sets it

    sql = rows.SQL
    encode_clocks = staticmethod(writes.encode_clocks)
    page = staticmethod(pages.page)
    purge_tombstones = staticmethod(writes.purge_tombstones)

    def horizon(self, db: sqlite3.Connection) -> int:
        return int(Database.meta(db)["horizon_version"])


SQLITE = SQLiteBackend()

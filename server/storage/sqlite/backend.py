"""The SQLite backend as one object (`storage/base.py`'s `Backend`), for the contract tests."""

from __future__ import annotations

import sqlite3
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

    sql = rows.SQL
    encode_clocks = staticmethod(writes.encode_clocks)
    page = staticmethod(pages.page)
    purge_tombstones = staticmethod(writes.purge_tombstones)

    def horizon(self, db: sqlite3.Connection) -> int:
        return int(Database.meta(db)["horizon_version"])


SQLITE = SQLiteBackend()

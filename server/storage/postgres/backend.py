"""The PostgreSQL backend as one object (`storage/base.py`'s `Backend`): the contract tests' and `Store`'s."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

from .. import pages, writes
from ..base import Lookup
from . import rows
from .connection import Connection, Database


class PostgresBackend:
    name = "postgresql"

    def open(self, location: Path | str, readers: int = 2) -> Database:
        """`location`: a `postgresql://` URL (or any libpq connection string)."""
        return Database(str(location), readers)

    def transaction(self, db: Connection, now: int) -> rows.Transaction:
        return rows.Transaction(db, now)

    def bulk_load(self, db: Connection, now: int, lookup: Lookup) -> rows.BulkLoad:
        return rows.BulkLoad(db, now, lookup)

    @staticmethod
    def bulk(db: Connection) -> AbstractContextManager[None]:
        return nullcontext()  # shared_buffers is the server's, not a connection's

    sql = rows.SQL
    encode_clocks = staticmethod(writes.encode_clocks)
    page = staticmethod(pages.page)  # the SQL is SQLite's and PostgreSQL's alike (`?` marks, `Dialect.field`)
    purge_tombstones = staticmethod(writes.purge_tombstones)

    def horizon(self, db: Connection) -> int:
        return int(db.execute("SELECT value FROM meta WHERE key = 'horizon_version'").fetchone()[0])


POSTGRES = PostgresBackend()

"""The `rows` table in SQLite: the writes of `storage/writes.py` in SQLite's words, and a client's
place in the protocol (acked_seq, receipts).

The one writer (`connection.py`) serialises write transactions: the version counter is read as
each begins, with no other writer in between.
"""

from __future__ import annotations

import sqlite3

from .. import writes
from ..writes import encode_clocks as encode_clocks
from ..writes import purge_tombstones as purge_tombstones

SQL = writes.Dialect(
    version="SELECT value FROM meta WHERE key = 'version'",
    upsert=(
        "INSERT INTO rows(collection, id, site_id, parent_id, device_id, fields, clocks, deleted,"
        " version, updated_ms, period) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(collection, id) DO UPDATE SET fields = excluded.fields,"
        " clocks = excluded.clocks, deleted = excluded.deleted, version = excluded.version,"
        " updated_ms = excluded.updated_ms, period = excluded.period,"
        " period_moved = period_moved OR period IS NOT excluded.period"
    ),
    json_text="json_extract({column}, '$.{name}')",
    json_typed="json_extract({column}, '$.{name}')",
    json_list="json_each(?)",
    json_rows="json_each(?)",
    hints=True,
)
writes.register(sqlite3.Connection, SQL)


class Transaction(writes.Transaction):
    sql = SQL
    db: sqlite3.Connection  # the domains' hooks query it with their SQLite queries (`tx.db`)


class BulkLoad(writes.BulkLoad):
    sql = SQL


def current_version(db: sqlite3.Connection) -> int:
    return int(db.execute(SQL.version).fetchone()[0])


# -- a client's place in the protocol ---------------------------------------------------------


def acked_seq(db: sqlite3.Connection, client_id: str) -> int:
    return int(db.execute("SELECT acked_seq FROM clients WHERE id = ?", [client_id]).fetchone()[0])


def receipts(db: sqlite3.Connection, client_id: str, first: int,
             last: int) -> dict[int, tuple[str, str | None, str]]:
    """{seq: (hlc, digest, result as JSON)} of the client's acknowledged changes from `first` to
    `last`; the digest is None for receipts written before receipts kept one."""
    return {seq: (sent, digest, result) for seq, sent, digest, result in db.execute(
        "SELECT seq, hlc, digest, result FROM receipts WHERE client_id = ? AND seq BETWEEN ? AND ?",
        [client_id, first, last],
    )}


def record_sync(db: sqlite3.Connection, client_id: str, acked: int, at: str, offset: int, app: str | None) -> None:
    """What a push leaves on its client: how far it is acknowledged, when, its clock offset and app."""
    db.execute(
        "UPDATE clients SET acked_seq = ?, last_sync_at = ?, clock_offset_ms = ?, app = coalesce(?, app) WHERE id = ?",
        [acked, at, offset, app, client_id],
    )


def save_clock(db: sqlite3.Connection, last: str) -> None:
    """The server's HLC, so that a restarted server never issues an older one."""
    db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [last])

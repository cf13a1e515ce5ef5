"""The `rows` table in SQLite: the writes of `storage/writes.py` in SQLite's words (a client's place
in the protocol, acked_seq and receipts, is `storage/protocol.py`'s, in the SQL both speak).

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
    bulk={},  # no round trips: `executemany` of many rows a statement (`writes.write_many`)
    lock=None,  # the one writer
    try_lock=None,
    counter="(SELECT coalesce(max({column}), 0) + 1 FROM {table})",
)
writes.register(sqlite3.Connection, SQL)


class Transaction(writes.Transaction):
    sql = SQL
    db: sqlite3.Connection  # the domains' hooks query it with their SQLite queries (`tx.db`)


class BulkLoad(writes.BulkLoad):
    sql = SQL

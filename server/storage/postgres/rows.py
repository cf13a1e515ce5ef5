"""The `rows` writes of `storage/writes.py` in PostgreSQL's words.

Versions stay gap-free and commit-ordered with writers in several processes: a transaction
reads the version counter `FOR UPDATE`, so the counter row stays locked until it commits or
rolls back, and the next transaction that takes versions waits for that, then reads what it
committed (READ COMMITTED: a row lock waited for yields the row's newest committed value).
Versions are thus handed out in commit order, and PostgreSQL makes a commit visible before it
lets go of its locks: no snapshot holds version N+1 without N. docs/architecture.md says what
it costs.
"""

from __future__ import annotations

from .. import writes
from .connection import Connection

SQL = writes.Dialect(
    version="SELECT value FROM meta WHERE key = 'version' FOR UPDATE",
    upsert=(
        "INSERT INTO rows(collection, id, site_id, parent_id, device_id, fields, clocks, deleted,"
        " version, updated_ms, period) VALUES (?, ?, ?, ?, ?, CAST(? AS json), ?, ?, ?, ?, ?)"
        " ON CONFLICT(collection, id) DO UPDATE SET fields = excluded.fields,"
        " clocks = excluded.clocks, deleted = excluded.deleted, version = excluded.version,"
        " updated_ms = excluded.updated_ms, period = excluded.period,"
        " period_moved = rows.period_moved OR rows.period IS DISTINCT FROM excluded.period"
    ),
    json_text="({column} ->> '{name}')",
    json_typed="CAST({column} ->> '{name}' AS {cast})",
    json_list="jsonb_array_elements_text(CAST(? AS jsonb)) AS e(value)",
    json_rows="jsonb_array_elements(CAST(? AS jsonb)) AS e(value)",
    hints=False,
)
writes.register(Connection, SQL)


class Transaction(writes.Transaction):
    sql = SQL
    db: Connection


class BulkLoad(writes.BulkLoad):
    sql = SQL

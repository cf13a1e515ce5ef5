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


def in_one(statement: str, types: str) -> str:
    """`statement` (`INSERT INTO t(…) VALUES (?, …) [ON CONFLICT …]`) for many rows in one: the rows as one
    JSON array of arrays (`writes.write_many`), each value read back as its column's type (`types`, in
    column order), in order, so that the rows meet the table's unique indexes one after the other as
    `executemany`'s would. As `jsonb`, which each `->>` reads without parsing again (a row's fields are
    a string in it, kept as sent); not as arrays, which psycopg would escape element by element in Python."""
    head, _, values = statement.partition(" VALUES (")
    tail = values[values.find(" ON CONFLICT"):] if " ON CONFLICT" in values else ""
    columns = ", ".join(f"CAST(e ->> {n} AS {kind})" for n, kind in enumerate(types.split()))
    return f"{head} SELECT {columns} FROM jsonb_array_elements(CAST(? AS jsonb)) AS e{tail}"


UPSERT = (
    "INSERT INTO rows(collection, id, site_id, parent_id, device_id, fields, clocks, deleted,"
    " version, updated_ms, period) VALUES (?, ?, ?, ?, ?, CAST(? AS json), ?, ?, ?, ?, ?)"
    " ON CONFLICT(collection, id) DO UPDATE SET fields = excluded.fields,"
    " clocks = excluded.clocks, deleted = excluded.deleted, version = excluded.version,"
    " updated_ms = excluded.updated_ms, period = excluded.period,"
    " period_moved = rows.period_moved OR rows.period IS DISTINCT FROM excluded.period"
)
SQL = writes.Dialect(
    version="SELECT value FROM meta WHERE key = 'version' FOR UPDATE",
    upsert=UPSERT,
    json_text="({column} ->> '{name}')",
    json_typed="CAST({column} ->> '{name}' AS {cast})",
    json_list="jsonb_array_elements_text(CAST(? AS jsonb)) AS e(value)",
    json_rows="jsonb_array_elements(CAST(? AS jsonb)) AS e(value)",
    hints=False,
    lock="SELECT pg_advisory_xact_lock(?, hashtext(?))",
    try_lock="SELECT pg_try_advisory_xact_lock(?)",
    counter="nextval('{table}_{column}')",
    text_json="CAST({column} AS json)",
    # A push's rows, creators, receipts and log entries: one statement each (docs/performance.md, issue 16).
    bulk={
        UPSERT: in_one(UPSERT, "text text text text text json text bigint bigint bigint text"),
        writes.CREATORS: in_one(writes.CREATORS, "text text text text"),
        writes.RECEIPTS: in_one(writes.RECEIPTS, "text bigint text text text"),
        writes.CONFLICTS: in_one(writes.CONFLICTS, "text text text text text text text text text text text bigint"
                                                   " text text text text"),
    },
)
writes.register(Connection, SQL)


class Transaction(writes.Transaction):
    sql = SQL
    db: Connection


class BulkLoad(writes.BulkLoad):
    sql = SQL

"""The conflict log's reads: entries in id order, filtered, and the rows they name (for labels)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import msgspec

from .base import Sql
from .queries import equal_to
from .writes import dialect, select_in

_json_encode = msgspec.json.Encoder().encode


def entries(
    db: Sql,
    after: int,
    equal: dict[str, str | None],
    viewer: tuple[str, frozenset[str] | None] | None,
    limit: int,
    before: int | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Entries after id `after` (with `before`: below that id, newest first), read row by row (a caller may stop early), at most `limit`
    (-1: no limit): (id, at, kind, collection, row_id, register, reason, detail, site_id,
    client_id, username, hlc, seq, old_value, new_value, other_client_id, other username,
    other_hlc). `equal`: {column: value} filters on `collection`, `row_id`, `site_id`, `kind` (None:
    any). `viewer`: a technician's (user_id, sites) — their own values that lost or were
    overwritten, of the sites they are a member of now, and entries of no site they pushed."""
    where: list[str] = ["k.id > ?" if before is None else "k.id < ?"]
    args: list[Any] = [after if before is None else before]
    equal_to({f"k.{column}": value for column, value in equal.items()}, where, args)
    if viewer is not None:
        user_id, sites = viewer
        where.append("(k.user_id = ? OR oc.user_id = ?)"
                     f" AND (k.site_id IN (SELECT value FROM {dialect(db).json_list}) OR (k.site_id IS NULL AND k.user_id = ?))")
        args += [user_id, user_id, _json_encode(sorted(sites or ())).decode(), user_id]
    yield from db.execute(
        "SELECT k.id, k.at, k.kind, k.collection, k.row_id, k.register, k.reason, k.detail,"
        " k.site_id, k.client_id, u.username, k.hlc, k.seq, k.old_value, k.new_value,"
        " k.other_client_id, ou.username, k.other_hlc"
        " FROM conflicts k LEFT JOIN users u ON u.id = k.user_id"
        " LEFT JOIN clients oc ON oc.id = k.other_client_id LEFT JOIN users ou ON ou.id = oc.user_id"
        f" WHERE {' AND '.join(where)} ORDER BY k.id{'' if before is None else ' DESC'}"
        + (" LIMIT ?" if limit >= 0 else ""),  # PostgreSQL refuses SQLite's LIMIT -1
        [*args, limit] if limit >= 0 else args,
    )


def rows_by_id(db: Sql, ids: set[str]) -> Iterator[tuple[str, str, str | None, str]]:
    """(id, collection, site_id, fields as JSON) of the rows of these ids, in any collection."""
    yield from select_in(db, "SELECT id, collection, site_id, fields FROM rows WHERE id IN ({marks})", sorted(ids))


def on_record(db: Sql, values: list[tuple[str, str, str, str, str | None]]) -> set[int]:
    """Which of these (collection, row_id, register, writer, value as JSON or None for null) the log
    holds already: a writer's (a client id's) value of that register that lost, or that another client
    overwrote. A statement per 64 values; the positions in `values` of those found."""
    found: set[int] = set()
    for start in range(0, len(values), _ROWS):
        chunk = values[start:start + _ROWS]
        rows = next(size for size in _SIZES if size >= len(chunk))
        params = [x for i, v in enumerate(chunk, start) for x in (i, *v)] + [None] * 6 * (rows - len(chunk))
        found.update(int(i) for (i,) in db.execute(_ON_RECORD[rows], params))
    return found


_ROWS = 64  # values a statement, padded to 4, 16 or 64: three statement texts, compiled once (texts of every
# size were compiled again and again, pushed out of the connection's statement cache by the push's other
# statements). Each padding row costs a probe of the log: one value padded to 64 took ~100 µs, to 4 ~9 µs
# (a small push's fixed cost, issue 15).
_SIZES = (4, 16, _ROWS)

# `on_record`'s statement: `_ROWS` values of (position, collection, row_id, register, writer, value) as
# bound parameters (a padding row is all null and never matches). Bound, not one JSON list to unpack: the
# unpacking cost as much as the probes (issue 15). `IS NOT DISTINCT FROM` is null-safe equality (SQLite's
# `IS`). The writer whose value an entry keeps: the pusher's that lost, or another client's it overwrote (m024).
_ON_RECORD = {rows: (
    f"WITH c(i, collection, row_id, register, writer, value) AS (VALUES {', '.join(['(?, ?, ?, ?, ?, ?)'] * rows)})"
    " SELECT i FROM c WHERE EXISTS (SELECT 1 FROM conflicts k WHERE k.collection = c.collection"
    " AND k.row_id = c.row_id AND k.register = c.register"
    " AND CASE k.kind WHEN 'lost' THEN k.client_id WHEN 'overwritten' THEN k.other_client_id END = c.writer"
    " AND CASE k.kind WHEN 'lost' THEN k.new_value ELSE k.old_value END IS NOT DISTINCT FROM c.value)")
    for rows in _SIZES}

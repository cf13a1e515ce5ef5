"""The billing domain's SQL (issue 13): a visit's charge lines, a site's active devices by kind."""

from __future__ import annotations

from typing import Any

import msgspec

from .base import Sql
from .writes import dialect

_decode = msgspec.json.decode


def visit_lines(db: Sql, visit_id: str) -> list[tuple[str, dict[str, Any]]]:
    """(id, fields) of a visit's live charge lines in the order they were recorded: by the HLC of
    their `item` register (written when a line is created), then id. Not by version: sealing or
    repricing a line gives it a new one."""
    rows = []
    for line_id, fields, clocks in db.execute(
            "SELECT id, fields, clocks FROM rows WHERE collection = 'charge_lines'"
            " AND parent_id = ? AND deleted = 0", [visit_id]):
        clock = _decode(clocks).get("item")  # as `writes.encode_clocks` stores it: hlc, or [hlc, writer]
        rows.append((str(clock[0] if isinstance(clock, list) else clock), line_id, _decode(fields)))
    return [(line_id, fields) for _, line_id, fields in sorted(rows, key=lambda r: r[:2])]


def row(db: Sql, collection: str, row_id: object) -> tuple[dict[str, Any], bool] | None:
    """(fields, deleted) of a row, deleted or not; None for no such row."""
    found = db.execute("SELECT fields, deleted FROM rows WHERE collection = ? AND id = ?",
                       [collection, row_id]).fetchone() if isinstance(row_id, str) else None
    return None if found is None else (_decode(found[0]), bool(found[1]))


def active_kinds(db: Sql, site_id: str) -> dict[str, int]:
    """{device kind: how many} of a site's live, active devices."""
    field = dialect(db).field
    return {str(kind or ""): n for kind, n in db.execute(
        f"SELECT {field('fields', 'kind')} AS kind, count(*) FROM rows WHERE collection = 'devices'"
        f" AND parent_id = ? AND deleted = 0 AND coalesce({field('fields', 'status')}, 'active') = 'active'"
        " GROUP BY kind", [site_id])}

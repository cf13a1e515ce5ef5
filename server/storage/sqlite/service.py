"""The service domain's SQL (issue 12): a request's events."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

_decode = msgspec.json.decode


def request_events(db: sqlite3.Connection, request_id: str) -> list[dict[str, Any]]:
    """The live events of a request, in order of arrival at the server (row version)."""
    rows = db.execute(
        "SELECT id, fields FROM rows WHERE collection = 'service_events' AND parent_id = ? AND deleted = 0"
        " ORDER BY version",
        [request_id],
    ).fetchall()
    return [{"id": row_id, **_decode(fields)} for row_id, fields in rows]

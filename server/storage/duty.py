"""The duty domain's SQL (issue 13): a month's roster, its calls, the follow-ups still open.

Duty calls are few (tens a month): they are found by their time in the row's JSON (timestamps
of one fixed form compare as text) without an index of their own: the server's `effective_at`,
else (a call stored before it was derived) `received_at` as the phone sent it.
"""

from __future__ import annotations

from typing import Any

import msgspec

from .base import Sql
from .writes import dialect

_decode = msgspec.json.decode
_CALLS = "SELECT r.id, r.fields FROM rows r WHERE r.collection = 'duty_calls' AND r.deleted = 0"


def _received(db: Sql) -> str:
    field = dialect(db).field
    return f"coalesce({field('r.fields', 'effective_at')}, {field('r.fields', 'received_at')})"


def roster(db: Sql, roster_id: str) -> dict[str, Any] | None:
    """A month's live roster row's fields (by its id), or None."""
    found = db.execute("SELECT fields FROM rows WHERE collection = 'duty_roster' AND id = ? AND deleted = 0",
                       [roster_id]).fetchone()
    return None if found is None else dict(_decode(found[0]))


def is_technician(db: Sql, username: str) -> bool:
    """Whether `username` is a technician whose account is not disabled (whom a roster may name)."""
    return db.execute("SELECT 1 FROM users WHERE username = ? AND role = 'technician' AND disabled_at IS NULL",
                      [username]).fetchone() is not None


def calls_between(db: Sql, start: str, end: str) -> list[dict[str, Any]]:
    """The live duty calls received in [start, end) (timestamps), in order of that time."""
    received = _received(db)
    rows = db.execute(f"{_CALLS} AND {received} >= ? AND {received} < ? ORDER BY {received}, r.id",
                      [start, end]).fetchall()
    return [{"id": row_id, **_decode(fields)} for row_id, fields in rows]


def unresolved_before(db: Sql, end: str) -> list[dict[str, Any]]:
    """The live `follow_up` calls received before `end` that name no request and that no live
    call follows, in order of their time."""
    received, field = _received(db), dialect(db).field
    rows = db.execute(
        f"{_CALLS} AND {received} < ? AND {field('r.fields', 'outcome')} = 'follow_up'"
        f" AND {field('r.fields', 'request_id')} IS NULL"
        " AND NOT EXISTS (SELECT 1 FROM rows f WHERE f.collection = 'duty_calls' AND f.deleted = 0"
        f"  AND {field('f.fields', 'follows_id')} = r.id)"
        f" ORDER BY {received}, r.id",
        [end],
    ).fetchall()
    return [{"id": row_id, **_decode(fields)} for row_id, fields in rows]

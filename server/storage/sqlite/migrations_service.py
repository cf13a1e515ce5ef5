"""Finding a service request by its caller's number (s29-desk29): `service_clocks.phone_reversed`, the
digits of the caller's number last first, and its index (storage/service.py); the requests stored before
get theirs from their `caller_phone` at upgrade time. PostgreSQL's step of the same name is the same.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m032 (and
m033, s29-fixes29a's callbacks step, which joins this module when the two branches merge).
"""

from __future__ import annotations

import sqlite_utils

from ..service import PHONE_REVERSED, phone_reversed
from . import migrations_sheets  # noqa: F401 (m032 registers first)
from .migrations import migrations


@migrations()
def m034_caller_phone(db: sqlite_utils.Database) -> None:
    """A nullable column and its partial index; filled by `phone_reversed` for the requests stored before."""
    db.executescript(PHONE_REVERSED.format(text="TEXT"))
    # A string only, as PostgreSQL's step and the live write: json_extract gives an array or object as its
    # JSON text, whose digits are no number.
    found = db.execute("SELECT c.request_id, json_extract(r.fields, '$.caller_phone') FROM service_clocks c"
                       " JOIN rows r ON r.collection = 'service_requests' AND r.id = c.request_id"
                       " WHERE json_type(r.fields, '$.caller_phone') = 'text'").fetchall()
    db.conn.executemany("UPDATE service_clocks SET phone_reversed = ? WHERE request_id = ?",
                        [(reversed_, request_id) for request_id, phone in found
                         if (reversed_ := phone_reversed(phone)) is not None])

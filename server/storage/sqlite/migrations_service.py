"""Service requests' stored columns (storage/service.py), registered on the same `Migrations` when
`migrations.py` imports this module (its last lines), after m032. PostgreSQL's steps of the same names are
the same:

- m033, the call-backs still to make (待回访), stored with their `callback` milestones
  (`service_milestones.to_make`) and read through a partial index: the dashboard's count and the list looked
  up every signed or closed request's milestones and call-backs. Milestones stored before get theirs from the
  call-backs stored at upgrade time.
- m034, finding a service request by its caller's number: `service_clocks.phone_reversed`, the digits of the
  caller's number last first, and its index; the requests stored before get theirs from their
  `caller_phone` at upgrade time.
"""

from __future__ import annotations

import sqlite_utils

from ..service import PHONE_REVERSED, TO_MAKE_COLUMN, phone_reversed, to_make_backfill
from . import migrations_sheets  # noqa: F401 (m032 registers first)
from .migrations import migrations


@migrations()
def m033_callback_to_make(db: sqlite_utils.Database) -> None:
    """A nullable column, 1 for a call-back still to make, with its partial index; filled from the call-backs."""
    db.executescript(TO_MAKE_COLUMN.format(integer="INTEGER") + to_make_backfill("json_extract(c.fields, '$.reached')"))


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

"""The call-backs still to make (待回访), stored with their `callback` milestones (`service_milestones.to_make`,
m033) and read through a partial index: the dashboard's count and the list looked up every signed or closed
request's milestones and call-backs (storage/service.py). Milestones stored before get theirs from the
call-backs stored at upgrade time. PostgreSQL's step of the same name is the same.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m032.
"""

from __future__ import annotations

import sqlite_utils

from ..service import TO_MAKE_COLUMN, to_make_backfill
from . import migrations_sheets  # noqa: F401 (m032 registers first)
from .migrations import migrations


@migrations()
def m033_callback_to_make(db: sqlite_utils.Database) -> None:
    """A nullable column, 1 for a call-back still to make, with its partial index; filled from the call-backs."""
    db.executescript(TO_MAKE_COLUMN.format(integer="INTEGER") + to_make_backfill("json_extract(c.fields, '$.reached')"))

"""The login throttle's tables (issue 16): failed sign-ins counted in the database, so that every
server process on it sees the same counts (`storage/throttle.py`; PostgreSQL's step is the same).

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines).
"""

from __future__ import annotations

import sqlite_utils

from ..throttle import TABLES
from .migrations import migrations


@migrations()
def m026_login_attempts(db: sqlite_utils.Database) -> None:
    """One row per throttle key of a sign-in attempt, and one per throttled key's audit entry; both
    only inserted, and deleted once older than the window."""
    db.executescript(TABLES.format(integer="INTEGER"))

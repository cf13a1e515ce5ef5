"""The console's kept spreadsheet imports (issue 16): a file between its dry run and its apply, in the
database, so that every server process on it finds it (`storage/imports.py`; PostgreSQL's step is the same).

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m026.
"""

from __future__ import annotations

import sqlite_utils

from ..imports import TABLES
from .migrations import migrations


@migrations()
def m027_pending_imports(db: sqlite_utils.Database) -> None:
    """One row per kept upload: its file until applied, then the apply's report."""
    db.executescript(TABLES.format(integer="INTEGER", blob="BLOB"))

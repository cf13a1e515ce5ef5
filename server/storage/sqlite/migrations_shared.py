"""State every server process on the database must share (issue 16), beside m026's login throttle:
the console's kept spreadsheet imports (`storage/imports.py`) and the pieces of an upload held in a
bucket (`storage/media.py`). PostgreSQL's steps of the same names are the same.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m026.
"""

from __future__ import annotations

import sqlite_utils

from ..imports import TABLES
from ..media import PIECES
from . import migrations_throttle  # noqa: F401 (m026 registers first)
from .migrations import migrations


@migrations()
def m027_pending_imports(db: sqlite_utils.Database) -> None:
    """One row per kept upload: its file until applied, then the apply's report."""
    db.executescript(TABLES.format(integer="INTEGER", blob="BLOB"))


@migrations()
def m028_upload_pieces(db: sqlite_utils.Database) -> None:
    """One row per PATCH's bytes of an upload, kept as an object in the bucket (`--blobs s3://`)."""
    db.executescript(PIECES.format(integer="INTEGER"))

"""Blobs being removed (`blobs_doomed`): garbage collection forgets a blob's record in one short
transaction and deletes its bytes after it, outside any (`domains/media/gc.py`); until the bytes are
gone, an upload of the same hash records nothing (503, retried). PostgreSQL's step of the same name is
the same.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m029.
"""

from __future__ import annotations

import sqlite_utils

from ..media import DOOMED
from . import migrations_clients  # noqa: F401 (m029 registers first)
from .migrations import migrations


@migrations()
def m030_blobs_doomed(db: sqlite_utils.Database) -> None:
    """One row per blob whose record is forgotten and whose bytes may not be deleted yet."""
    db.executescript(DOOMED.format(integer="INTEGER"))

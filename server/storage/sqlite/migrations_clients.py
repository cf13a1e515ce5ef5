"""A client's place in the order of enrolment (`clients.enrolled`): console sessions past the newest
few are retired oldest first (`identity.console_sessions_past`), and two enrolled in one millisecond
must go in the order they came, which `created_at` cannot tell and PostgreSQL has no rowid for.
PostgreSQL's step of the same name is the same.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m028.
"""

from __future__ import annotations

import sqlite_utils

from . import migrations_shared  # noqa: F401 (m027 and m028 register first)
from .migrations import migrations


@migrations()
def m029_clients_enrolled(db: sqlite_utils.Database) -> None:
    """Numbered from 1 by `Dialect.next_number` at enrolment; clients already there by their rowid,
    which is their order of insertion."""
    db.executescript("""
        ALTER TABLE clients ADD COLUMN enrolled INTEGER NOT NULL DEFAULT 0;
        UPDATE clients SET enrolled = rowid;
    """)

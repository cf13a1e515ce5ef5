"""The conflict log's index for not logging a value twice (issue 15), beside `migrations.py`,
which is near the size limit.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines).
"""

from __future__ import annotations

import sqlite_utils

from .migrations import migrations


@migrations()
def m024_conflicts_register(db: sqlite_utils.Database) -> None:
    """Before logging a value that lost or was overwritten, the push looks for the same value of the
    same writer for the same register (`conflicts.on_record`): one probe of this index. It starts with
    the columns of `conflicts_row`, which it replaces (a row's entries, `GET /api/conflicts?row_id=`)."""
    db.executescript(
        """
        CREATE INDEX conflicts_register ON conflicts(collection, row_id, register,
            CASE kind WHEN 'lost' THEN client_id WHEN 'overwritten' THEN other_client_id END);
        DROP INDEX conflicts_row;
        """
    )

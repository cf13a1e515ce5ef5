"""Migrations beside `migrations.py`, which is near the size limit: the conflict log's index for
not logging a value twice (issue 15); what a contact sheet's signature was compared with.

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


@migrations()
def m025_visit_verifications(db: sqlite_utils.Database) -> None:
    """A contact sheet's signature keeps what it was compared with too (`compared` = `visit`: the
    whole visit, its fields and charge lines by row id), so a mismatch lists its differences as an
    inspection sheet's does. SQLite cannot widen a CHECK in place: the small table is copied."""
    db.executescript(
        """
        CREATE TABLE verifications_new (
            signature_id TEXT PRIMARY KEY,
            inspection_id TEXT NOT NULL,
            compared TEXT NOT NULL CHECK (compared IN ('sheet', 'inspection', 'visit')),
            checks TEXT NOT NULL
        );
        INSERT INTO verifications_new SELECT signature_id, inspection_id, compared, checks FROM verifications;
        DROP TABLE verifications;
        ALTER TABLE verifications_new RENAME TO verifications;
        CREATE INDEX verifications_inspection ON verifications(inspection_id);
        """
    )

"""What named each device a maintenance sheet listed when the customer signed it (`verifications.devices`,
storage/signatures.py): a reprint after a device was renamed or moved prints what was signed; and
whom it named as its technician (`verifications.technician`, m032): a reprint after a reassignment
prints the technician the customer signed beside. Signatures recorded before have none.
PostgreSQL's steps of the same names are the same.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m030.
"""

from __future__ import annotations

import sqlite_utils

from ..signatures import SIGNED_DEVICES, SIGNED_TECHNICIAN
from . import migrations_media  # noqa: F401 (m030 registers first)
from .migrations import migrations


@migrations()
def m031_signed_devices(db: sqlite_utils.Database) -> None:
    """A nullable JSON column: `{device_id: {"code", "kind", "location", "system"}}`."""
    db.executescript(SIGNED_DEVICES)


@migrations()
def m032_signed_technician(db: sqlite_utils.Database) -> None:
    """A nullable JSON column: `{"username", "name"}` of the technician the signed sheet named (s27-office5)."""
    db.executescript(SIGNED_TECHNICIAN)

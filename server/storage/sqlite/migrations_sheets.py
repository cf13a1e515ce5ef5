"""What named each device a maintenance sheet listed when the customer signed it (`verifications.devices`,
storage/signatures.py): a reprint after a device was renamed or moved prints what was signed.
Signatures recorded before have none. PostgreSQL's step of the same name is the same.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m030.
"""

from __future__ import annotations

import sqlite_utils

from ..signatures import SIGNED_DEVICES
from . import migrations_media  # noqa: F401 (m030 registers first)
from .migrations import migrations


@migrations()
def m031_signed_devices(db: sqlite_utils.Database) -> None:
    """A nullable JSON column: `{device_id: {"code", "kind", "location", "system"}}`."""
    db.executescript(SIGNED_DEVICES)

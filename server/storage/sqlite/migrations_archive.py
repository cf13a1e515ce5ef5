"""The customer archive's migration (issue 14), beside `migrations.py`, which is near the size limit.

Registered on the same `Migrations` when `migrations.py` imports this module (its last line).
"""

from __future__ import annotations

import sqlite_utils

from .migrations import migrations


@migrations()
def m023_device_code(db: sqlite_utils.Database) -> None:
    """A device by its code in any of the caller's sites (the console's search box): one index probe,
    not a scan of every device (20,000 at `--scale 100`: 22 to 38 ms a look-up without it)."""
    db.executescript(
        """
        CREATE INDEX rows_device_code ON rows(json_extract(fields, '$.code')) WHERE collection = 'devices';
        """
    )

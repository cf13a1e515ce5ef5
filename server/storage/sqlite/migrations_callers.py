"""A caller's mainland number stored in its national form (`service.phone_reversed`), so that the
international form and the national one meet:

- m036 drops +86, 0086 or 86 from the mobile numbers m034 and the writes before it kept with theirs.
  PostgreSQL's step of the same name is the same SQL.
- m037 gives a landline kept with its country code (+86 752 3350120, 0086-752-…) its national form
  (0752-3350120): the area code's trunk prefix 0 for the country code, by the live rule
  (`service.landline_rekeyed`), as PostgreSQL's step of the same name does.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m035.
"""

from __future__ import annotations

import sqlite_utils

from ..service import PHONE_NATIONAL, STORED_KEYS, landline_rekeyed
from . import migrations_audit  # noqa: F401 (m035 registers first)
from .migrations import migrations


@migrations()
def m036_caller_phone_national(db: sqlite_utils.Database) -> None:
    """The stored numbers' 11 digits of a mainland mobile number, its country code left out."""
    db.executescript(PHONE_NATIONAL)


@migrations()
def m037_caller_landline_national(db: sqlite_utils.Database) -> None:
    """The stored numbers that are a mainland landline with its country code in their national form
    (`service.landline_rekeyed`); idempotent, the national form begins with 0."""
    db.conn.executemany("UPDATE service_clocks SET phone_reversed = ? WHERE request_id = ?",
                        landline_rekeyed(db.execute(STORED_KEYS).fetchall()))

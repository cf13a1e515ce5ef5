"""A caller's mainland mobile number stored without its country code (`service.phone_reversed`): m036
drops +86, 0086 or 86 from the numbers m034 and the writes before it kept with theirs, so that the
international form and the national one meet. PostgreSQL's step of the same name is the same SQL.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m035.
"""

from __future__ import annotations

import sqlite_utils

from ..service import PHONE_NATIONAL
from . import migrations_audit  # noqa: F401 (m035 registers first)
from .migrations import migrations


@migrations()
def m036_caller_phone_national(db: sqlite_utils.Database) -> None:
    """The stored numbers' 11 digits of a mainland mobile number, its country code left out."""
    db.executescript(PHONE_NATIONAL)

"""The inspections' period index (m038), beside `migrations.py`, which is near the size limit.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m037.
PostgreSQL's step of the same name is the same statement with its spelling of the field.
"""

from __future__ import annotations

import sqlite_utils

from ..inspections import PERIOD_INDEX
from . import migrations_callers  # noqa: F401 (m036-m037 register first)
from .migrations import migrations


@migrations()
def m038_inspection_period(db: sqlite_utils.Database) -> None:
    """The inspections of a period (the dashboard asks six: this quarter, half-year and month, and the ones
    before) by one range of an index, not by the period of every inspection read out of its JSON."""
    db.executescript(PERIOD_INDEX.format(period="json_extract(fields, '$.period')"))

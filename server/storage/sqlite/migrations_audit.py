"""A request's dispatch history (`audit` entries of kind `dispatch`, domains/service/dispatch.py) read by
request (`identity.dispatches`): an index on the entry's `request_id`, only over that kind's entries.
PostgreSQL's step of the same name is the same, over `CAST(detail AS json)` (`detail` is text there too).

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m034.
"""

from __future__ import annotations

import sqlite_utils

from ..identity import AUDIT_DISPATCH
from . import migrations_bounds, migrations_service  # noqa: F401 (m024-m034 register first)
from .migrations import migrations


@migrations()
def m035_audit_dispatch(db: sqlite_utils.Database) -> None:
    """The expression `identity.dispatches` repeats (SQLite uses an expression index only for the same text)."""
    db.executescript(AUDIT_DISPATCH.format(request_id="json_extract(detail, '$.request_id')"))

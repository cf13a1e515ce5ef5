"""A caller's extension kept apart from the number (m039, `service.phone_reversed`): the keys stored before it
ran the extension's digits into the number's (+86 755 8888 9999 转 801 as 8675588889999801), so that neither
the national form nor the number without its extension found them. The step keys every stored request's caller's
number again by the live rule (`service.rekeyed`), as PostgreSQL's step of the same name does; idempotent.

m040 keeps with each request's stored clocks the terms file they were counted with (`service.TERMS_COLUMN`,
`domains/service/recount.py`), as PostgreSQL's step of the same name.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m038.
"""

from __future__ import annotations

import sqlite_utils

from ..service import TERMS_COLUMN, rekeyed
from . import migrations_inspections  # noqa: F401 (m038 registers first)
from .migrations import migrations


@migrations()
def m039_caller_extension(db: sqlite_utils.Database) -> None:
    """Each request's `phone_reversed` from its caller's number as written (a string only, as m034), where
    the live rule keys it otherwise: the number in its national form, then its extension apart."""
    found = db.execute("SELECT c.request_id, json_extract(r.fields, '$.caller_phone'), c.phone_reversed"
                       " FROM service_clocks c JOIN rows r ON r.collection = 'service_requests' AND r.id = c.request_id"
                       " WHERE json_type(r.fields, '$.caller_phone') = 'text'").fetchall()
    db.conn.executemany("UPDATE service_clocks SET phone_reversed = ? WHERE request_id = ?", rekeyed(found))


@migrations()
def m040_clocks_terms(db: sqlite_utils.Database) -> None:
    """Each stored clock row's terms mark, NULL for those counted before: the first start counts them again."""
    db.executescript(TERMS_COLUMN)

"""The queries the domains' hooks run inside a write transaction (`server/domains/*/hooks.py`).

They read the transaction's own staged rows: a hook flushes them first (`Transaction.flush_rows`).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import msgspec

from .base import Sql
from .writes import Dialect, per_dialect

_json_decode = msgspec.json.decode


class _Sql(NamedTuple):
    open_inspections: str
    unchecked_devices: str
    unchecked_device: str
    live_signatures: str


@per_dialect
def _sql(sql: Dialect) -> _Sql:
    return _Sql(
        open_inspections=(
            "SELECT id FROM rows WHERE collection = 'inspections' AND parent_id = ? AND deleted = 0"
            f" AND coalesce({sql.field('fields', 'status')}, 'scheduled') NOT IN ('completed', 'signed')"),
        unchecked_devices=(
            "SELECT count(*) FROM rows d WHERE d.collection = 'devices' AND d.parent_id = ?"
            f" AND d.deleted = 0 AND coalesce({sql.field('d.fields', 'status')}, 'active') = 'active'"
            " AND d.id NOT IN (SELECT c.device_id FROM rows c WHERE c.collection = 'device_checks'"
            f" AND c.parent_id = ? AND c.deleted = 0 AND {sql.field('c.fields', 'outcome')} IS NOT NULL)"),
        # The first such device, by one probe of each device's check (`rows_device`) until one is found:
        # the count above reads every check of the inspection first (issue 15, a small push's fixed cost).
        unchecked_device=(
            "SELECT d.id FROM rows d WHERE d.collection = 'devices' AND d.parent_id = ?"
            f" AND d.deleted = 0 AND coalesce({sql.field('d.fields', 'status')}, 'active') = 'active'"
            " AND NOT EXISTS (SELECT 1 FROM rows c WHERE c.device_id = d.id AND c.collection = 'device_checks'"
            f" AND c.parent_id = ? AND c.deleted = 0 AND {sql.field('c.fields', 'outcome')} IS NOT NULL) LIMIT 1"),
        live_signatures=(
            "SELECT count(*) FROM rows WHERE collection = 'signatures' AND parent_id = ? AND deleted = 0"
            f" AND {sql.field('fields', 'retracted_at')} IS NULL"),
    )


def open_inspections(db: Sql, site_id: str) -> list[str]:
    """Ids of the site's inspections that are neither completed nor signed."""
    return [i for (i,) in db.execute(_sql(db).open_inspections, [site_id]).fetchall()]


def unchecked_devices(db: Sql, site_id: str, inspection_id: str) -> int:
    """Active devices of the site without an outcome in the inspection."""
    return int(db.execute(_sql(db).unchecked_devices, [site_id, inspection_id]).fetchone()[0])


def unchecked_device(db: Sql, site_id: str, inspection_id: str) -> str | None:
    """An active device of the site without an outcome in the inspection, if there is one."""
    found = db.execute(_sql(db).unchecked_device, [site_id, inspection_id]).fetchone()
    return None if found is None else str(found[0])


def is_member(db: Sql, site_id: str, username: str) -> bool:
    """Whether a row of the site may be assigned to `username`: a member whose account is not disabled
    (a disabled account signs in nowhere, so work assigned to it waits for nobody)."""
    return db.execute(
        "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.site_id = ? AND u.username = ? AND u.disabled_at IS NULL",
        [site_id, username],
    ).fetchone() is not None


def checklist_templates(db: Sql) -> list[dict[str, Any]]:
    """The fields of every live checklist template."""
    return [_json_decode(fields) for (fields,) in db.execute(
        "SELECT fields FROM rows WHERE collection = 'checklist_templates' AND deleted = 0"
    )]


def live_signatures(db: Sql, signed_id: str) -> int:
    """The signatures of an inspection (or service visit) that are neither deleted nor retracted."""
    return int(db.execute(_sql(db).live_signatures, [signed_id]).fetchone()[0])


def uploaded_image(db: Sql, sha256: Any, user_id: str) -> bool:
    """Whether the user uploaded these bytes and they are stored as a JPEG or PNG image."""
    return db.execute(
        "SELECT 1 FROM blob_owners o JOIN blobs b ON b.sha256 = o.sha256 WHERE o.sha256 = ?"
        " AND o.user_id = ? AND b.content_type IN ('image/jpeg', 'image/png')",
        [sha256, user_id],
    ).fetchone() is not None

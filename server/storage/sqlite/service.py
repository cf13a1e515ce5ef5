"""The service domain's SQL (issue 12): a request's events, a site's terms override."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

_decode = msgspec.json.decode


def request_events(db: sqlite3.Connection, request_id: str) -> list[dict[str, Any]]:
    """The live events of a request, in order of arrival at the server (row version)."""
    rows = db.execute(
        "SELECT id, fields FROM rows WHERE collection = 'service_events' AND parent_id = ? AND deleted = 0"
        " ORDER BY version",
        [request_id],
    ).fetchall()
    return [{"id": row_id, **_decode(fields)} for row_id, fields in rows]


def events_before_seal(db: sqlite3.Connection, request_id: str) -> set[str] | None:
    """The ids of the request's events that arrived before its first sealed visit with outcome
    `resolved` was sealed (the visit's version: a sealed visit changes no more); None when none is."""
    row = db.execute(
        "SELECT min(version) FROM rows WHERE collection = 'service_visits' AND parent_id = ? AND deleted = 0"
        " AND json_extract(fields, '$.sealed_by') IS NOT NULL AND json_extract(fields, '$.outcome') = 'resolved'",
        [request_id],
    ).fetchone()
    if row[0] is None:
        return None
    return {i for (i,) in db.execute(
        "SELECT id FROM rows WHERE collection = 'service_events' AND parent_id = ? AND version < ?",
        [request_id, row[0]],
    )}


def terms_override(db: sqlite3.Connection, site_id: str) -> dict[str, Any] | None:
    """A site's override of its contract's terms, as a supervisor set it; None when there is none."""
    row = db.execute("SELECT override FROM service_terms WHERE site_id = ?", [site_id]).fetchone()
    return None if row is None else dict(_decode(row[0]))


def set_terms_override(db: sqlite3.Connection, site_id: str, override: dict[str, Any] | None,
                       by: str, at: str) -> None:
    """Replace (or, with None, remove) a site's override."""
    if override is None:
        db.execute("DELETE FROM service_terms WHERE site_id = ?", [site_id])
    else:
        db.execute("INSERT OR REPLACE INTO service_terms (site_id, override, set_by, set_at) VALUES (?, ?, ?, ?)",
                   [site_id, msgspec.json.encode(override).decode(), by, at])


# -- the service office (terms, visits, the faults report, a device's repair archive) ----------


def site_terms(db: sqlite3.Connection, site_id: str) -> tuple[dict[str, Any], Any, str | None, str | None] | None:
    """A live site's fields with its terms override, who set it and when (None, None, None when
    there is none); None when there is no such site."""
    found = db.execute(
        "SELECT s.fields, t.override, t.set_by, t.set_at FROM rows s LEFT JOIN service_terms t ON t.site_id = s.id"
        " WHERE s.collection = 'sites' AND s.id = ? AND s.deleted = 0",
        [site_id],
    ).fetchone()
    if found is None:
        return None
    return dict(_decode(found[0])), None if found[1] is None else _decode(found[1]), found[2], found[3]

"""The service domain's SQL (issue 12): a request's events, a site's terms override."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

from .connection import select_in

_decode = msgspec.json.decode
Connection = sqlite3.Connection  # what the service office hands back here, unopened


def request_events(db: sqlite3.Connection, request_id: str) -> list[dict[str, Any]]:
    """The live events of a request, in order of arrival at the server (row version)."""
    rows = db.execute(
        "SELECT id, fields FROM rows WHERE collection = 'service_events' AND parent_id = ? AND deleted = 0"
        " ORDER BY version",
        [request_id],
    ).fetchall()
    return [{"id": row_id, **_decode(fields)} for row_id, fields in rows]


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


def visit(db: sqlite3.Connection, visit_id: str) -> tuple[str | None, dict[str, Any], dict[str, Any]] | None:
    """A live visit's site, its fields and its request's fields ({} when the request is gone)."""
    found = db.execute(
        "SELECT v.site_id, v.fields, r.fields FROM rows v LEFT JOIN rows r"
        " ON r.collection = 'service_requests' AND r.id = v.parent_id AND r.deleted = 0"
        " WHERE v.collection = 'service_visits' AND v.id = ? AND v.deleted = 0",
        [visit_id],
    ).fetchone()
    return None if found is None else (found[0], _decode(found[1]), _decode(found[2]) if found[2] else {})


def visit_signatures(db: sqlite3.Connection, visit_id: str) -> list[tuple[str, dict[str, Any]]]:
    """A visit's signatures (retracted ones too: they are never erased), in order of arrival."""
    return [(i, _decode(f)) for i, f in db.execute(
        "SELECT id, fields FROM rows WHERE collection = 'signatures' AND parent_id = ? AND deleted = 0"
        " ORDER BY version",
        [visit_id],
    )]


def device_requests(db: sqlite3.Connection, device_id: str) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """The live service requests about a device, each with its live visits' fields and `id` (the
    device's repair archive), in no particular order."""
    requests = [(i, _decode(f)) for i, f in db.execute(
        "SELECT id, fields FROM rows WHERE device_id = ? AND collection = 'service_requests' AND deleted = 0",
        [device_id],
    )]
    visits: dict[str, list[dict[str, Any]]] = {}
    for parent, visit_id, fields in select_in(
        db, "SELECT parent_id, id, fields FROM rows WHERE collection = 'service_visits' AND parent_id IN ({marks})"
            " AND deleted = 0", [i for i, _ in requests]):
        visits.setdefault(parent, []).append({"id": visit_id, **_decode(fields)})
    return [(i, f, visits.get(i, [])) for i, f in requests]


def recorded_faults(db: sqlite3.Connection, since: str, until: str) -> list[tuple[str, str, Any, Any, Any]]:
    """(recorded_at, fault_cause, device kind, device model, site tz) of the live visits with a fault
    cause recorded in [since, until) (protocol timestamps, compared as text)."""
    return db.execute(
        "SELECT json_extract(v.fields, '$.recorded_at') AS at, json_extract(v.fields, '$.fault_cause'),"
        " json_extract(d.fields, '$.kind'), json_extract(d.fields, '$.model'), json_extract(s.fields, '$.tz')"
        " FROM rows v JOIN rows r ON r.collection = 'service_requests' AND r.id = v.parent_id AND r.deleted = 0"
        " LEFT JOIN rows d ON d.collection = 'devices' AND d.id = r.device_id"
        " LEFT JOIN rows s ON s.collection = 'sites' AND s.id = v.site_id"
        " WHERE v.collection = 'service_visits' AND v.deleted = 0 AND at >= ? AND at < ?"
        " AND json_extract(v.fields, '$.fault_cause') IS NOT NULL",
        [since, until],
    ).fetchall()

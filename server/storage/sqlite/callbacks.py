"""The monthly technician report's SQL (issue 13): aggregates over the month's rows, computed on read.

A month is a range of protocol timestamps per site (its local month in UTC, `bounds`), so
the same instant counts in each site's own month. Each query first narrows to the widest
range by an index on the time it counts by (m018, `INDEXED BY`), then keeps the rows of each
site's own range (the bounds get an automatic index; `CROSS JOIN` keeps that order): a row that
syncs late counts the next time the report is read.
"""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec

_BOUNDS = ("WITH b(site_id, lo, hi) AS MATERIALIZED (SELECT key, json_extract(value, '$[0]'), json_extract(value, '$[1]')"
           " FROM json_each(?))")
_TECH = "json_extract(v.fields, '$.technician')"


def _in_month(alias: str, field: str) -> str:
    at = f"json_extract({alias}.fields, '$.{field}')"
    return f"{at} >= ? AND {at} < ? AND {at} >= b.lo AND {at} < b.hi"


_VISITS = (f"SELECT {_TECH} AS t, v.parent_id AS request_id FROM rows v INDEXED BY rows_visit_recorded CROSS JOIN b ON b.site_id = v.site_id"
           f" WHERE v.collection = 'service_visits' AND v.deleted = 0 AND {_in_month('v', 'recorded_at')}"
           f" AND {_TECH} IS NOT NULL")
# A sealed sheet: a visit whose seal is a signature signed in the month.
_SEALED = (f"SELECT {_TECH} AS t, v.id AS visit_id FROM rows s INDEXED BY rows_signature_signed CROSS JOIN b ON b.site_id = s.site_id"
           " CROSS JOIN rows v ON v.collection = 'service_visits' AND v.id = s.parent_id AND v.deleted = 0"
           "  AND json_extract(v.fields, '$.sealed_by') = s.id"
           f" WHERE s.collection = 'signatures' AND s.deleted = 0 AND {_in_month('s', 'signed_at')}"
           f" AND {_TECH} IS NOT NULL")
_DECIDED = ("sum(m.status = 'met'), sum(m.status = 'breached' OR (m.status = 'open' AND m.breach_at <= ?))")


def technician_month(db: sqlite3.Connection, bounds: dict[str, tuple[str, str]],
                     now_ms: int) -> dict[str, dict[str, Any]]:
    """Per technician: visits, sealed sheets (and those with a reached call-back), reached call-backs
    per rating with their points, and per milestone (met, breached) counts at `now_ms`."""
    if not bounds:
        return {}
    by_site = msgspec.json.encode(bounds).decode()
    lo, hi = min(b[0] for b in bounds.values()), max(b[1] for b in bounds.values())
    window = [by_site, lo, hi]
    out: dict[str, dict[str, Any]] = {}

    def tech(name: str) -> dict[str, Any]:
        return out.setdefault(name, {"visits": 0, "sealed": 0, "covered": 0, "ratings": {}, "milestones": {}})

    for name, n in db.execute(f"{_BOUNDS} SELECT t, count(*) FROM ({_VISITS}) GROUP BY t", window):
        tech(name)["visits"] = n
    for name, n, covered in db.execute(
            f"{_BOUNDS} SELECT t, count(*), sum(EXISTS (SELECT 1 FROM rows c WHERE c.collection = 'callbacks'"
            " AND c.parent_id = sealed.visit_id AND c.deleted = 0 AND json_extract(c.fields, '$.reached') = 1))"
            f" FROM ({_SEALED}) AS sealed GROUP BY t", window):
        tech(name).update(sealed=n, covered=covered)
    for name, rating, n, points in db.execute(
            f"{_BOUNDS} SELECT {_TECH}, json_extract(c.fields, '$.rating'), count(*),"
            " sum(json_extract(c.fields, '$.points')) FROM rows c INDEXED BY rows_callback_called"
            " CROSS JOIN b ON b.site_id = c.site_id CROSS JOIN rows v ON v.collection = 'service_visits' AND v.id = c.parent_id AND v.deleted = 0"
            " WHERE c.collection = 'callbacks' AND c.deleted = 0 AND json_extract(c.fields, '$.reached') = 1"
            f" AND {_in_month('c', 'called_at')} AND {_TECH} IS NOT NULL GROUP BY 1, 2", window):
        tech(name)["ratings"][rating] = (n, points or 0)
    # The request's milestones count for each technician with a visit of it in the month; a
    # call-back's for the technician whose sheet was sealed in the month.
    for name, milestone, met, breached in db.execute(
            f"{_BOUNDS}, mine AS (SELECT DISTINCT t, request_id FROM ({_VISITS}))"
            f" SELECT mine.t, m.name, {_DECIDED} FROM mine JOIN service_milestones m"
            " ON m.request_id = mine.request_id AND m.name <> 'callback' GROUP BY 1, 2"
            f" UNION ALL SELECT sealed.t, m.name, {_DECIDED} FROM ({_SEALED}) AS sealed"
            " JOIN service_milestones m ON m.visit_id = sealed.visit_id AND m.name = 'callback' GROUP BY 1, 2",
            [*window, now_ms, now_ms, lo, hi]):
        tech(name)["milestones"][milestone] = (met, breached)
    return out


def site_zones(db: sqlite3.Connection) -> dict[str, Any]:
    """{site id: its `tz` field} of every site."""
    return dict(db.execute("SELECT id, json_extract(fields, '$.tz') FROM rows WHERE collection = 'sites'"))

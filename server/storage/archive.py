"""The archive domain's SQL (issue 14): a site's devices for the import, and the look-ups."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from .base import Sql
from .writes import dialect

_decode = msgspec.json.decode


def site_exists(db: Sql, site_id: str) -> bool:
    return db.execute("SELECT 1 FROM rows WHERE collection = 'sites' AND id = ? AND deleted = 0",
                      [site_id]).fetchone() is not None


def site_named(db: Sql, customer: str, name: str, other_than: str) -> str | None:
    """The id of a live site of this customer with this name (case and outer spaces aside), but `other_than`."""
    field = dialect(db).field
    found = db.execute(
        "SELECT id FROM rows WHERE collection = 'sites' AND deleted = 0 AND id <> ?"
        f" AND lower(trim({field('fields', 'customer')})) = lower(?)"
        f" AND lower(trim({field('fields', 'name')})) = lower(?) LIMIT 1",
        [other_than, customer.strip(), name.strip()]).fetchone()
    return None if found is None else str(found[0])


def site_devices(db: Sql, site_id: str) -> list[tuple[str, dict[str, Any]]]:
    """Every live device of the site, retired ones too, as (id, fields)."""
    return [(i, _decode(f)) for i, f in db.execute(
        "SELECT id, fields FROM rows WHERE collection = 'devices' AND parent_id = ? AND deleted = 0", [site_id])]


def by_sheet_no(db: Sql, sheet_no: str) -> tuple[str, str, str | None] | None:
    """(collection, id, site_id) of the inspection or visit with this sheet number."""
    field = dialect(db).field
    found = db.execute(
        "SELECT collection, id, site_id FROM rows WHERE collection IN ('inspections', 'service_visits')"
        f" AND {field('fields', 'sheet_no')} = ? AND deleted = 0 ORDER BY version LIMIT 1", [sheet_no]).fetchone()
    return None if found is None else (found[0], found[1], found[2])


def by_request_number(db: Sql, number: str) -> tuple[str, str | None] | None:
    """(id, site_id) of the service request with this number."""
    field = dialect(db).field
    found = db.execute(
        "SELECT id, site_id FROM rows WHERE collection = 'service_requests'"
        f" AND {field('fields', 'number')} = ? AND deleted = 0 ORDER BY version LIMIT 1", [number]).fetchone()
    return None if found is None else (found[0], found[1])


def by_device_code(db: Sql, site_id: str, code: str) -> str | None:
    """The id of the site's device with this code (a live one; the newest if several)."""
    field = dialect(db).field
    found = db.execute(
        "SELECT id FROM rows WHERE collection = 'devices' AND parent_id = ? AND deleted = 0"
        f" AND {field('fields', 'code')} = ? ORDER BY version DESC LIMIT 1", [site_id, code]).fetchone()
    return None if found is None else str(found[0])


def devices_by_code(db: Sql, code: str, sites: list[str] | None, limit: int) -> list[tuple[str, str]]:
    """(site_id, id) of live devices with this code, in these sites (None: every site), at most `limit`;
    one probe of `rows_device_code` (m023)."""
    sql = dialect(db)
    among, args = ("", []) if sites is None else (
        f" AND parent_id IN (SELECT value FROM {sql.json_list})", [json.dumps(sites)])
    return sorted((s, i) for s, i in db.execute(
        f"SELECT parent_id, id FROM rows WHERE collection = 'devices' AND {sql.field('fields', 'code')} = ?"
        f" AND deleted = 0{among} LIMIT ?", [code, *args, limit]))


def terms_calendars(db: Sql) -> list[tuple[str, str, Any]]:
    """(site id, site name, the calendar its terms override names or writes out) of each live site whose
    override has a `calendar`, by site name."""
    field = dialect(db).field
    found = db.execute(
        f"SELECT s.id, {field('s.fields', 'name')}, t.override FROM service_terms t JOIN rows s"
        " ON s.collection = 'sites' AND s.id = t.site_id AND s.deleted = 0").fetchall()
    return sorted(((str(i), str(name or ""), calendar) for i, name, override in found
                   if (calendar := _decode(override).get("calendar")) is not None), key=lambda r: (r[1], r[0]))

"""What a technician calls a change's row, read from the phone's rows when the change is recorded.

It is kept with the change in the outbox (`Entry.label`), because the rows it
is read from may leave the phone before the server answers: a technician
taken off a site while offline syncs, his changes come back refused, and the
same sync's pull removes the site's rows. He must still read "your check of
CAM-001 on PM-2026Q4-0001 at 科峰科技园", not three ids.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import tzinfo
from typing import Any

from sync import schema
from sync.merge import RowState
from sync.periods import site_zone
from sync.rules import site_of

from .replica import Replica

Known = Callable[[str, str], RowState | None]


def known_rows(db: Replica, seen: list[dict[str, Any]] | None = None) -> Known:
    """A lookup of the rows this phone shows, each with its site as the server derives it
    (for rules such as "the device is at the request's site"); `seen` collects the fields of each
    row looked up, a row's parent before the parent's own parent."""

    def known(collection: str, row_id: str) -> RowState | None:
        found = db.get(collection, row_id)
        if found is None or collection not in schema.COLLECTIONS:
            return None
        fields = dict(found["fields"])
        if seen is not None:
            seen.append(fields)
        return RowState(collection, row_id, fields, site_id=site_of(collection, row_id, fields, known))

    return known


def zone_of(db: Replica, site_id: object) -> tzinfo:
    """The time zone of a site this phone holds (its `tz`): the one look-up by id of every screen that shows a
    site's time; the users' default (`sync.periods.site_zone`) when it has none or is not on the phone."""
    place = db.get("sites", str(site_id)) if site_id else None
    return site_zone(place["fields"].get("tz") if place else None)


def zones(db: Replica) -> dict[str, tzinfo]:
    """The time zone of each site this phone holds, by its id (for a list of rows of many sites)."""
    return {s["id"]: site_zone(s["fields"].get("tz")) for s in db.views("sites")}


def label(db: Replica, collection: str, row_id: str, fields: dict[str, Any]) -> dict[str, str]:
    """`site` (its id), `site_name` and `tz` (its time zone), `sheet` (the sheet or request number the row is on, its own
    first) and `device` (the code of the device it is about), those the phone knows."""
    if collection not in schema.COLLECTIONS:
        return {}
    current = db.get(collection, row_id)
    row = {**(current["fields"] if current else {}), **{k: v for k, v in fields.items() if v is not None}}
    chain = [row]
    site = site_of(collection, row_id, row, known_rows(db, chain))
    found: dict[str, str] = {}
    for one in chain:
        sheet = one.get("sheet_no") or one.get("number")
        if sheet and "sheet" not in found:
            found["sheet"] = str(sheet)
        device = db.get("devices", one["device_id"]) if isinstance(one.get("device_id"), str) else None
        if device is not None and device["fields"].get("code") and "device" not in found:
            found["device"] = str(device["fields"]["code"])
    place = db.get("sites", site) if site else None
    if site:
        found["site"] = site
    if place is not None and place["fields"].get("name"):
        found["site_name"] = str(place["fields"]["name"])
    if place is not None and place["fields"].get("tz"):
        found["tz"] = str(place["fields"]["tz"])
    return found

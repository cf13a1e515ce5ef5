"""What the technician's workflow returns: msgspec Structs, not dicts.

The field names are the keys the workflow's dicts had, so the CLI and the
README read the same values; field values come from rows (any JSON scalar).
"""

from __future__ import annotations

from typing import Any

import msgspec


class InspectionSummary(msgspec.Struct, kw_only=True):
    """One of `my_inspections()`: `checked`/`total` count the site's active devices as this client
    shows them; `overdue` is a due date passed in the site's time zone on an inspection not completed."""

    id: str
    sheet_no: Any
    period: Any
    site_id: Any
    site_name: Any
    status: str
    due_on: Any
    assigned_to: Any
    started_at: Any
    completed_at: Any
    checked: int
    total: int
    overdue: bool


class CheckView(msgspec.Struct, kw_only=True):
    """A device's check as this client shows it (the outbox laid over the pulled rows)."""

    id: str
    outcome: Any
    note: Any
    checked_by: Any
    checked_at: Any
    items: dict[str, Any]  # {key: value}, without the `item.` prefix
    sealed: bool


class DeviceView(msgspec.Struct, kw_only=True):
    """An active device of an inspection's site: `items` is the checklist of its kind (`[{"key",
    "label", "label_zh", "type"}]`, empty without a template); `pending` says a change of its
    check is still waiting to be sent."""

    id: str
    code: Any
    name: Any
    kind: Any
    system: Any
    location: Any
    items: list[dict[str, Any]]
    check: CheckView | None
    pending: bool


class LocationGroup(msgspec.Struct):
    location: Any
    devices: list[DeviceView]


class SystemGroup(msgspec.Struct):
    system: Any
    locations: list[LocationGroup]

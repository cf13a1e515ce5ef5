"""The collections of protocol v1, gathered from `sync/collections/` and checked once.

One table declares every collection; the server validates pushes against it
and the client SDK validates local writes against the same table, so a change
the SDK accepts is never refused for its shape at the server. A new collection
is a module in `sync/collections/` and one line here. The names other code
imports from `sync.schema` stay importable from here.
"""

from __future__ import annotations

from .collection import (
    Collection,
    Ended,
    IdRule,
    SchemaError,
    Scope,
    Via,
    check_scopes,
    expand_groups,
    period_children,
)
from .collections.callbacks import CALLBACKS
from .collections.charges import CHARGE_LINES
from .collections.duty import DUTY_CALLS, DUTY_ROSTER
from .collections.inspections import (
    DEVICE_CHECKS,
    INSPECTIONS,
    NOTE_REQUIRED,
    OUTCOMES,
    STATUS_ORDER,
    device_check_id,
    inspection_id,
    note_required,
    progress,
    unchecked,
)
from .collections.media import (
    MAX_SIGNATURES_PER_INSPECTION,
    MAX_SIGNATURES_PER_PUSH,
    PHOTOS,
    SIGNATURES,
    photo_id,
)
from .collections.service import (
    EVENT_KINDS,
    PAUSE_REASONS,
    SERVICE_EVENTS,
    SERVICE_REQUESTS,
    SERVICE_VISITS,
)
from .collections.sites import CHECKLIST_TEMPLATES, DEVICES, SITES, item_types, template_items
from .fields import (
    ADDRESS_LIMIT,
    CHECKS,
    ITEM_TYPES,
    MAX_PERIOD_YEAR,
    MAX_SAFE_INT,
    MIN_PERIOD_YEAR,
    NOTE_LIMIT,
    NS,
    ROLES,
    SERVER,
    SERVICE_DESK,
    SUPERVISOR,
    TECHNICIAN,
    TEXT_LIMITS,
    YES_NO,
    Field,
    is_period,
    is_timestamp,
    is_uuid,
    yes_no,
)
from .fields import field as _f

COLLECTIONS: dict[str, Collection] = {
    c.name: c for c in (SITES, DEVICES, CHECKLIST_TEMPLATES, INSPECTIONS, DEVICE_CHECKS, PHOTOS, SIGNATURES,
                        SERVICE_REQUESTS, SERVICE_VISITS, SERVICE_EVENTS, CHARGE_LINES, CALLBACKS, DUTY_ROSTER,
                        DUTY_CALLS)
}
check_scopes(COLLECTIONS)
# {collection: the collections whose rows take their period from its rows}: a row whose period
# changes takes its children's with it (`server/storage/sqlite/rows.py`).
PERIOD_CHILDREN = period_children(COLLECTIONS)
# Collections whose rows every client pulls (shared reference data such as checklist templates).
GLOBAL_COLLECTIONS = tuple(name for name, spec in COLLECTIONS.items() if spec.scope.site == "global")
# {collection: its owner field}: a row of these without a site is its owner's alone (`Scope.owner`).
OWNED_COLLECTIONS = {name: spec.scope.owner for name, spec in COLLECTIONS.items() if spec.scope.owner}

# A parent named "blobs" is a content hash, not a row: it is immutable like any
# parent but never looked up as a row.
ROW_PARENTS = {"sites", "inspections", "devices", "service_requests", "service_visits"}

__all__ = [
    "ADDRESS_LIMIT", "CHECKS", "COLLECTIONS", "EVENT_KINDS", "GLOBAL_COLLECTIONS", "ITEM_TYPES", "MAX_PERIOD_YEAR",
    "MAX_SAFE_INT",
    "MAX_SIGNATURES_PER_INSPECTION", "MAX_SIGNATURES_PER_PUSH", "MIN_PERIOD_YEAR", "NOTE_LIMIT", "NOTE_REQUIRED",
    "NS", "OUTCOMES", "OWNED_COLLECTIONS", "PAUSE_REASONS", "PERIOD_CHILDREN", "ROLES", "ROW_PARENTS", "SERVER", "SERVICE_DESK", "STATUS_ORDER", "SUPERVISOR",
    "TECHNICIAN", "TEXT_LIMITS",
    "YES_NO", "Collection", "Ended", "Field", "IdRule", "SchemaError", "Scope", "Via", "_f", "check_scopes",
    "device_check_id", "expand_groups", "inspection_id", "is_period", "is_timestamp", "is_uuid", "item_types",
    "note_required", "photo_id", "progress", "template_items", "unchecked", "yes_no",
]

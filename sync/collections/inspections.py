"""Inspections (one per site and period) and their device checks, with the rules they keep.

The rules are the server's and the client SDK's alike: the SDK refuses a
change before queueing it for the same reason the server would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from ..collection import Collection, IdRule, Scope, Via
from ..fields import NOTE_LIMIT, NS, SUPERVISOR, TECHNICIAN
from ..fields import field as _f

_ALL = (TECHNICIAN, SUPERVISOR)
# Checks, photos and signatures belong to their inspection's site and period.
VIA_INSPECTION = Scope(site=Via("inspection_id", "inspections"), period=Via("inspection_id", "inspections"))

STATUS_ORDER = ("scheduled", "in_progress", "completed", "signed")
NOTE_REQUIRED = ("fault", "not_accessible")


def inspection_id(site_id: str, period: str) -> str:
    return str(uuid.uuid5(NS, f"inspection/{site_id}/{period}"))


def device_check_id(inspection: str, device: str) -> str:
    return str(uuid.uuid5(NS, f"{inspection}/{device}"))


# -- inspections --------------------------------------------------------------------------------


INSPECTIONS = Collection(
    "inspections",
    {
        "site_id": _f("uuid", parent="sites", writers=_ALL),
        "period": _f("period", writers=_ALL),
        "due_on": _f("date"),
        "assigned_to": _f("text"),
        "status": _f("enum", *STATUS_ORDER, writers=_ALL),
        "started_at": _f("timestamp", writers=_ALL),
        "completed_at": _f("timestamp", writers=()),
        "sheet_no": _f("text", writers=()),
    },
    create_roles=_ALL,
    delete_roles=(SUPERVISOR,),
    scope=Scope(site="site_id", period="period"),
    id_rule=IdRule(("site_id", "period"), inspection_id, "uuid5(NS, inspection/site_id/period)"),
)

# -- device checks ------------------------------------------------------------------------------


def note_required(fields: Mapping[str, Any]) -> tuple[str, str] | None:
    """A fault or a device not accessible is explained: the check's note is required with them."""
    outcome = fields.get("outcome")
    if outcome in NOTE_REQUIRED and not str(fields.get("note") or "").strip():
        return "invalid_field", f"device_checks.note is required when the outcome is {outcome}"
    return None


DEVICE_CHECKS = Collection(
    "device_checks",
    {
        "inspection_id": _f("uuid", parent="inspections", writers=_ALL),
        "device_id": _f("uuid", parent="devices", writers=_ALL),
        "outcome": _f("enum", "serviced", "fault", "not_accessible", "skipped", group="result", writers=_ALL),
        "note": _f("text", group="result", writers=_ALL, max_length=NOTE_LIMIT),
        "checked_by": _f("text", group="result", writers=_ALL),
        "checked_at": _f("timestamp", group="result", writers=_ALL),
        "sealed_by": _f("uuid", writers=()),
    },
    create_roles=_ALL,
    scope=VIA_INSPECTION,
    open_prefix="item.",
    open_field=_f("scalar", writers=_ALL),
    id_rule=IdRule(("inspection_id", "device_id"), device_check_id, "uuid5(NS, inspection_id/device_id)"),
    row_rules=(note_required,),
)
OUTCOMES = DEVICE_CHECKS.fields["outcome"].choices


def progress(
    sites: Mapping[str, Any], devices: Iterable[Mapping[str, Any]], checks: Iterable[Mapping[str, Any]]
) -> dict[str, tuple[int, int]]:
    """(checked, total) of each inspection of `sites` ({inspection id: its site id}).

    Total: the active devices of the inspection's site; checked: those of them
    whose check in the inspection has an outcome. `devices` and `checks` are
    rows as `{"id", "fields", "deleted"}`; a deleted row counts for nothing.
    The server counts the same in SQL, for speed (a test holds the two equal).
    """
    active: dict[Any, set[str]] = {}
    for d in devices:
        if not d.get("deleted") and d["fields"].get("status", "active") == "active":
            active.setdefault(d["fields"].get("site_id"), set()).add(d["id"])
    checked: dict[Any, set[Any]] = {}
    for c in checks:
        if not c.get("deleted") and c["fields"].get("outcome") is not None:
            checked.setdefault(c["fields"].get("inspection_id"), set()).add(c["fields"].get("device_id"))
    out = {}
    for insp, site_id in sites.items():
        at_site = active.get(site_id, set())
        out[insp] = (len(at_site & checked.get(insp, set())), len(at_site))
    return out


def unchecked(inspection: str, site_id: Any, devices: Iterable[Mapping[str, Any]],
              checks: Iterable[Mapping[str, Any]]) -> int:
    """Active devices of the inspection's site without an outcome: what keeps it from `completed`."""
    checked, total = progress({inspection: site_id}, devices, checks)[inspection]
    return total - checked

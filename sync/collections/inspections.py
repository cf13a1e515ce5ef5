"""Inspections (one per site and period) and their device checks, with the rules they keep.

The rules are the server's and the client SDK's alike: the SDK refuses a
change before queueing it for the same reason the server would.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..collection import ChangeRule, Collection, IdRule, Scope, Via
from ..fields import ITEM_TYPES, NOTE_LIMIT, NS, SUPERVISOR, TECHNICIAN, is_uuid
from ..fields import field as _f

if TYPE_CHECKING:
    from ..rules import Check

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


def _status_forward_only(c: Check) -> None:
    status, row = c.fields.get("status"), c.row
    if (
        c.is_client and c.actor.role == TECHNICIAN and row is not None and row.exists
        and status in STATUS_ORDER and row.fields.get("status") in STATUS_ORDER
        and STATUS_ORDER.index(status) < STATUS_ORDER.index(row.fields["status"])
    ):
        c.problem("invalid_field", f"inspections.status cannot go back from {row.fields['status']} to {status}")


def _status_set_by_server(c: Check) -> None:
    status = c.fields.get("status")
    if c.is_client and (status == "signed" or (status == "scheduled" and c.actor.role != SUPERVISOR)):
        c.problem("forbidden", f"inspections.status {status!r} is set by the server")


def kept_while_sealed(children: str, signed_status: bool = False) -> ChangeRule:
    """A row with a live child of `children` a customer's signature sealed (an inspection's check, a
    request's visit; a partial sheet signed seals some) holds the customer's signed sheet, kept in
    their archive (规程 3.4.8): no client deletes it, a supervisor's included; a supervisor retracts
    a bogus signature first. `signed_status`: a row whose `status` is `signed` is kept as such."""
    def rule(c: Check) -> None:
        row = c.row
        if not (c.is_client and c.delete and row is not None and row.exists and not row.deleted):
            return
        if signed_status and row.fields.get("status") == "signed":
            sealed: str | None = "every one"
        elif c.rules is not None and c.rules.sealed_child is not None:
            sealed = c.rules.sealed_child(children, c.row_id)
        else:
            return
        if sealed is not None:
            c.problem("sealed", f"{c.collection} {c.row_id} holds a customer's signed sheet ({children}: {sealed}"
                                " sealed): retract its signature before deleting it")
    return rule


def assigned_to_member(c: Check) -> None:
    """A row is assigned only to a member of its site whose account is not disabled (inspections,
    service requests)."""
    if c.rules is None or c.rules.is_member is None or not c.is_client:
        return
    assignee, row = c.fields.get("assigned_to"), c.row
    site = row.site_id if row is not None and row.exists else c.fields.get("site_id")
    if (
        isinstance(assignee, str)
        and isinstance(site, str)
        and (row is None or row.fields.get("assigned_to") != assignee)
        and not c.rules.is_member(site, assignee)
    ):
        c.problem("invalid_field", f"{c.collection}.assigned_to: {assignee} is not a member of site {site}"
                                   " whose account is enabled")


def _completed_when_all_checked(c: Check) -> None:
    # On creation too: an inspection pushed new as `completed` has every active device of its site
    # still to check (it was once let through, completed with none checked).
    if c.rules is None or c.fields.get("status") != "completed" or not c.is_client:
        return
    site = c.fields.get("site_id")
    if c.creating and (c.found or not isinstance(site, str)):
        # Counted only for a creation refused for nothing else: the site it names is the caller's and
        # the id is that site's. A stored row of that id out of scope is never counted (its count would
        # tell that it exists, where a missing row is answered `invalid_field`).
        return
    missing = c.rules.unchecked(c.row_id, site if c.creating else None)
    if missing:
        c.problem("incomplete", f"{missing} active devices of the site have no outcome yet")


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
    change_rules=(_status_forward_only, _status_set_by_server, assigned_to_member, _completed_when_all_checked,
                  kept_while_sealed("device_checks", signed_status=True)),
)

# -- device checks ------------------------------------------------------------------------------


def device_at_inspection_site(c: Check) -> None:
    """A check (or photo) is of a device at the inspection's own site."""
    if not c.creating:
        return
    insp_id, dev_id = c.fields.get("inspection_id"), c.fields.get("device_id")
    inspection = c.lookup("inspections", insp_id) if isinstance(insp_id, str) and is_uuid(insp_id) else None
    device = c.lookup("devices", dev_id) if isinstance(dev_id, str) and is_uuid(dev_id) else None
    if inspection is not None and device is not None and device.site_id != inspection.site_id:
        c.problem("invalid_field", f"{c.collection}.device_id: device {dev_id} is not at the inspection's site")


def own_name(name: str) -> ChangeRule:
    """Technicians record what they did under their own name only (`name`: the field holding it)."""
    def rule(c: Check) -> None:
        if c.is_client and c.actor.role == TECHNICIAN and c.fields.get(name) not in (None, c.actor.username):
            c.problem("forbidden", f"technicians record {c.collection} under their own name only")
    return rule


def _template_items(c: Check) -> None:
    """Checklist items are those of the device kind's template, of the template's types."""
    if c.rules is None:
        return
    kept, row = c.fields, c.row
    device = kept.get("device_id") or (row.fields.get("device_id") if row is not None else None)
    items = c.rules.template_items(device) if isinstance(device, str) else None
    if items is None:
        return
    for name in [n for n in kept if n.startswith("item.")]:
        item_type = items.get(name[5:])
        if item_type is None:
            c.rejected_fields[name] = "unknown_item"
        elif kept[name] is not None and (
            not isinstance(kept[name], ITEM_TYPES[item_type])
            or (item_type == "int" and isinstance(kept[name], bool))
        ):
            c.rejected_fields[name] = "invalid_value"
        else:
            continue
        del kept[name]


def not_sealed(c: Check) -> None:
    """A row a customer's signature sealed (a check, a service visit) no longer changes from a client."""
    row = c.row
    if row is not None and row.exists and row.fields.get("sealed_by") and c.is_client and c.differs():
        what = {"device_checks": "check", "service_visits": "visit", "charge_lines": "charge line"}.get(c.collection, "row")
        c.problem("sealed", f"this {what} is sealed by signature {row.fields['sealed_by']}")


def not_in_signed_inspection(c: Check) -> None:
    """A signed inspection takes no new check from a client, as a sealed visit takes no new charge
    line: the customer signed for the checks there were, and `signed` means every one is sealed."""
    if not (c.creating and c.is_client):
        return
    insp_id = c.fields.get("inspection_id")
    inspection = c.lookup("inspections", insp_id) if isinstance(insp_id, str) and is_uuid(insp_id) else None
    if inspection is not None and inspection.exists and inspection.fields.get("status") == "signed":
        c.problem("sealed", f"inspection {insp_id} is signed: a new check goes on the next period's sheet")


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
    change_rules=(device_at_inspection_site, own_name("checked_by"), _template_items, not_sealed,
                  not_in_signed_inspection),
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

"""Service work (issue 12, /work/shared/design/service.md): a customer's request, its visits, and the
append-only events that move it.

State changes are events, never a last-writer-wins `status`: a dispatcher's
cancel and a technician's arrival recorded offline both survive, and the
server derives `status` (and the clocks) from them. Every row of a request
belongs to the request's site.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..collection import ChangeRule, Collection, Ended, Scope, Via
from ..fields import NOTE_LIMIT, SERVICE_DESK, SUPERVISOR, TECHNICIAN, is_uuid
from ..fields import field as _f
from .inspections import assigned_to_member, kept_while_sealed, not_sealed, own_name

if TYPE_CHECKING:
    from ..rules import Check

_ALL = (TECHNICIAN, SERVICE_DESK, SUPERVISOR)
_DESK = (SERVICE_DESK, SUPERVISOR)
_FIELD = (TECHNICIAN, SUPERVISOR)
PHONE_LIMIT = 40  # a caller's phone number, extensions included
# Visits and events follow their request: its site, and its period once it has ended.
VIA_REQUEST = Scope(site=Via("request_id", "service_requests"), period=Via("request_id", "service_requests"))

PAUSE_REASONS = ("customer_unavailable", "no_site_access", "awaiting_approval")
# Who may record each kind of event: the field's kinds, the desk's, a supervisor's correction.
FIELD_KINDS = ("accepted", "departed", "arrived", "paused", "resumed", "fixed", "loaner_installed",
               "loaner_returned", "unit_sent", "unit_returned", "left")
DESK_KINDS = ("cancelled", "closed")
ENDED = ("cancelled", "closed")  # statuses a request never leaves (short of a voided event)
EVENT_KINDS = (*FIELD_KINDS, *DESK_KINDS, "voided")
# A timeline's events at the same millisecond (a phone recording "accepted", "arrived", "fixed" in one
# go, or clamped to one time) in the order of a repair, not in the random order of their ids.
KIND_ORDER = {kind: i for i, kind in enumerate(EVENT_KINDS)}


def _required_on_creation(*names: str) -> ChangeRule:
    def rule(c: Check) -> None:
        if c.creating and not c.delete:
            for name in names:
                if c.fields.get(name) is None:
                    c.problem("invalid_field", f"{c.collection}.{name} is required when creating a row")
    return rule


def _reported_at_stays(c: Check) -> None:
    """`reported_at` is a parent field (⬆): set when the request is created, never changed, so its
    register's clock is the creating change's HLC (the clocks' start) and a breach cannot be moved."""
    row = c.row
    if not c.creating and row is not None and "reported_at" in c.fields \
            and c.fields["reported_at"] != row.fields.get("reported_at"):
        c.problem("immutable", "service_requests.reported_at cannot change once set")


def _device_at_request_site(c: Check) -> None:
    """The device a request reports faulty is at the request's own site."""
    dev_id, site_id = c.fields.get("device_id"), c.fields.get("site_id")
    if c.creating and isinstance(dev_id, str) and is_uuid(dev_id) and is_uuid(site_id):
        device = c.lookup("devices", dev_id)
        if device is not None and device.site_id != site_id:
            c.problem("invalid_field", f"service_requests.device_id: device {dev_id} is not at site {site_id}")


def _technicians_set_complexity(c: Check) -> None:
    """Technicians create a request and then set only its `complexity`: the rest is the desk's (a
    technician turning a late `repair` into `other` would take its clocks away)."""
    row = c.row
    if c.creating or not c.is_client or c.actor.role != TECHNICIAN or row is None:
        return
    changed = sorted(name for name, value in c.fields.items() if name != "complexity" and row.fields.get(name) != value)
    if changed:
        c.problem("forbidden", f"service_requests.{changed[0]} of a request is changed by the service desk and"
                               " supervisors; technicians set its complexity")


SERVICE_REQUESTS = Collection(
    "service_requests",
    {
        "site_id": _f("uuid", parent="sites", writers=_ALL),
        "device_id": _f("uuid", parent="devices", optional_parent=True, writers=_ALL),
        "reported_at": _f("timestamp", writers=_ALL),
        "channel": _f("enum", "hotline", "online", "email", "duty_call", "on_site", writers=_ALL),
        "kind": _f("enum", "repair", "consultation", "training", "other", writers=_ALL),
        "caller_name": _f("text", writers=_ALL),
        "caller_phone": _f("text", writers=_ALL, max_length=PHONE_LIMIT),
        "description": _f("text", writers=_ALL, max_length=NOTE_LIMIT),
        "complexity": _f("enum", "ordinary", "complex", writers=_ALL),
        "assigned_to": _f("text", writers=_DESK),
        "number": _f("text", writers=()),
        "status": _f("enum", "received", "dispatched", "accepted", "in_service", "on_hold", "resolved", "signed",
                     "closed", "cancelled", writers=()),
    },
    create_roles=_ALL,
    delete_roles=(SUPERVISOR,),
    # Open requests are always in the sync window; closed and cancelled ones in the quarter of their call.
    scope=Scope(site="site_id", period=Ended("reported_at", status="status", values=ENDED)),
    change_rules=(_required_on_creation("reported_at", "channel", "kind"), _reported_at_stays, _device_at_request_site,
                  assigned_to_member, _technicians_set_complexity,
                  kept_while_sealed("service_visits")),  # its visits, lines and bill would go with it
)


def _visit_of_the_request(c: Check) -> None:
    """An event names a visit of its own request."""
    visit_id, request_id = c.fields.get("visit_id"), c.fields.get("request_id")
    if c.creating and isinstance(visit_id, str) and is_uuid(visit_id) and is_uuid(request_id):
        visit = c.lookup("service_visits", visit_id)
        if visit is not None and visit.fields.get("request_id") != request_id:
            c.problem("invalid_field", f"service_events.visit_id: visit {visit_id} is not of request {request_id}")


def _event_kind_rules(c: Check) -> None:
    kind, reason = c.fields.get("kind"), c.fields.get("reason")
    if not c.creating:
        return
    if (kind == "paused") != (reason is not None):
        c.problem("invalid_field", "service_events.reason is given with a `paused` event, and only with it")
    if not c.is_client:
        return
    role = c.actor.role
    if kind in DESK_KINDS and role not in _DESK:
        c.problem("forbidden", f"service_events.kind {kind!r} is recorded by the service desk and supervisors only")
    if kind == "voided":
        if role != SUPERVISOR:
            c.problem("forbidden", "service_events.kind 'voided' is recorded by supervisors only")
        voided = c.fields.get("note")
        target = c.lookup("service_events", voided) if isinstance(voided, str) and is_uuid(voided) else None
        if target is None or target.fields.get("request_id") != c.fields.get("request_id"):
            c.problem("invalid_field", "service_events.note of a `voided` event is the id of an event of its request")


SERVICE_EVENTS = Collection(
    "service_events",
    {
        "request_id": _f("uuid", parent="service_requests", writers=_ALL),
        "visit_id": _f("uuid", parent="service_visits", optional_parent=True, writers=_ALL),
        "kind": _f("enum", *EVENT_KINDS, writers=_ALL),
        "at": _f("timestamp", writers=_ALL),
        "by": _f("text", writers=_ALL),
        "reason": _f("enum", *PAUSE_REASONS, writers=_ALL),
        "note": _f("text", writers=_ALL, max_length=NOTE_LIMIT),
        "effective_at": _f("timestamp", writers=()),
        "clock": _f("enum", "as_sent", "corrected", "clamped", writers=()),
    },
    create_roles=_ALL,
    delete_roles=(),  # a wrong event is voided, never deleted
    scope=VIA_REQUEST,
    immutable_rows=True,
    change_rules=(_required_on_creation("kind", "at"), _event_kind_rules, _visit_of_the_request, own_name("by")),
)

SERVICE_VISITS = Collection(
    "service_visits",
    {
        "request_id": _f("uuid", parent="service_requests", writers=_FIELD),
        "technician": _f("text", writers=_FIELD),
        "planned_at": _f("timestamp", writers=_FIELD),
        "outcome": _f("enum", "resolved", "unresolved", "revisit_needed", group="result", writers=_FIELD),
        "work_done": _f("text", group="result", writers=_FIELD, max_length=NOTE_LIMIT),
        "fault_cause": _f("text", group="result", writers=_FIELD, max_length=NOTE_LIMIT),
        "recorded_by": _f("text", group="result", writers=_FIELD),
        "recorded_at": _f("timestamp", group="result", writers=_FIELD),
        "warranty_void": _f("enum", "no_proof", "label_altered", "environment_damage", "human_damage",
                            writers=_FIELD),
        "visit_no": _f("int", writers=()),
        "sheet_no": _f("text", writers=()),
        "sealed_by": _f("uuid", writers=()),
    },
    create_roles=_FIELD,
    delete_roles=(SUPERVISOR,),
    scope=VIA_REQUEST,
    # A customer's valid signature of the contact sheet seals the visit (sync/sheet.py).
    change_rules=(own_name("recorded_by"), own_name("technician"), not_sealed),
)


# -- the request's status, derived from its assignment and events (the server's ◆ `status`) -----

_BEFORE_ARRIVAL = ("received", "dispatched", "accepted")
_ACTIVE = (*_BEFORE_ARRIVAL, "in_service", "on_hold")
# Events that record work without moving the status: fine until the request ended.
_NO_MOVE = ("departed", "left", "loaner_installed", "loaner_returned", "unit_sent", "unit_returned")


def status_step(status: str, before_pause: str, kind: str) -> tuple[str, str] | None:
    """(status, the status a `resumed` returns to) after an event of `kind`; None when the event
    makes no sense in `status` (it is kept, flagged, and moves nothing)."""
    if kind in _NO_MOVE:
        return None if status in ENDED else (status, before_pause)
    moves = {
        "accepted": ("accepted", _BEFORE_ARRIVAL),
        "arrived": ("in_service", _ACTIVE),
        "paused": ("on_hold", (*_BEFORE_ARRIVAL, "in_service")),
        "fixed": ("resolved", _ACTIVE),
        "cancelled": ("cancelled", (*_ACTIVE, "resolved")),  # any state before `signed`
        "closed": ("closed", (*_ACTIVE, "resolved", "signed")),
    }
    if kind == "resumed":
        return (before_pause, before_pause) if status == "on_hold" else None
    if kind not in moves or status not in moves[kind][1]:
        return None
    return moves[kind][0], status if kind == "paused" else before_pause


def request_status(assigned: bool, kinds: list[str], signed: bool = False,
                   sealed_after: int | None = None) -> tuple[str, list[int]]:
    """A request's status from its assignment and its events' kinds (not voided, in order of arrival
    at the server), and the positions of the events that made no sense.

    `sealed_after`: how many of the events had arrived when a visit sheet with outcome `resolved`
    was sealed (None: none is; `signed` is the same as sealed after all of them). From then on a
    `resolved` request is `signed`, and `signed` is no longer cancelled (cancelled only before it)."""
    if signed and sealed_after is None:
        sealed_after = len(kinds)
    status = before_pause = "dispatched" if assigned else "received"
    senseless = []
    for i, kind in enumerate(kinds):
        if sealed_after is not None and i >= sealed_after and status == "resolved":
            status = "signed"
        moved = status_step(status, before_pause, kind)
        if moved is None:
            senseless.append(i)
        else:
            status, before_pause = moved
    if sealed_after is not None and status == "resolved":
        status = "signed"
    return status, senseless

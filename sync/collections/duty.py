"""The on-call duty (issue 13, docs/service.md "Duty"): the month's roster and the calls the duty
phone logs.

The roster is one row a month (its id follows from the month), read by every client so that
the duty phone knows offline who is on call (`sync/duty.py`). A duty call belongs to its
site; a call logged without one is its logger's own (`Scope.owner`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..collection import Collection, IdRule, Scope
from ..duty import DEFAULT_FROM, DEFAULT_UNTIL, minute_of, roster_id
from ..fields import NOTE_LIMIT, SERVICE_DESK, SUPERVISOR, TECHNICIAN, is_month, is_uuid
from ..fields import field as _f
from .service import PHONE_LIMIT
from .service import _required_on_creation as required_on_creation

if TYPE_CHECKING:
    from ..rules import Check

_ALL = (TECHNICIAN, SERVICE_DESK, SUPERVISOR)
MAX_CALL_S = 4 * 3600  # a phone call longer than four hours is a typo
CALL_OUTCOMES = ("solved_by_phone", "visit_needed", "follow_up", "not_ours")


def _roster_month(c: Check) -> None:
    """`month` is a month (`2026-M12`) and, like a parent, never changes: the row's id follows from it."""
    month = c.fields.get("month")
    if month is not None and not is_month(month):
        c.problem("invalid_field", f"duty_roster.month: {month!r} is not a month like '2026-M12'")
    if not c.creating and c.row is not None and "month" in c.fields and month != c.row.fields.get("month"):
        c.problem("immutable", "duty_roster.month cannot change once set")


def _local_times(c: Check) -> None:
    for name in ("from", "until"):
        value = c.fields.get(name)
        if value is not None and minute_of(value) is None:
            c.problem("invalid_field", f"duty_roster.{name}: {value!r} is not a local time 'HH:MM'")


def _rostered_technician(c: Check) -> None:
    """Regression (noticed in issue 13/14): a roster naming nobody (a typo) made nobody on duty, silently.
    The technician it names is a technician's username (checked when it changes, as an assignee is)."""
    name, row = c.fields.get("technician"), c.row
    if c.rules is None or c.rules.is_technician is None or not c.is_client or not isinstance(name, str):
        return
    if (row is None or not row.exists or row.fields.get("technician") != name) and not c.rules.is_technician(name):
        c.problem("invalid_field", f"duty_roster.technician: {name[:60]!r} is not a technician's username")


def _from_before_until(fields: Mapping[str, Any]) -> tuple[str, str] | None:
    start = minute_of(fields.get("from") or DEFAULT_FROM)
    end = minute_of(fields.get("until") or DEFAULT_UNTIL)
    if start is not None and end is not None and start >= end:
        return "invalid_field", "duty_roster: `from` comes before `until` (the on-call hours lie within one day)"
    return None


DUTY_ROSTER = Collection(
    "duty_roster",
    {
        "month": _f("period"),
        "technician": _f("text"),
        "from": _f("text", max_length=5),
        "until": _f("text", max_length=5),
    },
    create_roles=(SUPERVISOR,),
    # Every client reads it (the duty phone decides `on_duty` offline); twelve rows a year, all kept,
    # so that a phone offline on the 1st already knows the new month's technician.
    scope=Scope(site="global"),
    id_rule=IdRule(("month",), roster_id, 'uuid5(NS, f"duty/{month}")'),
    change_rules=(required_on_creation("month", "technician"), _roster_month, _local_times, _rostered_technician),
    row_rules=(_from_before_until,),
)


def _linked_rows_in_scope(c: Check) -> None:
    """`follows_id` names another duty call and `request_id` a service request, both of which the
    writer can see (one they cannot is answered as one that does not exist), the request at the call's site."""
    from ..rules import outside_scope  # sync.rules imports the schema, which imports this module
    row_fields = c.row.fields if c.row is not None and c.row.exists else {}
    site = c.fields.get("site_id", row_fields.get("site_id"))
    for name, collection in (("follows_id", "duty_calls"), ("request_id", "service_requests")):
        value = c.fields.get(name)
        if not isinstance(value, str) or not is_uuid(value) or value == row_fields.get(name):
            continue
        target = c.lookup(collection, value) if value != c.row_id else None
        if target is None or target.deleted or outside_scope(target, c.actor):
            c.problem("unknown_parent", f"duty_calls.{name}: no {collection} row {value}")
        elif collection == "service_requests" and site is not None and target.site_id != site:
            c.problem("invalid_field", f"duty_calls.request_id: request {value} is not at site {site}")


def _logged_whole(c: Check) -> None:
    """Every call is logged with its outcome and duration (seed line 426: 须记录每一通电话的处理结果，
    并记录通话时长; domain.md "On-call duty"): required when the call is created, never cleared."""
    for name in ("outcome", "duration_s"):
        if c.delete or c.fields.get(name) is not None or not (c.creating or name in c.fields):
            continue
        c.problem("invalid_field", f"duty_calls.{name} is required: every duty call is logged with its outcome"
                                   " and duration")


def _duration(c: Check) -> None:
    duration = c.fields.get("duration_s")
    if isinstance(duration, int) and not 0 <= duration <= MAX_CALL_S:
        c.problem("invalid_field", f"duty_calls.duration_s: {duration} is not from 0 to {MAX_CALL_S} seconds")


DUTY_CALLS = Collection(
    "duty_calls",
    {
        "received_at": _f("timestamp", writers=_ALL),
        "caller_name": _f("text", writers=_ALL),
        "caller_phone": _f("text", writers=_ALL, max_length=PHONE_LIMIT),
        "site_id": _f("uuid", parent="sites", optional_parent=True, writers=_ALL),
        "summary": _f("text", writers=_ALL, max_length=NOTE_LIMIT),
        "duration_s": _f("int", writers=_ALL),
        "outcome": _f("enum", *CALL_OUTCOMES, writers=_ALL),
        "request_id": _f("uuid", writers=_ALL),
        "follows_id": _f("uuid", writers=_ALL),
        "on_duty": _f("text", writers=()),
        # `received_at` as the server keeps it (corrected for the phone's clock, never after the push
        # that brought it): `on_duty` and the month's log follow it; `received_at` stays as sent.
        "effective_at": _f("timestamp", writers=()),
        "clock": _f("enum", "as_sent", "corrected", "clamped", writers=()),
        "logged_by": _f("text", writers=()),  # who logged it: the owner of a call without a site
    },
    create_roles=_ALL,
    delete_roles=(SUPERVISOR,),
    scope=Scope(site="site_id", owner="logged_by"),
    change_rules=(required_on_creation("received_at"), _logged_whole, _duration, _linked_rows_in_scope),
)

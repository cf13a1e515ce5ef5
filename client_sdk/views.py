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


# -- service work (client_sdk/service.py); times are the protocol's UTC text, with `*_local` beside
# them in the site's time zone (`YYYY-MM-DD HH:MM`), which is what the technician reads.
class MilestoneView(msgspec.Struct, kw_only=True):
    """One response-time clock, computed on this phone by `sync.clocks.clocks` (the server's code)."""

    name: str
    status: str  # met, breached, at_risk, pending, not_applicable
    due_at: str
    due_local: str
    done_at: str | None
    done_local: str | None
    remaining_ms: int  # negative when late
    paused_ms: int
    explanation: str  # `sync.clocks.explain`: "arrived 4 h 31 min after the call; 4 h allowed; 0 paused"


class RequestSummary(msgspec.Struct, kw_only=True):
    """One of `my_requests()`. `status` is the server's rule (`request_status`) over the events this
    phone holds, its own unsent ones included; `milestones` is None while this phone has no terms for
    the site (never synced them, or an older server): the events still show, without countdowns."""

    id: str
    number: Any  # None until the server has numbered it
    site_id: Any
    site_name: Any
    device_id: Any
    device_code: Any
    kind: Any
    channel: Any
    complexity: Any
    reported_at: Any
    reported_local: str | None
    caller_name: Any
    caller_phone: Any
    description: Any
    assigned_to: Any
    status: str
    open: bool
    milestones: list[MilestoneView] | None
    pending: bool  # a change of it (or a new event) is still waiting to be sent


class EventView(msgspec.Struct, kw_only=True):
    """An event of the timeline: `at` as the phone that recorded it said, `effective_at` as the server
    kept it (None until synced), `voided` when a supervisor's `voided` event names it."""

    id: str
    kind: Any
    at: Any
    at_local: str | None
    effective_at: Any
    clock: Any
    by: Any
    reason: Any
    note: Any
    visit_id: Any
    voided: bool
    pending: bool


class VisitView(msgspec.Struct, kw_only=True):
    id: str
    visit_no: Any
    sheet_no: Any
    technician: Any
    planned_at: Any
    outcome: Any
    work_done: Any
    fault_cause: Any
    recorded_by: Any
    recorded_at: Any
    warranty_void: Any
    sealed: bool
    pending: bool


class RequestDetail(RequestSummary, kw_only=True):
    """`request()`: the summary with its timeline (in time order) and visits (in order of number)."""

    events: list[EventView]
    visits: list[VisitView]


class AssignmentNews(msgspec.Struct, kw_only=True):
    """`assignment_news()`: the requests (rows) newly assigned to me and those taken off me since I was last
    told; `mine` the ids of the open ones assigned to me now (what `assignment_told` records); `first` when
    this phone never told any."""

    new: list[dict[str, Any]]
    gone: list[dict[str, Any]]
    mine: list[str]
    first: bool


class DutyCallView(msgspec.Struct, kw_only=True):
    """A duty call as the phone holds it; `on_duty` the server's once synced, before that what
    `sync.duty` derives here from the pulled roster and the cached rules (None: nobody, or no rules)."""

    id: str
    received_at: Any
    received_local: str | None
    site_id: Any
    caller_name: Any
    caller_phone: Any
    summary: Any
    duration_s: Any
    outcome: Any
    request_id: Any
    follows_id: Any
    on_duty: str | None
    pending: bool


class DutyView(msgspec.Struct, kw_only=True):
    """`duty()`: who is on duty at `at` (None: the office is open, off hours, or no roster), why (`state`, as
    `sync.duty.Duty`'s: `on_call`, `office_hours`, `off_hours`, `no_roster`; None without rules) and the
    month's calls on this phone, oldest first; `rules` false when this phone has no duty rules yet."""

    at: str
    month: str | None
    technician: str | None
    state: str | None
    rules: bool
    calls: list[DutyCallView]

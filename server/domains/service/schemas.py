"""What the service request routes take and answer (issue 12, "API")."""

from __future__ import annotations

from typing import Any

import msgspec

from sync.clocks import Milestone
from sync.warranty import Warranty


class NewRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """A request opened from a phone call: the collection's client-written fields.

    `reported_at` defaults to now; every value is checked as a push's would be.
    """

    site_id: str
    reported_at: str | None = None
    channel: str | None = None
    kind: str | None = None
    device_id: str | None = None
    caller_name: str | None = None
    caller_phone: str | None = None
    description: str | None = None
    complexity: str | None = None
    assigned_to: str | None = None


class RequestSummary(msgspec.Struct, kw_only=True):
    id: str
    number: str | None
    status: str | None
    site_id: str | None
    device_id: str | None
    kind: str | None
    complexity: str | None
    reported_at: str | None
    assigned_to: str | None
    milestones: list[Milestone]
    device_code: str | None = None  # what people read instead of `device_id`
    paused_since: str | None = None  # when the open pause that stops its pending clocks began; null: none
    # a `resolved` request waits for the customer to sign its visit sheet: since its `fixed`; null otherwise
    awaiting_signature_since: str | None = None


class RequestList(msgspec.Struct, kw_only=True):
    """A page of requests, oldest `reported_at` first; `next` is the `after` of the next page (null: the last),
    the list's position after this page's last request (`<order key>.<id>`)."""

    requests: list[RequestSummary]
    next: str | None


class ExplainedMilestone(Milestone, kw_only=True):
    explanation: str  # "arrived 4 h 31 min after the call; 4 h allowed; 0 paused"


class TimelineEvent(msgspec.Struct, kw_only=True):
    id: str
    kind: str | None
    at: str | None  # the phone's own clock
    effective_at: str | None  # what the clocks use: corrected and clamped by the server
    clock: str | None  # as_sent, corrected or clamped
    by: str | None
    reason: str | None
    note: str | None
    visit_id: str | None
    voided: bool  # a supervisor's `voided` event names it: the clocks ignore it


class VisitSummary(msgspec.Struct, kw_only=True):
    id: str
    visit_no: int | None
    sheet_no: str | None
    technician: str | None
    planned_at: str | None
    outcome: str | None
    work_done: str | None
    fault_cause: str | None
    recorded_by: str | None
    recorded_at: str | None
    warranty_void: str | None
    sealed_by: str | None


class CallbackSummary(msgspec.Struct, kw_only=True):
    """A call-back the desk made after a visit: reached or not, the customer's rating and its points."""

    visit_id: str | None
    called_at: str | None
    called_by: str | None
    reached: bool | None
    rating: str | None
    comment: str | None
    points: int | None


class Dispatch(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    """A change of the request's `assigned_to` the server stored (its `dispatch` audit entry): to whom,
    from whom (null: first dispatched), by whom (null: the server itself), when it was made (`changed_at`,
    its HLC's time, corrected as every HLC is) and when the server recorded it (`recorded_at`)."""

    from_: str | None
    to: str | None
    by: str | None
    changed_at: str
    recorded_at: str


class RequestDetail(msgspec.Struct, kw_only=True):
    id: str
    number: str | None
    status: str | None
    site_id: str | None
    device_id: str | None
    reported_at: str | None
    channel: str | None
    kind: str | None
    caller_name: str | None
    caller_phone: str | None
    description: str | None
    complexity: str | None
    assigned_to: str | None
    visits: list[VisitSummary]
    events: list[TimelineEvent]
    milestones: list[ExplainedMilestone]
    warranty: Warranty
    device_code: str | None = None
    callbacks: list[CallbackSummary] = []  # the desk's call-backs after its visits, oldest first
    paused_since: str | None = None  # when the open pause that stops its pending clocks began; null: none
    dispatches: list[Dispatch] = []  # its dispatch history, in the order the server stored it
# -- the service office: terms, visits, the faults report (svc-more) ------------------------------


class TermsOverride(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`PUT /api/sites/{site_id}/service-terms`: a site's override of its contract's terms, or null."""

    override: dict[str, Any] | None


class ServiceTerms(msgspec.Struct, kw_only=True):
    """A site's response-time terms: its contract's with its override, the calendar inlined
    (what a phone caches to count the same clocks offline)."""

    site_id: str
    contract: str
    terms: dict[str, Any]
    override: dict[str, Any] | None
    set_by: str | None
    set_at: str | None


class FaultCount(msgspec.Struct, kw_only=True):
    kind: str | None  # of the request's device; null for a request about no device
    model: str | None
    fault_cause: str
    visits: int


class FaultsReport(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    """`GET /api/reports/faults`: visits by fault cause, device kind and model, most first."""

    from_: str
    to: str
    faults: list[FaultCount]  # the first `limit` groups
    total: int  # visits, in every group
    groups_left_out: int = 0  # groups past `limit`, not listed

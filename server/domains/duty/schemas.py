"""What the duty routes answer (issue 13)."""

from __future__ import annotations

import msgspec


class OnDuty(msgspec.Struct, kw_only=True):
    at: str
    technician: str | None  # null inside office hours, outside the on-call hours, or without a roster
    # Added beside the contract's two (s26-desk3): why `technician` is null (office_hours, off_hours,
    # no_roster), else on_call; and till when the technician is on call, 'HH:MM' in the roster's zone.
    state: str
    until: str | None


class DutyCall(msgspec.Struct, kw_only=True):
    """A row of `duty_calls` with its id; `received_local` is the server's time of the call
    (`effective_at`, else `received_at`) in the roster's zone."""

    id: str
    received_at: str | None  # as the phone sent it
    received_local: str | None
    effective_at: str | None
    clock: str | None  # as_sent | corrected | clamped
    site_id: str | None
    caller_name: str | None
    caller_phone: str | None
    summary: str | None
    duration_s: int | None
    outcome: str | None
    request_id: str | None
    follows_id: str | None
    on_duty: str | None
    logged_by: str | None


class DutyLog(msgspec.Struct, kw_only=True):
    month: str
    calls: list[DutyCall]
    unresolved: list[DutyCall]

"""What the inspections endpoints take and answer (documented in OpenAPI as they are)."""

from __future__ import annotations

from typing import Any

import msgspec

from ..media.schemas import PhotoInfo
from ..signatures.schemas import SignatureInfo


class Plan(msgspec.Struct, kw_only=True):
    frequency: str = "quarterly"
    due_day: int = 20  # day of the period's last month the visit is due (clamped to its length)
    technician: str | None = None


class CoverageDevice(msgspec.Struct, kw_only=True):
    device_id: str
    code: str | None
    kind: str | None
    system: str | None
    location: str | None
    outcome: str | None
    checked_by: str | None
    checked_at: str | None
    note: str | None
    photos: list[PhotoInfo] = []  # each `stored` or `missing`, with what EXIF says once stored


class Coverage(msgspec.Struct, kw_only=True):
    site_id: str
    period: str
    inspection_id: str
    total: int
    serviced: int
    fault: int
    not_accessible: int
    skipped: int
    not_checked: int
    devices: list[CoverageDevice]


class HistoryEntry(msgspec.Struct, kw_only=True):
    inspection_id: str
    period: str | None
    sheet_no: str | None
    outcome: str | None
    note: str | None
    checked_by: str | None
    checked_at: str | None
    items: dict[str, Any]
    photos: list[PhotoInfo] = []


class RepairVisit(msgspec.Struct, kw_only=True):
    """A visit of a request about the device: its sheet and what the technician recorded."""

    id: str
    sheet_no: str | None
    technician: str | None
    outcome: str | None
    fault_cause: str | None
    recorded_at: str | None


class RepairRequest(msgspec.Struct, kw_only=True):
    """A service request about the device, with its visits (the device's repair archive)."""

    id: str
    number: str | None
    status: str | None
    reported_at: str | None
    description: str | None
    visits: list[RepairVisit] = []


class DeviceHistory(msgspec.Struct, kw_only=True):
    device_id: str
    code: str | None
    kind: str | None
    site_id: str | None
    checks: list[HistoryEntry]
    requests: list[RepairRequest] = []  # newest first; their visits in order (issue 12)
    # The device's identity as the archive records it (issue 14: the console's device page).
    name: str | None = None
    system: str | None = None
    location: str | None = None
    model: str | None = None
    serial_no: str | None = None
    installed_on: str | None = None
    status: str | None = None
    warranty_from: str | None = None
    warranty_months: int | None = None


class InspectionSummary(msgspec.Struct, kw_only=True):
    id: str
    site_id: str
    site_name: str | None
    period: str
    sheet_no: str | None
    status: str | None
    due_on: str | None
    assigned_to: str | None
    checked: int
    total: int
    overdue: bool


class SiteSummary(msgspec.Struct, kw_only=True):
    id: str
    name: str | None
    customer: str | None
    tz: str | None
    # The customer archive (issue 14): what the console's site page shows of the contract.
    address: str | None = None
    zone: str | None = None
    contract: str | None = None
    contract_price_fen: int | None = None
    accepted_on: str | None = None
    warranty_months: int | None = None


class SiteList(msgspec.Struct, kw_only=True):
    """A page of the caller's sites, by name (`GET /api/sites`); `next` the `after` of the next page."""

    sites: list[SiteSummary]
    next: str | None


class InspectionList(msgspec.Struct, kw_only=True):
    inspections: list[InspectionSummary]


class Sheet(msgspec.Struct, kw_only=True):
    inspection: dict[str, Any]
    site: dict[str, Any]
    coverage: Coverage
    photos: list[PhotoInfo] = []  # photos of the inspection as a whole (no device)
    # Who signed, whether it verified, what it sealed; for a mismatch, how the sheet differed.
    signatures: list[SignatureInfo] = []
    items: dict[str, dict[str, Any]] = {}  # each checked device's checklist answers, by device id


class GenerateRequest(msgspec.Struct, kw_only=True):
    period: str


class GenerateResult(msgspec.Struct, kw_only=True):
    period: str
    created: list[str]
    existing: list[str]

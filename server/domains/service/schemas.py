"""What the service endpoints take and answer (documented in OpenAPI as they are)."""

from __future__ import annotations

from typing import Any

import msgspec

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


class VisitResult(msgspec.Struct, kw_only=True):
    """A visit's `result` group, as the technician recorded it."""

    outcome: str | None = None
    work_done: str | None = None
    fault_cause: str | None = None
    recorded_by: str | None = None
    recorded_at: str | None = None


class VisitRequest(msgspec.Struct, kw_only=True):
    id: str | None
    number: str | None
    status: str | None


class VisitSignature(msgspec.Struct, kw_only=True):
    """A signature of the visit's contact sheet. `status`: `retracted`, else its `verification`
    (`valid`, `mismatch`), else `unverified`."""

    id: str
    signer_name: str | None
    signer_role: str | None
    signed_at: str | None
    status: str
    sheet_sha256: str | None
    retracted_at: str | None = None
    retracted_by: str | None = None


class VisitSheet(msgspec.Struct, kw_only=True):
    """`GET /api/visits/{visit_id}`: the visit, its request, its charge lines and signatures."""

    id: str
    site_id: str | None
    request: VisitRequest
    technician: str | None
    planned_at: str | None
    visit_no: int | None
    sheet_no: str | None
    sealed_by: str | None
    result: VisitResult
    warranty_void: str | None
    lines: list[dict[str, Any]]  # charge lines come with issue 13: always [] until then
    signatures: list[VisitSignature]


class FaultCount(msgspec.Struct, kw_only=True):
    kind: str | None  # of the request's device; null for a request about no device
    model: str | None
    fault_cause: str
    visits: int


class FaultsReport(msgspec.Struct, kw_only=True, rename={"from_": "from"}):
    """`GET /api/reports/faults`: visits by fault cause, device kind and model, most first."""

    from_: str
    to: str
    faults: list[FaultCount]
    total: int

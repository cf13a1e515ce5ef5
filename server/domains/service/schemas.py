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

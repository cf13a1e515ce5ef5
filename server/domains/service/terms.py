"""Response-time terms: the contract kinds' defaults (`fixtures/service_terms.json`) with a
site's override, in the form `sync.clocks.load_terms` reads on the server and on the phone.

`raw()` is what a phone caches (`GET /api/sites/{site_id}/service-terms`): the merged terms
of the site's contract with the calendar's name replaced by the calendar itself, so the
phone needs no other data to count the same clocks offline.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

from sync.clocks import Terms, load_terms, merge_terms

from ...datafiles import fixture


class TermsBook:
    """The defaults, read once; each site's terms are its contract's with its override."""

    def __init__(self) -> None:
        self.data: dict[str, Any] = fixture("service_terms.json")
        # The file as read, whatever its spacing or key order, in short: kept with each request's stored clocks
        # (m040, `service_clocks.terms`), so that a start counts again those another file counted (`recount`).
        text = json.dumps(self.data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        self.mark = hashlib.sha256(text.encode()).hexdigest()[:16]

    def contract(self, contract: object) -> str:
        return contract if isinstance(contract, str) and contract in self.data["contracts"] else "per_visit"

    def raw(self, contract: object, override: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The merged terms, checked, with the calendar inlined (InvalidRequest for a bad override)."""
        name = self.contract(contract)
        load_terms(self.data, name, override)  # refuses a bad override with its reason
        raw = merge_terms(self.data["contracts"][name], override)
        if isinstance(raw.get("calendar"), str):
            raw["calendar"] = self.data["calendars"][raw["calendar"]]
        return raw

    def terms(self, contract: object, override: Mapping[str, Any] | None = None) -> Terms:
        return load_terms(self.data, self.contract(contract), override)


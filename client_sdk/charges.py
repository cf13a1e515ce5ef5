"""A visit's charges on the phone (issue 13, item 7): charge lines recorded offline, checked with
the collection's own rules, and the bill the customer consents to before signing, priced here by
`sync.pricing`, the server's code, over this phone's lines with the fee book the server last
handed (`refresh_reference`, at each sync, kept in the replica).

The bill of a visit the customer's signature has sealed is the server's: its stored amounts.
Before that, every line is priced here, so a line not synced yet counts as the server will count it.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from typing import Any

from sync import errors as E
from sync import pricing
from sync.duty import DutyRules
from sync.wire import Scalar

from .service import ServiceWork
from .session import EpochChanged

FEE_SCHEDULES, DUTY_RULES = "fee_schedules", "duty_rules"
# What a sync caches; a bigger answer is not kept (the fixtures today: 4 KiB and 1.2 KiB).
MAX_FEE_SCHEDULES_BYTES = 256 * 1024
MAX_DUTY_RULES_BYTES = 64 * 1024


def _fee_book(body: Mapping[str, Any]) -> tuple[pricing.FeeBook, int]:
    """(the fee book, tax in basis points) of a `GET /api/fee-schedules` answer; ValueError when
    `sync.pricing` cannot price with it."""
    tax = body["tax_bps"]
    if isinstance(tax, bool) or not isinstance(tax, int) or not 0 <= tax <= pricing.MAX_TAX_BPS:
        raise ValueError(f"tax_bps is 0 to {pricing.MAX_TAX_BPS}")
    return pricing.load(body), tax


def _duty_rules(body: Mapping[str, Any]) -> DutyRules:
    return DutyRules.from_data(body, {})


class ChargeWork(ServiceWork):
    """Charge lines and the offline bill; a base class of `Client`, as `ServiceWork` is."""

    # -- reference data, fetched at sync and kept for offline use -------------------------------

    def refresh_reference(self) -> int:
        """Fetch the fee book (`GET /api/fee-schedules`) and the duty rules (`GET /api/duty/rules`)
        and keep each this SDK can use; returns how many were stored.

        An older server answers 404: what this phone has stays (none: no offline bill, no one
        shown on duty). An answer over its bound, or one `sync.pricing`/`sync.duty` cannot read,
        is not kept either.
        """
        stored = 0
        for name, path, limit, check in (
                (FEE_SCHEDULES, "/api/fee-schedules", MAX_FEE_SCHEDULES_BYTES, _fee_book),
                (DUTY_RULES, "/api/duty/rules", MAX_DUTY_RULES_BYTES, _duty_rules)):
            stored += self._refresh(name, path, limit, check)
        return stored

    def _refresh(self, name: str, path: str, limit: int, check: Callable[[Mapping[str, Any]], object]) -> bool:
        try:
            resp = self.session.request("GET", path)
        except (E.NotFound, EpochChanged):
            return False  # a server from before this endpoint, or one restored since the pull
        if len(resp.content) > limit:
            return False
        try:
            body = resp.json()
            check(body)
        except (ValueError, KeyError, TypeError, AttributeError, E.InvalidRequest):
            return False
        self.db.set_reference(name, body, self.wall())
        return True

    def fee_schedules(self) -> tuple[pricing.FeeBook, int] | None:
        """(the fee book, the server's tax rate in basis points) as last fetched; None without."""
        body = self.db.reference(FEE_SCHEDULES)
        try:
            return None if body is None else _fee_book(body)
        except (ValueError, KeyError, TypeError):
            return None

    def duty_rules(self) -> DutyRules | None:
        """The duty rules as last fetched; None without."""
        body = self.db.reference(DUTY_RULES)
        try:
            return None if body is None else _duty_rules(body)
        except (ValueError, KeyError, TypeError, AttributeError, E.InvalidRequest):
            return None

    # -- charge lines (queued in the outbox, sent by the next sync) -----------------------------

    def _not_signed(self, visit: Mapping[str, Any]) -> None:
        """Refuse a change of a visit's lines once the customer has signed its sheet: sealed by the
        server, or signed on this phone and not sent yet (the push seals it before the change)."""
        signed = visit["fields"].get("sealed_by") or next(
            (e["id"] for e in self.outbox.pending() if e["collection"] == "signatures"
             and e["fields"].get("visit_id") == visit["id"] and e["fields"].get("signer_role") == "customer"), None)
        if signed:
            raise E.Forbidden(f"visit {visit['id']} is signed by the customer ({signed}): its lines no longer"
                              " change", reason="sealed")

    def _consent(self, decision: str, decided_by: str | None) -> dict[str, Scalar]:
        return {"decision": decision, "decided_by": decided_by, "decided_at": self.record_time()}

    def add_charge(self, visit_id: str, item: str, quantity: int, unit_price_fen: int | None = None,
                   decision: str | None = None, decided_by: str | None = None,
                   description: str | None = None) -> str:
        """Record a charge line of the visit; returns its id (its price comes from the server at sync,
        and `bill` shows it now). `quantity` is in the item's unit, minutes for `labour`; a part
        carries its actual price in fen and, when the customer has decided, `agreed` or `declined`
        (by `decided_by`, now). Refused on the spot as the server would: an unknown item, a
        quantity or price out of bounds, a price on another item, a signed visit."""
        self._not_signed(self._live("service_visits", visit_id, "visit"))
        fields: dict[str, Scalar] = {"visit_id": visit_id, "item": item, "quantity": quantity}
        fields.update({k: v for k, v in (("unit_price_fen", unit_price_fen), ("description", description))
                       if v is not None})
        if decision is not None:
            fields.update(self._consent(decision, decided_by))
        line_id = str(uuid.uuid4())
        self.create("charge_lines", line_id, fields)
        return line_id

    def decide_charge(self, line_id: str, decision: str, decided_by: str | None = None) -> int:
        """The customer's decision on a line (`agreed`/`declined`), now; returns the seq. A declined
        part stays on the sheet and is not billed."""
        line = self._live("charge_lines", line_id, "charge line")
        self._not_signed(self._live("service_visits", str(line["fields"].get("visit_id")), "visit"))
        return self.write("charge_lines", line_id, self._consent(decision, decided_by))

    def visit_charges(self, visit_id: str) -> list[tuple[str, dict[str, Any]]]:
        """(id, fields) of the visit's live lines: those the server holds in the order it gave them
        versions, then this phone's new ones in the order they were entered."""
        lines = [r for r in self.rows("charge_lines") if r["fields"].get("visit_id") == visit_id]
        entered: dict[str, int] = {}
        for entry in self.db.entries("state = 'pending' AND collection = 'charge_lines'"):
            entered.setdefault(entry.id, entry.seq)
        return [(r["id"], r["fields"]) for r in sorted(
            lines, key=lambda r: (r["version"] == 0, r["version"], entered.get(r["id"], 0), r["id"]))]

    def bill(self, visit_id: str) -> pricing.Bill:
        """The visit's bill as the server will answer `GET /api/visits/{id}/bill`, computed offline:
        the schedule in force on the visit's day, the site's zone and contract, the device's
        warranty phase on the day of the call, the visit's `warranty_void`. NotFound without a
        fee book on this phone (sync once)."""
        visit = self._live("service_visits", visit_id, "visit")
        found = self.fee_schedules()
        if found is None:
            raise E.NotFound("no fee schedules on this client; sync first")
        book, tax_bps = found
        lines = self.visit_charges(visit_id)
        if visit["fields"].get("sealed_by"):
            return pricing.bill(visit_id, lines, tax_bps)  # what the customer signed, as the server priced it
        request = self._request(str(visit["fields"].get("request_id")))["fields"]
        site = self.get("sites", str(request.get("site_id")))
        device = self.get("devices", str(request.get("device_id"))) if request.get("device_id") else None
        siblings = [v["fields"] for v in self.rows("service_visits")
                    if v["fields"].get("request_id") == visit["fields"].get("request_id") and v["id"] != visit_id]
        ctx = pricing.context(book, site=site["fields"] if site else {}, request=request, visit=visit["fields"],
                              device=device["fields"] if device is not None and not device["deleted"] else None,
                              siblings=siblings)
        return pricing.bill(visit_id, lines, tax_bps, ctx)

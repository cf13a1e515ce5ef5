"""What the billing routes answer (issue 13): a visit's contact sheet with its lines, the annual quote.
The bill itself is `sync.pricing.Bill`, the Struct the phone builds offline."""

from __future__ import annotations

import msgspec

from sync.pricing import FeeBook, QuoteLine

from ..service.schemas import VisitSummary
from ..signatures.schemas import SignatureInfo


class ChargeLine(msgspec.Struct, kw_only=True):
    """A charge line as stored, with whether the customer pays it (`billed`)."""

    id: str
    item: str | None
    description: str | None = None
    quantity: int | None
    unit_price_fen: int | None = None
    decision: str | None = None
    decided_by: str | None = None
    decided_at: str | None = None
    amount_fen: int | None
    covered: bool | None
    billed: bool
    sealed_by: str | None = None


class VisitDetail(VisitSummary, kw_only=True):
    """A visit's contact sheet: the visit, its charge lines in order of arrival, its signatures."""

    request_id: str | None
    lines: list[ChargeLine]
    signatures: list[SignatureInfo]


class AnnualQuote(msgspec.Struct, kw_only=True):
    """A site's annual maintenance quote, per year, in fen, beside its contract's yearly price."""

    site_id: str
    effective_from: str  # the schedule priced from
    lines: list[QuoteLine]
    total_fen: int
    contract_price_fen: int | None  # the site's maintenance contract, per year (null: none recorded)
    unquoted: dict[str, int]  # device kinds counted but not in the annual table, and how many


class FeeSchedules(FeeBook, kw_only=True):
    """The fee book as the server loads it, with the server's tax rate: what a phone caches to show
    the customer the bill offline (`sync.pricing` on both ends)."""

    tax_bps: int

"""Charges (issue 13, docs/service.md "Charges"): the fee book, a visit's contact sheet and bill,
a site's annual maintenance quote. The prices are `sync.pricing`'s, the phone's too."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from functools import cache, partial
from typing import TYPE_CHECKING, Any

from sync import errors as E
from sync import pricing
from sync.fields import is_uuid

from ...datafiles import fixture
from ...storage import billing as q
from ...storage.base import Connection
from ...storage.service import children, live_rows
from ..scope import in_scope
from ..service.schemas import VisitSummary
from ..signatures.service import signatures
from .schemas import AnnualQuote, ChargeLine, FeeSchedules, VisitDetail

if TYPE_CHECKING:
    from ...services import Caller, Store

@cache
def fee_book() -> pricing.FeeBook:
    """`fixtures/fee_schedules.json`, read and checked once (`fieldsync serve` reads it before it serves)."""
    return pricing.load(fixture("fee_schedules.json"), strict=True)


# A row as a context reads it: (fields, deleted), None when there is none.
Row = Callable[[str, object], tuple[Mapping[str, Any], bool] | None]


def visit_context(row: Row, visit: Mapping[str, Any], request: Mapping[str, Any],
                  siblings: Iterable[Mapping[str, Any]], deleted_device: bool = False) -> pricing.Context:
    """A visit's pricing context, the one way the push prices its lines (`hooks.visit_context`, over the
    transaction) and the visit page names who bears them (over the stored rows), as the phone prices them
    (`client_sdk/charges.py`): a deleted site's fields still give its zone, contract and time zone; a
    deleted device gives no warranty, unless `deleted_device` (the page explaining a line priced before)."""
    site, device = row("sites", request.get("site_id")), row("devices", request.get("device_id"))
    return pricing.context(fee_book(), site=site[0] if site else {}, request=request, visit=visit,
                           device=device[0] if device and (deleted_device or not device[1]) else None,
                           siblings=siblings)


def _visit(db: Connection, caller: Caller, visit_id: str) -> dict[str, Any]:
    """A live visit of a live request in the caller's scope, else NotFound (the same for another site's)."""
    visit = live_rows(db, "service_visits", [visit_id]).get(visit_id) if is_uuid(visit_id) else None
    request_id = visit.get("request_id") if visit is not None else None
    request = live_rows(db, "service_requests", [request_id]).get(request_id) if isinstance(request_id, str) else None
    if visit is None or request is None or not in_scope(caller, request.get("site_id")):
        raise E.NotFound(f"no service visit {visit_id[:64]}")
    return visit


def _line(line_id: str, f: dict[str, Any], billed: bool) -> ChargeLine:
    return ChargeLine(id=line_id, item=f.get("item"), description=f.get("description"), quantity=f.get("quantity"),
                      unit_price_fen=f.get("unit_price_fen"), decision=f.get("decision"),
                      decided_by=f.get("decided_by"), decided_at=f.get("decided_at"),
                      amount_fen=f.get("amount_fen"), covered=f.get("covered"), billed=billed,
                      sealed_by=f.get("sealed_by"))


class Billing:
    def __init__(self, store: Store) -> None:
        self.store = store

    def fee_schedules(self) -> FeeSchedules:
        """The fee book and the tax rate this server bills with."""
        book = fee_book()
        return FeeSchedules(**{f: getattr(book, f) for f in book.__struct_fields__}, tax_bps=self.store.settings.tax_bps)

    def bill(self, caller: Caller, visit_id: str) -> pricing.Bill:
        """The visit's itemised bill, from its lines as the server priced them."""
        with self.store.read() as db:
            _visit(db, caller, visit_id)
            lines = q.visit_lines(db, visit_id)
        return pricing.bill(visit_id, lines, self.store.settings.tax_bps)

    def visit(self, caller: Caller, visit_id: str) -> VisitDetail:
        """The visit's contact sheet: its fields, its lines (with `billed`), its signatures."""
        with self.store.read() as db:
            f = _visit(db, caller, visit_id)
            lines = q.visit_lines(db, visit_id)
            signed = signatures(self.store, db, visit_id)
        billed = {line.id: line.billed for line in pricing.bill(visit_id, lines, 0).lines}
        shown = {name: f.get(name) for name in VisitSummary.__struct_fields__ if name != "id"}
        return VisitDetail(id=visit_id, request_id=f.get("request_id"), **shown,
                           lines=[_line(i, lf, billed[i]) for i, lf in lines], signatures=signed)

    def borne_by(self, caller: Caller, visit_id: str) -> dict[str, str]:
        """Who bears each of the visit's lines (`pricing.borne_by`), by line id: the customer, the warranty,
        the contract, or nobody yet. A covered line's cover is read from the context the push priced it
        with (`visit_context`); when the rows as they stand explain no cover, a device deleted since still
        gives the warranty it gave when the line was priced."""
        with self.store.read() as db:
            visit = _visit(db, caller, visit_id)
            request_id = str(visit.get("request_id"))
            request = live_rows(db, "service_requests", [request_id])[request_id]
            siblings = [f for _, i, f in children(db, "service_visits", [request_id]) if i != visit_id]
            ctx, then = (visit_context(partial(q.row, db), visit, request, siblings, deleted_device=d)
                         for d in (False, True))
            lines = q.visit_lines(db, visit_id)
        billed = {line.id: line.billed for line in pricing.bill(visit_id, lines, 0).lines}
        return {i: pricing.borne_by(f, bool(f.get("covered")), billed[i],
                                    ctx if pricing.covered_by(f, ctx) else then) for i, f in lines}

    def annual_quote(self, site_id: str) -> AnnualQuote:
        """The site's active devices priced per unit from the annual table in force today, the site's day by
        the store's clock."""
        with self.store.read() as db:
            site = live_rows(db, "sites", [site_id]).get(site_id) if is_uuid(site_id) else None
            if site is None:
                raise E.NotFound(f"no site {site_id[:64]}")
            kinds = q.active_kinds(db, site_id)
        book = fee_book()
        schedule = pricing.in_force(book, self.store.today(site.get("tz")))
        lines, total, unquoted = pricing.annual_quote(book, schedule, kinds)
        price = site.get("contract_price_fen")
        return AnnualQuote(site_id=site_id, effective_from=schedule.effective_from, lines=lines, total_fen=total,
                           contract_price_fen=price if isinstance(price, int) else None, unquoted=unquoted)

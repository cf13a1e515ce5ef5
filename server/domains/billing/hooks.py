"""What the server derives for charge lines, in the write transaction (docs/service.md, "Charges").

- A line gets `amount_fen` and `covered` (`sync.pricing`), priced from its visit, the visit's
  request, the site and the request's device as they stand at its place in the batch.
- A visit whose schedule date or `warranty_void` changes has its lines priced again, until
  it is sealed: the amounts a customer signed for stay. A void voids the request, so a
  changed void prices again the lines of every unsealed visit of the request.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sync.merge import RowState
from sync.pricing import Context, price
from sync.wire import Change

from ...storage import billing as q
from ...storage.service import children
from .service import visit_context as context_of

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store

# A visit's fields its lines' prices read (the schedule's date, the warranty's void).
_PRICED_BY = ("warranty_void", "recorded_at", "planned_at")


def request_visits(tx: Transaction, request_id: str) -> list[RowState]:
    """The request's live visits as they stand in the transaction."""
    tx.flush_rows()
    found = (tx.lookup("service_visits", visit_id) for _, visit_id, _ in children(tx.db, "service_visits", [request_id]))
    return [visit for visit in found if visit is not None and not visit.deleted]


def visit_context(tx: Transaction, visit_id: object) -> Context | None:
    """The pricing context of a visit as it stands in the transaction (`service.visit_context`); None
    without the visit."""
    visit = tx.lookup("service_visits", visit_id) if isinstance(visit_id, str) else None
    request_id = visit.fields.get("request_id") if visit is not None else None
    request = tx.lookup("service_requests", request_id) if isinstance(request_id, str) else None
    if visit is None or request is None:
        return None

    def row(collection: str, row_id: object) -> tuple[dict[str, Any], bool] | None:
        found = tx.lookup(collection, row_id) if isinstance(row_id, str) else None
        return None if found is None else (found.fields, found.deleted)

    siblings = [v.fields for v in request_visits(tx, request.id) if v.id != visit.id]
    return context_of(row, visit.fields, request.fields, siblings)


def _priced(tx: Transaction, line: RowState, ctx: Context) -> bool:
    """Set the line's price (server writes); whether it changed."""
    found = price(line.fields, ctx)
    changed = False
    for name, value in (("amount_fen", found.amount_fen), ("covered", found.covered)):
        if line.fields.get(name) != value or type(line.fields.get(name)) is not type(value):
            tx.server_set(line, name, value)
            changed = True
    return changed


class BillingHooks:
    collections: tuple[str, ...] = ("charge_lines", "service_visits")

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        pass

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if row.collection == "charge_lines" and not row.deleted:
            ctx = visit_context(tx, row.fields.get("visit_id"))
            if ctx is not None:
                _priced(tx, row, ctx)

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if row.collection != "service_visits" or before is None or not before.exists:
            return
        now = {} if row.deleted else row.fields
        if all(before.fields.get(k) == now.get(k) for k in _PRICED_BY):
            return
        # Its own lines; with a new void, every visit's of its request (a void voids the request).
        void_moved = before.fields.get("warranty_void") != now.get("warranty_void")
        request_id = row.fields.get("request_id")
        visits = request_visits(tx, request_id) if void_moved and isinstance(request_id, str) else [row]
        for visit in visits:
            ctx = None if visit.deleted or visit.fields.get("sealed_by") else visit_context(tx, visit.id)
            if ctx is None:
                continue
            tx.flush_rows()
            for line_id, _ in q.visit_lines(tx.db, visit.id):
                line = tx.lookup("charge_lines", line_id)
                if line is not None and not line.fields.get("sealed_by"):
                    moved = replace(line, fields=dict(line.fields), clocks=dict(line.clocks))
                    if _priced(tx, moved, ctx):
                        tx.put(moved)

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {}

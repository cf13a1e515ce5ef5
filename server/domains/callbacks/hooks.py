"""What the server derives from a call-back (issue 13), in the write transaction.

- `points`◆ from the rating (`Settings.callback_points`), null unless the customer
  was reached and rated the visit.
- A `dissatisfied` call-back opens a follow-up service request for the supervisors,
  once: its id is `uuid5(NS, "callback-followup/<call-back id>")`, so a call-back
  changed again, or pushed again, never opens a second one.

The `callback` milestone is the service domain's: its hooks recompute the request's
stored clocks when a call-back changes.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sync.collections.callbacks import points_for
from sync.fields import NOTE_LIMIT, NS
from sync.merge import Actor, RowState, apply_change
from sync.messages import words
from sync.wire import Change

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store

FOLLOW_UP_CHANNEL, FOLLOW_UP_KIND = "hotline", "other"  # the desk's call; a complaint, not a fault


def follow_up_id(callback_id: str) -> str:
    return str(uuid.uuid5(NS, f"callback-followup/{callback_id}"))


def follow_up_description(sheet_no: object, comment: object) -> str:
    """The follow-up's description in the catalogue's Chinese (a stored row has one language: its users')."""
    said = words("values")
    text = said["follow_up.description"].format(sheet=sheet_no or said["follow_up.no_number"])
    return (f"{text}：{comment}" if comment else text)[:NOTE_LIMIT]


class CallbackHooks:
    collections: tuple[str, ...] = ("callbacks",)

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        pass

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if row.deleted:
            return
        points = points_for(row.fields, tx.store.settings.callback_points)
        if row.fields.get("points") != points:
            tx.server_set(row, "points", points)

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if row.deleted or row.fields.get("reached") is not True or row.fields.get("rating") != "dissatisfied":
            return
        request_id = follow_up_id(row.id)
        if tx.lookup("service_requests", request_id) is not None:
            return  # opened already (it may since have been cancelled or deleted: it stays so)
        visit = tx.lookup("service_visits", str(row.fields.get("visit_id")))
        request = tx.lookup("service_requests", str(visit.fields.get("request_id"))) if visit else None
        if visit is None or request is None or request.deleted:
            return
        original = request.fields
        fields = {"site_id": original.get("site_id"), "device_id": original.get("device_id"),
                  "reported_at": row.fields.get("called_at"), "channel": FOLLOW_UP_CHANNEL, "kind": FOLLOW_UP_KIND,
                  "caller_name": original.get("caller_name"), "caller_phone": original.get("caller_phone"),
                  "description": follow_up_description(visit.fields.get("sheet_no"), row.fields.get("comment"))}
        fields = {k: v for k, v in fields.items() if v is not None}
        outcome = apply_change(None, "service_requests", request_id, fields, None, tx.store.clock.now(tx.now),
                               Actor.server(), tx.lookup, tx.rules)
        if outcome.changed and outcome.row is not None:
            tx.settle(None, outcome.row)

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {}

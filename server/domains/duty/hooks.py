"""What the server derives for duty calls (issue 13), in the write transaction.

- A new call gets `logged_by`, the user who logged it: the owner of a call without a site.
- A call gets `on_duty`, the rostered technician at its `received_at` (`sync.duty.on_duty`),
  when it is created or its `received_at` changes; a roster that is written or changed
  derives it again for every call of its month (a roster written after the calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from sync import hlc
from sync.duty import on_duty, roster_id
from sync.merge import RowState
from sync.wire import Change

from ...storage.sqlite import duty as q
from .service import duty_rules

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store


def _on_duty(tx: Transaction, call: RowState) -> None:
    """Set the call's `on_duty` from the roster of its month (null: nobody, or no roster)."""
    received = call.fields.get("received_at")
    technician = None
    if isinstance(received, str):
        rules = duty_rules()
        month = rules.month(hlc.parse_ts(received))
        roster = tx.lookup("duty_roster", roster_id(month))
        rosters = {month: roster.fields} if roster is not None and not roster.deleted else {}
        technician = on_duty(hlc.parse_ts(received), rosters, rules)
    if call.fields.get("on_duty") != technician:
        tx.server_set(call, "on_duty", technician)
        if technician is None:
            del call.fields["on_duty"]  # a null field is left out of a row, as the merge leaves it


class DutyHooks:
    collections: tuple[str, ...] = ("duty_calls", "duty_roster")

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        pass

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if row.collection != "duty_calls" or row.deleted:
            return
        created = before is None or not before.exists
        if created and tx.caller is not None:
            tx.server_set(row, "logged_by", tx.caller.username)
        if created or before.fields.get("received_at") != row.fields.get("received_at"):  # type: ignore[union-attr]
            _on_duty(tx, row)

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        month = row.fields.get("month")
        if row.collection != "duty_roster" or not isinstance(month, str):
            return
        start, end = duty_rules().month_bounds(month)
        tx.flush_rows()
        for found in q.calls_between(tx.db, hlc.format_ts(start), hlc.format_ts(end)):
            call = tx.lookup("duty_calls", found["id"])
            if call is None:
                continue
            moved = replace(call, fields=dict(call.fields), clocks=dict(call.clocks))
            _on_duty(tx, moved)
            if moved.fields.get("on_duty") != call.fields.get("on_duty"):
                tx.put(moved)

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {}

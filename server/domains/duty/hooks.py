"""What the server derives for duty calls (issue 13), in the write transaction.

- A new call gets `logged_by`, the user who logged it: the owner of a call without a site.
- A call gets `effective_at`, its `received_at` corrected for the phone's clock as a service
  event's `at` is (the push's offset, clamped to the receive time, a big clamp logged), and
  `on_duty`, the rostered technician then (`sync.duty.on_duty`), when it is created or its
  `received_at` changes; a roster that is written or changed derives `on_duty` again for every
  call of its month (a roster written after the calls).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import TYPE_CHECKING, Any

from sync import hlc
from sync.duty import on_duty, roster_id
from sync.merge import RowState
from sync.wire import Change

from ...storage import duty as q
from ..service.hooks import corrected_time
from .service import duty_rules

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store


def _effective_at(tx: Transaction, call: RowState) -> None:
    """Regression (noticed in issue 13): `on_duty` followed the phone's own clock, so a phone an
    hour off named the wrong technician. The server's time of the call, beside the phone's."""
    received = call.fields.get("received_at")
    if not isinstance(received, str):
        for name in ("effective_at", "clock"):
            if name in call.fields:
                tx.server_set(call, name, None)
                del call.fields[name]  # a null field is left out of a row, as the merge leaves it
        return
    effective, clock = corrected_time(tx, received, None, "the call's time", "the times up to its receipt")
    tx.server_set(call, "effective_at", effective)
    tx.server_set(call, "clock", clock)


def _on_duty(tx: Transaction, call: RowState) -> None:
    """Set the call's `on_duty` from the roster of its month (null: nobody, or no roster)."""
    received = call.fields.get("effective_at") or call.fields.get("received_at")  # stored before the correction
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
            _effective_at(tx, row)
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
        return {"is_technician": partial(q.is_technician, tx.db)}

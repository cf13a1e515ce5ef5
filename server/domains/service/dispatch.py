"""A request's dispatch history (改派记录): every change of its `assigned_to` that the server stores,
audited in the write transaction that stores it (kind `dispatch`).

`assigned_to` is a last-writer-wins register: the row keeps only its last value and that value's
clock, and the conflict log keeps an overwritten value only between different clients. So the
service hook records each stored change here, whoever wrote it (a phone's push, the console's
dispatch form, `POST /api/service-requests`, any of the server's own writes): the request, its
number, the value before and after, who (the audit row's user and client), and the change's HLC,
whose time is when the change was made (corrected or clamped as every HLC is). A value that lost
its merge was not stored, and one written again equal changed nothing: neither is recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from sync import hlc
from sync.merge import RowState

from ...storage import identity
from ...storage.base import Sql
from ..identity import audit
from .schemas import Dispatch

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction


_decode = msgspec.json.Decoder(dict[str, Any]).decode


def record(tx: Transaction, before: RowState | None, row: RowState) -> None:
    """Audit a staged request's `assigned_to` if this change moved it (none for a deleted row)."""
    if row.deleted:
        return
    was = before.fields.get("assigned_to") if before is not None and before.exists and not before.deleted else None
    now = row.fields.get("assigned_to")
    if was == now:
        return
    clock = row.clocks.get("assigned_to")
    stamp = str(clock[0]) if clock else None
    caller = tx.caller
    detail: dict[str, Any] = {
        "request_id": row.id, "number": row.fields.get("number"), "site_id": row.fields.get("site_id"),
        "from": was, "to": now, "hlc": stamp,
        "changed_at": hlc.format_ts(hlc.parse(stamp).ms) if stamp else hlc.format_ts(tx.now),
    }
    audit.audit(tx.db, audit.DISPATCH, username=caller.username if caller else None,
                client_id=caller.client_id if caller else None, address=caller.address if caller else None,
                now_ms=tx.now, **detail)


def history(db: Sql, request_id: str) -> list[Dispatch]:
    """A request's dispatch history as its audit entries keep it, in the order they were written."""
    found = []
    for at, username, text in identity.dispatches(db, request_id):
        d = _decode(text)
        found.append(Dispatch(from_=_str(d.get("from")), to=_str(d.get("to")), by=username,
                              changed_at=str(d.get("changed_at") or at), recorded_at=at))
    return found


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None

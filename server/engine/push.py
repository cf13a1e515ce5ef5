"""Push: a client's changes, checked as a batch, then merged one by one in one write transaction.

Seqs already acknowledged are answered from their receipts (a replay); the rest must
follow on without a gap. A change's HLC is corrected for the client's clock offset or
clamped when it runs ahead. Every change gets a receipt; what lost, was overwritten or
was rejected goes to the conflict log; a permission rejection is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

import msgspec

from sync import PROTOCOL_VERSION, hlc
from sync import errors as E
from sync.fields import MAX_PERIOD_YEAR, MIN_TIME_YEAR
from sync.merge import Actor, LogEntry, apply_change, outside_scope
from sync.schema import COLLECTIONS
from sync.wire import Change, ChangeResult, PushRequest, PushResponse

from ..domains.identity import audit
from ..domains.identity.service import Caller
from ..storage import protocol as q
from ..storage import receipts
from ..storage.base import Connection
from .batch import _Batch

_CLIENT_TIME_END = hlc.parse_ts(f"{MAX_PERIOD_YEAR + 1}-01-01T00:00:00.000Z")

if TYPE_CHECKING:
    from ..services import Store

_result_decoder = msgspec.json.Decoder(ChangeResult)
INITIAL_HLC = str(hlc.Hlc(0, 0, hlc.SERVER_NODE))


def push(store: Store, caller: Caller, req: PushRequest, app: str | None = None) -> PushResponse:
    changes = req.changes
    if req.client_id != caller.client_id:
        raise E.ClientMismatch(f"the token belongs to client {caller.client_id}")
    if req.protocol < 1 or req.protocol > PROTOCOL_VERSION:
        raise E.InvalidRequest(f"protocol {req.protocol} is not one this server knows")
    try:
        client_ms = hlc.parse_ts(req.client_time)
    except ValueError as exc:
        raise E.InvalidRequest(f"client_time: {exc}") from None
    if not 0 <= client_ms < _CLIENT_TIME_END:
        # A phone whose clock went back to 1970 still syncs; past 2100 the offset it gives would correct the
        # push's times to before the year 1 (a 500).
        raise E.InvalidRequest(f"client_time: {req.client_time} is not in the years {MIN_TIME_YEAR} to {MAX_PERIOD_YEAR}")
    for i, change in enumerate(changes):
        if change.seq < 1 or change.seq != changes[0].seq + i:
            raise E.SeqNotConsecutive(
                f"change {i} has seq {change.seq}; seqs start at 1 and rise by one within a batch"
            )
    if len(changes) > store.settings.max_changes_per_push:
        with store.read() as db:  # rare: only a push over the limit pays this read
            _at_most(store, changes, q.acked_seq(db, caller.client_id))
    store.hooks.prepare(store, changes)  # outside the writer lock
    ready = [_Ready.of(change, caller.client_id) for change in changes]  # and so is what needs no stored row
    batch: _Batch | None = None
    with store.write() as db:
        now = store.now_ms()
        offset = now - client_ms
        # The version counter first (a lock on PostgreSQL), then the client's acked_seq: the same
        # client pushing through two processes at once is then answered in turn, not twice.
        batch = _Batch(db, store, now, caller, offset) if changes else None
        acked = q.acked_seq_unless_revoked(db, caller.client_id)
        if acked is None:
            # Revoked since its token was checked (a lost phone's thief racing the office's revoke):
            # after the version lock a revocation has committed before this push or waits for it
            # (revocations take that lock too), so nothing of it is applied, as for a revoked token.
            raise E.Unauthorized("the token is unknown or revoked")
        _at_most(store, changes, acked)  # acked_seq may have risen since: fewer are new, or a gap closed
        replayed = [c for c in changes if c.seq <= acked]
        fresh = changes[len(replayed):]
        results = _replayed_results(db, caller.client_id, replayed, ready)
        if batch is not None and fresh:
            batch.prefetch(fresh)
            actor = caller.actor
            for change, checked in zip(fresh, ready[len(replayed):], strict=True):
                results.append(_apply(store, batch, change, checked, caller, actor, offset, now))
            batch.flush(caller)
            acked = fresh[-1].seq
        q.record_sync(db, caller.client_id, acked, hlc.format_ts(now), offset, app)
        if changes:
            receipts.prune(db, caller.client_id, changes[0].seq, acked, store.settings.receipts_kept_per_client)
        if batch is not None:
            q.save_clock(db, store.clock.last)  # the batch caught this process's clock up with the saved one
        server_hlc = store.clock.last if batch is not None else max(store.clock.last, q.server_clock(db))
        version = q.current_version(db)
    if batch is not None:
        batch.hand_over()  # committed: what the hooks registered for after it (a sheet rendered ahead)
    return PushResponse(
        acked_seq=acked,
        version=version,
        results=results,
        server_time=hlc.format_ts(now),
        server_hlc=server_hlc,
        server_epoch=store.server_epoch,
        clock_offset_ms=offset,
    )


def _at_most(store: Store, changes: Sequence[Change], acked: int) -> None:
    """A gap after `acked_seq` is 409 `seq_gap` first (the phone resends from `acked_seq + 1`; counted
    as new changes it was a 413 the phone could not get past). Then the limit on changes per push counts
    the new ones: changes at or below `acked_seq` are answered from their receipts (the contract), also
    when the limit was lowered after they were taken. Their bytes are bounded by `max_body_bytes` before
    decoding, and a resend reaching a seq whose receipt is gone is 409 `seq_reused` at that seq."""
    if changes and changes[0].seq > acked + 1:
        raise E.SeqGap(f"the server has acknowledged up to seq {acked}", acked_seq=acked)
    limit, new = store.settings.max_changes_per_push, (changes[-1].seq - acked if changes else 0)
    if new > limit:
        raise E.TooManyChanges(f"{new} new changes; at most {limit} per push", limit=limit)


class _Ready(NamedTuple):
    """What a change's checks need that no stored row does, worked out before the writer lock: the
    lock is held through each commit's fsync, when other pushes can do this (issue 15)."""

    stamp: hlc.Hlc | None  # its HLC, when it is one of the pushing client's
    error: str | None  # else why not
    digest: str  # `Change.digest`, for its receipt
    valid: bool  # its collection's `values_valid` of its fields

    @classmethod
    def of(cls, change: Change, client_id: str) -> _Ready:
        try:
            stamp = hlc.parse(change.hlc)
            if stamp.node != client_id:
                raise ValueError(f"HLC node {stamp.node} is not the pushing client")
        except ValueError as exc:
            return cls(None, str(exc), change.digest(), False)
        spec = COLLECTIONS.get(change.collection)
        return cls(stamp, None, change.digest(), spec is not None and spec.values_valid(change.fields))


def _replayed_results(db: Connection, client_id: str, replayed: Sequence[Change],
                      ready: Sequence[_Ready]) -> list[ChangeResult]:
    if not replayed:
        return []
    kept = q.receipts(db, client_id, replayed[0].seq, replayed[-1].seq)
    results = []
    for change, checked in zip(replayed, ready, strict=False):
        found = kept.get(change.seq)
        # The same HLC with another change: a phone restored from a backup stamps its next
        # changes with the HLCs it had issued after the backup (its clock came back too).
        # No receipt: the client confirmed it long ago (`storage/receipts.py`), so only
        # a copy from before can send it, and it cannot be told from a reused seq.
        if found is None or found[0] != change.hlc or (found[1] is not None and found[1] != checked.digest):
            raise E.SeqReused(
                f"seq {change.seq} was acknowledged with another change, or long ago; enrol a new client"
                " and resend the outbox renumbered"
            )
        results.append(_result_decoder.decode(found[2]))
    return results


def _apply(
    store: Store, batch: _Batch, change: Change, checked: _Ready, caller: Caller, actor: Actor, offset: int, now: int
) -> ChangeResult:
    settings = store.settings
    clock_flag: Literal["corrected", "clamped"] | None = None
    stamp = checked.stamp
    if stamp is None:
        detail = E.clip(checked.error, settings.max_detail_chars)
        result = ChangeResult(seq=change.seq, status="rejected", reason="invalid_hlc", detail=detail)
        batch.log(change, caller, [LogEntry("rejected", None, None, dict(change.fields),
                                             reason="invalid_hlc", detail=detail)])
        batch.receipt(change, result, checked.digest)
        return result
    skew = settings.max_clock_skew_ms
    effective = change.hlc
    if abs(offset) > skew:
        stamp = hlc.Hlc(min(max(stamp.ms + offset, 0), 10**13 - 1), stamp.counter, stamp.node)
        effective, clock_flag = str(stamp), "corrected"
    if stamp.ms > now + skew:
        effective, clock_flag = store.clock.now(now), "clamped"
    if clock_flag is None:
        store.clock.see(stamp, now)
    row = batch.lookup(change.collection, change.id)
    outcome = apply_change(
        row, change.collection, change.id, dict(change.fields), change.delete, effective, actor,
        batch.lookup, batch.rules, valid=checked.valid,
    )
    if outcome.status != "rejected" and outcome.changed and outcome.row is not None:
        batch.settle(row, outcome.row)
    batch.log(change, caller, outcome.log, effective)
    hidden = outside_scope(row, actor)
    if outcome.status == "rejected" and (outcome.reason == "forbidden" or hidden):
        # A permission rejection is audited in the push's own transaction, like its log entry;
        # a write to another site's row (answered as if it did not exist) with its true site.
        audit.audit(batch.db, audit.PUSH_FORBIDDEN, username=caller.username, client_id=caller.client_id,
                    address=caller.address, now_ms=now, collection=change.collection, row_id=change.id,
                    seq=change.seq, detail=E.clip(outcome.detail, settings.max_detail_chars),
                    **({"site_id": row.site_id} if hidden and row is not None else {}))
    if outcome.status == "rejected":
        result = ChangeResult(
            seq=change.seq, status="rejected", reason=outcome.reason,
            detail=E.clip(outcome.detail, settings.max_detail_chars), clock=clock_flag,
        )
    else:
        result = ChangeResult(
            seq=change.seq,
            status=outcome.status,
            rejected_fields=outcome.rejected_fields or None,
            clock=clock_flag,
        )
    batch.receipt(change, result, checked.digest)
    return result


def write_server_changes(
    store: Store,
    changes: Sequence[tuple[str, str, dict[str, Any], bool | None]],
    initial: Sequence[tuple[str, str, dict[str, Any]]] = (),
    caller: Caller | None = None,
    then: Callable[[Connection], None] | None = None,
    refuse: Callable[[LogEntry], E.SyncError | None] | None = None,
) -> int:
    """The server's own writes (demo data, scheduler): merged like any change, HLC node `srv`.

    `initial` values are written at the lowest possible HLC, so that any
    client's write of the same register wins, even one made offline before
    the server wrote (an inspection's first `scheduled` status).

    With `caller` (a write made through the API on someone's behalf, the desk's new request)
    the merge checks that caller's role and scope as a push would, and a change it refuses,
    even one field of it, is the problem whose code is the push's reason: nothing is written.

    `then(db)` runs in the same transaction once the rows are staged: what belongs with them (a new
    site's members, an audit entry), or a check of what the transaction sees; raising writes nothing.

    What a hook flags about a change (`tx.note`: an event out of order, a clamped time) goes to the
    conflict log as for a push, writer `srv` or the caller's client, seq 0. `refuse(entry)`: the problem
    to raise instead for such a flag, decided in this transaction (the desk's cancel that a seal
    committed a moment earlier made senseless); nothing is written.
    """
    with store.write() as db:
        now = store.now_ms()
        batch = _Batch(db, store, now, caller)
        batch.prefetch([Change(seq=0, collection=c, id=i, hlc="", fields=f) for c, i, f, _ in changes])
        actor = Actor.server() if caller is None else caller.actor
        stamped = [(c, i, f, d, store.clock.now(now)) for c, i, f, d in changes]
        stamped += [(c, i, f, None, INITIAL_HLC) for c, i, f in initial]
        for collection, row_id, fields, delete, stamp in stamped:
            row = batch.lookup(collection, row_id)
            outcome = apply_change(row, collection, row_id, fields, delete, stamp, actor, batch.lookup, batch.rules)
            if caller is not None and (outcome.status == "rejected" or outcome.rejected_fields):
                name, reason = next(iter(outcome.rejected_fields.items()), (None, outcome.reason))
                raise E.rejection(reason, outcome.detail or f"{collection}.{name}: {reason}")
            if outcome.status == "rejected":
                raise E.InvalidRequest(f"{collection} {row_id}: {outcome.reason}: {outcome.detail}")
            if outcome.changed and outcome.row is not None:
                batch.settle(row, outcome.row)
            problem = next((p for p in map(refuse, batch.notes) if p is not None), None) if refuse else None
            if problem is not None:
                raise problem
            batch.log(Change(seq=0, collection=collection, id=row_id, hlc=stamp, fields=fields), caller, outcome.log)
        batch.flush(None)
        if then is not None:
            then(db)
        q.save_clock(db, store.clock.last)
    batch.hand_over()
    return batch.version

"""The outbox: local changes queued with their seq and HLC, pushed in order, and the
recoveries that renumber, rewind or prune it (docs/sync-protocol.md, "Client side").

What a change may say is checked before it gets here (Client._prepare); the
outbox only stamps, numbers and sends. Each server answer is stored in one
local transaction with `acked_seq` and the clock it brought.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from sync import PROTOCOL_VERSION, hlc, schema
from sync import errors as E
from sync.wire import Change, ChangeResult, PushRequest, PushResponse

from .replica import Entry, Replica, dumps
from .session import EpochChanged, Session, encode

KEEP_ACKED_MS = 30 * 86_400_000
# Recoveries (re-sign-in, seq_gap, seq_reused, epoch) one push or pull may go
# through without progress before it gives up: a server that answers seq_gap
# forever must not spin the phone's battery down.
MAX_RECOVERIES = 8

_push_response = msgspec.json.Decoder(PushResponse)


@dataclass
class Progress:
    """One step of long work, for a progress display.

    `what` is "push" (`done` of `total` changes sent), "pull" (`done` rows
    received; `total` 0: unknown), or an upload's kind, "sheet" or "image"
    (`done` of `total` bytes of upload `index` of `count`).
    """

    what: str
    done: int
    total: int
    index: int = 1
    count: int = 1


OnProgress = Callable[[Progress], None]


class LocalChange(NamedTuple):
    """A local change checked and expanded, ready to be queued."""

    collection: str
    id: str
    fields: dict[str, Any]
    delete: bool | None


class Outbox:
    """The `outbox` table of `db`, stamped by `clock` (replaced when the client is enrolled anew)."""

    def __init__(self, db: Replica, session: Session, wall: Callable[[], int], batch_size: int,
                 clock: hlc.Clock) -> None:
        self.db = db
        self.session = session
        self.wall = wall
        self.batch_size = batch_size
        self.clock = clock

    def queue(self, changes: Sequence[LocalChange]) -> list[int]:
        """Queue prepared changes in one local transaction: all of them or none; returns their seqs."""
        seqs: list[int] = []
        with self.db.transaction():
            seq = self.db.meta_int("next_seq") or 1
            for change in changes:
                now = self.wall()
                self.db.insert_entry_tx(
                    Entry(seq=seq, collection=change.collection, id=change.id, hlc=self.clock.now(now),
                          fields=change.fields, delete=change.delete, created_ms=now)
                )
                seqs.append(seq)
                seq += 1
            self.db.set_meta_tx(next_seq=seq, hlc=self.clock.last)
        return seqs

    def observe_tx(self, server_hlc: str) -> None:
        try:
            self.clock.observe(server_hlc, self.wall())
        except ValueError:
            return
        self.db.set_meta_tx(hlc=self.clock.last)

    def renumber_tx(self, client_id: str, keep_acked: bool) -> None:
        """Renumber what the outbox resends 1..n, re-stamped to the new client's node.

        HLCs keep their ms and counter, so the changes keep their order among
        themselves and against other clients' writes.
        """
        # Everything held, when acknowledged ones are kept: `prune` decides what is still held (30 days,
        # and longer while a change is laid over rows not pulled since), not the age at this moment.
        keep = self.db.entries() if keep_acked else self.db.entries("state = 'pending'")
        self.db.conn.execute("DELETE FROM outbox")
        for seq, entry in enumerate(keep, start=1):
            stamp = hlc.parse(entry.hlc)
            self.db.insert_entry_tx(
                Entry(
                    seq=seq,
                    collection=entry.collection,
                    id=entry.id,
                    hlc=str(hlc.Hlc(stamp.ms, stamp.counter, client_id)),
                    fields=entry.fields,
                    delete=entry.delete,
                    created_ms=entry.created_ms,
                )
            )
        self.db.set_meta_tx(acked_seq=0, next_seq=len(keep) + 1)

    def prune(self) -> None:
        """Forget acknowledged changes older than 30 days that no longer lay over anything."""
        with self.db.transaction():
            self.db.conn.execute(
                "DELETE FROM outbox WHERE state != 'pending' AND acked_ms < ?"
                " AND NOT (state = 'applied' AND push_version > ?)",
                [self.wall() - KEEP_ACKED_MS, self.db.meta_int("pulled_version")],
            )

    # -- reads -------------------------------------------------------------------------

    def pending(self) -> list[dict[str, Any]]:
        """The changes the server has not acknowledged yet, in seq order."""
        return [
            {"seq": e.seq, "collection": e.collection, "id": e.id, "hlc": e.hlc, "fields": e.fields,
             "delete": e.delete}
            for e in self.db.entries("state = 'pending'")
        ]

    def problems(self, unresolved_only: bool = False) -> list[dict[str, Any]]:
        """Acknowledged changes that did not (fully) count: see Client.problems."""
        where = "(state IN ('superseded', 'rejected') OR (state = 'applied' AND rejected_fields IS NOT NULL))"
        if unresolved_only:
            where += (
                " AND NOT EXISTS (SELECT 1 FROM outbox AS later WHERE"
                " (later.collection = outbox.collection AND later.id = outbox.id AND later.seq > outbox.seq)"
                " OR (later.collection = 'signatures' AND later.created_ms > outbox.acked_ms"
                " AND json_extract(later.fields, '$.inspection_id')"
                " IN (outbox.id, json_extract(outbox.fields, '$.inspection_id'))))"
            )
        return [
            {"seq": e.seq, "collection": e.collection, "id": e.id, "status": e.state, "reason": e.reason,
             "detail": e.detail, "fields": e.fields, "delete": e.delete, "rejected_fields": e.rejected_fields}
            for e in self.db.entries(where)
        ]

    def pending_ids(self, collection: str) -> set[str]:
        """The ids of the rows of `collection` with a change still waiting to be sent."""
        return {e.id for e in self.db.entries("state = 'pending' AND collection = ?", [collection])}

    # -- push ----------------------------------------------------------------------------

    def _batch(self) -> list[Entry]:
        entries = self.db.entries("state = 'pending'", limit=self.batch_size)
        # A batch's seqs must be consecutive; the outbox keeps them so, but never send a hole.
        run = entries[:1]
        signatures = sum(e.collection == "signatures" for e in run)
        for entry in entries[1:]:
            signatures += entry.collection == "signatures"
            # The server takes at most so many new signatures a push: the rest go in the next one.
            if entry.seq != run[-1].seq + 1 or signatures > schema.MAX_SIGNATURES_PER_PUSH:
                break
            run.append(entry)
        return run

    def _push_body(self) -> bytes:
        client_id = self.db.meta("client_id")
        assert client_id is not None
        changes = [
            Change(seq=e.seq, collection=e.collection, id=e.id, hlc=e.hlc, fields=e.fields, delete=e.delete)
            for e in self._batch()
        ]
        return encode(PushRequest(
            protocol=PROTOCOL_VERSION, client_id=client_id, client_time=hlc.format_ts(self.wall()),
            changes=changes,
        ))

    def push(self, on_progress: OnProgress | None = None) -> list[ChangeResult]:
        """Send the pending changes in seq order, `batch_size` at a time; return their results."""
        results: list[ChangeResult] = []
        recoveries = 0
        total = self.db.pending_count() if on_progress else 0
        while self._batch():
            if recoveries > MAX_RECOVERIES:
                raise E.SyncError("the server keeps refusing this outbox; try again later")
            try:
                resp = self.session.request("POST", "/sync/push", body=self._push_body)
            except E.SeqGap as exc:
                recoveries += 1
                self._rewind(int(exc.extra.get("acked_seq", 0)))
                continue
            except E.SeqReused:
                recoveries += 1
                self.session.reenrol()
                continue
            except EpochChanged as exc:
                recoveries += 1
                self.session.recover(exc.epoch)
                continue
            answer = _push_response.decode(resp.content)
            self._store_results(answer)
            results.extend(answer.results)
            recoveries = 0
            if on_progress is not None:
                on_progress(Progress("push", len(results), max(total, len(results))))
        return results

    def _store_results(self, answer: PushResponse) -> None:
        now = self.wall()
        with self.db.transaction() as conn:
            for result in answer.results:
                conn.execute(
                    "UPDATE outbox SET state = ?, reason = ?, detail = ?, rejected_fields = ?, clock = ?,"
                    " push_version = ?, acked_ms = ? WHERE seq = ?",
                    [result.status, result.reason, result.detail,
                     None if not result.rejected_fields else dumps(result.rejected_fields),
                     result.clock, answer.version, now, result.seq],
                )
            self.db.set_meta_tx(acked_seq=answer.acked_seq)
            self.observe_tx(answer.server_hlc)

    def _rewind(self, server_acked: int) -> None:
        """seq_gap: the server holds fewer of our changes than we thought; resend from its acked_seq + 1."""
        held = self.db.entries("seq > ?", [server_acked])
        if not held or held[0].seq != server_acked + 1:
            # The changes the server lacks are no longer held here: only a new
            # enrolment can carry on.
            self.session.reenrol()
            return
        forgot = server_acked < self.db.meta_int("acked_seq")
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET state = 'pending', reason = NULL, detail = NULL, rejected_fields = NULL,"
                " clock = NULL, push_version = NULL, acked_ms = NULL WHERE seq > ?",
                [server_acked],
            )
            self.db.set_meta_tx(acked_seq=server_acked)
            if forgot:
                # A server that lost acknowledged changes lost the rows' versions
                # after them too: our cursor may point past versions it will reuse.
                self.db.start_snapshot_tx(versions_reused=True)

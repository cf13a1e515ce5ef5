"""The outbox: local changes queued with their seq and HLC, pushed in order, and the
recoveries that renumber, rewind or prune it (docs/sync-protocol.md, "Client side").

What a change may say is checked before it gets here (Client._prepare); the
outbox only stamps, numbers and sends. Each server answer is stored in one
local transaction with `acked_seq` and the clock it brought.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, NamedTuple

import msgspec

from sync import PROTOCOL_VERSION, hlc, schema
from sync import errors as E
from sync.wire import Change, ChangeResult, Conflict, ConflictPage, PushRequest, PushResponse

from .labels import label
from .replica import Entry, Replica, dumps
from .session import EpochChanged, Session, encode
from .settle import REFUSED, UNKNOWN, Result, verdict

KEEP_ACKED_MS = 30 * 86_400_000
# Recoveries (re-sign-in, seq_gap, seq_reused, epoch) one push or pull may go
# through without progress before it gives up: a server that answers seq_gap
# forever must not spin the phone's battery down.
MAX_RECOVERIES = 8
# The bytes of changes a push carries until the server names its own limit (the `limit` of a 413
# `body_too_large`): nginx's default `client_max_body_size`, an eighth of the server's 8 MiB.
# 500 ordinary changes take about 250 KB; a checklist template of long items goes in fewer a push.
PUSH_BYTES = 1024 * 1024
# Room kept for the push's envelope (protocol, client id, client time) beside its changes.
_ENVELOPE = 256
# Refusals of who the phone is, not of what it asks: the log's reading waits for the next sign-in.
_SIGN_IN = (E.ClientUnavailable.code, E.AccountDisabled.code, E.Unauthorized.code)

# What `problems` calls a change taken with its answer lost: not known yet, or never to be known here.
_STATUS: dict[tuple[str, str | None], str] = {("applied", "result_lost"): "taken", ("applied", "result_unknown"): "unknown"}

_push_response = msgspec.json.Decoder(PushResponse)
conflict_page = msgspec.json.Decoder(ConflictPage)


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
        self.clock = clock
        # What the server said it takes (413 `too_many_changes`, `body_too_large`), kept while this runs.
        self.most_changes = batch_size
        self.most_bytes = PUSH_BYTES
        self._sent: list[Entry] = []
        # Called after a recovery from a restored server, before the outbox is resent (Client._resend_blobs).
        self.recovered: Callable[[], object] | None = None
        # Called when a seq_gap shows a server that lost acknowledged changes (restored without a new epoch).
        self.forgotten: Callable[[], object] | None = None

    def queue(self, changes: Sequence[LocalChange]) -> list[int]:
        """Queue prepared changes in one local transaction: all of them or none; returns their seqs."""
        seqs: list[int] = []
        with self.db.transaction():
            seq = self.db.meta_int("next_seq") or 1
            for change in changes:
                now = self.wall()
                self.db.insert_entry_tx(
                    Entry(seq=seq, collection=change.collection, id=change.id, hlc=self.clock.now(now),
                          fields=change.fields, delete=change.delete, created_ms=now,
                          label=label(self.db, change.collection, change.id, change.fields))
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

    def renumber_tx(self, client_id: str, keep_acked: bool) -> int:
        """Renumber what the outbox resends 1..n, re-stamped to the new client's node.

        HLCs keep their ms and counter, so the changes keep their order among
        themselves and against other clients' writes. Without `keep_acked` the
        acknowledged changes are not resent but stay, below seq 1 like a change
        refused as too large: the technician's superseded and rejected changes
        stay listed, and an applied one stays laid over until a pull covers it. Returns how many go again.
        """
        # Everything held, when acknowledged ones are resent: `prune` decides what is still held (30 days,
        # and longer while a change is laid over rows not pulled since), not the age at this moment.
        keep = self.db.entries() if keep_acked else self.db.entries("state = 'pending'")
        answered = [] if keep_acked else sorted(self.db.entries("state != 'pending'"), key=_stamp)
        self.db.conn.execute("DELETE FROM outbox")
        for seq, entry in enumerate(answered, start=-len(answered)):  # in the order recorded, up to seq -1
            if entry.sent_seq is None and entry.seq > 0:  # the seq the conflict log names it by
                entry.sent_seq = entry.seq
            entry.seq = seq
            self.db.insert_entry_tx(entry)
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
                    label=entry.label,
                )
            )
        self.db.set_meta_tx(acked_seq=0, next_seq=len(keep) + 1)
        return len(keep)

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
        """The changes the server has not acknowledged yet, in seq order, each with its `label` (`labels.py`)."""
        return [
            {"seq": e.seq, "collection": e.collection, "id": e.id, "hlc": e.hlc, "fields": e.fields,
             "delete": e.delete, "label": e.label or {}}
            for e in self.db.entries("state = 'pending'")
        ]

    def problems(self, unresolved_only: bool = False) -> list[dict[str, Any]]:
        """Acknowledged changes that did not (fully) count: see Client.problems."""
        where = ("(state IN ('superseded', 'rejected') OR (state = 'applied' AND rejected_fields IS NOT NULL)"
                 " OR (state = 'applied' AND reason IN ('result_lost', 'result_unknown')))")
        if unresolved_only:
            # A change whose result stays unknown is told once (`told`); nothing he does resolves it.
            where += " AND NOT (reason = 'result_unknown' AND told_ms IS NOT NULL)"
            where += (
                " AND NOT EXISTS (SELECT 1 FROM outbox AS later WHERE"
                " (later.collection = outbox.collection AND later.id = outbox.id AND later.seq > outbox.seq"
                # A change too large to send has left the seqs (`_refuse`): later means recorded after it.
                " AND (outbox.seq > 0 OR later.created_ms > outbox.created_ms))"
                " OR (later.collection = 'signatures' AND later.created_ms > outbox.acked_ms"
                " AND json_extract(later.fields, '$.inspection_id')"
                " IN (outbox.id, json_extract(outbox.fields, '$.inspection_id'))))"
            )
        return [
            {"seq": e.seq, "collection": e.collection, "id": e.id, "reason": e.reason,
             "status": _STATUS.get((e.state, e.reason), e.state),
             "detail": e.detail, "fields": e.fields, "delete": e.delete, "rejected_fields": e.rejected_fields,
             "label": e.label or {}}
            for e in self.db.entries(where)
        ]

    def told(self, seqs: Sequence[int]) -> None:
        """The technician was told that these changes' results stay unknown: `problems(unresolved_only)` leaves
        them out from now on (`problems()` keeps listing them until `prune`). Other changes are left alone."""
        with self.db.transaction() as conn:
            conn.executemany("UPDATE outbox SET told_ms = ? WHERE seq = ? AND state = 'applied'"
                             " AND reason = 'result_unknown' AND told_ms IS NULL",
                             [(self.wall(), seq) for seq in seqs])

    def pending_ids(self, collection: str) -> set[str]:
        """The ids of the rows of `collection` with a change still waiting to be sent."""
        return {e.id for e in self.db.entries("state = 'pending' AND collection = ?", [collection])}

    # -- push ----------------------------------------------------------------------------

    def _batch(self, most: int) -> list[Entry]:
        """The next changes to send: consecutive seqs, at most `most` of them and `most_bytes`
        encoded (at least one), and no more new signatures than the server takes a push."""
        entries = self.db.entries("state = 'pending'", limit=most)
        run: list[Entry] = []
        size = _ENVELOPE
        signatures = 0
        for entry in entries:
            size += len(encode(_change(entry))) + 1
            signatures += entry.collection == "signatures"
            # A batch's seqs must be consecutive; the outbox keeps them so, but never send a hole.
            if run and (entry.seq != run[-1].seq + 1 or signatures > schema.MAX_SIGNATURES_PER_PUSH
                        or size > self.most_bytes):
                break
            run.append(entry)
        return run

    def _push_body(self, most: int) -> bytes:
        client_id = self.db.meta("client_id")
        assert client_id is not None
        self._sent = self._batch(most)
        return encode(PushRequest(
            protocol=PROTOCOL_VERSION, client_id=client_id, client_time=hlc.format_ts(self.wall()),
            changes=[_change(e) for e in self._sent],
        ))

    def push(self, on_progress: OnProgress | None = None,
             results: list[ChangeResult] | None = None) -> list[ChangeResult]:
        """Send the pending changes in seq order, in batches the server takes; return their results. Each
        batch's results go into `results` (the caller's) as its answer comes, so a push cut after an early
        batch still counts what the server acknowledged."""
        results = [] if results is None else results
        start = len(results)
        recoveries = 0
        most = self.most_changes
        total = self.db.pending_count() if on_progress else 0
        while self._batch(most):
            if recoveries > MAX_RECOVERIES:
                raise E.SyncError("the server keeps refusing this outbox; try again later")
            try:
                resp = self.session.request("POST", "/sync/push", body=partial(self._push_body, most))
            except E.SeqGap as exc:
                recoveries += 1
                if self._rewind(int(exc.extra.get("acked_seq", 0))) and self.forgotten is not None:
                    self.forgotten()
                continue
            except E.SeqReused:
                recoveries += 1
                self.session.reenrol()
                continue
            except EpochChanged as exc:
                recoveries += 1
                self._recover(exc)
                continue
            except E.SyncError as exc:
                if getattr(exc, "http_status", exc.status) != 413:
                    raise
                try:
                    most = self._smaller(exc, most)
                except EpochChanged as restored:
                    # `_held`'s empty push met a restored server (a proxy's 413 carries no epoch): raised in this
                    # handler, the sibling `except EpochChanged` above cannot catch it.
                    recoveries += 1
                    self._recover(restored)
                continue
            answer = _push_response.decode(resp.content)
            self._store_results(answer)
            results.extend(answer.results)
            recoveries = 0
            if on_progress is not None:
                done = len(results) - start
                on_progress(Progress("push", done, max(total, done)))
        return results[start:]

    def _recover(self, restored: EpochChanged) -> None:
        """The server was restored: enrol anew and resend all still held (`Session.recover`)."""
        self.session.recover(restored.epoch)
        if self.recovered is not None:
            self.recovered()

    def _smaller(self, refusal: E.SyncError, most: int) -> int:
        """A 413 for the batch just sent: how many changes to send next. The server's `limit` is kept;
        without one (a proxy's page), or when it would not shrink the batch, half the batch goes.
        A single change too large is refused here (`_refuse`); each answer shrinks or refuses, so this ends."""
        sent = self._sent
        limit = refusal.extra.get("limit")
        limit = limit if isinstance(limit, int) and not isinstance(limit, bool) and limit > 0 else None
        if isinstance(refusal, E.TooManyChanges):
            if len(sent) <= 1:
                raise refusal  # a server taking no change at all: nothing the phone can do
            if limit is not None:
                self.most_changes = most = min(most, limit)
        elif len(sent) <= 1:
            if not self._held(sent[0]):
                self._refuse(sent[0], refusal)
            return most
        elif limit is not None:
            self.most_bytes = min(self.most_bytes, limit)
        if len(self._batch(most)) >= len(sent):
            most = max(1, len(sent) // 2)
        return most

    def _held(self, entry: Entry) -> bool:
        """Whether the server already took `entry`, the first pending change, which it now refuses as
        too large (an empty push tells its `acked_seq`): an earlier push carried it, its answer was
        lost, and the server's limit was lowered since (a proxy's, or the server's own, which refuses
        the body before reading its seqs). Its stored result cannot be asked for by resending it, so:
        - a `rejected` entry of this client and seq in the conflict log is that result, kept as any refusal;
        - else it is `taken`: stored as `applied` with reason `result_lost`, laid over until the pull
          covers the server's version, and listed as taken, result unknown, until `settle` reads the
          pulled row. It is never told as applied on the phone's word alone."""
        empty = partial(self._push_body, 0)  # a batch of at most 0 changes
        answer = _push_response.decode(self.session.request("POST", "/sync/push", body=empty).content)
        if answer.acked_seq < entry.seq:
            return False
        refused = self._logged_refusal(entry)
        with self.db.transaction() as conn:
            conn.execute(
                "UPDATE outbox SET state = ?, reason = ?, detail = ?, push_version = ?, acked_ms = ? WHERE seq = ?",
                ["applied", "result_lost", None, answer.version, self.wall(), entry.seq] if refused is None else
                ["rejected", refused.reason, refused.detail, answer.version, self.wall(), entry.seq],
            )
            self.db.set_meta_tx(acked_seq=entry.seq)
            self.observe_tx(answer.server_hlc)
        return True

    def _logged_refusal(self, entry: Entry) -> Conflict | None:
        """The conflict log's `rejected` entry of this client's `entry`, if the server shows it to this user
        (a technician sees his own entries of the sites he is a member of now) and it can be read now."""
        client_id = self.db.meta("client_id")
        log = self._row_log(entry)
        return next((found for found in (log if isinstance(log, list) else ())
                     if found.kind == "rejected" and found.client_id == client_id and found.seq == entry.seq), None)

    def _row_log(self, entry: Entry) -> list[Conflict] | str | None:
        """The conflict log's entries of `entry`'s row that the server shows this user, oldest first; None
        when it cannot be read whole now (a 503, a 429, a restored server): what it would tell stays unknown;
        REFUSED when the server refuses to show it (another 4xx with a problem body, not a sign-in refusal):
        asking again would not tell more."""
        found: list[Conflict] = []
        after = 0
        while True:
            params = {"collection": entry.collection, "row_id": entry.id, "after": after, "limit": 1000}
            try:
                page = conflict_page.decode(self.session.request("GET", "/api/conflicts",
                                                                  params=partial(dict, params)).content)
            except E.SyncError as exc:
                # Only the server's own refusal: not the phone's (signed out: `Session.headers`, `refresh`),
                # not a proxy's page, nor a sign-in refusal (the change waits for the next sign-in).
                status = getattr(exc, "http_status", 0)
                refused = getattr(exc, "served", False) and exc.code not in _SIGN_IN
                return REFUSED if refused and 400 <= status < 500 and status not in (401, 408, 429) else None
            except EpochChanged:
                return None  # a restored server is met by the next push or pull
            found.extend(page.conflicts)
            if page.next_after is None:
                return found
            after = page.next_after

    def settle(self) -> None:
        """Changes taken with their result lost (`_held`), once the pull covers the version they were
        taken at, are settled by the conflict log (`settle.verdict`). A log that cannot be read whole now
        leaves the result unknown until a later pull; one the server refuses to show, or a row no longer on
        the phone of which the log tells nothing, settles it for good as unknown (reason `result_unknown`)."""
        pulled = self.db.meta_int("pulled_version")
        settled: list[tuple[int, Result]] = []
        for entry in self.db.entries("state = 'applied' AND reason = 'result_lost' AND push_version <= ?",
                                     [pulled]):
            log = self._row_log(entry)
            found = None if log is None else verdict(entry, log, self.db.row(entry.collection, entry.id) is not None
                                                     ) if isinstance(log, list) else UNKNOWN
            if found is not None:
                settled.append((entry.seq, found))
        # The log is read first: no local transaction stays open across a request.
        with self.db.transaction() as conn:
            for seq, (state, reason, detail, refused) in settled:
                conn.execute("UPDATE outbox SET state = ?, reason = ?, detail = ?, rejected_fields = ? WHERE seq = ?"
                             " AND state = 'applied' AND reason = 'result_lost'",
                             [state, reason, detail, None if refused is None else dumps(refused), seq])

    def _refuse(self, entry: Entry, refusal: E.SyncError) -> None:
        """One change the server refuses as too large on its own: kept, `rejected` with reason
        `too_large`, and taken out of the seqs so the changes behind it go on.

        The server holds no receipt for it nor for any change behind it (a 413 changes
        nothing, and seqs arrive consecutive), so they move down one seq: the outbox reads as if
        the phone had refused the change before queuing it. It keeps a seq below 1, never sent.
        """
        with self.db.transaction() as conn:
            lowest = int(conn.execute("SELECT min(coalesce(min(seq), 0), 0) FROM outbox").fetchone()[0])
            conn.execute(
                "UPDATE outbox SET seq = ?, state = 'rejected', reason = 'too_large', detail = ?, acked_ms = ?"
                " WHERE seq = ?",
                [lowest - 1, refusal.detail, self.wall(), entry.seq],
            )
            behind = conn.execute("SELECT seq FROM outbox WHERE seq > ? ORDER BY seq", [entry.seq]).fetchall()
            for (seq,) in behind:  # in ascending order: each seq is free when taken
                conn.execute("UPDATE outbox SET seq = ? WHERE seq = ?", [seq - 1, seq])
            self.db.set_meta_tx(next_seq=self.db.meta_int("next_seq") - 1)

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
            self.db.count_tx("sync_pushed", len(answer.results))
            self.observe_tx(answer.server_hlc)

    def _rewind(self, server_acked: int) -> bool:
        """seq_gap: the server holds fewer of our changes than we thought; resend from its acked_seq + 1.
        True when it forgot changes it had acknowledged (a restore), whose uploads must go again too."""
        held = self.db.entries("seq > ?", [server_acked])
        if not held or held[0].seq != server_acked + 1:
            # The changes the server lacks are no longer held here: only a new
            # enrolment can carry on.
            self.session.reenrol()
            return False
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
        return forgot


def _stamp(entry: Entry) -> tuple[int, int]:
    """When a change was recorded, on the phone's clock (its seq may have changed since)."""
    stamp = hlc.parse(entry.hlc)
    return stamp.ms, stamp.counter


def _change(entry: Entry) -> Change:
    return Change(seq=entry.seq, collection=entry.collection, id=entry.id, hlc=entry.hlc, fields=entry.fields,
                  delete=entry.delete)

"""The technician's client: local writes into an outbox, push, pull, and recovery.

The client keeps the protocol's "Client side" (docs/sync-protocol.md): reads
show the rows as last pulled with the outbox laid over them; an `applied`
change stays laid over until a pull has covered the push's `version`;
`superseded` and `rejected` changes drop their overlay at once and are listed
by `problems()`. Every local state change that a server response causes is
written in one SQLite transaction, so a connection cut at any point leaves a
state that the next `sync()` finishes without duplicates or lost edits.

The client is a façade over its parts: `replica` (the local database and
its overlay reads), `session` (HTTP, sign-in, problems), `outbox` (queue and
push), `workflow`, `service`, `charges` and `duty` (checked local writes: the day's work, service
requests, charges and duty calls; base classes) and
`media` (photos, signatures, uploads).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import msgspec

from sync import errors as E
from sync import hlc
from sync.wire import (
    ChangeResult,
    Conflict,
    PullResponse,
    TokenResponse,
)

from . import clock, media
from .duty import DutyWork
from .outbox import MAX_RECOVERIES, OnProgress, Outbox, Progress, conflict_page
from .replica import Replica
from .session import Credentials, EpochChanged, Session

_pull_response = msgspec.json.Decoder(PullResponse)
# A sync's counts in the phone's `meta`, each added to by the transaction storing what it counts.
_COUNTS = ("sync_pushed", "sync_pulled", "sync_uploaded")


@dataclass
class SyncReport:
    """What one `sync()` did: changes pushed, rows pulled, and each change's result."""

    pushed: int
    pulled: int
    results: list[ChangeResult] = field(default_factory=list)
    uploaded: int = 0  # blobs that reached the server
    terms: int = 0  # sites whose service terms were fetched
    reference: int = 0  # of the fee book and the duty rules, those fetched and kept
    dropped: int = 0  # uploads not sent: only changes the server refused name their bytes
    resent: int | None = None  # the server was restored from a backup: how many changes went again (else None)


class Client(DutyWork):
    """A technician's phone or tablet: its own SQLite file, an outbox, and sync.

    `http` is an `httpx.Client` whose `base_url` is the server (tests pass the
    server's ASGI test client). `wall` returns Unix milliseconds; tests pass
    one to skew a client's clock. `boot` returns (boot id, milliseconds since
    boot), the clock each sync anchors the server's time to (`clock.py`);
    tests pass one to move it or to reboot.
    """

    # Called after each pushed batch, pulled page and uploaded chunk (a CLI on a terminal shows it).
    on_progress: OnProgress | None = None

    def __init__(
        self,
        db_path: Path | str,
        http: httpx.Client,
        *,
        batch_size: int = 500,
        page_size: int = 500,
        wall: Callable[[], int] | None = None,
        boot: clock.Boot | None = None,
    ) -> None:
        if batch_size < 1 or page_size < 1:
            raise ValueError("batch_size and page_size must be at least 1")
        self.db = Replica(db_path)
        self.http = http
        self.session = Session(http, self.db, self._adopt)
        self.page_size = min(page_size, 1000)
        self.wall: Callable[[], int] = wall or hlc.wall_ms
        self.boot: clock.Boot = boot or clock.boot_clock
        if self.db.meta("password") is not None:
            # Older versions kept the password here (issue 9 #2): it goes, the token stays.
            self.db.set_meta(password=None)
        self.chunk_size = media.DEFAULT_CHUNK  # bytes per tus PATCH
        # The blobs waiting to upload (and those that did), kept in this client's database.
        self.upload_queue = media.UploadQueue(self.db)
        self.outbox = Outbox(self.db, self.session, self.wall, batch_size,
                             hlc.Clock(self.client_id or "unenrolled", self.db.meta("hlc") or None))
        self.outbox.recovered = self._upload_for_signatures
        self.outbox.forgotten = self._restored_behind
        # What the sync under way did so far (`sync` starts them anew; a push inside a pull adds to them). Its
        # counts are kept in the database, by the transactions that store what they count (`sync_so_far`).
        self._pushed: list[ChangeResult] = []
        self._resent: int | None = None
        self._syncing = False  # whether this Client started a sync: `sync_so_far` reports zeros otherwise
        self._restores = 0  # restores this client recovered from (`_adopt`), to see one met inside an upload

    def close(self) -> None:
        """Close the local database (the `httpx.Client` belongs to the caller)."""
        self.db.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- state ---------------------------------------------------------------

    @property
    def client_id(self) -> str | None:
        """This client's id at the server, or None before the first sign-in."""
        return self.db.meta("client_id")

    @property
    def username(self) -> str | None:
        return self.db.meta("username")

    @property
    def role(self) -> str | None:
        return self.db.meta("role")

    @property
    def cursor(self) -> str:
        """The pull cursor; "0" asks for a full snapshot."""
        return self.db.meta("cursor") or "0"

    @property
    def acked_seq(self) -> int:
        """The highest seq the server has acknowledged, as far as this client knows."""
        return self.db.meta_int("acked_seq")

    @property
    def server_epoch(self) -> str | None:
        return self.db.meta("server_epoch")

    @property
    def server_url(self) -> str | None:
        """The server this database belongs to (kept for the CLI)."""
        return self.db.meta("server_url")

    @server_url.setter
    def server_url(self, url: str) -> None:
        self.db.set_meta(server_url=url)

    def status(self) -> dict[str, Any]:
        """Who and where this client is: ids, counts, cursor, epoch, last sync time."""
        return {
            "client_id": self.client_id,
            "user": self.username,
            "pending": self.db.pending_count(),
            "acked_seq": self.acked_seq,
            "cursor": self.cursor,
            "server_epoch": self.server_epoch,
            "last_sync": self.db.meta("last_sync"),
        }

    # -- identity -------------------------------------------------------------

    def login(self, username: str, password: str, client_name: str = "fieldsync-client") -> int | None:
        """Sign in with the password the technician types: enrol this client, or sign it in
        again with its own `client_id` (a revoked client: a new one, the outbox kept).

        The password serves this one call and is never stored (issue 9 #2): the client
        keeps its token and a refresh credential bound to its `client_id`, which a
        revocation, a new password or a disabled account kills at the server.

        Returns None, or after a server restored from a backup (found by this sign-in) how many changes
        the phone holds to send again at its next sync.
        """
        self._resent = None
        owner = self.username
        if owner is not None and owner != username:
            if self._holds_data():
                raise E.InvalidRequest(
                    f"this client database belongs to {owner}; use another database file"
                )
            # Nothing of the other user's is left: start as a fresh client.
            with self.db.transaction() as conn:
                conn.execute("DELETE FROM meta WHERE key != 'server_url'")
                conn.execute("DELETE FROM service_terms")  # the other user's sites' terms
            self.outbox.clock = hlc.Clock("unenrolled")
        credentials: Credentials = (username, password, client_name)
        renumber: str | None = None
        try:
            answer = self.session.token(self.client_id, credentials)
        except E.ClientUnavailable:
            answer = self.session.token(None, credentials)
            renumber = "pending"
        with self.db.transaction():
            self.db.set_meta_tx(username=username, client_name=client_name, signed_out=None)
        stored = self.server_epoch
        if renumber is None and stored and answer.server_epoch and answer.server_epoch != stored:
            self.session.recover(answer.server_epoch, credentials)
        else:
            self._adopt(answer, renumber=renumber)
        return self._resent

    def _holds_data(self) -> bool:
        return bool(
            self.db.conn.execute("SELECT EXISTS (SELECT 1 FROM outbox) OR EXISTS (SELECT 1 FROM rows)").fetchone()[0]
        )

    def _adopt(self, answer: TokenResponse, renumber: str | None) -> None:
        """Store a sign-in; with `renumber`, this is a new enrolment of an existing outbox.

        `renumber="pending"` keeps only the unacknowledged changes (seq_reused,
        a revoked client); `renumber="all"` resends everything still held and
        takes a fresh snapshot (the server was restored from a backup).
        """
        old = self.client_id
        stored = self.server_epoch
        if renumber == "pending" and stored and answer.server_epoch and answer.server_epoch != stored:
            # A new client, of a restored server: it lost what it had acknowledged, so resend all.
            renumber = "all"
        with self.db.transaction():
            self.db.set_meta_tx(
                client_id=answer.client_id,
                token=answer.token,
                role=answer.user.role,
                user_name=answer.user.name,
                user_id=answer.user.id,
            )
            if answer.refresh_token:
                self.db.set_meta_tx(refresh_token=answer.refresh_token)
            if answer.server_epoch and (renumber == "all" or not self.server_epoch):
                self.db.set_meta_tx(server_epoch=answer.server_epoch)
            if answer.client_id != old:
                clock = hlc.Clock(answer.client_id, self.outbox.clock.last if old else None)
                self.outbox.clock = clock
                self.db.set_meta_tx(hlc=clock.last if old else None)
            if renumber is not None or old is None:
                count = self.outbox.renumber_tx(answer.client_id, keep_acked=renumber == "all")
            if renumber == "all":
                self._restores += 1
                self._resent = (self._resent or 0) + count
                self.db.start_snapshot_tx(versions_reused=True)
                self.upload_queue.requeue_done()

    # -- reads ----------------------------------------------------------------

    def server_rows(self) -> list[dict[str, Any]]:
        """Every row exactly as last pulled, without the overlay, sorted by (collection, id)."""
        return self.db.pulled_views()

    def pending(self) -> list[dict[str, Any]]:
        """The changes the server has not acknowledged yet, in seq order."""
        return self.outbox.pending()

    def problems(self, unresolved_only: bool = False) -> list[dict[str, Any]]:
        """Acknowledged changes that did not (fully) count: superseded, rejected, or with rejected fields;
        and those `taken` by the server whose result is not known yet (`Outbox._held`).

        With `unresolved_only`, a problem is left out once the technician acted
        on it: a later change of the same row is in the outbox (recorded again),
        or a signature of its inspection taken after the server's answer (the
        sheet, as it now stands, was shown and signed again), and one whose
        result stays unknown (`unknown`) once he was told of it (`told`).
        """
        return self.outbox.problems(unresolved_only)

    def told(self, seqs: Sequence[int]) -> None:
        """The technician was shown that these changes' results stay unknown (`unknown`): tell him once."""
        self.outbox.told(seqs)

    def conflicts(self, after: int = 0) -> list[Conflict]:
        """The server's conflict log entries that concern this user (GET /api/conflicts)."""
        found: list[Conflict] = []
        while True:
            try:
                resp = self.session.request("GET", "/api/conflicts", params=partial(dict, after=after, limit=1000))
            except EpochChanged as exc:
                self.session.recover(exc.epoch)
                continue
            page = conflict_page.decode(resp.content)
            found.extend(page.conflicts)
            if page.next_after is None:
                return found
            after = page.next_after

    # -- sync -----------------------------------------------------------------

    def sync(self) -> SyncReport:
        """Upload sheets, push the outbox, upload images, then pull until the server has nothing more.

        Sheets go first: the protocol wants a sheet blob stored before the
        signature naming it is pushed, and this server a customer's signature
        image too (a few KB). Photos go after the push, so rows never wait for
        megabytes. Last, each site's service terms, the fee book and the duty rules, kept for
        the offline countdowns, bills and duty. First, the prepared files nothing may send again
        are freed (`UploadQueue.free`). A restore is met wherever the server is first reached, an upload
        too (a token the backup lacks: its re-sign-in finds it); its resent changes go after their bytes.
        """
        # The counts are zeroed first: a Ctrl-C in the housekeeping below printed the previous sync's (fixphone32).
        self._pushed, self._resent = [], None
        self.db.set_meta(**dict.fromkeys(_COUNTS, 0))
        self._syncing = True
        self.outbox.prune()
        self.upload_queue.free()
        self.upload_queue.clean()
        self._upload_for_signatures()
        self.push()
        dropped = len(self.upload_queue.drop_refused())  # a photo whose row was refused is not sent
        self._upload_all()
        self.pull()
        # A server restored from a backup, found by the push or the pull, has every upload queued again.
        self._upload_all()
        terms = self.refresh_terms()
        reference = self.refresh_reference()
        self.db.set_meta(last_sync=hlc.format_ts(self.wall()))
        return self.sync_so_far(terms=terms, reference=reference, dropped=dropped)

    def sync_so_far(self, terms: int = 0, reference: int = 0, dropped: int = 0) -> SyncReport:
        """What the last `sync()` did, also one cut short (the link lost in an upload after its push went
        through, Ctrl-C): the changes pushed, rows pulled and uploads sent before it stopped, as counted by the
        transactions that stored them (a Ctrl-C between storing a batch's answer and counting it made the
        summary short, phone32); `results` those of the answers taken in. A whole sync adds what it fetched
        last (`terms`, `reference`) and the uploads it `dropped`."""
        if not self._syncing:  # this Client started no sync: the counts in meta are another run's
            pushed = pulled = uploaded = 0
        else:
            pushed, pulled, uploaded = (self.db.meta_int(key) for key in _COUNTS)
        return SyncReport(pushed=pushed, pulled=pulled, results=self._pushed, uploaded=uploaded, terms=terms,
                          reference=reference, dropped=dropped, resent=self._resent)

    def _restored_behind(self) -> None:
        """A seq_gap below the acknowledged seq: a server restored without a new epoch. As after any restore,
        the bytes it may have lost go again (done uploads, and dropped ones a resent change names), the
        sheets and signature images before the resend; photos after it, with every upload."""
        self.upload_queue.requeue_done()
        self._upload_for_signatures()

    def _upload_for_signatures(self) -> None:
        """Upload the sheets, and the images of the signatures still to be pushed: before the push, on the
        first sync as after a restored server made the phone resend everything (the server checks a signature
        against its own sheet only when that is stored, and takes a customer's only with its image)."""
        for _ in range(MAX_RECOVERIES + 1):
            restores = self._restores
            self._upload(("sheet",))
            signing = {e["fields"].get("image_sha256") for e in self.pending() if e["collection"] == "signatures"}
            self._upload(("image",), only=signing)
            if self._restores == restores:
                return  # else a restore met inside these uploads queued done ones again, not in their list

    def _upload_all(self) -> None:
        """Upload every waiting blob; a restore met inside these uploads has its resent changes pushed now."""
        restores = self._restores
        self._upload(("sheet", "image"))
        if self._restores != restores:
            self._upload_for_signatures()
            self.push()
            self._upload(("sheet", "image"))

    # -- photos, signatures and uploads (client_sdk/media/) ----------------------

    def add_photo(self, inspection_id: str, device_id: str | None, path: Path | str, stage: str = "after",
                  caption: str | None = None) -> str:
        """Shrink a photo (long edge 2,000 px, JPEG 85, orientation applied, capture time and GPS
        kept), queue its upload and write its `photos` row; returns the row's id."""
        return media.add_photo(self, inspection_id, device_id, path, stage, caption)

    def sheet(self, inspection_id: str) -> dict[str, Any]:
        """The maintenance sheet to show the technician and the customer before signing."""
        return media.show_sheet(self, inspection_id)

    def mismatched_signatures(self) -> list[dict[str, Any]]:
        """Signatures the server found not to match their sheet, not yet followed by a new one
        (`media.signing.mismatched_signatures`): the signer has to sign again."""
        return media.mismatched_signatures(self)

    def sign(self, inspection_id: str, signer_name: str, signer_role: str = "customer",
             strokes: Sequence[Sequence[Sequence[float]]] | None = None, png: bytes | None = None,
             devices: Sequence[str] | None = None) -> str:
        """Sign the sheet with pen strokes (rendered to a PNG) or a PNG; returns the signature's id.

        Checks the sheet as the server will, queues the canonical sheet and the
        image for upload, and writes the `signatures` row.
        """
        return media.sign(self, inspection_id, signer_name, signer_role, strokes, png, devices)

    def visit_sheet(self, visit_id: str) -> dict[str, Any]:
        """The visit's contact sheet to show the customer before signing (`media.signing.show_visit_sheet`)."""
        return media.show_visit_sheet(self, visit_id)

    def sign_visit(self, visit_id: str, signer_name: str, signer_role: str = "customer",
                   strokes: Sequence[Sequence[Sequence[float]]] | None = None, png: bytes | None = None) -> str:
        """Sign the visit's whole contact sheet, as `sign` an inspection's; returns the signature's id.
        A customer's valid signature seals the visit at the server."""
        return media.sign_visit(self, visit_id, signer_name, signer_role, strokes, png)

    def uploads(self, waiting_only: bool = False) -> list[dict[str, Any]]:
        """Queued blobs: sha256, kind, content_type, length, offset, state, error (sheets first). `dropped`
        ones (`UploadQueue.drop_refused`: only refused changes name them) are listed, but not as waiting;
        their `error` is the refusal's reason."""
        states = ("queued", "uploading", "failed") if waiting_only else ("queued", "uploading", "failed", "dropped",
                                                                          "done")
        return [u.as_dict() for u in self.upload_queue.listed(states)]

    def upload(self) -> int:
        """Send every waiting upload now (sheets first), but those only refused changes name; returns how many
        reached the server."""
        self.upload_queue.drop_refused()
        return self._upload(("sheet",)) + self._upload(("image",))

    def _upload(self, kinds: Sequence[str], only: Iterable[str] | None = None) -> int:
        """Send the waiting uploads of these kinds; each one sent counts in this sync's report as it goes."""
        return media.upload_waiting(self.session, self.upload_queue, self.wall, kinds, self.chunk_size,
                                    only, self.on_progress)

    def push(self) -> list[ChangeResult]:
        """Send the pending changes in seq order, in batches the server takes (`Outbox.push`)."""
        return self.outbox.push(self.on_progress, self._pushed)

    def pull(self) -> int:
        """Pull pages until `has_more` is false; return the number of rows received."""
        received = 0
        recoveries = 0
        while True:
            if recoveries > MAX_RECOVERIES:
                raise E.SyncError("the server keeps refusing to pull; try again later")
            cursor = self.cursor
            try:
                resp = self.session.request(
                    "GET", "/sync/pull", params=lambda: {"cursor": self.cursor, "limit": self.page_size}
                )
            except (E.CursorExpired, E.InvalidCursor):
                # Expired, or not one this server signs (issued before an upgrade that signs
                # cursors): a fresh snapshot, the outbox kept.
                recoveries += 1
                with self.db.transaction():
                    self.db.start_snapshot_tx()
                continue
            except EpochChanged as exc:
                recoveries += 1
                self.session.recover(exc.epoch)
                self._upload_for_signatures()
                self.push()
                continue
            page = _pull_response.decode(resp.content)
            self.db.apply_page(page, cursor, self.outbox.observe_tx)
            # The server's clock against this phone's, for the service countdowns (`server_now`), and
            # anchored to the clock since boot, for the times recorded into rows (`record_time`).
            server_ms = hlc.parse_ts(page.server_time)
            self.db.set_meta(clock_offset_ms=server_ms - self.wall(), time_anchor=clock.anchor(server_ms, self.boot()))
            received += len(page.rows)
            if self.on_progress is not None:
                self.on_progress(Progress("pull", received, 0))
            if not page.has_more:
                self.outbox.settle()
                return received

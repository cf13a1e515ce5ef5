"""Resumable uploads: tus 1.0.0 core and creation, content-addressed by SHA-256.

An upload's bytes go to `<id>.part` in the parts directory (`parts_dir`) as they
arrive, hashed on the way, and never sit whole in memory. The part file is the offset: its size
is what HEAD reports, so a PATCH writes no database row and calls no fsync (at 1 MB PATCHes those
were a third of the time). What a power cut could garble in a part file is caught where everything
is caught: on the last byte the SHA-256 and the content are checked (a JPEG checked as its bytes
arrived counts only if that check saw every byte the file holds), and only a file that passes is
fsynced and moved into the blob store. At worst a client starts that upload again; never is a
wrong blob stored.

Several server processes (issue 16): an upload begun on one resumes on another,
so its state is where every process finds it: the record in the database, the
bytes in the parts directory, beside the blobs when they are a directory every
process mounts. A PATCH holds `<id>.lock` there (`flock`) from before it reads
the offset until its bytes, and on the last byte the blob and its record, are
in: a PATCH at the same offset on another process waits for it, then finds the
offset moved (409). What a process keeps in memory (the running digest, the
JPEG checked so far) counts only at the offset it was left at; anywhere else
the digest is made again from the file, and the JPEG is checked whole.

With a bucket (`--blobs s3://`) nothing on disk is shared: each process's part file and lock file are
its own. There the offset is the database's (`uploads.received`): a PATCH stores its bytes as a
piece, an object `uploads/<id>/<start>-<random>` in the bucket, then moves the offset from where it
began to their end by compare-and-set, recording the piece in the same transaction; of two PATCHes
at one offset on two processes the second to commit gets 409 and its piece is deleted. A process
that did not record the offset itself makes its part file again from the pieces. They are deleted
when the upload completes or fails; `sweep` (with `clean_uploads` and garbage collection) deletes
those no open upload has on record.

A store that fails under a PATCH (a bucket down, a full disk: 503 or 507, `blobs.guarded`) leaves the
offset where the PATCH found it: its bytes are rewound, and when the blob itself could not go in, the
last piece is taken off the record (`_give_back`), so HEAD never says done for a blob not stored.
So too the database down (503) on the last byte, as a sheet's check reads it: never failed for good.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import functools
import hashlib
import logging
import os
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import anyio.to_thread
import msgspec

from sync import errors as E
from sync import sheet

from ...settings import Settings
from ...storage.media import MediaQueries, SqliteMedia
from ..signatures import service as sealing
from . import images
from . import service as media
from . import upload_pieces as bucket
from .blobs import STORE_FAILURES, BlobStore, guarded, is_sha256, store_error
from .upload_lock import UploadLocks

if TYPE_CHECKING:
    from ...services import Caller, Store
    from .s3 import Pieces

log = logging.getLogger("fieldsync")
_WRITE_CHUNK = 1 << 20  # bytes gathered (plus at most one chunk) before one write-and-hash in a thread
_LOCK_WAIT_S = 5.0
_LOCK_POLL_S = 0.02  # how often a PATCH looks again at an upload another process is appending to
# JPEGs checked as their bytes arrive (`images.JpegCheck`, each at most about 1 MB): a new one
# past this many drops the oldest, which is then checked whole on its last byte, as before.
_LIVE_CHECKS = 32
# What fails on the last byte and passes: the store or the database down (503/507). The upload stays
# open, its last PATCH's bytes given back, and the client sends them again once they are back.
_PASSING = (*STORE_FAILURES, E.DatabaseUnavailable)


class Upload(msgspec.Struct, kw_only=True):
    id: str
    user_id: str
    sha256: str
    content_type: str
    length: int
    received: int
    status: str  # open, complete, failed
    error: str | None = None
    unfinished: bool = False  # at its end over a bucket, no blob on record (`_load`): a PATCH retreats first


class BodyCut(Exception):
    """The client went away mid-body: what arrived is kept (raised by the body's iterator)."""


class _Busy(Exception):
    """Another process holds the upload's lock file."""


def parts_dir(settings: Settings) -> Path:
    """Where part files live: under a blob directory (`--blobs DIR`, which every process reaches,
    and a finished upload is then renamed into the store), else `DATA/uploads/`."""
    where = settings.blobs
    if where and not where.startswith("s3://"):
        return Path(where) / "uploads"
    return Path(settings.data_dir) / "uploads"


class Uploads:
    def __init__(self, store: Store, blobs: BlobStore, settings: Settings) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self.queries = SqliteMedia(store)
        # With a bucket (`--blobs s3://`), each PATCH's bytes are also an object there and the offset is
        # the database's: any process resumes the upload from them (see `_record`, `_rebuild`).
        self.pieces: Pieces | None = getattr(blobs, "pieces", None)
        self.dir = parts_dir(settings)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.scratch = Path(settings.data_dir) / "uploads"  # thumbnails being made (`service.Media`)
        # The running digest of each upload at its recorded offset, so that a PATCH
        # continues hashing instead of reading the file again (lost on restart: then
        # the file's bytes so far are hashed once more).
        self._hashers: dict[str, tuple[int, Any]] = {}
        # A JPEG's check as its bytes arrive, alive while its `fed` is the upload's offset.
        self._checks: dict[str, images.JpegCheck] = {}
        self._checks_lock = threading.Lock()  # for the oldest of them to be found while others come and go
        self._locks = UploadLocks()  # only while a request holds or waits for one

    def part_path(self, upload_id: str) -> Path:
        return self.dir / f"{upload_id}.part"

    def lock_path(self, upload_id: str) -> Path:
        return self.dir / f"{upload_id}.lock"

    # -- creation -------------------------------------------------------------

    def check_length(self, length: int) -> None:
        """An upload of `length` bytes may be made (checked before its metadata is read)."""
        if length < 1:
            raise E.InvalidRequest("an empty upload is never a photo, a signature or a sheet")
        if length > self.settings.max_upload_bytes:
            raise E.UploadTooLarge(
                f"Upload-Length {length} is over Tus-Max-Size {self.settings.max_upload_bytes}",
                max_size=self.settings.max_upload_bytes,
                limit=self.settings.max_upload_bytes,  # every limit breach names its limit (issue 5)
            )

    def create(
        self, caller: Caller, length: int, sha256: str, content_type: str, filename: str | None = None
    ) -> Upload:
        """A new upload; born complete when this user has already uploaded these bytes."""
        self.check_length(length)
        sha = sha256.strip().lower()
        if not is_sha256(sha):
            raise E.InvalidRequest("Upload-Metadata must carry sha256: 64 hex digits, base64-encoded")
        content_type = content_type.strip().lower()
        if not content_type:
            raise E.InvalidRequest("Upload-Metadata must carry content_type")
        if content_type not in images.CONTENT_TYPES:
            raise E.UnsupportedMediaType(
                f"content_type {content_type!r}: this server stores {', '.join(images.CONTENT_TYPES)}"
            )
        if content_type == images.SHEET and length > sheet.MAX_SHEET_BYTES:
            # Sealing never reads more: refused before a byte is sent (issue 9, finding 8).
            raise E.UploadTooLarge(
                f"Upload-Length {length}: a sheet snapshot is at most {sheet.MAX_SHEET_BYTES} bytes",
                max_size=sheet.MAX_SHEET_BYTES, limit=sheet.MAX_SHEET_BYTES,
            )
        filename = filename or None
        now = self.store.now_ms()
        upload = Upload(id=uuid.uuid4().hex, user_id=caller.user_id, sha256=sha, content_type=content_type,
                        length=length, received=0, status="open")
        with self.queries.writing() as q:
            limit = self.settings.max_open_uploads_per_client
            held = q.open_uploads(caller.client_id)
            if held >= limit:
                raise E.TooManyRequests(
                    f"this client holds {held} unfinished uploads; finish one (or let it expire) first",
                    limit=limit,
                )
            owned = q.owned(sha, caller.user_id)
            # Only the same user's own earlier upload counts: a hash alone proves nothing.
            if owned == (length, content_type) and self.blobs.exists(sha):
                upload.received, upload.status = length, "complete"
            else:
                q.check_upload_bytes(caller.user_id, length, self.settings)
            q.add_upload(upload.id, caller.user_id, caller.client_id, sha, content_type, filename, length,
                         upload.received, upload.status, now)
        return upload

    # -- state ----------------------------------------------------------------

    def _load(self, q: MediaQueries, caller: Caller, upload_id: str) -> Upload:
        found = q.upload(upload_id)
        # Another user's upload is no upload at all to this caller.
        if found is None or found[0] != caller.user_id:
            raise E.NotFound(f"no upload {upload_id}")
        upload = Upload(id=upload_id, user_id=found[0], sha256=found[1], content_type=found[2], length=found[3],
                        received=found[4], status=found[5], error=found[6])
        if upload.status == "failed":
            raise E.UploadGone(f"upload {upload_id} failed ({upload.error}); create a new one", reason=upload.error)
        if upload.status == "open" and self.pieces is None:
            try:
                upload.received = min(self.part_path(upload_id).stat().st_size, upload.length)
            except FileNotFoundError:
                upload.received = 0
        elif upload.status == "open" and upload.received == upload.length:
            # Over a bucket, the last PATCH's offset moved before its blob was recorded, and the database
            # down undid neither: never done without its blob, it stands where that PATCH began.
            upload.received, upload.unfinished = q.last_piece_start(upload_id), True
        return upload

    def get(self, caller: Caller, upload_id: str) -> Upload:
        with self.queries.reading() as q:
            return self._load(q, caller, upload_id)

    async def head(self, caller: Caller, upload_id: str) -> Upload:
        """The upload's offset, once any PATCH still running for it (a cut one) has recorded its bytes."""
        upload = await anyio.to_thread.run_sync(self.get, caller, upload_id)
        lock = await self._locks.take(upload_id, _LOCK_WAIT_S)
        if lock is None:
            return upload
        try:
            return await anyio.to_thread.run_sync(self.get, caller, upload_id)
        finally:
            self._locks.give(upload_id, lock)

    # -- appending ------------------------------------------------------------

    async def append(
        self, who: Callable[[], tuple[Caller, int]], upload_id: str, content_length: int | None,
        body: AsyncIterator[bytes],
    ) -> Upload:
        """Append `body` at the offset `who` gives with the caller (it authenticates, in this PATCH's first
        trip to a thread, before any wait for the upload); `body` raises `BodyCut` if the client goes away."""
        known = functools.cache(who)  # resolved once, in whichever trip comes first
        if self._locks.busy(upload_id):  # this PATCH may wait, so its caller first (401, not 423 after)
            await anyio.to_thread.run_sync(known)
        # A free lock is taken at once; the caller and the upload (401, 404) are read under it, in `_open`.
        lock = await self._locks.take(upload_id, _LOCK_WAIT_S)
        if lock is None:
            raise E.UploadLocked(f"upload {upload_id} is being appended to by another request")
        try:
            # One trip to a thread for the caller, the lock file, the state, the checks and the open file,
            # one for the last piece, its offset and (on the last byte) the blob: a trip costs 0.2-0.3 ms.
            waited = 0.0
            while True:
                try:
                    held, upload, opened = await anyio.to_thread.run_sync(self._open, known, upload_id, content_length)
                    break
                except _Busy:  # another process is appending: its offset is not known yet
                    if waited >= _LOCK_WAIT_S:
                        raise E.UploadLocked(f"upload {upload_id} is being appended to by another request") from None
                    await asyncio.sleep(_LOCK_POLL_S)
                    waited += _LOCK_POLL_S
            try:
                if opened is None:
                    return upload
                return await self._receive(upload, *opened, body)
            finally:
                os.close(held)
        finally:
            self._locks.give(upload_id, lock)

    def _open(
        self, who: Callable[[], tuple[Caller, int]], upload_id: str, content_length: int | None
    ) -> tuple[int, Upload, tuple[BinaryIO, Any] | None]:
        """The upload's lock file, held (`_Busy` when another process holds it); the upload, read under
        it and checked for a PATCH at `who`'s offset; its part file and digest unless it is complete."""
        caller, offset = who()
        # 404 (or 410) before a file is made for any id sent; an id the server never makes (uuid4().hex) names
        # no file to look for (one past the 255 bytes of a file's name raised OSError: a 500 for any client).
        if not (len(upload_id) == 32 and upload_id.isascii() and upload_id.isalnum()) \
                or not self.lock_path(upload_id).exists():
            self.get(caller, upload_id)
        with guarded("open an upload's lock file"):
            held = os.open(self.lock_path(upload_id), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise _Busy from None
            try:
                upload = self.get(caller, upload_id)
            except E.UploadGone:
                self._unlock_for_good(upload_id)
                raise
            if upload.status == "complete":
                self._unlock_for_good(upload_id)
            if upload.unfinished and offset == upload.received:
                bucket.retreat(self, upload, upload.received)  # what `_give_back` could not do
            if offset != upload.received:
                raise E.UploadOffsetMismatch(
                    f"Upload-Offset {offset}, but the upload stands at {upload.received}", offset=upload.received
                )
            if content_length is not None and offset + content_length > upload.length:
                raise E.UploadExceedsLength(
                    f"{content_length} bytes from offset {offset} go past Upload-Length {upload.length}"
                )
            if upload.status == "complete":
                return held, upload, None
            with guarded("open an upload's part file"):
                return held, upload, self._open_at(upload, offset)
        except BaseException:
            os.close(held)
            raise

    def _unlock_for_good(self, upload_id: str) -> None:
        """Delete the lock file of an upload that is complete or failed, while holding it: whoever waits
        on it, or makes it anew, then reads that final state and appends nothing."""
        self.lock_path(upload_id).unlink(missing_ok=True)

    async def _receive(self, upload: Upload, f: BinaryIO, hasher: Any, body: AsyncIterator[bytes]) -> Upload:
        start = upload.received
        before = hasher.copy()
        written, buf, cut = 0, bytearray(), False
        try:
            try:
                async for chunk in body:
                    if start + written + len(buf) + len(chunk) > upload.length:
                        raise E.UploadExceedsLength(
                            f"the body goes past Upload-Length {upload.length}; nothing of it was kept"
                        )
                    buf += chunk
                    if len(buf) > _WRITE_CHUNK:  # a body of exactly one piece is written with its offset
                        data, buf = buf, bytearray()
                        await anyio.to_thread.run_sync(self._write, f, upload.id, hasher, data)
                        written += len(data)
            except BodyCut:
                cut = True
            return await anyio.to_thread.run_sync(self._record, f, upload, hasher, buf, not cut)
        except Exception as exc:
            # Nothing of this request stays: back to where it started (the JPEG check read it). So too
            # when the store failed under it (a bucket down, a disk full): the client resumes there.
            error = exc if isinstance(exc, E.UploadExceedsLength) else store_error("write an upload", exc)
            if error is None:
                raise
            if not f.closed:
                try:
                    await anyio.to_thread.run_sync(bucket.rewind, f, start)
                    self._hashers[upload.id] = (start, before)
                except OSError:  # the bytes the file holds are stored: the offset says so, the digest is made again
                    log.warning("upload %s: its part file could not be rewound", upload.id, exc_info=True)
            self.drop_check(upload.id)
            if error is exc:
                raise
            raise error from exc
        except asyncio.CancelledError:
            # The server gave up on the request: what is in the file stands, without awaiting
            # (a closed file was recorded, and stored if it was the last byte, by the thread).
            # Over a bucket nothing is sent from here: the bytes count only once they are a piece.
            if not f.closed:
                if self.pieces is None:
                    self._record(f, upload, hasher, finish=False)
                else:
                    bucket.rewind(f, start)
                    self.drop_check(upload.id)
            raise
        finally:
            with guarded("close an upload's part file"):  # a full disk refuses the last flush too
                f.close()

    def _open_at(self, upload: Upload, offset: int) -> tuple[BinaryIO, Any]:
        """The part file positioned at `offset`, and the digest of the bytes before it."""
        upload_id = upload.id
        path = self.part_path(upload_id)
        f = path.open("r+b" if path.exists() else "w+b")
        size = f.seek(0, os.SEEK_END)
        if size != offset and self.pieces is None:  # the caller checked the offset against the file's size just before
            f.close()
            raise E.UploadOffsetMismatch(f"the upload stands at {size}; resume from there", offset=size)
        cached = self._hashers.get(upload_id)
        if cached is not None and cached[0] == offset and size == offset:
            hasher = cached[1].copy()  # the cached one stays as it is until the new offset is recorded
        elif self.pieces is not None:
            try:
                hasher = bucket.rebuild(self, f, upload, self.pieces)
            except BaseException:
                f.close()  # the bucket did not answer: the next PATCH makes the file again
                raise
        else:
            hasher = hashlib.sha256()
            f.seek(0)
            while offset - f.tell() > 0:
                block = f.read(min(_WRITE_CHUNK, offset - f.tell()))
                if not block:
                    break
                hasher.update(block)
        f.seek(offset)
        check = self._checks.get(upload_id)
        if check is not None and check.fed != offset:
            self.drop_check(upload_id)  # it did not see the bytes the file holds (a rewound PATCH)
        if offset == 0 and images.FORMATS.get(upload.content_type) == "JPEG":
            self.drop_check(upload_id)
            with self._checks_lock:
                if len(self._checks) >= _LIVE_CHECKS:
                    # The oldest goes (most likely an upload its client gave up; if not, it is
                    # checked whole on its last byte): abandoned uploads never hold every place.
                    oldest = self._checks.pop(next(iter(self._checks)))
                    oldest.give_up()
                self._checks[upload_id] = images.JpegCheck(self.settings.max_image_pixels)
        return f, hasher

    def _write(self, f: BinaryIO, upload_id: str, hasher: Any, data: bytearray) -> None:
        hasher.update(data)
        with guarded("write an upload"):
            f.write(data)
        check = self._checks.get(upload_id)
        if check is not None:
            check.feed(data)  # the JPEG checked as it arrives: the last byte does not carry it all

    def _take_check(self, upload_id: str) -> images.JpegCheck | None:
        with self._checks_lock:
            return self._checks.pop(upload_id, None)

    def drop_check(self, upload_id: str) -> None:
        check = self._take_check(upload_id)
        if check is not None:
            check.give_up()

    def _record(self, f: BinaryIO, upload: Upload, hasher: Any, rest: bytearray | None = None,
                finish: bool = True) -> Upload:
        """Write `rest` and keep the new offset with the digest at it (every byte in the file went
        through the hasher too); on the last byte, unless `finish` is false, store the blob."""
        start = upload.received
        if rest:
            self._write(f, upload.id, hasher, rest)
        f.flush()
        if self.pieces is not None and f.tell() > upload.received:
            bucket.share(self, f, upload, self.pieces)
        upload.received = f.tell()
        self._hashers[upload.id] = (upload.received, hasher.copy())
        if finish and upload.received == upload.length:
            f.close()
            try:
                return self._finish(upload, hasher)
            except _PASSING:
                self._give_back(upload, start)
                raise
        return upload

    def _give_back(self, upload: Upload, start: int) -> None:
        """The blob could not be stored: the last PATCH's bytes no longer count, and the offset is back
        where it began (at `length` a tus client would call the upload done); the client sends them again."""
        self._hashers.pop(upload.id, None)
        with guarded("rewind an upload"), contextlib.suppress(FileNotFoundError):  # gone into the store
            os.truncate(self.part_path(upload.id), start)
        if self.pieces is not None:
            bucket.retreat(self, upload, start)
        upload.received = start

    # -- the last byte ------------------------------------------------------------

    def _finish(self, upload: Upload, hasher: Any) -> Upload:
        path = self.part_path(upload.id)
        self._hashers.pop(upload.id, None)
        check = self._take_check(upload.id)
        info: images.ImageInfo | None = None
        try:
            digest = hasher.hexdigest()
            if digest != upload.sha256:
                raise E.DigestMismatch(f"the bytes hash to {digest}, not {upload.sha256}", sha256=digest)
            if upload.content_type == images.SHEET:
                sealing.check_upload(self.store, upload.user_id, upload.sha256, path)
            else:  # checked as the bytes arrived, if that check accepts them; else decoded whole
                accepted = check.result() if check is not None and check.fed == upload.length else None
                info = accepted or images.check_image(path, upload.content_type, self.settings.max_image_pixels)
        except E.SyncError as exc:
            if check is not None:
                check.give_up()
            if isinstance(exc, _PASSING):  # the sheet's check read a blob or the database: the upload stays open
                raise
            with self.queries.writing() as q:  # first: a database failing here leaves the bytes (given back)
                q.fail_upload(upload.id, exc.code, self.store.now_ms())
            path.unlink(missing_ok=True)
            self._unlock_for_good(upload.id)
            bucket.forget(self, upload.id)
            raise
        self.blobs.put(upload.sha256, path)
        now = self.store.now_ms()
        with self.queries.writing() as q:
            q.store_blob(upload.id, upload.user_id, upload.sha256, upload.content_type, upload.length, info, now)
        self._unlock_for_good(upload.id)
        bucket.forget(self, upload.id)
        media.mark_stored(self.store, upload.sha256, upload.user_id)
        upload.status = "complete"
        return upload

    # -- cleaning -------------------------------------------------------------------

    def clean_uploads(self, now_ms: int | None = None) -> int:
        """Forget uploads untouched for `upload_expiry_seconds` and delete every file no open upload owns
        (`upload_pieces.clean`). Returns how many unfinished uploads were given up."""
        return bucket.clean(self, now_ms)

"""An upload's pieces in a bucket (`--blobs s3://`; `uploads.py`'s docstring): each PATCH's bytes stored
as a piece, the offset moved by compare-and-set, a part file made again from the pieces on another
process, and the pieces no open upload has on record swept; and `clean`, which gives up abandoned uploads
and sweeps."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import uuid
from typing import TYPE_CHECKING, Any, BinaryIO

from sync import errors as E

from ...storage.media import SqliteMedia
from .blobs import STORE_FAILURES

if TYPE_CHECKING:
    from ...services import Store
    from .s3 import Pieces
    from .uploads import Upload, Uploads

# With a bucket, each PATCH is an object and a row (`share`): an upload takes at most this many, the
# last one its last byte (1 MiB PATCHes, the phones', fill 64 MiB in 64).
MAX_PIECES = 1024


def rebuild(uploads: Uploads, f: BinaryIO, upload: Upload, pieces: Pieces) -> Any:
    """The part file made again from the upload's pieces in the bucket, and the digest of its bytes:
    this process did not append the bytes before the offset, or not all of them."""
    with uploads.queries.reading() as q:
        names = q.pieces(upload.id)
    hasher = hashlib.sha256()
    f.seek(0)
    f.truncate()
    for name in names:
        for block in pieces.fetch(upload.id, name):
            hasher.update(block)
            f.write(block)
    if f.tell() != upload.received:  # the offset moved again meanwhile: the client asks with HEAD
        f.close()
        raise E.UploadOffsetMismatch(f"the upload moved on to {upload.received}; resume from there",
                                     offset=upload.received)
    uploads.drop_check(upload.id)  # checked whole on the last byte
    return hasher

def share(uploads: Uploads, f: BinaryIO, upload: Upload, pieces: Pieces) -> None:
    """Store this PATCH's bytes as a piece, then move the offset to their end if it is still where the
    PATCH began (the database decides between two processes: the other gets 409, its piece deleted)."""
    start, end = upload.received, f.tell()
    with uploads.queries.reading() as q:
        count = len(q.pieces(upload.id))
    if count >= MAX_PIECES - 1 and end < upload.length:
        rewind(f, start)
        uploads.drop_check(upload.id)
        raise E.InvalidRequest(f"this upload has had {count} PATCHes; send the rest in one", limit=MAX_PIECES)
    name = f"{start}-{uuid.uuid4().hex[:16]}"
    pieces.put(upload.id, name, f, start, end - start)
    with uploads.queries.writing() as q:
        moved = q.advance(upload.id, start, end, name, uploads.store.now_ms())
        now = q.upload(upload.id)
    if not moved:
        pieces.delete(upload.id, [name])
        rewind(f, start)
        uploads.drop_check(upload.id)
        at = now[4] if now is not None else start
        raise E.UploadOffsetMismatch(f"another request moved the upload to {at} first", offset=at)

def retreat(uploads: Uploads, upload: Upload, start: int) -> None:
    """Undo `share`'s last move, to the upload's end from `start`: its blob could not be stored. That
    piece is no longer on record (`sweep` deletes it); the client sends its bytes again."""
    with uploads.queries.writing() as q:
        q.retreat(upload.id, start, upload.length)


def forget(uploads: Uploads, upload_id: str) -> None:
    """The bucket's pieces of an upload that is over; any left (a failed request) are `sweep`'s."""
    if uploads.pieces is not None:
        try:
            uploads.pieces.delete_upload(upload_id)
        except Exception:  # the blob and its record are in: the answer stands
            logging.getLogger("fieldsync").warning("upload %s: its pieces stay for the sweep", upload_id,
                                                   exc_info=True)


def sweep(store: Store, pieces: Pieces, now_ms: int) -> int:
    """Delete the bucket's pieces that no open upload has on record (its upload is over, or their PATCH
    lost a race or died before it moved the offset), sparing those of the last minute (a PATCH
    between storing its piece and moving the offset). How many were deleted."""
    with SqliteMedia(store).reading() as q:
        live, kept = q.open_upload_ids(), q.all_pieces()
    gone: dict[str, list[str]] = {}
    for upload_id, name, stored_s in pieces.listed():
        if (upload_id not in live or (upload_id, name) not in kept) and stored_s * 1000 < now_ms - 60_000:
            gone.setdefault(upload_id, []).append(name)
    for upload_id, names in gone.items():
        pieces.delete(upload_id, names)
    return sum(map(len, gone.values()))


def clean(uploads: Uploads, now_ms: int | None = None) -> int:
    """Forget uploads untouched for `upload_expiry_seconds` and delete every file no open upload owns.

    Returns how many unfinished uploads were given up.
    """
    now = uploads.store.now_ms() if now_ms is None else now_ms
    cutoff = now - uploads.settings.upload_expiry_seconds * 1000
    with uploads.queries.reading() as q:
        old = q.uploads_untouched_since(cutoff)
    expired, abandoned = [], 0
    for upload_id, status in old:
        if status == "open":
            # A PATCH touches only the part file: its time says when the upload last moved.
            try:
                if uploads.part_path(upload_id).stat().st_mtime * 1000 >= cutoff:
                    continue
            except FileNotFoundError:
                pass
            abandoned += 1
        expired.append(upload_id)
    with uploads.queries.writing() as q:
        q.forget_uploads(expired)
        live = q.open_upload_ids()
    if uploads.pieces is not None:
        # The bucket down (logged): its pieces wait for the next sweep, and a server starting
        # meanwhile starts, to answer 503 where the bucket is needed.
        with contextlib.suppress(*STORE_FAILURES):
            sweep(uploads.store, uploads.pieces, now)
    scratch = uploads.scratch.iterdir() if uploads.scratch != uploads.dir and uploads.scratch.is_dir() else ()
    for path in [*uploads.dir.iterdir(), *scratch]:
        upload_id = path.name.split(".", 1)[0]
        if upload_id in live:
            continue
        try:
            # A file of no open upload; spare one made in the last minute (a thumbnail being written,
            # an upload created on another process after `live` was read).
            if path.stat().st_mtime * 1000 < now - 60_000:
                path.unlink()
                uploads._hashers.pop(upload_id, None)
                uploads.drop_check(upload_id)
        except FileNotFoundError:
            continue
    return abandoned


def rewind(f: BinaryIO, offset: int) -> None:
    f.flush()
    f.truncate(offset)
    f.seek(offset)

"""Removing blobs nothing needs any more (issue 9, finding 9): `fieldsync gc`, and the server itself.

A blob is kept while any row names it, live or deleted (a deleted row can be
restored until its tombstone is purged), while any upload of it is on record
(open, or finished within `upload_expiry_seconds`), or while a signature names
it as its sheet or image. Past that, it is removed once it is older than the
grace period: a client may upload the bytes before it pushes the row.

A blob's record goes in one short write transaction, which a push or an upload naming the blob
waits for, and then finds it gone (the row is `missing` until its creator uploads again) or kept;
its bytes go after it, outside any transaction (a slow bucket holds no writer, and on PostgreSQL
is never past the idle-in-transaction limit). Between the two its hash is doomed (`blobs_doomed`):
an upload of the same bytes stores them but records nothing (503, the client sends its last PATCH
again), so a record never names bytes this deletes. The hash is spared once its bytes are gone; a
bucket failing in between leaves it doomed, and the next run deletes its bytes first. With a
bucket, the pieces of uploads no open upload has on record go too (`upload_pieces.sweep`).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sync import hlc

from ...services import Store
from ...settings import Settings
from ...storage.media import MediaQueries, SqliteMedia
from .blobs import BlobStore
from .upload_pieces import sweep

_LEFT_MS = 3_600_000


@dataclass(frozen=True)
class Removed:
    sha256: str
    bytes: int
    left: bool = False  # bytes a failed run left doomed (its record, with the size, already forgotten)


def _unneeded(q: MediaQueries, cutoff: str) -> list[Removed]:
    return [Removed(sha, size) for sha, size in q.blobs_created_before(cutoff) if not q.referenced(sha)]


def _left(q: MediaQueries, now_ms: int) -> list[Removed]:
    """The hashes a failed run left doomed (an hour ago: never another run's still under way, which
    would delete bytes again after it spared them and an upload stored them anew)."""
    return [Removed(sha, 0, left=True) for sha in q.doomed_before(now_ms - _LEFT_MS)]


def collect(store: Store, blobs: BlobStore, grace_hours: float, now_ms: int | None = None,
            dry_run: bool = False) -> list[Removed]:
    """Remove every blob older than `grace_hours` that nothing references, and the bytes a failed run
    left; what was removed (with `dry_run`, what would be, from one snapshot, and nothing is)."""
    now = store.now_ms() if now_ms is None else now_ms
    cutoff = hlc.format_ts(now - int(grace_hours * 3_600_000))
    if dry_run:
        with SqliteMedia(store).reading() as q:
            return _unneeded(q, cutoff) + _left(q, now)
    thumbs = store.settings.data_dir / "thumbs"
    with SqliteMedia(store).writing() as q:
        removed = _unneeded(q, cutoff)
        for blob in removed:
            q.forget_blob(blob.sha256, now)
        removed += _left(q, now)
    for sha in (r.sha256 for r in removed):
        blobs.delete(sha)  # the store failing: the rest stay doomed for the next run
        for thumb in (thumbs / sha[:2]).glob(f"{sha}-*.jpg"):
            thumb.unlink(missing_ok=True)
        with SqliteMedia(store).writing() as q:
            q.spared(sha)
    pieces = getattr(blobs, "pieces", None)
    if pieces is not None:  # a bucket: the pieces no open upload has on record go too
        sweep(store, pieces, now)
    return removed


class Collector:
    """The server's own collection: at startup and every `gc_interval_seconds`, in one thread."""

    def __init__(self, store: Store, blobs: BlobStore, settings: Settings) -> None:
        self.store = store
        self.blobs = blobs
        self.settings = settings
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0  # collections finished, for tests and health checks

    def start(self) -> None:
        if self.settings.gc_interval_seconds > 0:
            self._thread = threading.Thread(target=self._loop, name="fieldsync-gc", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _loop(self) -> None:
        settings = self.settings
        while not self._stop.is_set():
            try:
                collect(self.store, self.blobs, settings.gc_grace_hours)
            except Exception:  # a failed run is retried at the next interval; the server goes on
                import logging

                logging.getLogger("fieldsync").exception("blob garbage collection failed")
            self.runs += 1
            self._stop.wait(settings.gc_interval_seconds)

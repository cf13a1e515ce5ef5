"""Photos and other blobs as rows see them: `stored` or `missing`, who may read them, what is awaited.

A row's blob is `stored` once the user whose client created the row has
uploaded those bytes (proof of possession, per user): a hash seen in a row
never lets anyone else's row point at, or read, bytes they do not have.
The SQL is in `server/storage/media.py`.
"""

from __future__ import annotations

import asyncio
import os
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import anyio.to_thread

from sync import errors as E
from sync.schema import COLLECTIONS

from ...settings import Settings
from ...storage.media import SqliteMedia
from ..scope import in_scope
from . import images
from .blobs import BlobStore, guarded, is_sha256
from .schemas import MissingBlob, MissingBlobs

if TYPE_CHECKING:

    from ...services import Caller, Store

# The blob fields of each collection that has them, as the collections declare them.
BLOB_FIELDS = {name: spec.blob_fields for name, spec in COLLECTIONS.items() if spec.blob_fields}


# -- after an upload --------------------------------------------------------------


def mark_stored(store: Store, sha: str, user_id: str) -> int:
    """The photos this user's clients created with these bytes become `stored` (a server write)."""
    with SqliteMedia(store).reading() as q:
        ids = q.awaiting(sha, user_id)
    if ids:
        store.write_server_changes([("photos", i, {"blob": "stored"}, None) for i in ids])
    return len(ids)


def reconcile(store: Store) -> int:
    """At startup: photos still `missing` whose creator's upload completed (a crash between the two writes)."""
    with SqliteMedia(store).reading() as q:
        ids = q.reconcilable()
    if ids:
        store.write_server_changes([("photos", i, {"blob": "stored"}, None) for i in ids])
    return len(ids)


class Media:
    """Reading blobs and thumbnails, and what an inspection still waits for."""

    def __init__(self, store: Store, blobs: BlobStore, settings: Settings) -> None:
        self.store = store
        self.queries = SqliteMedia(store)
        self.blobs = blobs
        self.settings = settings
        self.thumbs = Path(settings.data_dir) / "thumbs"
        self.scratch = Path(settings.data_dir) / "uploads"  # same filesystem: a rename moves a thumbnail in
        self.image_executor = ThreadPoolExecutor(max_workers=settings.image_workers,
                                                 thread_name_prefix="fieldsync-image")
        self._making: dict[tuple[str, int], asyncio.Future[Path]] = {}
        self.thumbnails_made = 0  # thumbnails generated (not served from the cache) since startup
        self._made_lock = threading.Lock()  # the image threads count together

    def readable(self, caller: Caller, sha: str) -> str:
        """The blob's content type, if the caller can see a row whose blob is stored under it; else 404."""
        sha = sha.lower()
        if not is_sha256(sha):  # the path's text, bounded: a hash is 64 characters
            raise E.NotFound(f"no blob {E.clip(sha, 65)}")
        with self.queries.reading() as q:
            content_type = q.content_type(sha)
            if content_type is None or not self.blobs.exists(sha) or not (
                any(in_scope(caller, site) for site in q.stored_photo_sites(sha))
                or any(in_scope(caller, site) for site in q.uploaded_signature_sites(sha))
            ):
                raise E.NotFound(f"no blob {sha}")
        return content_type

    def original(self, caller: Caller, sha: str) -> tuple[Path, str]:
        content_type = self.readable(caller, sha)
        return self.blobs.path(sha.lower()), content_type

    async def thumbnail(self, caller: Caller, sha: str, size: int) -> Path:
        """A cached JPEG thumbnail, made once per hash and size on first request.

        Image work runs in its own executor of `image_workers` threads: however many
        thumbnails are asked for, the request threads stay free for everything else,
        and requests for one thumbnail while it is made wait for that one making of it
        (issue 9, finding 7).
        """
        content_type = await self.thumbnail_readable(caller, sha, size)
        sha = sha.lower()
        target = self.thumbs / sha[:2] / f"{sha}-{size}.jpg"
        if target.is_file():
            return target
        key = (sha, size)
        making = self._making.get(key)
        if making is None:
            making = asyncio.get_running_loop().run_in_executor(
                self.image_executor, self._make_thumbnail, sha, content_type, size, target)
            self._making[key] = making
            making.add_done_callback(lambda _: self._making.pop(key, None))
        # Shielded: one waiter going away does not cancel the making the others wait for.
        return await asyncio.shield(making)

    async def thumbnail_readable(self, caller: Caller, sha: str, size: int) -> str:
        """The image's content type, when `caller` may have its thumbnail of `size` (none is made)."""
        if size not in self.settings.thumbnail_sizes:
            raise E.InvalidRequest(f"size must be one of {', '.join(map(str, self.settings.thumbnail_sizes))}")
        content_type = await anyio.to_thread.run_sync(self.readable, caller, sha)
        if content_type not in images.FORMATS:
            raise E.NotFound(f"blob {sha} is not an image and has no thumbnail")
        return content_type

    def _make_thumbnail(self, sha: str, content_type: str, size: int, target: Path) -> Path:
        if target.is_file():  # made between the request's look and this job's start
            return target
        scratch = self.scratch / f"thumb-{uuid.uuid4().hex}.jpg"
        try:
            with guarded("store a thumbnail"):  # a thumbs directory that cannot be written: 503/507
                target.parent.mkdir(parents=True, exist_ok=True)
                images.make_thumbnail(self.blobs.path(sha), content_type, size, scratch)
                os.replace(scratch, target)
        finally:
            scratch.unlink(missing_ok=True)
        with self._made_lock:
            self.thumbnails_made += 1
        return target

    def close(self) -> None:
        self.image_executor.shutdown(wait=False, cancel_futures=True)

    def missing_blobs(self, caller: Caller, inspection_id: str) -> MissingBlobs:
        """Photos and signatures of an inspection whose bytes their creator has not uploaded yet."""
        with self.queries.reading() as q:
            exists, site = q.live_site("inspections", inspection_id)
            if not exists or not in_scope(caller, site):
                raise E.NotFound(f"no inspection {inspection_id}")
            missing: list[MissingBlob] = []
            for collection, row_id, fields, creator, recorded, username in q.blob_rows(inspection_id):
                for name in BLOB_FIELDS[collection]:
                    sha = fields.get(name)
                    if not isinstance(sha, str):
                        continue
                    waiting = (fields.get("blob") != "stored" if collection == "photos"
                               else not q.has_uploaded(sha, creator, recorded))
                    if waiting:
                        missing.append(MissingBlob(sha256=sha, collection=collection, row_id=row_id, field=name,
                                                   uploader=username))
        return MissingBlobs(inspection_id=inspection_id, missing=missing)

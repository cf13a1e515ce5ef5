"""Photos and other blobs as rows see them: `stored` or `missing`, who may read them, what is awaited.

A row's blob is `stored` once the user whose client created the row has
uploaded those bytes (proof of possession, per user): a hash seen in a row
never lets anyone else's row point at, or read, bytes they do not have.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import msgspec

from sync import errors as E

from . import images
from .blobs import BlobStore, is_sha256
from .settings import Settings

if TYPE_CHECKING:
    from sync.merge import RowState

from .engine.batch import _Batch
from .services import Caller, Store
from .storage.sqlite.connection import select_in

_decode = msgspec.json.decode
# The blob fields of each collection that has them.
BLOB_FIELDS = {"photos": ("sha256",), "signatures": ("image_sha256", "sheet_sha256")}


class PhotoInfo(msgspec.Struct, kw_only=True):
    """A photo as listed on a sheet, a coverage row or a device's history."""

    id: str
    sha256: str | None = None
    device_id: str | None = None
    stage: str | None = None
    caption: str | None = None
    taken_at: str | None = None  # as the technician's client recorded it
    blob: str = "missing"  # stored / missing
    content_type: str | None = None
    bytes: int | None = None
    # From the uploaded bytes, only once this row's blob is stored:
    width: int | None = None
    height: int | None = None
    exif_taken_at: str | None = None
    orientation: int | None = None
    lat: float | None = None
    lon: float | None = None


class MissingBlob(msgspec.Struct, kw_only=True):
    sha256: str
    collection: str
    row_id: str
    field: str
    uploader: str | None  # the username whose upload the server waits for


class MissingBlobs(msgspec.Struct, kw_only=True):
    inspection_id: str
    missing: list[MissingBlob]


# -- in the push transaction ----------------------------------------------------


def settle_blob_row(batch: _Batch, before: RowState | None, row: RowState) -> None:
    """On a photos or signatures row's first write: remember who created it; a photo gets `blob`.

    Also when the row is created deleted (a tombstone): undeleted later, it still has a
    creator, and only that creator's upload makes it `stored` (issue 9, finding 6).
    """
    if before is not None and before.exists:
        return
    caller = batch.caller
    user_id = caller.user_id if caller is not None else None
    batch.creators.append((row.collection, row.id, user_id, caller.client_id if caller is not None else None))
    if row.collection == "photos":
        stored = _uploaded_in_batch(batch, row.fields.get("sha256"), user_id)
        batch._server_set(row, "blob", "stored" if stored else "missing")


def _has_uploaded(db: sqlite3.Connection, sha: Any, user_id: str | None, recorded: bool = True) -> bool:
    """Whether the row's creator uploaded these bytes. `recorded`: the row has a creator at all
    (a row without one, made before creators were kept, waits for nobody's upload)."""
    if not isinstance(sha, str) or not recorded:
        return False
    if user_id is None:  # the server's own rows (demo data): the bytes being there is enough
        return db.execute("SELECT 1 FROM blobs WHERE sha256 = ?", [sha]).fetchone() is not None
    return db.execute(
        "SELECT 1 FROM blob_owners WHERE sha256 = ? AND user_id = ?", [sha, user_id]
    ).fetchone() is not None


def _uploaded_in_batch(batch: _Batch, sha: Any, user_id: str | None) -> bool:
    """Whether this user (any user, for the server's own rows) has uploaded these bytes.

    Looked up once per batch for every photo hash the batch names, not once per row.
    """
    if not isinstance(sha, str):
        return False
    known = batch.memo.get(("uploaded", user_id))
    if known is None or sha not in known[1]:
        wanted = sorted({sha} | {
            h for c in batch.changes
            if c.collection == "photos" and isinstance(h := c.fields.get("sha256"), str)
        })
        if user_id is None:  # the server's own rows (demo data): the bytes being there is enough
            query, before = "SELECT sha256 FROM blobs WHERE sha256 IN ({marks})", []
        else:
            query, before = "SELECT sha256 FROM blob_owners WHERE user_id = ? AND sha256 IN ({marks})", [user_id]
        found = {h for (h,) in select_in(batch.db, query, wanted, before)}
        known = (found, set(wanted))
        batch.memo[("uploaded", user_id)] = known
    return sha in known[0]


# -- after an upload --------------------------------------------------------------


# Deleted rows too: a photo deleted now and restored later is then already `stored`. A row
# without a recorded creator is never anyone's (the "ghost" of issue 9, finding 6).
_AWAITING = (
    "SELECT r.id FROM rows r JOIN row_creators c ON c.collection = 'photos' AND c.row_id = r.id"
    " WHERE r.collection = 'photos' AND json_extract(r.fields, '$.sha256') = ?"
    " AND coalesce(json_extract(r.fields, '$.blob'), 'missing') = 'missing'"
    " AND (c.user_id = ? OR (c.user_id IS NULL AND c.client_id IS NULL))"
)


def mark_stored(store: Store, sha: str, user_id: str) -> int:
    """The photos this user's clients created with these bytes become `stored` (a server write)."""
    with store.read() as db:
        ids = [i for (i,) in db.execute(_AWAITING, [sha, user_id])]
    if ids:
        store.write_server_changes([("photos", i, {"blob": "stored"}, None) for i in ids])
    return len(ids)


def reconcile(store: Store) -> int:
    """At startup: photos still `missing` whose creator's upload completed (a crash between the two writes)."""
    with store.read() as db:
        ids = [i for (i,) in db.execute(
            "SELECT r.id FROM rows r JOIN row_creators c ON c.collection = 'photos' AND c.row_id = r.id"
            " JOIN blob_owners o ON o.sha256 = json_extract(r.fields, '$.sha256') AND o.user_id = c.user_id"
            " WHERE r.collection = 'photos' AND json_extract(r.fields, '$.blob') = 'missing'"
        )]
    if ids:
        store.write_server_changes([("photos", i, {"blob": "stored"}, None) for i in ids])
    return len(ids)


# -- listings -------------------------------------------------------------------------

_PHOTOS = (
    "SELECT r.id, r.parent_id, r.fields, b.content_type, b.width, b.height, b.taken_at, b.taken_local,"
    " b.orientation, b.lat, b.lon FROM rows r LEFT JOIN blobs b ON b.sha256 = json_extract(r.fields, '$.sha256')"
)


def _photo(found: tuple[Any, ...], tz: str | None) -> PhotoInfo:
    row_id, _, fields_json, content_type, width, height, taken_at, taken_local, orientation, lat, lon = found
    f = _decode(fields_json)
    photo = PhotoInfo(
        id=row_id, sha256=f.get("sha256"), device_id=f.get("device_id"), stage=f.get("stage"),
        caption=f.get("caption"), taken_at=f.get("taken_at"), blob=f.get("blob") or "missing",
        content_type=f.get("content_type"), bytes=f.get("bytes"),
    )
    # What the bytes say is shown only when this row's own creator sent them: a row that
    # merely names a hash learns nothing (not even where the photo was taken) from it.
    if photo.blob == "stored" and content_type is not None:
        photo.content_type, photo.width, photo.height = content_type, width, height
        photo.orientation, photo.lat, photo.lon = orientation, lat, lon
        photo.exif_taken_at = taken_at or (images.local_to_protocol(taken_local, tz) if taken_local else None)
    return photo


def _order(photos: list[PhotoInfo]) -> list[PhotoInfo]:
    return sorted(photos, key=lambda p: (p.taken_at or p.exif_taken_at or "", p.id))


def photos_of_inspection(db: sqlite3.Connection, inspection_id: str, tz: str | None) -> dict[str | None, list[PhotoInfo]]:
    """An inspection's photos by device (None: photos of the inspection as a whole)."""
    out: dict[str | None, list[PhotoInfo]] = {}
    for found in db.execute(
        _PHOTOS + " WHERE r.collection = 'photos' AND r.parent_id = ? AND r.deleted = 0", [inspection_id]
    ):
        photo = _photo(found, tz)
        out.setdefault(photo.device_id, []).append(photo)
    return {k: _order(v) for k, v in out.items()}


def photos_of_device(db: sqlite3.Connection, device_id: str, tz: str | None) -> dict[str, list[PhotoInfo]]:
    """A device's photos by inspection."""
    out: dict[str, list[PhotoInfo]] = {}
    for found in db.execute(
        _PHOTOS + " WHERE r.device_id = ? AND r.collection = 'photos' AND r.deleted = 0", [device_id]
    ):
        out.setdefault(found[1], []).append(_photo(found, tz))
    return {k: _order(v) for k, v in out.items()}


def site_tz(db: sqlite3.Connection, site_id: str | None) -> str | None:
    found = db.execute(
        "SELECT json_extract(fields, '$.tz') FROM rows WHERE collection = 'sites' AND id = ?", [site_id]
    ).fetchone()
    return found[0] if found else None


def _in_scope(caller: Caller, site_id: str | None) -> bool:
    return caller.sites is None or site_id in caller.sites


class Media:
    """Reading blobs and thumbnails, and what an inspection still waits for."""

    def __init__(self, store: Store, blobs: BlobStore, settings: Settings) -> None:
        self.store = store
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
        if not is_sha256(sha):
            raise E.NotFound(f"no blob {sha}")
        with self.store.read() as db:
            found = db.execute("SELECT content_type FROM blobs WHERE sha256 = ?", [sha]).fetchone()
            if found is None or not self.blobs.exists(sha) or not self._visible(db, caller, sha):
                raise E.NotFound(f"no blob {sha}")
        return str(found[0])

    def _visible(self, db: sqlite3.Connection, caller: Caller, sha: str) -> bool:
        for (site,) in db.execute(
            "SELECT site_id FROM rows WHERE collection = 'photos' AND json_extract(fields, '$.sha256') = ?"
            " AND deleted = 0 AND json_extract(fields, '$.blob') = 'stored'",
            [sha],
        ):
            if _in_scope(caller, site):
                return True
        for site, creator, recorded in db.execute(
            "SELECT r.site_id, c.user_id, c.row_id IS NOT NULL FROM rows r"
            " LEFT JOIN row_creators c ON c.collection = 'signatures' AND c.row_id = r.id"
            " WHERE r.collection = 'signatures' AND r.deleted = 0"
            " AND (json_extract(r.fields, '$.image_sha256') = ? OR json_extract(r.fields, '$.sheet_sha256') = ?)",
            [sha, sha],
        ):
            if _in_scope(caller, site) and _has_uploaded(db, sha, creator, recorded):
                return True
        return False

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
        if size not in self.settings.thumbnail_sizes:
            raise E.InvalidRequest(f"size must be one of {', '.join(map(str, self.settings.thumbnail_sizes))}")
        content_type = await anyio.to_thread.run_sync(self.readable, caller, sha)
        if content_type not in images.FORMATS:
            raise E.NotFound(f"blob {sha} is not an image and has no thumbnail")
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

    def _make_thumbnail(self, sha: str, content_type: str, size: int, target: Path) -> Path:
        if target.is_file():  # made between the request's look and this job's start
            return target
        target.parent.mkdir(parents=True, exist_ok=True)
        scratch = self.scratch / f"thumb-{uuid.uuid4().hex}.jpg"
        try:
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
        with self.store.read() as db:
            found = db.execute(
                "SELECT site_id FROM rows WHERE collection = 'inspections' AND id = ? AND deleted = 0",
                [inspection_id],
            ).fetchone()
            if found is None or not _in_scope(caller, found[0]):
                raise E.NotFound(f"no inspection {inspection_id}")
            missing: list[MissingBlob] = []
            for collection, row_id, fields_json, creator, recorded, username in db.execute(
                "SELECT r.collection, r.id, r.fields, c.user_id, c.row_id IS NOT NULL, u.username FROM rows r"
                " LEFT JOIN row_creators c ON c.collection = r.collection AND c.row_id = r.id"
                " LEFT JOIN users u ON u.id = c.user_id"
                " WHERE r.collection IN ('photos', 'signatures') AND r.parent_id = ? AND r.deleted = 0"
                " ORDER BY r.collection, r.id",
                [inspection_id],
            ):
                fields = _decode(fields_json)
                for name in BLOB_FIELDS[collection]:
                    sha = fields.get(name)
                    if not isinstance(sha, str):
                        continue
                    waiting = (fields.get("blob") != "stored" if collection == "photos"
                               else not _has_uploaded(db, sha, creator, recorded))
                    if waiting:
                        missing.append(MissingBlob(sha256=sha, collection=collection, row_id=row_id, field=name,
                                                   uploader=username))
        return MissingBlobs(inspection_id=inspection_id, missing=missing)

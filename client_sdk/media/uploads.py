"""The upload queue of a technician's client, and its tus sender.

Photos and signature images travel apart from rows, over tus 1.0.0 (core and
creation) at `/files`, content-addressed by SHA-256 (docs/sync-protocol.md,
"Blobs"). The bytes to send are prepared once (a photo shrunk, a signature
rendered, a sheet encoded), written to a file beside the client's database,
and queued in its `uploads` table with the upload's URL and offset, so an
upload survives a restart and resumes where the server says it stands. A
PATCH cut mid-way leaves at the server the bytes that reached it: the sender
then asks (tus HEAD, each of its steps `HELD_TIMEOUT` at most) and keeps that offset, so the
phone's upload list says what the server holds, not where the PATCH began.

A queued upload's row is written in the same local transaction as the change
that names its hash, after its file: a crash between them leaves a file without
rows (removed an hour later), never an upload without its change nor a change
whose bytes will not come. Once uploaded, the bytes stay as long as the outbox
holds a change naming them (30 days after its answer; `UploadQueue.free`).
"""

from __future__ import annotations

import base64
import hashlib
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..outbox import OnProgress, Progress
from ..replica import Replica
from ..session import Session, refusal

# Bytes per PATCH. A photo is shrunk to 2,000 px before it is queued (most are under 1 MB;
# pure noise, the worst case, 1.5 MB), so most go in one PATCH and a larger chunk would save
# the server nothing on them. Behind the recommended nginx, which reads a body whole before
# passing it on, a dropped PATCH loses all of it (fieldsync alone keeps what arrived): on a
# basement's weak link (100 KB/s), 1 MiB is 10 s of sending to lose at most, well under nginx's
# 8 MiB body limit.
DEFAULT_CHUNK = 1024 * 1024
# A prepared file no upload names is removed once this old (`UploadQueue.clean`).
ORPHAN_AGE_MS = 3_600_000
_MAX_RESTARTS = 3  # an upload the server forgot (404/410) is created again at most this often per run
# After a PATCH cut mid-way, each step of the HEAD that asks what the server kept (connect, send, read) waits
# this long (s) at most: on a link that is gone, the sync ends without the answer, not after another full timeout.
HELD_TIMEOUT = 5.0

_COLUMNS = 'sha256, path, content_type, length, kind, url, "offset", state, error, queued_ms, done_ms'
# The fields of a change that name a blob: a photo's bytes, a signature's image and its sheet.
BLOB_FIELDS = (("photos", "sha256"), ("signatures", "image_sha256"), ("signatures", "sheet_sha256"))
# The outbox changes that name a blob, with their state and reason.
_NAMED_BY = " UNION ALL ".join(
    f"SELECT json_extract(fields, '$.{field}') AS sha256, state, reason FROM outbox WHERE collection = '{collection}'"
    for collection, field in BLOB_FIELDS)
# 4xx answers that mean these bytes will never be accepted: the upload fails for good.
_PERMANENT = {400, 403, 413, 415, 422, 460}


@dataclass
class Upload:
    """One queued blob: where its prepared bytes are and how far the server has them."""

    sha256: str
    path: str
    content_type: str
    length: int
    kind: str
    url: str | None = None
    offset: int = 0
    state: str = "queued"
    error: str | None = None
    queued_ms: int = 0
    done_ms: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"sha256": self.sha256, "kind": self.kind, "content_type": self.content_type,
                "length": self.length, "offset": self.offset, "state": self.state, "error": self.error,
                "path": self.path}


class UploadQueue:
    """The `uploads` table in the client's database, and the prepared files beside it."""

    def __init__(self, db: Replica) -> None:
        self.db = db
        self.dir = db.path.with_name(db.path.name + ".blobs")

    @contextmanager
    def adding(self, blobs: Sequence[tuple[bytes, str, str]], now_ms: int) -> Iterator[list[str]]:
        """Queue `blobs` (bytes, content type, kind) with the change the caller writes in the block: the files
        first, then their rows and the change in one local transaction, so a crash or an error between them
        leaves no row behind, only files `clean` removes. Yields their SHA-256s. The same bytes twice are one
        upload."""
        kept = [(self._keep(data), data, content_type, kind) for data, content_type, kind in blobs]
        with self.db.transaction() as conn:
            for (sha, path), data, content_type, kind in kept:
                conn.execute(
                    f"INSERT INTO uploads({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, 0, 'queued', NULL, ?, NULL)"
                    " ON CONFLICT(sha256) DO UPDATE SET state = 'queued', error = NULL, path = excluded.path"
                    " WHERE uploads.state IN ('failed', 'dropped')",
                    [sha, str(path), content_type, len(data), kind, now_ms],
                )
            yield [sha for (sha, _), *_ in kept]

    def _keep(self, data: bytes) -> tuple[str, Path]:
        """The bytes in their file (written whole, then renamed), dated now: `clean` leaves young files alone."""
        sha = hashlib.sha256(data).hexdigest()
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / sha
        if path.is_file() and path.stat().st_size == len(data):
            os.utime(path)
            return sha, path
        tmp = self.dir / f".{sha}.{uuid.uuid4().hex}.tmp"
        with tmp.open("wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return sha, path

    def free(self) -> int:
        """Forget the uploads `done` (the server verified the bytes), `dropped` or `failed` (the bytes refused, or
        their file gone) that no change the outbox holds names any more, so `clean` removes their files. The
        outbox holds an answered change for 30 days (`Outbox.prune`) because a server restored from a backup is
        sent it again; its bytes stay as long, to be sent again with it (`requeue_done`), and a failed one stays
        listed as long. A waiting upload is never forgotten. Returns how many went."""
        with self.db.transaction() as conn:
            return conn.execute(
                f"DELETE FROM uploads WHERE state IN ('done', 'dropped', 'failed') AND sha256 NOT IN"
                f" (SELECT n.sha256 FROM ({_NAMED_BY}) AS n WHERE n.sha256 IS NOT NULL)").rowcount

    def requeue_done(self) -> None:
        """The server was restored from a backup: it may have forgotten which bytes this user uploaded, so
        the uploads `done` go again (a new tus upload, born complete where the server still knows them), and
        a dropped one that a resent change names is queued again (`drop_refused`)."""
        with self.db.transaction() as conn:
            conn.execute("UPDATE uploads SET state = 'queued', url = NULL, \"offset\" = 0, error = NULL,"
                         " done_ms = NULL WHERE state = 'done'")
            self.drop_refused()

    def clean(self) -> int:
        """Remove the files no upload names, written more than an hour ago (`ORPHAN_AGE_MS`): bytes kept for
        a change that was never written (the app killed, or the change refused, in `adding`). A younger one
        may belong to an `adding` under way in another process. Ages are by the file system's clock, as its
        dates. Returns how many went."""
        if not self.dir.is_dir():
            return 0
        named = {Path(p).name for (p,) in self.db.conn.execute("SELECT path FROM uploads")}
        gone, now_ms = 0, time.time() * 1000
        for path in self.dir.iterdir():
            if path.name not in named and path.stat().st_mtime * 1000 < now_ms - ORPHAN_AGE_MS:
                path.unlink(missing_ok=True)
                gone += 1
        return gone

    def get(self, sha: str) -> Upload | None:
        found = self.db.conn.execute(f"SELECT {_COLUMNS} FROM uploads WHERE sha256 = ?", [sha]).fetchone()
        return None if found is None else Upload(*found)

    def listed(self, states: Iterable[str] = ("queued", "uploading", "failed", "done"),
               kinds: Iterable[str] = ("sheet", "image")) -> list[Upload]:
        states, kinds = list(states), list(kinds)
        return [
            Upload(*r) for r in self.db.conn.execute(
                f"SELECT {_COLUMNS} FROM uploads WHERE state IN ({','.join('?' * len(states))})"
                f" AND kind IN ({','.join('?' * len(kinds))}) ORDER BY kind = 'image', queued_ms, sha256",
                [*states, *kinds],
            )
        ]

    def drop_refused(self) -> list[str]:
        """Drop the waiting uploads whose bytes only refused changes name (`_NAMED_BY`): the server
        rejected each, so it holds no row pointing at them, and sending them would spend the
        technician's mobile data on a blob the server deletes unread. A change refused as `too_large`
        is not refused for good (it may be sent again smaller). `error` keeps the refusal's reason.
        The prepared file stays: a refused change is sent again after a server restore or a `seq_gap`
        and may then be applied, and a dropped upload that a change still to be sent, or applied,
        names is queued again here. Returns the dropped hashes."""
        refused = "n.state = 'rejected' AND coalesce(n.reason, '') != 'too_large'"
        with self.db.transaction() as conn:
            conn.execute(
                f"UPDATE uploads SET state = 'queued', error = NULL WHERE state = 'dropped' AND sha256 IN"
                f" (SELECT n.sha256 FROM ({_NAMED_BY}) AS n WHERE NOT ({refused}))")
            found = conn.execute(
                f"SELECT u.sha256, max(n.reason) FROM uploads AS u JOIN ({_NAMED_BY}) AS n ON n.sha256 = u.sha256"
                f" WHERE u.state IN ('queued', 'uploading', 'failed') GROUP BY u.sha256 HAVING min({refused}) = 1"
            ).fetchall()
            for sha, reason in found:
                conn.execute("UPDATE uploads SET state = 'dropped', error = ?, url = NULL, \"offset\" = 0"
                             " WHERE sha256 = ?", [reason or "rejected", sha])
        return [sha for sha, _ in found]

    def update(self, sha: str, counted: str | None = None, **values: Any) -> None:
        """Set an upload's `values`; with `counted`, one more of that count (`Replica.count_tx`) in the same
        transaction."""
        sets = ", ".join(f'"{name}" = ?' for name in values)
        with self.db.transaction() as conn:
            conn.execute(f"UPDATE uploads SET {sets} WHERE sha256 = ?", [*values.values(), sha])
            if counted is not None:
                self.db.count_tx(counted, 1)


# -- tus -------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _offset(resp: httpx.Response) -> int | None:
    text = resp.headers.get("Upload-Offset", "")
    return int(text) if text.isascii() and text.isdigit() else None


def send(session: Session, queue: UploadQueue, upload: Upload, wall: Callable[[], int],
         chunk_size: int = DEFAULT_CHUNK, place: tuple[int, int] = (1, 1),
         on_progress: OnProgress | None = None) -> bool:
    """Upload one queued blob to the end, resuming where the server stands; True when it is there.

    `place` is (its number, how many) among this run's uploads, for `on_progress`.
    Temporary trouble (a 5xx, a server without `/files` yet, a locked upload)
    leaves it queued with the reason; a refusal of the bytes themselves
    (digest mismatch, not an image) marks it `failed`. Connection errors
    propagate: the offset reached so far is saved after every chunk.
    """

    def report(offset: int) -> None:
        if on_progress is not None:
            on_progress(Progress(upload.kind, offset, upload.length, *place))

    path = Path(upload.path)
    if not path.is_file() or path.stat().st_size != upload.length:
        queue.update(upload.sha256, state="failed", error="the prepared file is gone")
        return False
    url, offset, restarts = upload.url, upload.offset, 0
    while True:
        if url is None:
            resp = session.tus("POST", "/files", {
                "Upload-Length": str(upload.length),
                "Upload-Metadata": f"sha256 {_b64(upload.sha256)},content_type {_b64(upload.content_type)}",
            })
            if resp.status_code != 201 or "Location" not in resp.headers:
                return _stop(queue, upload, resp)
            url, offset = resp.headers["Location"], _offset(resp) or 0
            queue.update(upload.sha256, url=url, offset=offset, state="uploading", error=None)
        else:
            resp = session.tus("HEAD", url)
            if resp.status_code in (404, 410) and restarts < _MAX_RESTARTS:
                restarts += 1  # expired or cleaned up at the server: start a new upload
                url, offset = None, 0
                queue.update(upload.sha256, url=None, offset=0)
                continue
            found = _offset(resp)
            if resp.status_code >= 300 or found is None:
                return _stop(queue, upload, resp)
            offset = found
            queue.update(upload.sha256, offset=offset, state="uploading")
        report(offset)
        while offset < upload.length:
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read(chunk_size)
            try:
                resp = session.tus("PATCH", url, {
                    "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset),
                }, chunk)
            except httpx.TransportError:
                _keep_held(session, queue, upload, url, offset)
                raise
            reached = _offset(resp)
            if resp.status_code in (200, 204) and reached is not None and reached > offset:
                offset = reached
                queue.update(upload.sha256, offset=offset)
                report(offset)
                continue
            if resp.status_code in (404, 409, 410):
                break  # the server stands elsewhere, or forgot the upload: ask again
            return _stop(queue, upload, resp)
        else:
            queue.update(upload.sha256, offset=upload.length, state="done", error=None,
                         done_ms=wall(), counted="sync_uploaded")
            return True
        if resp.status_code in (404, 410):
            if restarts >= _MAX_RESTARTS:
                return _stop(queue, upload, resp)
            restarts += 1
            url, offset = None, 0
            queue.update(upload.sha256, url=None, offset=0)


def _keep_held(session: Session, queue: UploadQueue, upload: Upload, url: str, offset: int) -> None:
    """A PATCH from `offset` was cut: the server keeps the bytes that reached it, so ask it (tus HEAD) and keep
    its offset, which the phone's upload list shows and the next run resumes from. Nothing learnt when the link
    is down too: the offset stays what the server last acknowledged."""
    try:
        resp = session.tus("HEAD", url, timeout=HELD_TIMEOUT)
    except httpx.TransportError:
        return
    held = _offset(resp)
    if resp.status_code == 200 and held is not None and offset < held <= upload.length:
        queue.update(upload.sha256, offset=held)


def _stop(queue: UploadQueue, upload: Upload, resp: httpx.Response) -> bool:
    permanent = resp.status_code in _PERMANENT
    values: dict[str, Any] = {"error": refusal(resp)}
    if permanent:
        # The bytes were refused: a new upload of them may be tried after fixing the cause.
        values.update(state="failed", url=None, offset=0)
    queue.update(upload.sha256, **values)
    return False


def upload_waiting(session: Session, queue: UploadQueue, wall: Callable[[], int],
                   kinds: Sequence[str] = ("sheet", "image"), chunk_size: int = DEFAULT_CHUNK,
                   only: Iterable[str] | None = None, on_progress: OnProgress | None = None) -> int:
    """Send every queued upload of these kinds (of these hashes, with `only`); returns how many
    reached the server. Each one is also counted as `sync_uploaded` when it is marked done (`send`), so a
    caller cut short by the link or Ctrl-C still knows how many went before it (`Client.sync_so_far`)."""
    done = 0
    waiting = queue.listed(("queued", "uploading"), kinds)
    if only is not None:
        wanted = set(only)
        waiting = [u for u in waiting if u.sha256 in wanted]
    for index, upload in enumerate(waiting, start=1):
        if send(session, queue, upload, wall, chunk_size, (index, len(waiting)), on_progress):
            done += 1
    return done


"""Photos, signatures and the upload queue of a technician's client.

Photos and signature images travel apart from rows, over tus 1.0.0 (core and
creation) at `/files`, content-addressed by SHA-256 (docs/sync-protocol.md,
"Blobs"). The bytes to send are prepared once (a photo shrunk, a signature
rendered, a sheet encoded), written to a file beside the client's database,
and queued in its `uploads` table with the upload's URL and offset, so an
upload survives a restart and resumes where the server says it stands.

A queued upload's row is written before the row that names its hash: a crash
between the two leaves bytes without a row (harmless), never a row whose
bytes will not come.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from PIL import ExifTags, Image, ImageDraw, ImageOps, UnidentifiedImageError

from sync import errors as E
from sync import hlc, schema, sheet
from sync.merge import NOTE_REQUIRED, RowState, Rules, validate
from sync.periods import site_zone

from .replica import Replica
from .session import refusal

if TYPE_CHECKING:
    from .client import Client

MAX_EDGE = 2000
JPEG_QUALITY = 85
DEFAULT_CHUNK = 1024 * 1024
MAX_CANVAS = 4000  # a signature pad is never larger; bigger coordinates are a mistake
_MAX_RESTARTS = 3  # an upload the server forgot (404/410) is created again at most this often per run

_COLUMNS = 'sha256, path, content_type, length, kind, url, "offset", state, error, queued_ms, done_ms'
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

    def add(self, data: bytes, content_type: str, kind: str, now_ms: int) -> str:
        """Keep the bytes in a file and queue them; returns their SHA-256. Queuing the same bytes twice is one upload."""
        sha = hashlib.sha256(data).hexdigest()
        self.dir.mkdir(parents=True, exist_ok=True)
        path = self.dir / sha
        if not path.is_file() or path.stat().st_size != len(data):
            tmp = self.dir / f".{sha}.{uuid.uuid4().hex}.tmp"
            with tmp.open("wb") as f:
                f.write(data)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        with self.db.transaction() as conn:
            conn.execute(
                f"INSERT INTO uploads({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, 0, 'queued', NULL, ?, NULL)"
                " ON CONFLICT(sha256) DO UPDATE SET state = 'queued', error = NULL, path = excluded.path"
                " WHERE uploads.state = 'failed'",
                [sha, str(path), content_type, len(data), kind, now_ms],
            )
        return sha

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

    def update(self, sha: str, **values: Any) -> None:
        sets = ", ".join(f'"{name}" = ?' for name in values)
        with self.db.transaction() as conn:
            conn.execute(f"UPDATE uploads SET {sets} WHERE sha256 = ?", [*values.values(), sha])


# -- tus -------------------------------------------------------------------------


def _b64(text: str) -> str:
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


def _offset(resp: httpx.Response) -> int | None:
    text = resp.headers.get("Upload-Offset", "")
    return int(text) if text.isascii() and text.isdigit() else None


def _report(client: Client, upload: Upload, offset: int, place: tuple[int, int]) -> None:
    if client.on_progress is not None:
        from .outbox import Progress

        client.on_progress(Progress(upload.kind, offset, upload.length, *place))


def send(client: Client, queue: UploadQueue, upload: Upload, chunk_size: int = DEFAULT_CHUNK,
         place: tuple[int, int] = (1, 1)) -> bool:
    """Upload one queued blob to the end, resuming where the server stands; True when it is there.

    `place` is (its number, how many) among this run's uploads, for `on_progress`.
    Temporary trouble (a 5xx, a server without `/files` yet, a locked upload)
    leaves it queued with the reason; a refusal of the bytes themselves
    (digest mismatch, not an image) marks it `failed`. Connection errors
    propagate: the offset reached so far is saved after every chunk.
    """
    path = Path(upload.path)
    if not path.is_file() or path.stat().st_size != upload.length:
        queue.update(upload.sha256, state="failed", error="the prepared file is gone")
        return False
    url, offset, restarts = upload.url, upload.offset, 0
    while True:
        if url is None:
            resp = client.session.tus("POST", "/files", {
                "Upload-Length": str(upload.length),
                "Upload-Metadata": f"sha256 {_b64(upload.sha256)},content_type {_b64(upload.content_type)}",
            })
            if resp.status_code != 201 or "Location" not in resp.headers:
                return _stop(queue, upload, resp)
            url, offset = resp.headers["Location"], _offset(resp) or 0
            queue.update(upload.sha256, url=url, offset=offset, state="uploading", error=None)
        else:
            resp = client.session.tus("HEAD", url)
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
        _report(client, upload, offset, place)
        while offset < upload.length:
            with path.open("rb") as f:
                f.seek(offset)
                chunk = f.read(chunk_size)
            resp = client.session.tus("PATCH", url, {
                "Content-Type": "application/offset+octet-stream", "Upload-Offset": str(offset),
            }, chunk)
            reached = _offset(resp)
            if resp.status_code in (200, 204) and reached is not None and reached > offset:
                offset = reached
                queue.update(upload.sha256, offset=offset)
                _report(client, upload, offset, place)
                continue
            if resp.status_code in (404, 409, 410):
                break  # the server stands elsewhere, or forgot the upload: ask again
            return _stop(queue, upload, resp)
        else:
            queue.update(upload.sha256, offset=upload.length, state="done", error=None,
                         done_ms=client._wall())
            return True
        if resp.status_code in (404, 410):
            if restarts >= _MAX_RESTARTS:
                return _stop(queue, upload, resp)
            restarts += 1
            url, offset = None, 0
            queue.update(upload.sha256, url=None, offset=0)


def _stop(queue: UploadQueue, upload: Upload, resp: httpx.Response) -> bool:
    permanent = resp.status_code in _PERMANENT
    values: dict[str, Any] = {"error": refusal(resp)}
    if permanent:
        # The bytes were refused: a new upload of them may be tried after fixing the cause.
        values.update(state="failed", url=None, offset=0)
    queue.update(upload.sha256, **values)
    return False


def upload_waiting(client: Client, kinds: Sequence[str] = ("sheet", "image"),
                   chunk_size: int = DEFAULT_CHUNK, only: Iterable[str] | None = None) -> int:
    """Send every queued upload of these kinds (of these hashes, with `only`); returns how many
    reached the server."""
    queue = client.upload_queue
    done = 0
    waiting = queue.listed(("queued", "uploading"), kinds)
    if only is not None:
        wanted = set(only)
        waiting = [u for u in waiting if u.sha256 in wanted]
    for index, upload in enumerate(waiting, start=1):
        done += send(client, queue, upload, chunk_size, (index, len(waiting)))
    return done


# -- photos ------------------------------------------------------------------------


@dataclass
class Photo:
    """A photo shrunk for the upload: JPEG bytes and what its EXIF said."""

    data: bytes
    width: int
    height: int
    taken_at: str | None  # protocol timestamp (UTC), from EXIF DateTimeOriginal


def _taken_at(exif: Image.Exif, tz: str | None) -> str | None:
    """DateTimeOriginal as a UTC timestamp: with OffsetTimeOriginal when the camera wrote it,
    else in the site's time zone (cameras write local time)."""
    ifd = exif.get_ifd(ExifTags.IFD.Exif)
    text = ifd.get(ExifTags.Base.DateTimeOriginal) or exif.get(ExifTags.Base.DateTime)
    if not isinstance(text, str):
        return None
    try:
        local = datetime.strptime(text.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    offset = ifd.get(ExifTags.Base.OffsetTimeOriginal)
    zone: tzinfo = site_zone(tz)
    if isinstance(offset, str) and len(offset.strip("\x00 ")) == 6:
        try:
            sign = -1 if offset[0] == "-" else 1
            hours, minutes = int(offset[1:3]), int(offset[4:6])
            zone = timezone(sign * timedelta(hours=hours, minutes=minutes))
        except ValueError:  # an offset that is not one: the site's time zone
            pass
    ms = int(local.replace(tzinfo=zone).timestamp() * 1000)
    return hlc.format_ts(ms) if ms >= 0 else None


def _kept_exif(exif: Image.Exif) -> Image.Exif:
    """A minimal EXIF: capture time and GPS, nothing else (orientation is applied to the pixels)."""
    kept = Image.Exif()
    source = exif.get_ifd(ExifTags.IFD.Exif)
    times = {int(tag): source[tag] for tag in (ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal)
             if isinstance(source.get(tag), str)}
    if times:
        kept.get_ifd(ExifTags.IFD.Exif).update(times)
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    if gps:
        kept.get_ifd(ExifTags.IFD.GPSInfo).update(gps)
    return kept


def shrink_photo(data: bytes, tz: str | None = None) -> Photo:
    """Shrink a JPEG or PNG photo for a weak link: long edge at most 2,000 px, JPEG quality 85,
    EXIF orientation applied, capture time and GPS kept. Raises InvalidRequest for anything else.

    Broken EXIF never costs the photo: what cannot be read is left out.
    """
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as opened:
            opened.load()
            try:
                exif = opened.getexif()
                taken_at = _taken_at(exif, tz)
                kept = _kept_exif(exif)
            except Exception:  # malformed EXIF of any kind: keep the pixels
                exif, taken_at, kept = Image.Exif(), None, Image.Exif()
            try:
                image = ImageOps.exif_transpose(opened)
            except Exception:
                image = opened.copy()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        why = _unreadable(data, exc, ("JPEG", "PNG"))
        raise E.InvalidRequest(f"not a JPEG or PNG photo ({why})") from None
    if image.mode not in ("RGB", "L"):
        background = Image.new("RGB", image.size, "white")
        rgba = image.convert("RGBA")
        background.paste(rgba, mask=rgba.getchannel("A"))
        image = background
    image.thumbnail((MAX_EDGE, MAX_EDGE), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    try:
        image.save(out, "JPEG", quality=JPEG_QUALITY, exif=kept)
    except Exception:  # EXIF values Pillow cannot write back: the photo goes without them
        out = io.BytesIO()
        image.save(out, "JPEG", quality=JPEG_QUALITY)
    return Photo(out.getvalue(), image.width, image.height, taken_at)


def _site_tz(client: Client, inspection: dict[str, Any]) -> str | None:
    site = client.get("sites", str(inspection["fields"].get("site_id")))
    tz = site["fields"].get("tz") if site else None
    return tz if isinstance(tz, str) else None


def add_photo(client: Client, inspection_id: str, device_id: str | None, path: Path | str,
              stage: str = "after", caption: str | None = None) -> str:
    """Shrink a photo, queue its upload, and write its `photos` row; returns the row's id."""
    inspection = client.get("inspections", inspection_id)
    if inspection is None or inspection["deleted"]:
        raise E.NotFound(f"no inspection {inspection_id} on this client")
    photo = shrink_photo(Path(path).read_bytes(), _site_tz(client, inspection))
    sha = hashlib.sha256(photo.data).hexdigest()
    # One row per photo and device: adding the same photo again changes that row, not a new one.
    photo_id = str(uuid.uuid5(schema.NS, f"photo/{inspection_id}/{device_id or ''}/{sha}"))
    fields: dict[str, Any] = {"inspection_id": inspection_id, "device_id": device_id, "sha256": sha,
                              "content_type": "image/jpeg", "bytes": len(photo.data), "taken_at": photo.taken_at,
                              "caption": caption, "stage": stage}
    # Check the row before queueing bytes, so a refused row leaves no upload behind.
    client._validate("photos", photo_id, {k: v for k, v in fields.items() if v is not None}, False,
                     client._actor())
    client.upload_queue.add(photo.data, "image/jpeg", "image", client._wall())
    client.create("photos", photo_id, {k: v for k, v in fields.items() if v is not None})
    return photo_id


# -- the sheet and signatures ---------------------------------------------------------


def sheet_checks(client: Client, inspection_id: str, devices: Sequence[str] | None = None) -> sheet.Checks:
    """The checks on the sheet as this client shows them (pulled rows with the outbox laid over)."""
    wanted = set(devices) if devices is not None else None
    return {
        str(c["fields"]["device_id"]): sheet.check_fields(c["fields"])
        for c in client.rows("device_checks")
        if c["fields"].get("inspection_id") == inspection_id and c["fields"].get("device_id")
        and (wanted is None or c["fields"]["device_id"] in wanted)
    }


def show_sheet(client: Client, inspection_id: str) -> dict[str, Any]:
    """The sheet the technician and the customer look at: the inspection, its site, and every
    device with its check (None while unchecked), by code."""
    inspection = client.get("inspections", inspection_id)
    if inspection is None or inspection["deleted"]:
        raise E.NotFound(f"no inspection {inspection_id} on this client")
    site_id = inspection["fields"].get("site_id")
    site = client.get("sites", str(site_id))
    checks = sheet_checks(client, inspection_id)
    sealed = {
        str(c["fields"]["device_id"]): c["fields"].get("sealed_by") for c in client.rows("device_checks")
        if c["fields"].get("inspection_id") == inspection_id
    }
    devices = [
        d for d in client.rows("devices")
        if d["fields"].get("site_id") == site_id
        and (d["fields"].get("status", "active") == "active" or d["id"] in checks)
    ]
    devices.sort(key=lambda d: (str(d["fields"].get("code") or ""), d["id"]))
    return {
        "inspection": {"id": inspection_id, **inspection["fields"]},
        "site": {"id": site_id, **(site["fields"] if site else {})},
        "devices": [
            {"device_id": d["id"], "code": d["fields"].get("code"), "name": d["fields"].get("name"),
             "kind": d["fields"].get("kind"), "location": d["fields"].get("location"),
             "check": checks.get(d["id"]), "sealed_by": sealed.get(d["id"])}
            for d in devices
        ],
        "checks": len(checks),
        "sheet_sha256": sheet.sheet_sha256(inspection_id, checks),
    }


def render_strokes(strokes: Sequence[Sequence[Sequence[float]]], width: int = 3) -> bytes:
    """Pen strokes (each a list of (x, y) points on the pad) drawn black on white, as a PNG."""
    points = [(float(p[0]), float(p[1])) for stroke in strokes for p in stroke]
    if not points:
        raise E.InvalidRequest("a signature needs at least one stroke with a point")
    if any(len(p) != 2 for stroke in strokes for p in stroke):
        raise E.InvalidRequest("a point is (x, y)")
    if min(min(x, y) for x, y in points) < 0 or max(max(x, y) for x, y in points) > MAX_CANVAS:
        raise E.InvalidRequest(f"points lie on the pad: 0 to {MAX_CANVAS}")
    size = (int(max(x for x, _ in points)) + 2 * width + 1, int(max(y for _, y in points)) + 2 * width + 1)
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        line = [(float(p[0]), float(p[1])) for p in stroke]
        if len(line) == 1:
            x, y = line[0]
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=0)
        elif line:
            draw.line(line, fill=0, width=width, joint="curve")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


_MAGIC = {b"\x89PNG\r\n\x1a\n": "PNG", b"\xff\xd8\xff": "JPEG", b"GIF8": "GIF", b"%PDF": "PDF",
          b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF"}


def image_format(data: bytes) -> str | None:
    """What the first bytes say a file is (PNG, JPEG, ...), or None when they say nothing known."""
    found = [name for magic, name in _MAGIC.items() if data.startswith(magic)]
    if not found and data[4:12] in (b"ftypheic", b"ftypheix", b"ftypmif1"):
        return "HEIC"
    return found[0] if found else None


def _unreadable(data: bytes, exc: Exception, accepted: Sequence[str]) -> str:
    """Why the image cannot be read, in words (Pillow's own message names a BytesIO object)."""
    if isinstance(exc, Image.DecompressionBombError):
        return "too many pixels"
    kind = image_format(data)
    if kind is None:
        return "its content is not an image this client reads" if data else "the file is empty"
    return f"a damaged {kind} file" if kind in accepted else f"it is a {kind} file"


def _check_png(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        why = _unreadable(data, exc, ("PNG",))
        raise E.InvalidRequest(f"the signature image is not a PNG ({why})") from None


def _check_sheet(client: Client, inspection_id: str, checks: sheet.Checks) -> None:
    """Refuse to sign a sheet the server will not accept as it stands: a check without an
    outcome or without a required note, or a pending change the server will reject."""
    if not checks:
        raise E.InvalidRequest("there is no check on this sheet to sign")
    for device_id, fields in sorted(checks.items()):
        outcome = fields.get("outcome")
        if outcome is None:
            raise E.InvalidRequest(f"the check of device {device_id} has no outcome yet", reason="invalid_field")
        if outcome in NOTE_REQUIRED and not str(fields.get("note") or "").strip():
            raise E.InvalidRequest(f"the check of device {device_id} needs a note ({outcome})",
                                   reason="invalid_field")
    actor = client._actor()

    def lookup(collection: str, row_id: str) -> RowState:
        found = client.get(collection, row_id)
        return RowState(collection, row_id, dict(found["fields"]) if found else {})

    rules = Rules(template_items=client._template_items, unchecked=lambda _: 0)
    ids = {schema.device_check_id(inspection_id, d): d for d in checks}
    for entry in client.pending():
        if entry["collection"] != "device_checks" or entry["id"] not in ids:
            continue
        # Against the row as the server last said it was: a seal the client learnt of
        # after recording the change rejects it there.
        pulled = client.db.row("device_checks", entry["id"])
        row = None if pulled is None else RowState("device_checks", entry["id"], pulled[0], deleted=pulled[1])
        rejection, _, _ = validate("device_checks", entry["id"], entry["fields"], entry["delete"], row, actor,
                                   lookup, rules)
        if rejection is not None:
            reason, detail = rejection
            raise E.InvalidRequest(
                f"the pending change to the check of device {ids[entry['id']]} will be rejected: {detail}",
                reason=reason)


def sign(client: Client, inspection_id: str, signer_name: str, signer_role: str = "customer",
         strokes: Sequence[Sequence[Sequence[float]]] | None = None, png: bytes | None = None,
         devices: Sequence[str] | None = None) -> str:
    """Sign the sheet (all its checks, or those of `devices`); returns the signature's id.

    Queues the canonical sheet and the signature image for upload, then
    writes the `signatures` row, whole, in one change.
    """
    if signer_role not in ("customer", "technician"):
        raise E.InvalidRequest("signer_role is customer or technician")
    if not signer_name.strip():
        raise E.InvalidRequest("the signer's name is needed")
    if (strokes is None) == (png is None):
        raise E.InvalidRequest("a signature is either pen strokes or a PNG")
    inspection = client.get("inspections", inspection_id)
    if inspection is None or inspection["deleted"]:
        raise E.NotFound(f"no inspection {inspection_id} on this client")
    checks = sheet_checks(client, inspection_id, devices)
    _check_sheet(client, inspection_id, checks)
    image = render_strokes(strokes) if strokes is not None else png
    assert image is not None
    _check_png(image)
    sig_id = str(uuid.uuid4())
    fields: dict[str, Any] = {
        "inspection_id": inspection_id, "signer_name": signer_name.strip(), "signer_role": signer_role,
        "signed_at": hlc.format_ts(client._wall()), "image_sha256": hashlib.sha256(image).hexdigest(),
        "sheet_sha256": sheet.sheet_sha256(inspection_id, checks),
    }
    client._validate("signatures", sig_id, fields, False, client._actor())
    now = client._wall()
    client.upload_queue.add(sheet.sheet_bytes(inspection_id, checks), "application/json", "sheet", now)
    client.upload_queue.add(image, "image/png", "image", now)
    client.create("signatures", sig_id, fields)
    return sig_id

"""Photos: shrunk on the phone for a weak link, then queued for upload with their `photos` row."""

from __future__ import annotations

import hashlib
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import ExifTags, Image, ImageOps, UnidentifiedImageError

from sync import errors as E
from sync import hlc, schema
from sync.periods import site_zone

from ..labels import zone_of

if TYPE_CHECKING:
    from ..client import Client

MAX_EDGE = 2000
JPEG_QUALITY = 85

# -- photos ------------------------------------------------------------------------


@dataclass
class Photo:
    """A photo shrunk for the upload: JPEG bytes and what its EXIF said."""

    data: bytes
    width: int
    height: int
    taken_at: str | None  # protocol timestamp (UTC), from EXIF DateTimeOriginal


def _taken_at(exif: Image.Exif, zone: tzinfo) -> str | None:
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


def _decode_small(opened: Image.Image) -> None:
    """Decode a JPEG at the smallest of its DCT scales (1/2, 1/4, 1/8) still at least the size it is shrunk to,
    then load it: a 12 MP camera photo decodes at 2,000 × 1,500, a quarter of the pixels (and of the memory), not
    at full size to be resized after (0.45 s and 130 MB more at peak, against 0.1 s and 25 MB). No scale is below
    the long edge kept, so the photo stored is as large; the scaled decode stands in for the Lanczos resize, a
    little softer on fine detail. PNG and photos within the long edge load as they are."""
    width, height = opened.size
    edge = max(width, height)
    if opened.format == "JPEG" and edge > MAX_EDGE:
        opened.draft(None, (-(-width * MAX_EDGE // edge), -(-height * MAX_EDGE // edge)))
    opened.load()


def shrink_photo(data: bytes, zone: tzinfo | None = None) -> Photo:
    """Shrink a JPEG or PNG photo for a weak link: long edge at most 2,000 px, JPEG quality 85,
    EXIF orientation applied, capture time and GPS kept (a capture time without its offset read on the
    site's clock, `zone`; the users' default without one). Raises InvalidRequest for anything else.

    Broken EXIF never costs the photo: what cannot be read is left out.
    """
    try:
        with Image.open(io.BytesIO(data), formats=["JPEG", "PNG"]) as opened:
            _decode_small(opened)
            try:
                exif = opened.getexif()
                taken_at = _taken_at(exif, zone or site_zone(None))
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


def add_photo(client: Client, inspection_id: str, device_id: str | None, path: Path | str,
              stage: str = "after", caption: str | None = None) -> str:
    """Shrink a photo, queue its upload, and write its `photos` row; returns the row's id."""
    inspection = client.get("inspections", inspection_id)
    if inspection is None or inspection["deleted"]:
        raise E.NotFound(f"no inspection {inspection_id} on this client")
    photo = shrink_photo(Path(path).read_bytes(), zone_of(client.db, inspection["fields"].get("site_id")))
    sha = hashlib.sha256(photo.data).hexdigest()
    photo_id = schema.photo_id(inspection_id, device_id, sha)
    fields: dict[str, Any] = {"inspection_id": inspection_id, "device_id": device_id, "sha256": sha,
                              "content_type": "image/jpeg", "bytes": len(photo.data), "taken_at": photo.taken_at,
                              "caption": caption, "stage": stage}
    # Check the row before queueing bytes, so a refused row leaves no upload behind.
    client.check("photos", photo_id, {k: v for k, v in fields.items() if v is not None}, False)
    with client.upload_queue.adding([(photo.data, "image/jpeg", "image")], client.wall()):
        client.create("photos", photo_id, {k: v for k, v in fields.items() if v is not None})
    return photo_id


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

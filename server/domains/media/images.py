"""Every Pillow call of the server: checking uploaded images, reading EXIF, making thumbnails.

An image is accepted only if Pillow, restricted to JPEG and PNG, decodes all
of it (`load()`: `verify()` passes truncated files) within the pixel limit.
EXIF is read after the pixels decode and never refuses a photo: a broken or
missing EXIF block only leaves the capture time, orientation or position empty.
A sequential JPEG is checked as its bytes arrive (`JpegCheck`), libjpeg
reading its header and every marker but not the entropy-coded bytes between
them, which cannot change its answer; the whole decode answers any other
image, and every JPEG that check does not accept.
"""

from __future__ import annotations

import io
import math
import os
import re
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from PIL import ExifTags, Image, ImageFile, ImageOps

from sync import errors as E
from sync import hlc
from sync.periods import site_zone

FORMATS = {"image/jpeg": "JPEG", "image/png": "PNG"}
SHEET = "application/json"
CONTENT_TYPES = (*FORMATS, SHEET)

# A PNG decodes whole (a 50 MP RGBA one is 200 MB): one at a time, so uploads
# finishing together never hold several. A JPEG decodes at 1/8 scale (below) in
# a few MB: as many at once as there are processors.
_SLOTS = {"PNG": threading.BoundedSemaphore(1), "JPEG": threading.BoundedSemaphore(max(2, os.cpu_count() or 2))}

# A PNG has no reduced decode: all of it is in memory, 4 bytes a pixel, and inflating it is
# the slow part of a thumbnail. Photos are JPEG; a PNG is a signature or a screenshot, so its
# budget is lower than `max_image_pixels` (issue 9, finding 7): 16 MP is 64 MB decoded.
PNG_MAX_PIXELS = 16_000_000

_EXIF_IFD = ExifTags.IFD.Exif
_GPS_IFD = ExifTags.IFD.GPSInfo
_ORIENTATION = 0x0112
_DATETIME_ORIGINAL, _DATETIME_DIGITIZED = 36867, 36868
_OFFSET_ORIGINAL, _OFFSET_DIGITIZED = 36881, 36882
_SUBSEC_ORIGINAL, _SUBSEC_DIGITIZED = 37521, 37522


@dataclass(frozen=True)
class ImageInfo:
    """What the server keeps about an image besides its bytes."""

    width: int
    height: int
    taken_local: str | None = None  # EXIF capture time as the camera's clock shows it, no zone
    taken_at: str | None = None  # the same as a protocol timestamp, when EXIF gives the UTC offset
    orientation: int | None = None
    lat: float | None = None
    lon: float | None = None


# A sheet snapshot is checked by server/domains/signatures/service.py (`check_upload`), with the rules sealing reads it by.


def check_image(path: Path, content_type: str, max_pixels: int) -> ImageInfo:
    """The image's info; InvalidImage or ImageTooLarge if it is not a good one. A JPEG that `JpegCheck`
    accepts is not decoded any further: the whole decode would accept it too."""
    fmt = FORMATS.get(content_type)
    if fmt is None:
        raise E.UnsupportedMediaType(f"{content_type} is not an image type this server accepts")
    if fmt == "JPEG" and (info := _accepted_as_read(path, max_pixels)) is not None:
        return info
    return decode_image(path, content_type, max_pixels)


def decode_image(path: Path, content_type: str, max_pixels: int) -> ImageInfo:
    """Decode the whole image once; raise InvalidImage or ImageTooLarge if it is not a good one."""
    if ImageFile.LOAD_TRUNCATED_IMAGES:  # a library turned it on for the whole process: never for uploads
        ImageFile.LOAD_TRUNCATED_IMAGES = False
    fmt = FORMATS[content_type]
    if fmt == "PNG":
        max_pixels = min(max_pixels, PNG_MAX_PIXELS)
    with _SLOTS[fmt], warnings.catch_warnings():
        # Pillow warns about corrupt EXIF while opening a JPEG: not the pixels' fault, so
        # ignored; a decompression bomb's warning is an error.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(path, formats=[fmt]) as img:
                width, height = img.size
                if width * height > max_pixels:
                    raise E.ImageTooLarge(
                        f"{width}×{height} is {width * height:,} pixels; at most {max_pixels:,}",
                        max_pixels=max_pixels,
                    )
                if fmt == "JPEG":
                    # libjpeg still decodes every scan of the file, only into 1/8 of the
                    # pixels, and in grey (no upsampling or colour conversion of the chroma,
                    # whose blocks are still read): a 12 MP photo costs 0.2 MB instead of
                    # 36 MB and a fifth less time, and a truncated or corrupt file fails
                    # exactly as at full size.
                    img.draft("L", (max(1, width // 8), max(1, height // 8)))
                img.load()
                info = _exif(img)
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
            raise E.ImageTooLarge(str(exc), max_pixels=max_pixels) from None
        except E.SyncError:
            raise
        except Exception as exc:  # UnidentifiedImageError, OSError (truncated), SyntaxError, ValueError...
            raise E.InvalidImage(f"not a complete {fmt} image: {exc}") from None
    return ImageInfo(width=width, height=height, **info)


_DECODE_BLOCK = 64 * 1024
_READ_BLOCK = 1 << 20
# In a scan's entropy-coded data, a marker is 0xFF and a byte neither 0 (a stuffed 0xFF data byte) nor
# 0xFF (a fill byte before the marker): a restart marker (RSTn, 0xD0-0xD7) inside it, any other its end.
_MARKER = re.compile(rb"\xff[^\x00\xff]")
_SCAN_END = re.compile(rb"\xff[^\x00\xff\xd0-\xd7]")
_RESTARTS = range(0xD0, 0xD8)
# The segments a header this check reads may hold: a sequential Huffman frame (SOF0, SOF1), Huffman and
# quantisation tables, the restart interval, application data, comments, and last the scan's (SOS).
_HEADER_SEGMENTS = frozenset({0xC0, 0xC1, 0xC4, 0xDB, 0xDD, 0xFE, *range(0xE0, 0xF0), 0xDA})


class JpegCheck:
    """A JPEG checked as its bytes arrive, with the answer of the whole decode (`decode_image`).

    libjpeg, as Pillow drives it, never refuses a scan for its entropy-coded
    bytes: a bad Huffman code, a coefficient out of range or a segment that
    stops short are warnings (Pillow ignores them) and libjpeg fills in grey.
    What it refuses is the header, the markers (restart markers out of turn,
    a second scan in a one-scan image, an unknown marker after it) and an
    image that ends before it is complete. So libjpeg is given the header,
    each restart marker and, once every byte is in, all of them from the
    marker that ends the scan to the end of the image at once; not the bytes
    between the markers, which are only searched for them (`re`, 0.3 ms/MB
    against libjpeg's 7 ms/MB of Huffman decoding). It meets the same markers
    at the same points of the scan, filling every restart interval in grey,
    and reads at least as far past the scan as the whole decode, which stops
    as soon as the picture is complete and its buffer empty.

    Only a JPEG whose header is one segment after another (`_scan_start`) of a
    sequential Huffman frame whose first scan holds every component is
    checked this way (a progressive or multi-scan one would make libjpeg hold
    every coefficient); a piece with more restart markers than `_dense` allows
    goes to libjpeg whole, its bytes decoded. The answer counts only as an
    acceptance (`result`): anything else, a header longer than `HEAD_BYTES`,
    more than `TAIL_BYTES` after a scan that ends otherwise than with the end
    of the image, or any trouble on the way, and the file is decoded whole at
    the end, so a refusal and its reason are always the whole decode's
    (tests/server/test_jpeg_check.py compares the two over hundreds of
    damaged JPEGs).
    """

    HEAD_BYTES = 256 * 1024  # EXIF is at most 64 KiB; a photo's header ends long before this
    TAIL_BYTES = 64 * 1024  # kept after the scan when it does not end with the end of the image

    def __init__(self, max_pixels: int) -> None:
        self.max_pixels = max_pixels
        self.fed = 0  # bytes given to `feed`, the upload's offset while this check is alive
        self.decoded = 0  # bytes given to libjpeg
        self.given_up = False
        self.done = False  # libjpeg finished the image
        self.in_scan = False  # between the header and the marker that ends the scan
        self._head: bytes | None = b""
        self._image: Any = None
        self._decoder: Any = None
        self._rest = b""
        self._carry = b""  # a 0xFF that ended the last piece: the first byte of a marker, or of a stuffed 0xFF
        self._tail: bytearray | None = None  # from the marker that ends the scan on, for `result`
        self._ended = False  # that marker is the end of the image: the tail is complete
        self._size = (0, 0)

    def feed(self, data: bytes | bytearray) -> None:
        """Check these next bytes of the file; a check that gives up stops checking."""
        self.fed += len(data)
        if not (self.given_up or self.done):
            self._guarded(self._start if self._decoder is None else self._scan, data)

    def _guarded(self, step: Any, data: bytes | bytearray | memoryview) -> None:
        try:
            with _SLOTS["JPEG"], warnings.catch_warnings():
                warnings.simplefilter("ignore")
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                step(data)
        except Exception:  # checked again, whole, at the end: that check says what is wrong
            self.give_up()

    def _start(self, data: bytes | bytearray) -> None:
        assert self._head is not None
        head = self._head = self._head + data
        if len(head) > self.HEAD_BYTES + len(data):
            raise ValueError("the header is too long to be checked as it arrives")
        start = _scan_start(head)  # ValueError: not a JPEG this check reads
        if start is None:
            return  # not all of the header yet
        img = Image.open(io.BytesIO(head), formats=["JPEG"])
        width, height = img.size
        if width * height > self.max_pixels or len(img.tile) != 1:
            raise ValueError("not a JPEG this check reads")
        self._size = (width, height)
        img.draft("L", (max(1, width // 8), max(1, height // 8)))  # as decode_image decodes it
        img.load_prepare()
        name, extents, _offset, args = img.tile[0]
        img.tile = []
        # What Pillow's own ImageFile.Parser does, which declines JPEG (it reads through `load_read`).
        self._decoder = Image._getdecoder(img.mode, name, args, img.decoderconfig)
        self._decoder.setimage(img.im, extents)
        self._image, self._head, self.in_scan = img, None, True
        self._decode(memoryview(head)[:start])
        self._scan(memoryview(head)[start:])

    def _scan(self, data: bytes | bytearray | memoryview) -> None:
        """The file's next bytes: inside the scan, its markers alone (unless `_dense`); after it, kept."""
        if self._tail is not None:
            if not self._ended:
                self._keep(data)
            return
        piece = self._carry + data if self._carry else data
        restarts: list[bytes] = []
        for found in _MARKER.finditer(piece):
            if piece[found.start() + 1] not in _RESTARTS:  # the scan's end
                self._decode(b"".join(restarts))
                self._end_scan(piece, found.start(), found.start())
                return
            restarts.append(bytes(found.group()))
            if len(restarts) > _dense(len(piece)):
                self._decode_all(piece, found.end())
                return
        # A 0xFF at the end is the first byte of a marker or of a stuffed 0xFF data byte: it waits for
        # the next piece, which says which.
        self._carry = b"\xff" if piece[-1:] == b"\xff" else b""
        self._decode(b"".join(restarts))

    def _decode_all(self, piece: bytes | bytearray | memoryview, searched: int) -> None:
        """A piece dense with restart markers, all of it to libjpeg, as the whole decode gives it."""
        end = _SCAN_END.search(piece, searched)
        if end is not None:
            # A few bytes before the scan's end wait with it: libjpeg must not finish the picture by
            # its last blocks' bytes and call the image done before it is given that end.
            keep = max(0, end.start() - 4096)
            self._decode(memoryview(piece)[:keep])
            self._end_scan(piece, keep, end.start())
            return
        held = piece[-1:] == b"\xff"  # as in `_scan`
        self._carry = b"\xff" if held else b""
        self._decode(memoryview(piece)[:len(piece) - held])

    def _end_scan(self, piece: bytes | bytearray | memoryview, at: int, end: int) -> None:
        """The scan ended with the marker at `end`: what follows from `at` is kept for `result`. If that
        marker is the end of the image, libjpeg reads nothing after it, nor does the whole decode, so
        nothing more is kept (an Ultra HDR gain map, a motion photo's video)."""
        self.in_scan, self._carry, self._tail = False, b"", bytearray()
        self._ended = piece[end + 1] == 0xD9
        self._keep(memoryview(piece)[at:end + 2] if self._ended else memoryview(piece)[at:])

    def _keep(self, data: bytes | bytearray | memoryview) -> None:
        assert self._tail is not None
        self._tail += data
        if len(self._tail) > self.TAIL_BYTES:
            raise ValueError("too much after the scan to keep")

    def _decode(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        self.decoded += len(view)
        # In blocks, as Pillow's own load() reads: no copy of a whole PATCH's piece is made.
        for start in range(0, len(view), _DECODE_BLOCK):
            block = self._rest + view[start:start + _DECODE_BLOCK]
            consumed, error = self._decoder.decode(block)
            if consumed < 0:
                if error < 0:
                    raise OSError(f"decoder error {error}")
                self.done, self._rest = True, b""
                return
            self._rest = block[consumed:]

    def give_up(self) -> None:
        """Stop, and let go of the decoder: freed with its last reference (never cleaned up here,
        so another thread dropping a check can never pull libjpeg's state from under a decode)."""
        self.given_up, self._head, self._image, self._decoder, self._rest = True, None, None, None, b""
        self._tail = None

    @property
    def decoding(self) -> bool:
        """The header was read and every byte since checked without trouble."""
        return self._image is not None and not self.given_up

    def result(self) -> ImageInfo | None:
        """Once every byte was fed: the image's info if libjpeg, given all that follows the scan at once,
        finishes the image; None when this check cannot tell (the file is then decoded whole)."""
        if self.decoding and not self.done and self._tail is not None:  # past the scan, not finished yet
            tail, self._tail = self._tail, None
            self._guarded(self._decode, tail)  # gives up on trouble
            if self.done:
                width, height = self._size
                return ImageInfo(width=width, height=height, **_exif(self._image))
        self.give_up()
        return None


def _accepted_as_read(path: Path, max_pixels: int) -> ImageInfo | None:
    """A JPEG file's info if `JpegCheck`, fed the file, accepts it; None when the whole decode must answer."""
    check = JpegCheck(max_pixels)
    with path.open("rb") as f:
        while not (check.given_up or check.done) and (block := f.read(_READ_BLOCK)):
            check.feed(block)
    return check.result()


def _dense(length: int) -> int:
    """How many restart markers a piece of `length` bytes may hold and still be searched rather than decoded:
    each costs a step in Python (a camera's one a row of blocks is well within; one every block is not)."""
    return 64 + length // 4096


def _scan_start(head: bytes) -> int | None:
    """Where the entropy-coded data of a JPEG's first scan begins, once `head` holds the whole header (None
    before). ValueError unless the header is one segment straight after another (no fill bytes, nothing
    between them, as libjpeg then reads it too) of a sequential Huffman frame of 8-bit samples whose first
    scan holds every component."""
    if len(head) >= 2 and head[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG")
    at, components = 2, None
    while at + 4 <= len(head):
        marker, length = head[at + 1], int.from_bytes(head[at + 2:at + 4], "big")
        if head[at] != 0xFF or length < 2 or marker not in _HEADER_SEGMENTS:
            raise ValueError("a header this check does not read")
        if marker in (0xC0, 0xC1):
            if components is not None:
                raise ValueError("two frames")
            if at + 10 > len(head):
                return None
            if head[at + 4] != 8:
                raise ValueError("not 8-bit samples")
            components = head[at + 9]
        elif marker == 0xDA:
            if at + 5 > len(head):
                return None
            if components is None or head[at + 4] != components:
                raise ValueError("a first scan without every component")
            return at + 2 + length if at + 2 + length <= len(head) else None
        at += 2 + length
    return None


def _exif(img: Image.Image) -> dict[str, Any]:
    """Capture time, orientation and GPS position; any part that does not read is left out."""
    out: dict[str, Any] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Pillow warns about corrupt EXIF; it is not the photo's fault
        try:
            exif = img.getexif()
        except Exception:
            return out
        for read in (_orientation, _capture_time, _position):
            try:
                out.update(read(exif))
            except Exception:  # each part on its own: one broken tag costs only itself
                continue
    return out


def _orientation(exif: Image.Exif) -> dict[str, Any]:
    value = exif.get(_ORIENTATION)
    if isinstance(value, int) and 1 <= value <= 8:
        return {"orientation": value}
    return {}


def _capture_time(exif: Image.Exif) -> dict[str, Any]:
    sub = exif.get_ifd(_EXIF_IFD)
    for stamp_tag, offset_tag, subsec_tag in (
        (_DATETIME_ORIGINAL, _OFFSET_ORIGINAL, _SUBSEC_ORIGINAL),
        (_DATETIME_DIGITIZED, _OFFSET_DIGITIZED, _SUBSEC_DIGITIZED),
    ):
        text = _text(sub.get(stamp_tag))
        if not text:
            continue
        try:
            moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
        except ValueError:
            continue
        subsec = _text(sub.get(subsec_tag))
        if subsec and _digits(subsec):
            moment = moment.replace(microsecond=int(subsec[:3].ljust(3, "0")) * 1000)
        out: dict[str, Any] = {"taken_local": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"}
        offset = _utc_offset(_text(sub.get(offset_tag)))
        if offset is not None:
            out["taken_at"] = _protocol_ts(moment.replace(tzinfo=offset))
        return out
    return {}


def _digits(text: str) -> bool:
    """ASCII digits only. str.isdigit() also takes "²" (an ASCII tag's byte 0xB2, which Pillow reads as Latin-1),
    and int() then raised: the photo lost its capture time for a stray byte in its sub-seconds or offset."""
    return text.isascii() and text.isdigit()


def _utc_offset(text: str | None) -> timezone | None:
    """`+08:00` as EXIF 2.31 writes it."""
    if not text or len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    hours, minutes = text[1:3], text[4:6]
    if not (_digits(hours) and _digits(minutes)) or int(hours) > 14 or int(minutes) > 59:
        return None
    delta = timedelta(hours=int(hours), minutes=int(minutes))
    return timezone(-delta if text[0] == "-" else delta)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _protocol_ts(moment: datetime) -> str:
    """An aware moment as the protocol writes it (`sync.hlc.format_ts`, to the millisecond below)."""
    return hlc.format_ts((moment - _EPOCH) // timedelta(milliseconds=1))


def local_to_protocol(taken_local: str, tz: str | None) -> str | None:
    """An EXIF wall-clock time read in a site's time zone (EXIF without an offset does not say its zone)."""
    try:
        moment = datetime.strptime(taken_local, "%Y-%m-%dT%H:%M:%S.%f")
    except ValueError:
        return None
    return _protocol_ts(moment.replace(tzinfo=site_zone(tz)))


def _position(exif: Image.Exif) -> dict[str, Any]:
    gps = exif.get_ifd(_GPS_IFD)
    lat = _degrees(gps.get(2), _text(gps.get(1)), "NS", 90)
    lon = _degrees(gps.get(4), _text(gps.get(3)), "EW", 180)
    # 0/0 is what cameras write without a fix, not a place in the Gulf of Guinea.
    if lat is None or lon is None or (lat == 0 and lon == 0):
        return {}
    return {"lat": lat, "lon": lon}


def _degrees(value: Any, ref: str | None, refs: str, limit: float) -> float | None:
    if not isinstance(value, tuple) or len(value) != 3 or ref not in tuple(refs):
        return None
    d, m, s = (float(part) for part in value)
    degrees = d + m / 60 + s / 3600
    if not math.isfinite(degrees) or min(d, m, s) < 0 or degrees > limit:
        return None
    return round(-degrees if ref == refs[1] else degrees, 7)


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", errors="replace")
    return value.strip("\x00 ") if isinstance(value, str) else None


def make_thumbnail(source: Path, content_type: str, size: int, target: Path) -> None:
    """A JPEG of at most size×size: EXIF orientation applied, no metadata at all."""
    fmt = FORMATS[content_type]
    with _SLOTS[fmt], warnings.catch_warnings():
        # Pillow warns about corrupt EXIF while opening a JPEG: not the pixels' fault, so
        # ignored; a decompression bomb's warning is an error.
        warnings.simplefilter("ignore")
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with Image.open(source, formats=[fmt]) as img:
            if fmt == "PNG" and img.width * img.height > PNG_MAX_PIXELS:
                # Stored before the PNG budget was lowered: never decoded again.
                raise E.ImageTooLarge(f"a PNG of {img.width}×{img.height} has no thumbnail; at most"
                                      f" {PNG_MAX_PIXELS:,} pixels", max_pixels=PNG_MAX_PIXELS)
            if fmt == "JPEG":
                img.draft("RGB", (size, size))
            img.load()
            try:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    upright = ImageOps.exif_transpose(img)
            except Exception:
                upright = img  # an orientation tag that does not read: show the pixels as stored
            upright.thumbnail((size, size), Image.Resampling.LANCZOS)
            if upright.mode in ("RGBA", "LA", "P", "PA"):
                rgba = upright.convert("RGBA")
                flat = Image.new("RGB", rgba.size, (255, 255, 255))
                flat.paste(rgba, mask=rgba.getchannel("A"))
                upright = flat
            elif upright.mode != "RGB":
                upright = upright.convert("RGB")
            # No exif=, icc_profile= or comment=, and no info to carry any over: no metadata.
            upright.info = {}
            upright.save(target, "JPEG", quality=82, optimize=True)

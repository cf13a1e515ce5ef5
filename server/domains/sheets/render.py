"""HTML from the Jinja2 templates of this folder, and PDF from that HTML (WeasyPrint).

The templates escape every value (autoescape): a note a phone sent with HTML in it prints as
text. WeasyPrint fetches nothing but the images handed to `pdf` (the signature images and the
QR code, by name): a `file:` or `http:` URL in a template or a value is refused, never read.

A 624-device sheet takes WeasyPrint about a second (a line of text per device: as table rows,
some 4,000 cells, it took five; each font face embedded costs a tenth of a second to read and
subset, so the templates use one), so each PDF is rendered once per content: `Rendered` keys
it by the digest of everything printed on it (the templates, the values, the images' bytes; not
the time it was generated) and serves it again from memory until something on it changes.
A sheet a customer's signature seals is rendered ahead, after the push commits (`hooks.py`).
The Chinese text is set in Noto Sans CJK SC (Debian's `fonts-noto-cjk`, SIL Open Font
License 1.1), found through fontconfig and embedded as a subset in every PDF.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
from pathlib import Path
from typing import Any

import jinja2
import segno
import weasyprint
from PIL import ImageFile

from sync import errors as E
from sync.messages import label, words

from ..signatures.service import SizedCache

# WeasyPrint turns on Pillow's process-wide LOAD_TRUNCATED_IMAGES when it is imported, which made
# every upload accept a truncated photo (server/domains/media/images.py): put back at once.
ImageFile.LOAD_TRUNCATED_IMAGES = False

TEMPLATES = Path(__file__).resolve().parent / "templates"
ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True,
                         undefined=jinja2.StrictUndefined)
ENV.globals.update(t=words("sheets"), label=label)
# WeasyPrint warns through logging about CSS it ignores; fontTools chatters at INFO.
logging.getLogger("fontTools").setLevel(logging.WARNING)

# At most this many sheets are rendered at once (a render takes a core); a request that waits
# longer than RENDER_WAIT_SECONDS for its turn is 429.
MAX_RENDERS = 2
RENDER_WAIT_SECONDS = 30.0
_renders = threading.BoundedSemaphore(MAX_RENDERS)

# Rendered PDFs kept in memory (per server process), the least recently used dropped past this;
# the reference site's 20 pages are 0.45 MB.
PDF_CACHE_BYTES = 32 * 1024 * 1024
# A change of a template is a change of every sheet printed from it (the catalogue's words change
# only with a new release, which starts with an empty cache).
TEMPLATES_DIGEST = hashlib.sha256(b"".join(
    p.name.encode() + b"\0" + p.read_bytes() for p in sorted(TEMPLATES.iterdir()))).hexdigest()

IMAGE_TYPES = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg"}


def html(template: str, **context: Any) -> str:
    return ENV.get_template(template).render(**context)


def qr_png(url: str) -> bytes:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="png", scale=4, border=2)
    return out.getvalue()


def image_type(data: bytes) -> str | None:
    return next((t for magic, t in IMAGE_TYPES.items() if data.startswith(magic)), None)


class _OwnImages(weasyprint.urls.URLFetcher):  # type: ignore[misc]  # untyped base
    """Serves `fieldsync:<name>` from the images given, and refuses every other URL unread."""

    def __init__(self, images: dict[str, bytes]) -> None:
        super().__init__(allowed_protocols=())
        self.images = images

    def fetch(self, url: str, headers: Any = None) -> weasyprint.urls.URLFetcherResponse:
        data = self.images.get(url.removeprefix("fieldsync:")) if url.startswith("fieldsync:") else None
        kind = image_type(data) if data is not None else None
        if data is None or kind is None:
            raise ValueError(f"a sheet loads only its own images, not {url[:80]!r}")
        return weasyprint.urls.URLFetcherResponse(url, data, {"Content-Type": kind})


def pdf(page: str, images: dict[str, bytes]) -> bytes:
    """The page as PDF; `images` are the only URLs it may load (`fieldsync:<name>`)."""
    if not _renders.acquire(timeout=RENDER_WAIT_SECONDS):
        raise E.TooManyRequests(f"{MAX_RENDERS} sheets are being printed; try again", limit=MAX_RENDERS)
    try:
        document = weasyprint.HTML(string=page, base_url="fieldsync:", url_fetcher=_OwnImages(images))
        return bytes(document.write_pdf())
    finally:
        _renders.release()


def content_digest(template: str, context: dict[str, Any], images: dict[str, bytes]) -> str:
    """The digest of everything a sheet prints: its templates, its values and its images."""
    h = hashlib.sha256(f"{TEMPLATES_DIGEST}\0{template}\0".encode())
    h.update(json.dumps(context, sort_keys=True, ensure_ascii=False, default=str).encode())
    for name in sorted(images):
        h.update(f"\0{name}\0{hashlib.sha256(images[name]).hexdigest()}".encode())
    return h.hexdigest()


class Rendered:
    """The sheets' PDFs, each rendered once per content (`content_digest`) and kept in memory
    (`PDF_CACHE_BYTES`, least recently used dropped); one per app (`Sheets`)."""

    def __init__(self, max_bytes: int = PDF_CACHE_BYTES) -> None:
        self.pdfs: SizedCache[bytes] = SizedCache(max_bytes)
        # One render per content at a time: a second request for the same sheet waits for the first.
        self._rendering: dict[str, threading.Lock] = {}
        self._lock = threading.Lock()
        self.renders = 0  # PDFs rendered (not served from memory): what tests and bench/console.py count

    def pdf(self, template: str, images: dict[str, bytes], printed_at: str, **context: Any) -> bytes:
        """The template's PDF; `printed_at`, the time it was generated, is not part of the content:
        a PDF served again shows when it was made."""
        key = content_digest(template, context, images)
        found, data = self.pdfs.get(key)
        if found and data is not None:
            return data
        with self._lock:
            turn = self._rendering.setdefault(key, threading.Lock())
        try:
            with turn:
                found, data = self.pdfs.get(key)
                if not (found and data is not None):
                    data = pdf(html(template, printed_at=printed_at, **context), images)
                    self.renders += 1
                    self.pdfs.put(key, len(data), data)
                return data
        finally:
            with self._lock:
                self._rendering.pop(key, None)

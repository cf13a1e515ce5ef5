"""Uploads (tus 1.0.0 core and creation at `/files`), blobs (`/blobs`), and what an inspection still waits for.

The tus wire format lives here: headers parsed into plain values for
`Uploads`, answers put back into headers. No SQL, no file handling, no Pillow.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import AsyncIterator
from typing import Any

from litestar import Litestar, Request, Response, get, head, patch, post, route
from litestar.datastructures import MutableScopeHeaders
from litestar.di import NamedDependency
from litestar.exceptions import InternalServerException
from litestar.openapi import ResponseSpec
from litestar.params import FromPath, FromQuery
from litestar.response import File
from litestar.response.base import ASGIResponse
from litestar.types import Message, Scope

from sync import errors as E
from sync.fields import unstorable
from sync.wire import TUS_VERSION

from ...http.controller import DomainController
from ...http.deps import CallerDep, from_state, provide_caller
from ...http.problems import problem_responses
from ...services import Caller, Store
from ...settings import Settings
from .gc import Collector
from .schemas import MissingBlobs
from .service import Media, reconcile
from .uploads import BodyCut, Upload, Uploads

TUS_EXTENSIONS = "creation"
OFFSET_STREAM = "application/offset+octet-stream"

UploadsDep = NamedDependency[Uploads]
MediaDep = NamedDependency[Media]
# Content-addressed: the bytes under a hash never change, so a client may keep them. A client
# chose the bytes: a browser must not sniff a JPEG+HTML polyglot into a page, nor run one as
# a page of this origin if it is opened directly (issue 9, finding 16).
_BLOB_HEADERS = {"Cache-Control": "private, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "sandbox"}


def media_state(store: Store, settings: Settings) -> dict[str, Any]:
    """The app state this domain's handlers use."""
    return {"uploads": Uploads(store, store.blobs, settings), "media": Media(store, store.blobs, settings),
            "collector": Collector(store, store.blobs, settings)}


def start_media(app: Litestar) -> None:
    """At startup: give up abandoned uploads, finish marking photos whose upload completed, and
    start collecting blob garbage (now and every `gc_interval_seconds`)."""
    app.state.uploads.clean_uploads()
    reconcile(app.state.store)
    app.state.collector.start()


def stop_media(app: Litestar) -> None:
    """At shutdown, before the store closes: no collection or image work is left running."""
    app.state.collector.stop()
    app.state.media.close()


async def add_tus_headers(message: Message, scope: Scope) -> None:
    """Every `/files` response, problem bodies included, names the tus version it speaks."""
    if message["type"] == "http.response.start" and scope.get("path", "").startswith("/files"):
        headers = MutableScopeHeaders.from_message(message)
        headers["Tus-Resumable"] = TUS_VERSION
        headers["Tus-Version"] = TUS_VERSION


# -- the tus wire format ----------------------------------------------------------------


def _tus(request: Request[Any, Any, Any]) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise E.TusVersionUnsupported(f"this server speaks tus {TUS_VERSION}; send Tus-Resumable: {TUS_VERSION}")


def _metadata(header: str | None) -> dict[str, str]:
    """`Upload-Metadata`: comma-separated `key base64(value)` pairs (a key may have no value)."""
    out: dict[str, str] = {}
    for pair in (header or "").split(","):
        if not pair.strip():
            continue
        key, _, value = pair.strip().partition(" ")
        try:
            out[key] = base64.b64decode(value.strip(), validate=True).decode("utf-8") if value.strip() else ""
        except (binascii.Error, UnicodeDecodeError):
            raise E.InvalidRequest(f"Upload-Metadata {key}: the value is not base64 of UTF-8 text") from None
        if what := unstorable(out[key]):  # the file's name and type are stored with the upload
            raise E.InvalidRequest(f"Upload-Metadata {key[:64]}: the value holds {what}")
    return out


def _length(text: str | None, name: str) -> int:
    if text is None:
        raise E.InvalidRequest(f"send {name}")
    text = text.strip()
    if not (text.isascii() and text.isdigit()) or len(text) > 15:
        raise E.InvalidRequest(f"{name} must be a non-negative integer, not {text!r}")
    return int(text)


async def _body(request: Request[Any, Any, Any]) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            yield chunk
    except InternalServerException:
        # Litestar's word for a client that went away mid-body: `Uploads` keeps what arrived.
        raise BodyCut from None


def _offset_headers(upload: Upload) -> dict[str, str]:
    return {"Upload-Offset": str(upload.received), "Upload-Length": str(upload.length), "Cache-Control": "no-store"}


def _no_body(status: int, *problems: int) -> dict[int, ResponseSpec]:
    """Responses of a handler that answers with headers only (Litestar would describe `Response[None]` as JSON)."""
    return {**problem_responses(*problems),
            status: ResponseSpec(data_container=None, description="No body: the answer is in the headers")}


class _HeadersOnly(Response[None]):
    """An answer in headers alone (a HEAD's, a creation's): `Content-Length: 0` and no `Content-Type`.
    A plain `Response(None)` renders JSON `null`: Litestar announced it on a HEAD that sends none of
    it (`Content-Type: application/json`, `Content-Length: 4`), and a client that reads the announced
    body waits for it; the 201 of a creation said `application/json` of an empty body."""

    def to_asgi_response(self, *args: Any, **kwargs: Any) -> ASGIResponse:
        answer = super().to_asgi_response(*args, **{**kwargs, "is_head_response": True})
        answer.headers["Content-Length"] = "0"
        return answer


class MediaController(DomainController):
    dependencies = {"uploads": from_state("uploads"), "media": from_state("media")}  # noqa: RUF012

    @route("/files", http_method=["OPTIONS"], status_code=204, responses=_no_body(204), sync_to_thread=False,
           tags=["uploads"])
    def upload_options(self, uploads: UploadsDep) -> Response[None]:
        """What the tus server supports (no token needed)."""
        return Response(None, status_code=204, headers={
            "Tus-Version": TUS_VERSION,
            "Tus-Extension": TUS_EXTENSIONS,
            "Tus-Max-Size": str(uploads.settings.max_upload_bytes),
        })

    @post("/files", status_code=201, responses=_no_body(201, 400, 401, 412, 413, 415, 429, 503), sync_to_thread=True,
          tags=["uploads"])
    def create_upload(self, request: Request[Any, Any, Any], uploads: UploadsDep, caller: CallerDep) -> Response[None]:
        """Create an upload: `Upload-Length`, `Upload-Metadata` with `sha256` and `content_type`."""
        _tus(request)
        length = _length(request.headers.get("upload-length"), "Upload-Length (deferred lengths are not supported)")
        uploads.check_length(length)
        meta = _metadata(request.headers.get("upload-metadata"))
        upload = uploads.create(caller, length, meta.get("sha256", ""), meta.get("content_type", ""),
                                meta.get("filename"))
        return _HeadersOnly(None, status_code=201,
                            headers={"Location": f"/files/{upload.id}", **_offset_headers(upload)})

    @head("/files/{upload_id:str}", responses=_no_body(200, 401, 404, 410, 412), tags=["uploads"])
    async def upload_offset(
        self, request: Request[Any, Any, Any], upload_id: FromPath[str], uploads: UploadsDep, caller: CallerDep
    ) -> Response[None]:
        """How many bytes of the upload the server holds: resume from `Upload-Offset`."""
        _tus(request)
        upload = await uploads.head(caller, upload_id)
        return _HeadersOnly(None, status_code=200, headers=_offset_headers(upload))

    @patch("/files/{upload_id:str}", status_code=204, request_max_body_size=None,
           responses=_no_body(204, 400, 401, 404, 409, 410, 412, 413, 415, 422, 423, 503, 507), tags=["uploads"])
    async def append_upload(
        self, request: Request[Any, Any, Any], upload_id: FromPath[str], uploads: UploadsDep
    ) -> Response[None]:
        """Append bytes at `Upload-Offset`; the last byte stores the blob once its hash and content check out."""

        def who() -> tuple[Caller, int]:
            # The caller (401 first, as on every route) and the headers, read in the upload's own first
            # trip to a worker thread: a `caller` dependency took a trip of its own for each PATCH.
            caller = provide_caller(request)
            _tus(request)
            if (request.headers.get("content-type") or "").split(";")[0].strip().lower() != OFFSET_STREAM:
                raise E.UnsupportedMediaType(f"PATCH bodies are Content-Type: {OFFSET_STREAM}")
            return caller, _length(request.headers.get("upload-offset"), "Upload-Offset")

        upload = await uploads.append(who, upload_id, request.content_length, _body(request))
        return Response(None, status_code=204, headers={"Upload-Offset": str(upload.received)})

    @get("/blobs/{sha256:str}", responses=problem_responses(401, 404, 503), sync_to_thread=True, tags=["blobs"])
    def get_blob(self, sha256: FromPath[str], media: MediaDep, caller: CallerDep) -> File:
        """The original bytes, to callers who can see a row whose blob is stored under this hash."""
        path, content_type = media.original(caller, sha256)
        return File(path, media_type=content_type, content_disposition_type="inline", filename=path.name,
                    headers=_BLOB_HEADERS)

    @get("/blobs/{sha256:str}/thumbnail", responses=problem_responses(400, 401, 404, 422, 503), tags=["blobs"])
    async def get_thumbnail(
        self, sha256: FromPath[str], media: MediaDep, caller: CallerDep, size: FromQuery[int] = 320
    ) -> File:
        """A JPEG thumbnail: EXIF orientation applied, no metadata; sizes 160, 320, 640, 1280."""
        path = await media.thumbnail(caller, sha256, size)
        return File(path, media_type="image/jpeg", content_disposition_type="inline", filename=path.name,
                    headers=_BLOB_HEADERS)

    @get("/api/inspections/{inspection_id:str}/missing-blobs", responses=problem_responses(401, 404),
         sync_to_thread=True, tags=["inspections"])
    def missing_blobs(self, inspection_id: FromPath[str], media: MediaDep, caller: CallerDep) -> MissingBlobs:
        """Photos and signatures of the inspection whose bytes the server still waits for, and from whom."""
        return media.missing_blobs(caller, inspection_id)

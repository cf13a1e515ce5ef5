"""Handlers for uploads (tus at `/files`), blobs (`/blobs`) and what an inspection still waits for.

Thin, as in `app.py`: read the headers, make one call into `Uploads` or
`Media`, answer. No SQL, no file handling, no Pillow here.
"""

from __future__ import annotations

from typing import Any

from litestar import Litestar, Request, Response, get, head, patch, post, route
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import NamedDependency, Provide
from litestar.params import FromPath, FromQuery
from litestar.response import File
from litestar.types import Message, Scope

from sync import errors as E
from sync.wire import TUS_VERSION

from .blob_gc import Collector
from .media import Media, MissingBlobs, reconcile
from .settings import Settings
from .store import Caller, Store
from .uploads import Upload, Uploads

UploadsDep = NamedDependency[Uploads]
MediaDep = NamedDependency[Media]
CallerDep = NamedDependency[Caller]
# Content-addressed: the bytes under a hash never change, so a client may keep them. A client
# chose the bytes: a browser must not sniff a JPEG+HTML polyglot into a page, nor run one as
# a page of this origin if it is opened directly (issue 9, finding 16).
_BLOB_HEADERS = {"Cache-Control": "private, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff",
                 "Content-Security-Policy": "sandbox"}


def blob_state(store: Store, settings: Settings) -> dict[str, Any]:
    """The app state this module's handlers use."""
    return {"uploads": Uploads(store, store.blobs, settings), "media": Media(store, store.blobs, settings),
            "collector": Collector(store, store.blobs, settings)}


def start_blobs(app: Litestar) -> None:
    """At startup: give up abandoned uploads, finish marking photos whose upload completed, and
    start collecting blob garbage (now and every `gc_interval_seconds`)."""
    app.state.uploads.clean_uploads()
    reconcile(app.state.store)
    app.state.collector.start()


def stop_blobs(app: Litestar) -> None:
    """At shutdown, before the store closes: no collection or image work is left running."""
    app.state.collector.stop()
    app.state.media.close()


def _provide_uploads(state: State) -> Uploads:
    return state.uploads  # type: ignore[no-any-return]


def _provide_media(state: State) -> Media:
    return state.media  # type: ignore[no-any-return]


BLOB_DEPENDENCIES = {
    "uploads": Provide(_provide_uploads, sync_to_thread=False),
    "media": Provide(_provide_media, sync_to_thread=False),
}


async def add_tus_headers(message: Message, scope: Scope) -> None:
    """Every `/files` response, problem bodies included, names the tus version it speaks."""
    if message["type"] == "http.response.start" and scope.get("path", "").startswith("/files"):
        headers = MutableScopeHeaders.from_message(message)
        headers["Tus-Resumable"] = TUS_VERSION
        headers["Tus-Version"] = TUS_VERSION


def _tus(request: Request[Any, Any, Any]) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise E.TusVersionUnsupported(f"this server speaks tus {TUS_VERSION}; send Tus-Resumable: {TUS_VERSION}")


def _offset_headers(upload: Upload) -> dict[str, str]:
    return {"Upload-Offset": str(upload.received), "Upload-Length": str(upload.length), "Cache-Control": "no-store"}


@route("/files", http_method=["OPTIONS"], status_code=204, sync_to_thread=False, tags=["uploads"])
def upload_options(uploads: UploadsDep) -> Response[None]:
    """What the tus server supports (no token needed)."""
    return Response(None, status_code=204, headers=uploads.options())


@post("/files", status_code=201, sync_to_thread=True, tags=["uploads"])
def create_upload(request: Request[Any, Any, Any], uploads: UploadsDep, caller: CallerDep) -> Response[None]:
    """Create an upload: `Upload-Length`, `Upload-Metadata` with `sha256` and `content_type`."""
    _tus(request)
    upload = uploads.create(caller, request.headers.get("upload-length"), request.headers.get("upload-metadata"))
    return Response(None, status_code=201, headers={"Location": upload.location, **_offset_headers(upload)})


@head("/files/{upload_id:str}", tags=["uploads"])
async def upload_offset(
    request: Request[Any, Any, Any], upload_id: FromPath[str], uploads: UploadsDep, caller: CallerDep
) -> Response[None]:
    """How many bytes of the upload the server holds: resume from `Upload-Offset`."""
    _tus(request)
    upload = await uploads.head(caller, upload_id)
    return Response(None, status_code=200, headers=_offset_headers(upload))


@patch("/files/{upload_id:str}", status_code=204, request_max_body_size=None, tags=["uploads"])
async def append_upload(
    request: Request[Any, Any, Any], upload_id: FromPath[str], uploads: UploadsDep, caller: CallerDep
) -> Response[None]:
    """Append bytes at `Upload-Offset`; the last byte stores the blob once its hash and content check out."""
    _tus(request)
    upload = await uploads.append(
        caller, upload_id, request.headers.get("content-type"), request.headers.get("upload-offset"),
        request.content_length, request.stream(),
    )
    return Response(None, status_code=204, headers={"Upload-Offset": str(upload.received)})


@get("/blobs/{sha256:str}", sync_to_thread=True, tags=["blobs"])
def get_blob(sha256: FromPath[str], media: MediaDep, caller: CallerDep) -> File:
    """The original bytes, to callers who can see a row whose blob is stored under this hash."""
    path, content_type = media.original(caller, sha256)
    return File(path, media_type=content_type, content_disposition_type="inline", filename=path.name,
                headers=_BLOB_HEADERS)


@get("/blobs/{sha256:str}/thumbnail", tags=["blobs"])
async def get_thumbnail(sha256: FromPath[str], media: MediaDep, caller: CallerDep, size: FromQuery[int] = 320) -> File:
    """A JPEG thumbnail: EXIF orientation applied, no metadata; sizes 160, 320, 640, 1280."""
    path = await media.thumbnail(caller, sha256, size)
    return File(path, media_type="image/jpeg", content_disposition_type="inline", filename=path.name,
                headers=_BLOB_HEADERS)


@get("/api/inspections/{inspection_id:str}/missing-blobs", sync_to_thread=True, tags=["inspections"])
def missing_blobs(inspection_id: FromPath[str], media: MediaDep, caller: CallerDep) -> MissingBlobs:
    """Photos and signatures of the inspection whose bytes the server still waits for, and from whom."""
    return media.missing_blobs(caller, inspection_id)


BLOB_ROUTES = [upload_options, create_upload, upload_offset, append_upload, get_blob, get_thumbnail, missing_blobs]

"""The supervisor's site pages (issue 14): a device's history, an inspection's sheet and its PDF, thumbnails.

The API's sheet PDF and thumbnails take a bearer token, which a browser's
session does not send; these routes give the cookie's caller the same bytes
through the same services, after the same scope checks (another site's is 404).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import File, Redirect

from sync import errors as E
from sync.messages import words

from ...http.controller import DomainController
from ...http.deps import CallerDep
from ...http.guards import site_in_scope, supervisor_only
from ..sheets.controller import pdf_response
from . import desk_pages, site_pages
from .controller import Form
from .web import (
    EXCEPTION_HANDLERS,
    HEADERS,
    PATH,
    PDF_HEADERS,
    check_session_post,
    form_value,
    lang_of,
    render,
    signed_in,
)

# A blob or thumbnail never changes under its hash, but who may see it does: kept a day (max-age), a photo of a
# site the user has since been taken off stayed in the browser's cache. The browser asks each time (no-cache),
# and the same scope check answers an unchanged one 304 by its ETag (the hash), without the bytes. A PDF is made
# afresh each time (signatures change it).
_IMAGE_HEADERS = {"Cache-Control": "private, no-cache", "X-Content-Type-Options": "nosniff",
                  "Content-Security-Policy": "sandbox"}


def _held(request: Request[Any, Any, Any], tag: str) -> bool:
    """Whether the browser holds the bytes tagged `tag` (`If-None-Match` names it)."""
    return f'"{tag}"' in request.headers.get("if-none-match", "") or request.headers.get("if-none-match") == "*"


def _cached(request: Request[Any, Any, Any], path: Path | None, media_type: str, tag: str) -> Response[Any]:
    """The file, or 304 when the browser holds it (`path` None: only then); the caller is checked before."""
    headers = {**_IMAGE_HEADERS, "etag": f'"{tag}"'}  # lower case: File keeps it (setdefault), not its own
    if path is None or _held(request, tag):
        return Response(b"", status_code=304, headers=headers)
    return File(path, media_type=media_type, content_disposition_type="inline", filename=path.name, headers=headers)


class SiteController(DomainController):
    path = PATH
    include_in_schema = False
    exception_handlers = EXCEPTION_HANDLERS  # type: ignore[assignment]

    @get("/sites/{site_id:str}/devices/{device_id:str}", sync_to_thread=True, guards=[signed_in, site_in_scope])
    def device(self, request: Request[Any, Any, Any], site_id: FromPath[str], device_id: FromPath[str],
               caller: CallerDep) -> Response[bytes]:
        """A device's history: identity, warranty, every check with its photos, its requests and visits."""
        state = request.app.state
        found = state.inspections.sites(caller, site_id)
        if not found:
            raise E.NotFound(f"no site {site_id}")
        site = found[0]
        return render(request, "device.html", caller=caller, site=site, thumbnail=site_pages.THUMBNAIL,
                      **site_pages.device_page(state, caller, site, device_id, lang_of(request)))

    @get("/inspections/{inspection_id:str}", sync_to_thread=True, guards=[signed_in])
    def inspection(self, request: Request[Any, Any, Any], inspection_id: FromPath[str],
                   caller: CallerDep) -> Response[bytes]:
        """The periodic maintenance sheet: every device with its outcome, note, answers and photos; signatures
        and seal; a link to its PDF; for a supervisor, the form to reassign it."""
        return self._inspection(request, caller, inspection_id)

    def _inspection(self, request: Request[Any, Any, Any], caller: CallerDep, inspection_id: str,
                    typed: str = "", refused: E.SyncError | None = None) -> Response[bytes]:
        """The inspection's page; `refused`: the reassignment again with what was chosen and why not."""
        lang = lang_of(request)
        data = site_pages.inspection_page(request.app.state, caller, inspection_id, lang)
        why = ""
        if refused is not None:  # the merge's detail names the field (`inspections.assigned_to …`)
            why = desk_pages.refusal(refused, words("console", lang), lang)
        return render(request, "inspection.html", refused.status if refused is not None else 200, caller=caller,
                      thumbnail=site_pages.THUMBNAIL, typed=typed, why=why, **data)

    @post("/inspections/{inspection_id:str}/assign", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def assign(self, request: Request[Any, Any, Any], inspection_id: FromPath[str], data: Form,
               caller: CallerDep) -> Response[Any]:
        """Reassign the inspection to a member of its site (a supervisor's push of `assigned_to`); refused,
        the page again with the reason; 303 back to it."""
        check_session_post(request, data)
        typed = ""
        try:
            typed = form_value(data, "assigned_to")
            request.app.state.inspections.assign(caller, inspection_id, typed)
        except E.SyncError as exc:
            if exc.status == 404:
                raise
            return self._inspection(request, caller, inspection_id, typed, exc)
        return Redirect(f"{PATH}/inspections/{inspection_id}", status_code=303, headers=HEADERS)

    @get("/inspections/{inspection_id:str}/sheet.pdf", sync_to_thread=True, guards=[signed_in])
    def inspection_pdf(self, request: Request[Any, Any, Any], inspection_id: FromPath[str],
                       caller: CallerDep) -> Response[bytes]:
        """The same PDF as `GET /api/inspections/{id}/sheet.pdf`, for the session's caller."""
        data = request.app.state.sheets.inspection_pdf(caller, inspection_id)
        return pdf_response(data, "inspection", PDF_HEADERS)

    @get("/blobs/{sha256:str}", sync_to_thread=True, guards=[signed_in])
    def blob(self, request: Request[Any, Any, Any], sha256: FromPath[str], caller: CallerDep) -> Response[Any]:
        """The original bytes as `GET /blobs/{sha256}` gives them to the same caller: a sealed sheet's signed
        JSON (linked from the inspection's seal), a photo."""
        path, content_type = request.app.state.media.original(caller, sha256)
        return _cached(request, path, content_type, sha256)

    @get("/blobs/{sha256:str}/thumbnail", guards=[signed_in])
    async def thumbnail(self, request: Request[Any, Any, Any], sha256: FromPath[str], caller: CallerDep,
                        size: FromQuery[int] = site_pages.THUMBNAIL) -> Response[Any]:
        """A photo's or signature's thumbnail, as `GET /blobs/{sha256}/thumbnail` gives it to the same caller."""
        media, tag = request.app.state.media, f"{sha256}-{size}"
        if _held(request, tag):  # checked, not made: a thumbnail the browser holds was made (then lost) for a 304
            await media.thumbnail_readable(caller, sha256, size)
            return _cached(request, None, "image/jpeg", tag)
        return _cached(request, await media.thumbnail(caller, sha256, size), "image/jpeg", tag)

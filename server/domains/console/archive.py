"""The customer archive in the console (issue 14): register a site, import its devices, look a number up.

The pages call the archive's own service, the one behind `POST /api/sites`, `POST
/api/sites/{site_id}/import` and `GET /api/lookup`, with the same guards: supervisors register
and import (another role gets the 403 page, another site the 404 page), anyone signed in looks
up within their sites. Every post checks its Origin and CSRF token first, a multipart upload too.
An upload is kept in the database between its dry run and its apply (`archive_pages`), for any process.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any

import anyio
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect

from sync import errors as E
from sync.messages import words

from ...http.controller import DomainController
from ...http.deps import CallerDep
from ...http.guards import site_in_scope, supervisor_only
from ..archive.controller import MAX_IMPORT_BODY_BYTES
from ..archive.service import MAX_LOOKUP_CHARS
from ..archive.spreadsheet import MAX_IMPORT_BYTES
from ..identity.service import Caller
from .archive_pages import SITE_FIELDS, lookup, new_site, pending_imports, refusal
from .web import (
    EXCEPTION_HANDLERS,
    HEADERS,
    PATH,
    check_post,
    csrf_of,
    form_value,
    lang_of,
    on_error,
    render,
    session_token,
    signed_in,
)

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
CONTRACTS = ("annual", "per_visit", "warranty")
ZONES = ("urban", "suburban")


def _check(request: Request[Any, Any, Any], sent: object) -> None:
    check_post(request, sent, csrf_of(session_token(request) or ""))


def _site(state: Any, caller: Caller, site_id: str) -> Any:
    """The site's summary; 404 when there is none (a supervisor's scope is every site, even a made-up id)."""
    found = state.inspections.sites(caller, site_id)
    if not found:
        raise E.NotFound(f"no site {site_id[:64]}")
    return found[0]


def _too_large(request: Request[Any, Any, Any], _: Exception) -> Response[Any]:
    """An upload over the import's limit, refused before it is read whole: the HTML page, not JSON."""
    return on_error(request, E.BodyTooLarge(f"the file is over {MAX_IMPORT_BYTES} bytes", limit=MAX_IMPORT_BYTES))


def _see(url: str) -> Redirect:
    return Redirect(url, status_code=303, headers=HEADERS)


class ArchiveConsole(DomainController):
    path = PATH
    include_in_schema = False
    exception_handlers = {**EXCEPTION_HANDLERS, 413: _too_large}  # type: ignore[dict-item]  # noqa: RUF012

    @get("/sites/new", sync_to_thread=False, guards=[signed_in, supervisor_only])
    def new_site_form(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """The form for a new customer's site."""
        return self._site_form(request, caller, dict.fromkeys(SITE_FIELDS, ""))

    @post("/sites/new", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def register_site(self, request: Request[Any, Any, Any], data: Form, caller: CallerDep) -> Response[Any]:
        """Register the site as `POST /api/sites` does; then its page. A refused value: the form again, filled."""
        _check(request, data.get("csrf"))
        values = {name: form_value(data, name) for name in SITE_FIELDS}
        t = words("console", lang_of(request))
        try:
            site = request.app.state.archive.register_site(caller, new_site(values, t))
        except (E.InvalidRequest, E.SiteExists, E.UserDisabled) as exc:
            return self._site_form(request, caller, values, exc.status, refusal(exc, values, t))
        return _see(f"{PATH}/sites/{site.id}")

    @staticmethod
    def _site_form(request: Request[Any, Any, Any], caller: Caller, values: dict[str, str], status: int = 200,
                   message: str = "") -> Response[bytes]:
        return render(request, "site_new.html", status, caller=caller, values=values, contracts=CONTRACTS,
                      zones=ZONES, message=message)

    @get("/sites/{site_id:str}/import", sync_to_thread=True, guards=[signed_in, site_in_scope, supervisor_only])
    def import_page(self, request: Request[Any, Any, Any], site_id: FromPath[str], caller: CallerDep) -> Response[bytes]:
        """The upload form; with `upload=`, the dry run of the kept file and the apply button; with
        `done=`, what the apply did."""
        state, q = request.app.state, request.query_params
        site = _site(state, caller, site_id)
        token = (q.get("upload") or q.get("done") or "")[:MAX_LOOKUP_CHARS]
        context: dict[str, Any] = {"site": site, "token": "", "report": None, "errors": [], "message": ""}
        kept = pending_imports(state).get(token, caller.client_id, site_id) if token else None
        if q.get("done") and kept is not None and kept.report is not None:
            context["report"] = kept.report
        elif q.get("upload") and kept is not None and kept.data is not None:
            try:
                context["report"] = state.archive.import_devices(caller, site_id, kept.data, dry_run=True)
                context["token"] = token
            except E.InvalidImport as exc:
                context["errors"] = exc.extra.get("errors") or [{"row": "", "detail": exc.detail}]
                return render(request, "site_import.html", exc.status, caller=caller, **context)
        elif token:
            context["message"] = "upload_expired"  # expired, applied already, or another session's or site's
        return render(request, "site_import.html", 410 if context["message"] else 200, caller=caller, **context)

    @post("/sites/{site_id:str}/import", guards=[signed_in, site_in_scope, supervisor_only],
          request_max_body_size=MAX_IMPORT_BODY_BYTES)
    async def upload(self, request: Request[Any, Any, Any], site_id: FromPath[str], caller: CallerDep) -> Response[Any]:
        """Keep the uploaded file for this session and site, then show its dry run."""
        form = await request.form()
        _check(request, form.get("csrf"))
        await anyio.to_thread.run_sync(_site, request.app.state, caller, site_id)
        upload = form.get("file")
        data = await upload.read() if isinstance(upload, UploadFile) else b""
        if not data:
            raise E.InvalidRequest(words("console", lang_of(request))["no_file"])
        if len(data) > MAX_IMPORT_BYTES:  # the body's limit leaves room for the form around the file
            raise E.BodyTooLarge(f"the file is over {MAX_IMPORT_BYTES} bytes", limit=MAX_IMPORT_BYTES)
        token = await anyio.to_thread.run_sync(
            pending_imports(request.app.state).keep, caller.client_id, caller.user_id, site_id, data)
        return _see(f"{PATH}/sites/{site_id}/import?upload={token}")

    @post("/sites/{site_id:str}/import/apply", guards=[signed_in, site_in_scope, supervisor_only])
    async def apply(self, request: Request[Any, Any, Any], site_id: FromPath[str], data: Form,
                    caller: CallerDep) -> Response[Any]:
        """Import the kept file for real, through the same service as the API; retire only when ticked."""
        _check(request, data.get("csrf"))
        token, retire = form_value(data, "token"), form_value(data, "retire") == "true"
        pending = pending_imports(request.app.state)
        kept = await anyio.to_thread.run_sync(pending.take, token, caller.client_id, site_id)
        if kept is None:
            return _see(f"{PATH}/sites/{site_id}/import?upload={token}")  # the page says it expired
        report = await anyio.to_thread.run_sync(partial(
            request.app.state.archive.import_devices, caller, site_id, kept, dry_run=False, retire=retire))
        await anyio.to_thread.run_sync(pending.done, token, report)
        return _see(f"{PATH}/sites/{site_id}/import?done={token}")

    @get("/lookup", sync_to_thread=True, guards=[signed_in])
    def lookup(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[Any]:
        """The header's search box: one match opens its page, several are listed, none says so."""
        text = request.query_params.get("q") or ""
        found = lookup(request.app.state.archive, request.app.state.inspections, caller, text)
        if len(found) == 1:
            return _see(found[0]["href"])
        return render(request, "lookup.html", 200 if found else 404, caller=caller, q=text[:MAX_LOOKUP_CHARS],
                      found=found)

"""The service desk's console pages (issue 14): taking a call, dispatching, the timeline, a visit's bill.

The API's guards in the API's order: the cookie's caller, then scope (the services' own 404 for
another site's request or visit), then the role (`desk_or_supervisor`, a 403 page) before a form
is read. Every post checks Origin and CSRF first, and redirects (303) when it succeeded.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from sync import errors as E
from sync.messages import words

from ...http.controller import DomainController
from ...http.deps import CallerDep
from ...http.guards import desk_or_supervisor
from ..sheets.controller import pdf_response
from . import desk_pages
from .controller import Form
from .web import (
    EXCEPTION_HANDLERS,
    HEADERS,
    PATH,
    PDF_HEADERS,
    check_post,
    csrf_of,
    form_value,
    lang_of,
    render,
    session_token,
    signed_in,
)

REQUESTS = f"{PATH}/service-requests"


def _check(request: Request[Any, Any, Any], data: dict[str, Any]) -> None:
    check_post(request, data.get("csrf"), csrf_of(session_token(request) or ""))


class DeskController(DomainController):
    path = PATH
    include_in_schema = False
    exception_handlers = EXCEPTION_HANDLERS  # type: ignore[assignment]

    def _list(self, request: Request[Any, Any, Any], caller: CallerDep, status: int = 200,
              typed: dict[str, str] | None = None, refused: E.SyncError | None = None,
              duplicates: dict[str, Any] | None = None,
              devices: dict[str, Any] | None = None) -> Response[bytes]:
        lang = lang_of(request)
        data = desk_pages.request_list(request.app.state, caller, words("console", lang), request.query_params)
        why = "" if refused is None else desk_pages.refusal(refused, words("console", lang), lang,
                                                            desk_pages.NEW_FORM_LABELS)
        if data["phone_refused"] and status == 200:
            status = 400  # the list's number box refused (the API's 400 invalid_filter), said beside the box
        return render(request, "requests.html", status, caller=caller, duty=desk_pages.duty_now(request.app.state),
                      typed=dict.fromkeys(desk_pages.NEW_FIELDS, "") | (typed or {}), refused=refused, why=why,
                      duplicates=duplicates, devices=devices, **data)

    @get("/service-requests", sync_to_thread=True, guards=[signed_in])
    def requests(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """The caller's requests, filtered and paged as the API's list, and the desk's new-request form."""
        return self._list(request, caller)

    @post("/service-requests", sync_to_thread=True, guards=[signed_in, desk_or_supervisor])
    def open_request(self, request: Request[Any, Any, Any], data: Form, caller: CallerDep) -> Response[Any]:
        """A request from a phone call, through `POST /api/service-requests`'s service; refused: the form
        again with what was typed and the problem's words. A call about a device (or from a number) an
        open request of the site already covers: the form again (409) with those requests, created only
        when the clerk submits the same call once more."""
        _check(request, data)
        typed: dict[str, str] = {}
        try:
            typed = desk_pages.typed(data)
            device_id, devices = desk_pages.pick_device(request.app.state, caller, typed)
            if devices is not None:  # "2号门 读卡器", a mistyped code: the clerk picks the device
                return self._list(request, caller, 409, typed, devices=devices)
            found = desk_pages.duplicate_call(request.app.state, caller, typed, device_id,
                                              words("console", lang_of(request)))
            if found is not None:
                return self._list(request, caller, 409, typed, duplicates=found)
            request_id = desk_pages.open_request(request.app.state, caller, typed, device_id)
        except E.SyncError as exc:
            return self._list(request, caller, exc.status, typed, exc)
        return Redirect(f"{REQUESTS}/{request_id}", status_code=303, headers=HEADERS)

    @get("/service-requests/{request_id:str}", sync_to_thread=True, guards=[signed_in])
    def request_page(self, request: Request[Any, Any, Any], request_id: FromPath[str],
                     caller: CallerDep) -> Response[bytes]:
        """The timeline against each target, the warranty, visits and call-backs; dispatch for the desk."""
        return self._page(request, caller, request_id)

    def _page(self, request: Request[Any, Any, Any], caller: CallerDep, request_id: str,
              refused: tuple[str, dict[str, str], E.SyncError] | None = None) -> Response[bytes]:
        """The request's page; `refused`: (which form, what was typed, why), that form again, filled."""
        lang = lang_of(request)
        data = desk_pages.request_page(request.app.state, caller, request_id, lang)
        if refused is None:
            return render(request, "request.html", caller=caller, refused_form="", typed=desk_pages.kept({}), why="", **data)
        form, typed, exc = refused
        if form == "event" and typed["kind"] not in data["desk_kinds"]:
            # The kind typed is no longer offered (the customer signed meanwhile): nothing of it is kept,
            # or one more click would record another kind with the note written for this one.
            typed |= dict.fromkeys(desk_pages.DESK_FORMS["event"], "")
        return render(request, "request.html", exc.status, caller=caller, refused_form=form, typed=typed,
                      why=desk_pages.refusal(exc, words("console", lang), lang), **data)

    def _post(self, request: Request[Any, Any, Any], caller: CallerDep, request_id: str, data: dict[str, Any],
              form: str, write: Callable[[], object]) -> Response[Any]:
        """A desk form's post: on success back to the page (303); refused, the page with the form filled."""
        _check(request, data)
        try:
            write()
        except E.SyncError as exc:
            return self._page(request, caller, request_id, (form, desk_pages.kept(data, form), exc))
        return Redirect(f"{REQUESTS}/{request_id}", status_code=303, headers=HEADERS)

    @post("/service-requests/{request_id:str}/dispatch", sync_to_thread=True, guards=[signed_in, desk_or_supervisor])
    def dispatch(self, request: Request[Any, Any, Any], request_id: FromPath[str], data: Form,
                 caller: CallerDep) -> Response[Any]:
        """Assign or reassign the request to a technician of its site (the desk's push of `assigned_to`)."""
        return self._post(request, caller, request_id, data, "dispatch", lambda: request.app.state.service_requests
                          .assign(caller, request_id, form_value(data, "assigned_to")))

    @post("/service-requests/{request_id:str}/callbacks", sync_to_thread=True,
          guards=[signed_in, desk_or_supervisor])
    def callback(self, request: Request[Any, Any, Any], request_id: FromPath[str], data: Form,
                 caller: CallerDep) -> Response[Any]:
        """Record the desk's call-back after one of the request's visits."""
        return self._post(request, caller, request_id, data, "callback",
                          lambda: desk_pages.record_callback(request.app.state, caller, request_id, data))

    @post("/service-requests/{request_id:str}/events", sync_to_thread=True, guards=[signed_in, desk_or_supervisor])
    def event(self, request: Request[Any, Any, Any], request_id: FromPath[str], data: Form,
              caller: CallerDep) -> Response[Any]:
        """Record a cancel, a close, a pause or its end on the request (the desk's push of an event)."""
        return self._post(request, caller, request_id, data, "event",
                          lambda: desk_pages.record_event(request.app.state, caller, request_id, data))

    @get("/visits/{visit_id:str}", sync_to_thread=True, guards=[signed_in])
    def visit(self, request: Request[Any, Any, Any], visit_id: FromPath[str], caller: CallerDep) -> Response[bytes]:
        """A visit: times, work, charge lines with consent and amounts, the bill, signatures and seal."""
        return render(request, "visit.html", caller=caller, **desk_pages.visit_page(request.app.state, caller,
                                                                                   visit_id))

    @get("/visits/{visit_id:str}/sheet.pdf", sync_to_thread=True, guards=[signed_in])
    def visit_pdf(self, request: Request[Any, Any, Any], visit_id: FromPath[str], caller: CallerDep) -> Response[bytes]:
        """`GET /api/visits/{id}/sheet.pdf` for the cookie session, after the same scope check."""
        data = request.app.state.sheets.visit_pdf(caller, visit_id)
        return pdf_response(data, "visit", PDF_HEADERS)

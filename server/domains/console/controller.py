"""The office console's pages (issue 14): sign-in, the dashboard, the sites and their coverage.

HTML over the same services as the API, with the API's guards: the cookie's
caller is set first (`signed_in`), then `site_in_scope` answers 404 for a
site that is not the caller's. Every form post is checked for its Origin and
its CSRF token before it does anything.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from litestar.datastructures import CacheControlHeader
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath
from litestar.response import Redirect

from sync import errors as E
from sync.messages import words
from sync.wire import TokenRequest

from ...http.controller import DomainController
from ...http.deps import CallerDep, address
from ...http.guards import site_in_scope
from ..identity.service import CONSOLE_APP
from . import member_pages, pages, site_pages
from .desk_pages import duty_now
from .web import (
    EXCEPTION_HANDLERS,
    HEADERS,
    LOGIN_COOKIE,
    PATH,
    SESSION_COOKIE,
    check_post,
    cookie,
    csrf_of,
    expired,
    form_value,
    lang_of,
    new_login_csrf,
    render,
    session_token,
    signed_in,
)

Form = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.URL_ENCODED)]
_LOGIN_REFUSALS = {E.InvalidCredentials: "bad_login", E.LoginThrottled: "throttled",
                   E.AccountDisabled: "disabled", E.TooManyClients: "too_many_clients"}


# A browser asks every page's host for /favicon.ico; a 404 there put an error in the browser's console on
# every console page. No content, cached for a week, nothing read or logged.
ICON_CACHE = CacheControlHeader(public=True, max_age=7 * 24 * 3600)


@get("/favicon.ico", include_in_schema=False, status_code=204, cache_control=ICON_CACHE, sync_to_thread=False)
def favicon() -> None:
    """No icon: 204, so the browser stops asking for a week."""


class ConsoleController(DomainController):
    path = PATH
    include_in_schema = False
    exception_handlers = EXCEPTION_HANDLERS  # type: ignore[assignment]

    @get("/login", sync_to_thread=False)
    def login_form(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        """The sign-in form, with a fresh CSRF value in a cookie and in the form."""
        value = new_login_csrf()
        return render(request, "login.html", login_csrf=value, cookies=[cookie(request, LOGIN_COOKIE, value)])

    @post("/login", sync_to_thread=True)
    def login(self, request: Request[Any, Any, Any], data: Form) -> Response[Any]:
        """Sign in with the API's own password check and throttling; the session is a new console client."""
        check_post(request, data.get("csrf"), request.cookies.get(LOGIN_COOKIE))
        try:
            sign_in = msgspec.convert({"username": form_value(data, "username"),
                                       "password": form_value(data, "password"), "client_name": "console"},
                                      TokenRequest)
        except msgspec.ValidationError as exc:
            raise E.InvalidRequest(str(exc)) from None
        try:
            token = request.app.state.store.login(sign_in, CONSOLE_APP, address(request), console=True).token
        except tuple(_LOGIN_REFUSALS) as exc:
            t = words("console", lang_of(request))
            message = t[_LOGIN_REFUSALS[type(exc)]].format(seconds=exc.extra.get("retry_after", ""))
            value = new_login_csrf()
            return render(request, "login.html", exc.status, login_csrf=value, message=message,
                          cookies=[cookie(request, LOGIN_COOKIE, value)])
        return Redirect(f"{PATH}/", status_code=303, headers=HEADERS,
                        cookies=[cookie(request, SESSION_COOKIE, token), expired(request, LOGIN_COOKIE)])

    @post("/logout", sync_to_thread=True, guards=[signed_in])
    def logout(self, request: Request[Any, Any, Any], data: Form, caller: CallerDep) -> Response[Any]:
        """Sign out: the session's client is revoked, so its cookie is worthless from now on."""
        check_post(request, data.get("csrf"), csrf_of(session_token(request) or ""))
        request.app.state.store.revoke_client(caller, caller.client_id)
        return Redirect(f"{PATH}/login", status_code=303, headers=HEADERS,
                        cookies=[expired(request, SESSION_COOKIE)])

    @get("/", sync_to_thread=True, guards=[signed_in])
    def dashboard(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """Open requests with their countdowns (breached and at risk first), the inspections of each site's
        current period (in its zone, of any plan), the latest conflicts."""
        lang = lang_of(request)
        data = pages.dashboard(request.app.state, caller, words("console", lang), lang)
        return render(request, "dashboard.html", caller=caller, duty=duty_now(request.app.state), **data)

    @get("/inspections", sync_to_thread=True, guards=[signed_in])
    def inspections(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """The dashboard's inspections, all of them, a page at a time (`?page=`), in the dashboard's order; a
        page past the last is a 404 page saying so, with a link to the last."""
        data = pages.inspections_page(request.app.state, caller, request.query_params.get("page"))
        return render(request, "inspections.html", 404 if data["past"] else 200, caller=caller, **data)

    @get("/sites", sync_to_thread=True, guards=[signed_in])
    def sites(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """The caller's sites."""
        return render(request, "sites.html", caller=caller, sites=request.app.state.inspections.sites(caller))

    @get("/sites/{site_id:str}", sync_to_thread=True, guards=[signed_in, site_in_scope])
    def site(self, request: Request[Any, Any, Any], site_id: FromPath[str], caller: CallerDep) -> Response[bytes]:
        """The customer archive, its inspections of one `year`, and the coverage of a `period` (default: the
        site's current one, by its plan), filtered by `system`, `kind` and `outcome`, searched by device
        `code` (one device whose code it is opens that device's page)."""
        q = request.query_params
        # Read before the coverage: a period of another plan is the site's when it has an inspection of it.
        found = request.app.state.inspections.summaries(caller, site_id=site_id).inspections
        try:
            data = pages.site_page(request.app.state, caller, site_id, q.get("system") or None, q.get("kind") or None,
                                   q.get("outcome") or None, site_pages.code_query(q.get("code")), q.get("period") or None,
                                   found)
        except E.InvalidFilter as exc:  # a period of another plan, in the catalogue's words (the detail is English)
            if "plan" not in exc.extra:
                raise
            t = words("console", lang_of(request))
            return render(request, "error.html", 400, caller=caller, message_key="period_not_of_plan", code=exc.code,
                          detail="", fmt={"period": q.get("period"), "plan": t[f"plan_{exc.extra['plan']}"],
                                          "example": exc.extra["example"]})
        if data["exact"] is not None:
            return Redirect(f"{PATH}/sites/{site_id}/devices/{data['exact'].device_id}", status_code=303,
                            headers=HEADERS)
        return render(request, "site.html", caller=caller, **data,
                      archive=site_pages.archive(request.app.state, caller, data["site"]),
                      **member_pages.site_members(request.app.state, caller, site_id, found, q, session_token(request)),
                      **pages.site_history(found, q.get("year") or None, data["period"],
                                           request.app.state.inspections.today(data["site"].tz)))

"""The supervisor's console pages (issue 14): reports, the conflict log, clients (revoke a lost
phone), users (create, reset a password, disable).

The same services and guards as the API: a technician gets the 403 page
where the API answers 403, and sees only what the API shows them. Every form
post is checked for its Origin and CSRF token first, then redirects (303).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Request, Response, get, post
from litestar.params import FromPath
from litestar.response import Redirect

from sync import errors as E
from sync.messages import words
from sync.wire import MAX_ID_CHARS, MAX_USERNAME_CHARS

from ...http.controller import DomainController
from ...http.deps import CallerDep
from ...http.guards import desk_or_supervisor, supervisor_only
from ..callbacks.service import MILESTONES, as_csv
from ..duty.service import log_csv
from ..identity.access import NewUser, UserUpdate
from . import desk_pages, member_pages
from . import office_pages as pages
from .controller import Form
from .web import (
    EXCEPTION_HANDLERS,
    HEADERS,
    MAX_FORM_FIELD_CHARS,
    PATH,
    check_post,
    csrf_of,
    form_value,
    lang_of,
    render,
    session_token,
    signed_in,
)


def _checked(request: Request[Any, Any, Any], data: dict[str, Any]) -> None:
    check_post(request, data.get("csrf"), csrf_of(session_token(request) or ""))


def _done(request: Request[Any, Any, Any]) -> str | None:
    done = request.query_params.get("done")
    return done if done in pages.DONE else None


def _back(where: str, done: str) -> Redirect:
    return Redirect(f"{PATH}/{where}?done={done}", status_code=303, headers=HEADERS)


def _csv(body: bytes, filename: str) -> Response[bytes]:
    """The API's own CSV (one writer: server/http/excel.py), as a download."""
    return Response(body, media_type="text/csv",
                    headers={**HEADERS, "Content-Disposition": f'attachment; filename="{filename}"'})


def _page_of(username: str) -> str:
    """A user's page, where the forms on it come back to (below `PATH`)."""
    return f"users/{quote(username, safe='')}"


def _user(username: str) -> str:
    if len(username) > MAX_USERNAME_CHARS:
        raise E.NotFound("no such user")
    return username


class OfficeController(DomainController):
    path = PATH
    include_in_schema = False
    exception_handlers = EXCEPTION_HANDLERS  # type: ignore[assignment]

    @get("/reports", sync_to_thread=True, guards=[signed_in])
    def reports(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """The month's technician scores and fault causes (the desk and supervisors), its duty roster (a
        supervisor's form to write it) and duty log (`?month=2026-11`)."""
        return self._reports(request, caller, request.query_params.get("month"))

    def _reports(self, request: Request[Any, Any, Any], caller: CallerDep, month: str | None,
                 typed: dict[str, str] | None = None, refused: E.SyncError | None = None) -> Response[bytes]:
        """The reports page; `refused`: the roster form again with what was typed and why not."""
        lang = lang_of(request)
        data = pages.reports(request.app.state, caller, month, typed)
        why = "" if refused is None else desk_pages.refusal(refused, words("console", lang), lang)
        return render(request, "reports.html", refused.status if refused is not None else 200, caller=caller,
                      per_cent=pages.per_cent, hundredths=pages.hundredths, milestones=MILESTONES, why=why,
                      done=_done(request), **data)

    @post("/reports/duty-roster", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def duty_roster(self, request: Request[Any, Any, Any], data: Form, caller: CallerDep) -> Response[Any]:
        """Write a month's duty roster (`month` as `2026-12`, `technician`, `from`, `until`: blank, the rules'
        default), merged as a supervisor's push of `duty_roster`; refused, the page again with the form as typed
        and the reason; 303 back to the month's page."""
        _checked(request, data)
        names = ("technician", "from", "until")
        month = data.get("month") if isinstance(data.get("month"), str) else None
        typed = {n: v[:MAX_FORM_FIELD_CHARS] if isinstance(v := data.get(n), str) else "" for n in names}  # shown again
        try:
            api_month, first = pages.month_of(request.app.state, form_value(data, "month"))
            values = [form_value(data, name) for name in names]
            request.app.state.duty.set_roster(caller, api_month, *values)
        except E.SyncError as exc:
            if exc.status not in (400, 409):
                raise
            shown = month if exc.extra.get("parameter") != "month" and month and len(month) <= 7 else None
            return self._reports(request, caller, shown, typed, exc)
        return Redirect(f"{PATH}/reports?month={first.strftime('%Y-%m')}&done=roster#roster", status_code=303,
                        headers=HEADERS)

    @get("/reports/technicians.csv", sync_to_thread=True, guards=[signed_in, desk_or_supervisor])
    def technicians_csv(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """The month's scores as the API's CSV."""
        month, _first = pages.month_of(request.app.state, request.query_params.get("month"))
        report = request.app.state.technician_reports.month(caller, month)[1]
        return _csv(as_csv(report), f"technicians-{report.month}.csv")

    @get("/reports/duty-log.csv", sync_to_thread=True, guards=[signed_in])
    def duty_log_csv(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """The month's duty log of the caller's scope as the API's CSV."""
        month, _first = pages.month_of(request.app.state, request.query_params.get("month"))
        log = request.app.state.duty.log(caller, month)
        return _csv(log_csv(log), f"duty-log-{log.month}.csv")

    @get("/conflicts", sync_to_thread=True, guards=[signed_in])
    def conflicts(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """The conflict log the caller may see, newest first, by `site` and `kind`, pages `before` an entry."""
        q = request.query_params
        data = pages.conflicts(request.app.state, caller, q.get("site"), q.get("kind") or None, q.get("before"),
                               lang_of(request))
        return render(request, "conflicts.html", caller=caller, **data)

    @get("/clients", sync_to_thread=True, guards=[signed_in])
    def clients(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """Enrolled clients (a technician: their own), each with a revoke button."""
        return render(request, "clients.html", caller=caller, clients=pages.clients(request.app.state, caller),
                      done=_done(request))

    @post("/clients/{client_id:str}/revoke", sync_to_thread=True, guards=[signed_in])
    def revoke(self, request: Request[Any, Any, Any], client_id: FromPath[str], data: Form,
               caller: CallerDep) -> Response[Any]:
        """Revoke a client (a lost phone), as `DELETE /api/clients/{id}`: another's is 404 to a technician."""
        _checked(request, data)
        if len(client_id) > MAX_ID_CHARS:
            raise E.NotFound("no such client")
        request.app.state.store.revoke_client(caller, client_id)
        return _back("clients", "revoked")

    @get("/users", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def users(self, request: Request[Any, Any, Any], caller: CallerDep) -> Response[bytes]:
        """Every account (`?q=` a part of its username or name, `?role=`), each with its number of sites and a
        link to its page; the new-user form."""
        q = request.query_params
        data = pages.users(request.app.state, caller, q.get("q"), q.get("role") or None)
        return render(request, "users.html", caller=caller, done=_done(request), **data)

    @get("/users/{username:str}", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def user(self, request: Request[Any, Any, Any], username: FromPath[str], caller: CallerDep) -> Response[bytes]:
        """One account: a password reset and disable/enable; a technician's sites, linked, each with a button to
        remove him from it, and a form to add one (`members.py` takes them, and comes back here)."""
        data = pages.user(request.app.state, caller, username, request.query_params.get("q"))
        sites = {s for s, _ in data["user"]["sites"]}
        member_done = member_pages.done_of(request.query_params, lambda _member, site: site in sites,
                                            session_token(request), member_page=username)
        return render(request, "user.html", caller=caller, done=_done(request), member_done=member_done, **data)

    @post("/users", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def create_user(self, request: Request[Any, Any, Any], data: Form, caller: CallerDep) -> Response[Any]:
        """Create an account as `POST /api/users` does (the same bounds, password rule and 409), with the form's
        fields: a technician's sites are added on his page, which this redirects to."""
        _checked(request, data)
        fields = {name: form_value(data, name) for name in ("username", "name", "role", "password")}
        try:
            new = msgspec.convert(fields, NewUser)
        except msgspec.ValidationError as exc:
            raise E.InvalidRequest(str(exc)) from None
        request.app.state.access.create_user(caller, new)
        return _back(_page_of(new.username), "created")

    @post("/users/{username:str}/password", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def set_password(self, request: Request[Any, Any, Any], username: FromPath[str], data: Form,
                     caller: CallerDep) -> Response[Any]:
        """A new password, as `PATCH /api/users/{username}`: every client of the user is revoked."""
        _checked(request, data)
        update = UserUpdate(password=form_value(data, "password"))
        request.app.state.access.update_user(caller, _user(username), update)
        return _back(_page_of(username), "password")

    @post("/users/{username:str}/disabled", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def set_disabled(self, request: Request[Any, Any, Any], username: FromPath[str], data: Form,
                     caller: CallerDep) -> Response[Any]:
        """Disable (`disabled=true`) or enable (`false`) an account, as `PATCH /api/users/{username}`."""
        _checked(request, data)
        disabled = {"true": True, "false": False}.get(form_value(data, "disabled"))
        if disabled is None:
            raise E.InvalidRequest("disabled is true or false")
        request.app.state.access.update_user(caller, _user(username), UserUpdate(disabled=disabled))
        return _back(_page_of(username), "disabled" if disabled else "enabled")


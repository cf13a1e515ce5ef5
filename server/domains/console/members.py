"""A supervisor puts technicians on a site, in the console (session 28).

The site page's 成员 section adds a technician or removes one; a technician's page (`/console/users/{username}`)
adds a site to him or removes one. Each form is `Access.add_member` / `.remove_member`, the service behind
`POST /api/sites/{site_id}/members` and `DELETE …/members/{username}`: audited, a scope event each,
so the technician's next pull adds or removes the site. The role is checked before the form is read
(the desk and technicians: the 403 page), then the session's CSRF token; a refusal is a page in the
catalogue's words with the problem's status and code, nothing written; done, 303 back with a line
saying what was done (`member_pages.DONE`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from litestar import Request, Response, post
from litestar.params import FromPath
from litestar.response import Redirect

from sync import errors as E
from sync.fields import unstorable
from sync.wire import MAX_ID_CHARS, MAX_USERNAME_CHARS

from ...http.controller import DomainController
from ...http.deps import CallerDep
from ...http.guards import site_in_scope, supervisor_only
from ..identity.service import Caller
from . import member_pages
from .controller import Form
from .web import (
    EXCEPTION_HANDLERS,
    HEADERS,
    PATH,
    check_session_post,
    form_value,
    render,
    session_token,
    signed_in,
)


def _bounded(site_id: str, username: str) -> None:
    """A site id or username no account or site can have (too long, a NUL) is unknown, before any query."""
    if len(site_id) > MAX_ID_CHARS or unstorable(site_id):
        raise E.NotFound(f"no site {site_id[:64]}")
    if len(username) > MAX_USERNAME_CHARS or unstorable(username):
        raise E.NotFound(f"no user {username[:64]}")


def _change(request: Request[Any, Any, Any], caller: Caller, site_id: str, username: str, add: bool,
            back: str) -> Response[Any]:
    """Add or remove the member through the API's service; 303 to `back` saying what was done, or the
    refusal's page in the catalogue's words (the service writes nothing when it refuses)."""
    access = request.app.state.access
    try:
        _bounded(site_id, username)
        if add:
            was = username in access.members(site_id).members
            access.add_member(caller, site_id, username)
            done = "member_already" if was else "member_added"
        else:
            done = "member_removed" if access.remove_member(caller, site_id, username) else "member_not_member"
    except E.SyncError as exc:
        key = member_pages.refusal_key(exc)
        if key is None:
            raise
        return render(request, "error.html", exc.status, caller=caller, message_key=key, code=exc.code, detail="")
    where = f"{PATH}/sites/{quote(site_id, safe='')}" if back == "site" else f"{PATH}/users/{quote(username, safe='')}"
    sig = member_pages.seal(session_token(request) or "", done, username, site_id)
    return Redirect(f"{where}?done={done}&member={quote(username, safe='')}&site={quote(site_id, safe='')}&sig={sig}"
                    f"#{'members' if back == 'site' else 'sites'}", status_code=303, headers=HEADERS)


class MembersController(DomainController):
    path = PATH
    include_in_schema = False
    exception_handlers = EXCEPTION_HANDLERS  # type: ignore[assignment]

    @post("/sites/{site_id:str}/members", sync_to_thread=True, guards=[signed_in, site_in_scope, supervisor_only])
    def add(self, request: Request[Any, Any, Any], site_id: FromPath[str], data: Form,
            caller: CallerDep) -> Response[Any]:
        """Make `username` (a technician) a member of the site, as `POST /api/sites/{site_id}/members`."""
        check_session_post(request, data)
        return _change(request, caller, site_id, form_value(data, "username"), True, "site")

    @post("/sites/{site_id:str}/members/{username:str}/remove", sync_to_thread=True,
          guards=[signed_in, site_in_scope, supervisor_only])
    def remove(self, request: Request[Any, Any, Any], site_id: FromPath[str], username: FromPath[str],
               data: Form, caller: CallerDep) -> Response[Any]:
        """End the membership, as `DELETE /api/sites/{site_id}/members/{username}`; what stays assigned to
        him here is listed on the page, not reassigned."""
        check_session_post(request, data)
        return _change(request, caller, site_id, username, False, "site")

    @post("/memberships", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def add_site(self, request: Request[Any, Any, Any], data: Form, caller: CallerDep) -> Response[Any]:
        """A user's page: make `username` a member of `site_id` (chosen by name); 303 back to his page."""
        check_session_post(request, data)
        return _change(request, caller, form_value(data, "site_id"), form_value(data, "username"), True, "users")

    @post("/memberships/remove", sync_to_thread=True, guards=[signed_in, supervisor_only])
    def remove_site(self, request: Request[Any, Any, Any], data: Form, caller: CallerDep) -> Response[Any]:
        """A user's page: end `username`'s membership of `site_id`; 303 back to his page."""
        check_session_post(request, data)
        return _change(request, caller, form_value(data, "site_id"), form_value(data, "username"), False, "users")

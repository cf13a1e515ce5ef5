"""Who works at a site, in the console (session 28): the site page's members and a user's page's sites.

Read through the services the API answers with (`Access.members`, `Access.users`,
`ServiceRequests.assignees` and `.list`), with the caller; no SQL here. Adding or
removing a member is `Access.add_member` / `.remove_member`, the API's own
(audited, a scope event each, so the technician's next pull adds or removes the site).
Nothing is reassigned when a technician leaves a site: what stays assigned to someone
who is no longer an enabled member is listed on the site page, linked, for the desk
and supervisors to reassign (docs/api.md, "Members, clients and the audit trail").
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sync import errors as E
from sync.schema import SERVICE_DESK, SUPERVISOR, TECHNICIAN
from sync.wire import MAX_USERNAME_CHARS

from ..identity.service import Caller
from ..inspections.schemas import InspectionSummary
from ..inspections.service import CLOSED
from ..service.service import MAX_LIMIT

# What a member form's redirect may say it did (`?done=`), with the member (`?member=`) it did it to.
DONE = ("member_added", "member_already", "member_removed", "member_not_member")
# A refused member form, by the service's refusal: the catalogue's words (the detail is the API's English).
_REFUSED = {"no user": "member_no_user", "no site": "member_no_site", "not a technician": "member_not_technician",
            "account is disabled": "member_user_disabled"}


def refusal_key(exc: E.SyncError) -> str | None:
    """The catalogue's key for a member form the service refused (an unknown user or site, a supervisor
    or the desk as a member); None: the console's usual page for the problem."""
    return next((key for words, key in _REFUSED.items() if words in exc.detail), None)


def seal(token: str, done: str, member: str, site: str) -> str:
    """The redirect's proof that this session's form did `done` to `member` at `site`: keyed by the session's
    token (HttpOnly, no other site reads it), so a link made by anyone else says nothing."""
    return hmac.new(token.encode(), f"member-done\0{done}\0{member}\0{site}".encode(), hashlib.sha256).hexdigest()[:32]


def done_of(query: Mapping[str, str], member_now: Callable[[str, str], bool], token: str | None, *,
            member_page: str | None = None, site_page: str | None = None) -> dict[str, str] | None:
    """`?done=member_removed&member=wang&site=…&sig=…`: what this session's last member form did, to whom and
    at which site, to say on the page (a user's own page `member_page`, a site's `site_page`); else None.
    `member_now(member, site)`: whether he is a member of it now; a line that says otherwise is not shown."""
    done, member = query.get("done"), query.get("member")
    if done not in DONE or not member or len(member) > MAX_USERNAME_CHARS or token is None:
        return None
    site = query.get("site") or ""
    # A crafted link (`?done=member_removed&member=全部技术员`, or zhao who never was a member) says nothing:
    # only the session's own redirect carries the seal (review of s28-members: the check of what is so now
    # alone let "removed" be said of anyone not a member).
    if not hmac.compare_digest(query.get("sig") or "", seal(token, done, member, site)):
        return None
    # A line about another user, or another site, than the page's (zhao removed from a site) is not said on
    # it: "not a member" is true of anyone else (review of s29-userspage and of the s29 merges).
    if member_page not in (None, member) or site_page not in (None, site):
        return None
    if member_now(member, site) != (done in ("member_added", "member_already")):
        return None
    return {"key": done, "member": member, "site": site}


def _open_work(state: Any, caller: Caller, site_id: str,
               inspections: Sequence[InspectionSummary]) -> tuple[dict[str, dict[str, list[Any]]], bool]:
    """The site's open requests and inspections by assignee, and whether there were more open requests than
    one page of the list (`MAX_LIMIT`) holds."""
    found = state.service_requests.list(caller, site_id=site_id, open_="true", limit=MAX_LIMIT)
    work: dict[str, dict[str, list[Any]]] = {}
    for r in found.requests:
        if r.assigned_to:
            work.setdefault(r.assigned_to, {"requests": [], "inspections": []})["requests"].append(r)
    for i in inspections:
        if i.assigned_to and i.status not in CLOSED:
            work.setdefault(i.assigned_to, {"requests": [], "inspections": []})["inspections"].append(i)
    return work, found.next is not None


def site_members(state: Any, caller: Caller, site_id: str, inspections: Sequence[InspectionSummary],
                 query: Mapping[str, str], token: str | None) -> dict[str, Any]:
    """The site page's 成员: its technicians (disabled ones marked) for everyone in scope; for supervisors,
    the enabled technicians who may be added; for the desk and supervisors, each member's open work here
    and the open work assigned to someone who is not an enabled member (left or disabled), linked."""
    members = state.access.members(site_id).members
    enabled = set(state.service_requests.assignees([site_id]))
    office = caller.role in (SUPERVISOR, SERVICE_DESK)
    work, more = _open_work(state, caller, site_id, inspections) if office else ({}, False)
    none: dict[str, list[Any]] = {"requests": [], "inspections": []}
    rows = [{"username": u, "disabled": u not in enabled, **work.get(u, none)} for u in members]
    stranded = [{"username": u, **w} for u, w in sorted(work.items()) if u not in enabled]
    addable: list[str] = []
    if caller.role == SUPERVISOR:
        addable = [u.username for u in state.access.users().users
                   if u.role == TECHNICIAN and not u.disabled and u.username not in members]
    return {"members": rows, "addable": addable, "stranded": stranded, "more_work": more, "work_limit": MAX_LIMIT, "office": office,
            "member_done": done_of(query, lambda member, _site: member in members, token, site_page=site_id)}

"""What the supervisor's pages show (issue 14): the month's reports, the conflict log, clients, users.

From the services the API calls, with the caller, so the API's roles and scope
apply; no SQL here. Query values are checked before they are used.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sync import errors as E
from sync.fields import MAX_PERIOD_YEAR, MIN_PERIOD_YEAR, is_month
from sync.schema import ROLES, SERVICE_DESK, SUPERVISOR, TECHNICIAN
from sync.wire import MAX_USERNAME_CHARS

from ...engine.conflicts import KINDS
from ...filters import one_of
from ..duty.service import duty_rules
from ..identity.service import Caller
from ..scope import in_scope
from .pages import NEWEST, conflict_words, local_time

CONFLICTS_PER_PAGE = 50
MAX_USER_QUERY_CHARS = 64  # the users page's `?q=`: a part of a username or a name (a user page's: of a site's)
ADD_SITE_CHOICES = 50  # a user page's add-site select: the first sites by name, then the search narrows them
_MONTH = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_POSITION = re.compile(r"[1-9]\d{0,15}")  # a conflict-log id: at most 16 digits
DONE = ("created", "password", "disabled", "enabled", "revoked", "roster")  # what a form's redirect may say it did


def month_of(state: Any, text: str | None) -> tuple[str, date]:
    """`?month=2026-11` (default: this month in the office's zone, by the store's clock) as the API's month
    (`2026-M11`) and its first day; anything else is `400 invalid_filter`."""
    if text is None or text == "":
        today = state.inspections.today(None)
        return f"{today.year}-M{today.month}", date(today.year, today.month, 1)
    if not _MONTH.fullmatch(text) or not is_month(f"{text[:4]}-M{int(text[5:])}"):  # the API's years: 9999-12 was a 500
        raise E.InvalidFilter(f"month {text[:16]!r} is a month like 2026-11, in the years {MIN_PERIOD_YEAR} to"
                              f" {MAX_PERIOD_YEAR}", parameter="month")
    first = date(int(text[:4]), int(text[5:]), 1)
    return f"{first.year}-M{first.month}", first


def _shift(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _site_names(state: Any, caller: Caller) -> dict[str, str]:
    return {s.id: s.name or "" for s in state.inspections.sites(caller)}


def roster(state: Any, caller: Caller, api_month: str, typed: dict[str, str] | None) -> dict[str, Any]:
    """The month's duty roster (who, on call from, until: the rules' default hours where it names none), and
    for a supervisor the form to write it: the enabled technicians, the values as stored or as `typed`."""
    found = state.duty.roster(api_month) or {}
    rules = duty_rules()
    shown = {"technician": found.get("technician") or "", "from": found.get("from") or rules.default_from,
             "until": found.get("until") or rules.default_until, "set": bool(found),
             "default_from": rules.default_from, "default_until": rules.default_until}
    if caller.role != SUPERVISOR:
        return {"roster": shown, "technicians": []}
    technicians = [u.username for u in state.access.users().users if u.role == TECHNICIAN and not u.disabled]
    form = typed if typed is not None else {"technician": shown["technician"], "from": found.get("from") or "",
                                            "until": found.get("until") or ""}
    return {"roster": shown, "technicians": technicians, "roster_form": form}


def reports(state: Any, caller: Caller, month: str | None,
            typed: dict[str, str] | None = None) -> dict[str, Any]:
    """The month's technician scores and fault causes (the desk's and supervisors', as the API), the duty
    roster (a supervisor's form to write it; `typed`: a refused form's values) and the duty log of the
    caller's scope (everyone's)."""
    api_month, first = month_of(state, month)
    after = _shift(first, 1)
    office = caller.role in (SUPERVISOR, SERVICE_DESK)
    names = _site_names(state, caller)
    log = state.duty.log(caller, api_month)

    def call(c: Any) -> dict[str, Any]:
        return {"received": c.received_local or "", "site": names.get(c.site_id or "", ""),
                "caller": c.caller_name or "", "phone": c.caller_phone or "", "summary": c.summary or "",
                "outcome": c.outcome, "on_duty": c.on_duty or "", "by": c.logged_by or ""}

    return {
        "month": first.strftime("%Y-%m"), "prev": _shift(first, -1).strftime("%Y-%m"),
        "next": after.strftime("%Y-%m"), "office": office,
        "scores": state.technician_reports.month(caller, api_month)[1].technicians if office else [],
        "faults": state.office.faults(first.isoformat(), after.isoformat()).faults if office else [],
        "calls": [call(c) for c in log.calls], "unresolved": [call(c) for c in log.unresolved],
        **roster(state, caller, api_month, typed),
    }


def per_cent(per_mille: int | None) -> str:
    return "" if per_mille is None else f"{per_mille // 10}.{per_mille % 10}%"


def hundredths(value: int | None) -> str:
    return "" if value is None else f"{'-' if value < 0 else ''}{abs(value) // 100}.{abs(value) % 100:02d}"


def conflicts(state: Any, caller: Caller, site: str | None, kind: str | None, before: str | None,
              lang: str) -> dict[str, Any]:
    """A page of the conflict log the caller may see, newest first, no-op entries left out; each row
    named by its label (a device code, a sheet or request number, a site's name), never its UUID, its
    field and values in words (`web.value_words`)."""
    kind = one_of("kind", kind, KINDS)
    if site and (len(site) > 128 or not in_scope(caller, site)):
        raise E.NotFound("no such site")
    if before and not _POSITION.fullmatch(before):
        raise E.InvalidFilter(f"before {before[:16]!r} is an entry's position", parameter="before")
    sites = state.inspections.sites(caller)
    zones = {s.id: s.tz for s in sites}
    names = {s.id: s.name or "" for s in sites}
    page = state.store.conflicts(caller, site_id=site or None, limit=CONFLICTS_PER_PAGE, no_op=False, kind=kind,
                                 before=int(before) if before else NEWEST)
    words_of = conflict_words(state, lang, zones)
    rows = [{"label": c.label, "collection": c.collection, "kind": c.kind, "reason": c.reason or "",
             "user": c.user or "", "other_user": c.other_user or "", "site": names.get(c.site_id or "", ""),
             **words_of(c)} for c in page.conflicts]
    return {"conflicts": rows, "next": page.next_after, "sites": sites, "kinds": KINDS,
            "filters": {"site": site or "", "kind": kind or ""}, "first_page": not before}


def clients(state: Any, caller: Caller) -> list[dict[str, Any]]:
    """The caller's clients (a supervisor: everyone's), as the API lists them, times in the office's zone."""
    return [{"id": c.id, "user": c.user, "name": c.name, "app": c.app or "", "created": local_time(c.created_at),
             "last_seen": local_time(c.last_sync_at), "revoked": local_time(c.revoked_at),
             "this_session": c.id == caller.client_id}
            for c in state.access.clients(caller).clients]


def _query(text: str | None) -> str:
    """A page's `?q=` (the users list's, a user page's site search): stripped, at most `MAX_USER_QUERY_CHARS`."""
    text = (text or "").strip()
    if len(text) > MAX_USER_QUERY_CHARS:
        raise E.InvalidFilter(f"q is at most {MAX_USER_QUERY_CHARS} characters", parameter="q",
                              limit=MAX_USER_QUERY_CHARS)
    return text


def users(state: Any, caller: Caller, text: str | None, role: str | None) -> dict[str, Any]:
    """Every account, or those whose username or name holds `text` (`?q=`, any case) and of `role` (`?role=`):
    each with its number of sites and a link to its page (`user`); at company scale (~100 technicians, hundreds
    of sites) the list holds no site and no form of a user's, so a supervisor finds someone in it."""
    role = one_of("role", role, ROLES)
    text = _query(text)
    found = state.access.users().users
    wanted = text.casefold()
    listed = [{"username": u.username, "name": u.name, "role": u.role, "disabled": u.disabled, "sites": len(u.sites)}
              for u in found if (role is None or u.role == role)
              and (wanted in u.username.casefold() or wanted in u.name.casefold())]
    return {"users": listed, "total": len(found), "filters": {"q": text, "role": role or ""}}


def user(state: Any, caller: Caller, username: str, text: str | None = None) -> dict[str, Any]:
    """One account's page: its sites as (id, name) by name, each to remove; for an enabled technician the sites
    he may be added to (the add form's choices): at most `ADD_SITE_CHOICES` by name, those whose name or
    customer holds `text` (`?q=`, any case), and how many more (`more_sites`; at company scale the select
    held every site, 1,000 options); `404` for a username no account has."""
    if len(username) > MAX_USERNAME_CHARS:
        raise E.NotFound("no such user")
    text = _query(text)
    found = next((u for u in state.access.users().users if u.username == username), None)
    if found is None:
        raise E.NotFound("no such user")
    sites = state.inspections.sites(caller)
    names = {s.id: s.name or "" for s in sites}
    mine = sorted(((s, names.get(s, "")) for s in found.sites), key=lambda x: (x[1], x[0]))
    addable = [s for s in sites if s.id not in found.sites] if found.role == TECHNICIAN and not found.disabled else []
    wanted = text.casefold()
    matching = [s for s in addable if wanted in (s.name or "").casefold() or wanted in (s.customer or "").casefold()]
    return {"user": {"username": found.username, "name": found.name, "role": found.role, "disabled": found.disabled,
                     "sites": mine, "self": found.username == caller.username},
            "addable": matching[:ADD_SITE_CHOICES], "more_sites": max(0, len(matching) - ADD_SITE_CHOICES),
            # the search box, once the sites to add are more than the select lists (or a search was made)
            "find_site": len(addable) > ADD_SITE_CHOICES or bool(text), "any_addable": bool(addable),
            "site_q": text, "site_names": names}

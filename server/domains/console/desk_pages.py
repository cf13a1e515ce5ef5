"""What the service desk's pages show (issue 14): the request list with the new-request form, a
request's timeline and dispatch, a visit with its bill. From the same services the API calls.

The forms' values are bounded (`form_value`) and turned into what the API takes; every rule is the
service's (a push's merge), so a refusal here is the API's refusal, in its words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import msgspec

from sync import errors as E
from sync import hlc, schema
from sync.collections.callbacks import RATINGS
from sync.collections.service import PAUSE_REASONS, PHONE_LIMIT
from sync.fields import NOTE_LIMIT
from sync.messages import label, words
from sync.periods import site_zone
from sync.pricing import yuan
from sync.schema import SERVICE_DESK, SUPERVISOR

from ..duty.schemas import OnDuty
from ..duty.service import Duty
from ..identity.service import Caller
from ..inspections.schemas import SiteSummary
from ..service.listing import TAIL_DIGITS
from ..service.schemas import NewRequest
from ..service.service import ServiceRequests, desk_kinds, phone_key
from .pages import local_time, request_row, stopped
from .web import MAX_FORM_FIELD_CHARS, form_value

PAGE = 50  # requests per page of the list
FILTERS = ("site_id", "status", "open", "breached", "at_risk", "callback_due", "assigned_to", "caller_phone")
MEMBER_SITES = 100  # the new-request form suggests the members of at most this many sites (one query each)
NEW_FIELDS = ("site_id", "device_code", "device_id", "caller_name", "caller_phone", "channel", "kind", "description",
              "reported_at", "assigned_to", "duplicate_ok")
_REQUESTS = schema.COLLECTIONS["service_requests"]


def _choices(name: str) -> tuple[str, ...]:
    found = _REQUESTS.field(name)
    return found.choices if found is not None and found.choices else ()


def is_desk(caller: Caller) -> bool:
    """Whether the caller gets the desk's forms (a technician reads the same pages without them)."""
    return caller.role in (SERVICE_DESK, SUPERVISOR)


def _sites(state: Any, caller: Caller) -> dict[str, SiteSummary]:
    return {s.id: s for s in state.inspections.sites(caller)}


def request_list(state: Any, caller: Caller, t: Mapping[str, str], query: Mapping[str, str]) -> dict[str, Any]:
    """A page of the caller's requests, filtered as the API's list; the form's choices beside it."""
    filters = {name: query.get(name) or None for name in FILTERS}
    requests: ServiceRequests = state.service_requests
    sites = _sites(state, caller)
    rows, next_, phone_refused = [], None, ""
    try:
        listed = requests.list(caller, site_id=filters["site_id"], status=filters["status"],
                               assigned_to=filters["assigned_to"], breached=filters["breached"],
                               at_risk=filters["at_risk"], open_=filters["open"], limit=PAGE,
                               after=query.get("after") or None, callback_due=filters["callback_due"],
                               caller_phone=filters["caller_phone"])
        rows, next_ = [request_row(t, r, sites) for r in listed.requests], listed.next
    except E.InvalidFilter as exc:  # a number typed in the list's own box: said beside it, the form kept
        if exc.extra.get("parameter") != "caller_phone":
            raise
        phone_refused = t["caller_phone_refused"].format(digits=TAIL_DIGITS, limit=PHONE_LIMIT)
    members = requests.assignees(list(sites)[:MEMBER_SITES])
    return {"requests": rows, "next": next_, "filters": {k: v or "" for k, v in filters.items()},
            "phone_refused": phone_refused,
            "sites": list(sites.values()), "statuses": _choices("status"), "channels": _choices("channel"),
            "kinds": _choices("kind"), "members": members, "desk": is_desk(caller)}


def duty_now(state: Any) -> OnDuty:
    """Who answers the duty phone now (`GET /api/duty`'s answer): the line atop the dashboard and the
    request list, in the roster's zone as the duty log."""
    duty: Duty = state.duty
    return duty.who(None)


def _timestamp(text: str, tz: object) -> str | None:
    """The form's `datetime-local` (the site's wall clock) as a protocol time; blank is None (now)."""
    if not text:
        return None
    try:
        when = datetime.fromisoformat(text)
        if when.tzinfo is None:
            when = when.replace(tzinfo=site_zone(tz))
        return hlc.format_ts(int(when.timestamp() * 1000))
    except (ValueError, OverflowError):  # the year 1 east of UTC falls before the calendar's first day
        raise E.InvalidRequest(f"reported_at {text[:32]!r} is not a date and time") from None


def typed(data: dict[str, Any]) -> dict[str, str]:
    """The new-request form's values as typed, each bounded (kept to show the form again)."""
    return {name: form_value(data, name, NOTE_LIMIT if name == "description" else MAX_FORM_FIELD_CHARS).strip()
            for name in NEW_FIELDS}


def pick_device(state: Any, caller: Caller, values: dict[str, str]) -> tuple[str | None, dict[str, Any] | None]:
    """The new-request form's device: (its id, None), or (None, the choice to offer: {"devices": [{"id",
    "code", "name", "location"}], "more": past the 50 shown}). The choice's `device_id` taken only as an active
    device of the chosen site; else `device_code`, taken at once only as the exact code of one active device
    of the site; words (`2号门的读卡器`, a mistyped code) always give the choice, even of one device. Nothing
    typed: (None, None); nothing named (a retired device's code too): refused as a code no device has."""
    site_id, text, chosen = values["site_id"], values["device_code"], values["device_id"]
    if not site_id or not (text or chosen) or not state.inspections.sites(caller, site_id):
        return None, None  # no site: `open_request` refuses it
    if chosen:
        fields = state.archive.active_device(caller, site_id, chosen)
        if fields is None:
            raise E.NotFound("the device chosen is not an active device of the site")
        values["device_code"], values["device_id"] = str(fields.get("code") or ""), ""
        return chosen, None
    coded, named, more = state.archive.site_devices_said(caller, site_id, text)
    if len(coded) == 1:
        return coded[0][0], None
    if coded:  # two active devices of one code: the clerk tells them apart
        named = coded
    if not named:
        raise E.NotFound("nothing with that number in your sites")
    return None, {"devices": [{"id": i} | {k: str(f.get(k) or "") for k in ("code", "name", "location")}
                              for i, f in named], "more": more}


def open_request(state: Any, caller: Caller, values: dict[str, str], device_id: str | None) -> str:
    """Open the request the form describes (its device as `pick_device` found it) through the API's
    service; its id."""
    site_id = values["site_id"]
    sites = state.inspections.sites(caller, site_id) if site_id else []
    if not sites:
        raise E.NotFound(f"no site {site_id[:64]}")
    fields = {name: values[name] or None for name in ("channel", "kind", "caller_name", "caller_phone",
                                                       "description", "assigned_to")}
    try:
        new = msgspec.convert({**fields, "site_id": site_id, "device_id": device_id,
                               "reported_at": _timestamp(values["reported_at"], sites[0].tz)}, NewRequest)
    except msgspec.ValidationError as exc:
        raise E.InvalidRequest(str(exc)) from None
    requests: ServiceRequests = state.service_requests
    return requests.open(caller, new).id


def duplicate_call(state: Any, caller: Caller, values: dict[str, str], device_id: str | None,
                   t: Mapping[str, str]) -> dict[str, Any] | None:
    """The open requests of the form's site about its device or from its caller's phone, which the new
    call may repeat: the form shows them and waits for a second, deliberate submit of this very call
    (`duplicate_ok`: the site, device and number it was shown for). None: nothing to ask."""
    site_id, phone = values["site_id"], phone_key(values["caller_phone"])
    key = f"{site_id}/{device_id or ''}/{phone}"
    # A number past its limit is the write's refusal, in its words (it was asked about first, and its key,
    # past a form value's 256 characters, could never be sent back: review of s28-dupcall).
    if not site_id or not (device_id or phone) or values["duplicate_ok"] == key or len(values["caller_phone"]) > PHONE_LIMIT:
        return None
    try:
        sites = {s.id: s for s in state.inspections.sites(caller, site_id)}
        found = state.service_requests.duplicates(caller, site_id, device_id,
                                                   values["caller_phone"] if phone else None) if sites else []
    except E.NotFound:  # no such site or device: the write refuses it in its words
        return None
    if not found:
        return None
    return {"key": key, "requests": [request_row(t, r, sites) | {"same_device": device_id is not None
                                                                  and r.device_id == device_id} for r in found]}


def request_page(state: Any, caller: Caller, request_id: str, lang: str) -> dict[str, Any]:
    """A request's timeline, milestones against their targets (explained in the page's language),
    warranty, visits and call-backs."""
    # 404 outside the caller's scope
    detail = state.service_requests.detail(caller, request_id, words("clocks", lang))
    site = _sites(state, caller).get(detail.site_id or "")
    tz = site.tz if site else None
    visits = {v.id: v for v in detail.visits}
    events = [{"e": e, "effective": local_time(e.effective_at, tz), "at": local_time(e.at, tz),
               "visit": visits[e.visit_id].sheet_no if e.visit_id in visits else None,
               "key": (str(e.effective_at or e.at), 1)} for e in detail.events]
    dispatches = [{"d": d, "effective": local_time(d.changed_at, tz), "at": local_time(d.recorded_at, tz),
                   "key": (d.changed_at, 0)} for d in detail.dispatches]
    return {"r": detail, "site": site, "tz": tz,
            # the events and the dispatch history by when each happened (a dispatch first at the same time),
            # each in the order the service gives it
            "events": sorted(events + dispatches, key=lambda x: x["key"]),
            "milestones": [{"m": m, "due": local_time(m.due_at, tz), "done": local_time(m.done_at, tz),
                            "stopped": stopped(m, detail.paused_since)} for m in detail.milestones],
            "paused": local_time(detail.paused_since, tz),
            "visits": [{"v": v, "planned": local_time(v.planned_at, tz), "recorded": local_time(v.recorded_at, tz)}
                       for v in detail.visits],
            "callbacks": [{"c": c, "at": local_time(c.called_at, tz),
                           "visit": visits[c.visit_id].sheet_no if c.visit_id in visits else None}
                          for c in detail.callbacks],
            "reported": local_time(detail.reported_at, tz), "ratings": RATINGS,
            # only what the request's status takes: a cancel after the customer signed moved nothing
            "desk_kinds": desk_kinds(detail.status),
            "pause_reasons": PAUSE_REASONS,
            "members": state.service_requests.assignees([detail.site_id] if detail.site_id else []),
            "desk": is_desk(caller)}


# The request page's forms and their fields; a refused one comes back filled with what was typed.
DESK_FORMS = {"dispatch": ("assigned_to",), "event": ("kind", "reason", "note"),
              "callback": ("visit_id", "reached", "rating", "comment")}
# A field a refusal's detail names (`callbacks.rating ...`: the merge's details start so) -> its label's key.
_FIELD_LABELS = {"assigned_to": "dispatch_to", "kind": "event_kind", "reason": "pause_reason", "note": "note",
                 "visit_id": "sheet_no", "reached": "reached", "rating": "rating", "comment": "note",
                 # the reports page's duty roster form (office.py)
                 "technician": "roster_technician", "from": "roster_from", "until": "roster_until", "month": "month"}
# The new-request form's fields -> their labels on that form (its `kind` is the request's, not an event's).
NEW_FORM_LABELS = {"site_id": "site", "device_code": "device_code_optional", "caller_name": "caller_name",
                   "caller_phone": "caller_phone", "channel": "channel", "kind": "kind", "description": "description",
                   "reported_at": "reported_at", "assigned_to": "assign_to_optional"}
_NAMED_FIELD = re.compile(r"(?:[a-z_]+\.)?([a-z_]+)\b")  # any collection: `inspections.assigned_to` too


def kept(data: dict[str, Any], form: str = "") -> dict[str, str]:
    """Every desk form's field, blank but for those of the refused `form` as typed, to show it again:
    strings only, each clipped to a note's limit (they are only shown, escaped, never stored)."""
    return {name: value[:NOTE_LIMIT] if name_form == form and isinstance(value := data.get(name), str) else ""
            for name_form, names in DESK_FORMS.items() for name in names}


def refusal(exc: E.SyncError, t: Mapping[str, str], lang: str, labels: Mapping[str, str] = _FIELD_LABELS) -> str:
    """Why the desk's form was refused, in the catalogue's words (the merge's detail is English for the
    API): the field it names, by the form's label (`labels`: field -> the console's word for it), and the
    refusal's reason (the push's, else the problem's code): 评价：仅在联系上客户时填写."""
    reason = str(exc.extra.get("reason") or ("too_long" if "limit" in exc.extra else exc.code))
    found = _NAMED_FIELD.match(exc.detail)
    field = str(exc.extra.get("parameter") or (found[1] if found else ""))
    for group, key in (("desk_refusal", f"{field}.{reason}"), ("desk_refusal", reason), ("conflict_reason", reason),
                       ("desk_refusal", "invalid_request")):
        why = label(group, key, lang)
        if why != key:  # the catalogue has words for it
            break
    why = why.format(limit=exc.extra.get("limit"))
    return t["refused_field"].format(field=t[labels[field]], why=why) if field in labels else why


def record_callback(state: Any, caller: Caller, request_id: str, data: dict[str, Any]) -> None:
    reached = form_value(data, "reached")
    if reached not in ("true", "false"):
        raise E.InvalidRequest("reached is true or false")
    state.service_requests.record_callback(caller, request_id, form_value(data, "visit_id"), reached == "true",
                                           form_value(data, "rating") or None,
                                           form_value(data, "comment", NOTE_LIMIT) or None)


def record_event(state: Any, caller: Caller, request_id: str, data: dict[str, Any]) -> None:
    """The desk's event form: the kind, a pause's reason and a note, as the desk's push would send them."""
    state.service_requests.record_event(caller, request_id, form_value(data, "kind"), form_value(data, "reason") or None,
                                        form_value(data, "note", NOTE_LIMIT) or None)


def visit_page(state: Any, caller: Caller, visit_id: str) -> dict[str, Any]:
    """A visit's contact sheet with its bill, as the API's `GET /api/visits/{id}` and `/bill` give them."""
    visit = state.billing.visit(caller, visit_id)  # 404 outside the caller's scope
    bill = state.billing.bill(caller, visit_id)
    request = state.service_requests.detail(caller, visit.request_id or "")
    site = _sites(state, caller).get(request.site_id or "")
    tz = site.tz if site else None
    borne = state.billing.borne_by(caller, visit_id)
    return {"v": visit, "req": request, "site": site,
            "planned": local_time(visit.planned_at, tz), "recorded": local_time(visit.recorded_at, tz),
            "lines": [{"line": line, "amount": yuan(line.amount_fen or 0), "decided": local_time(line.decided_at, tz),
                       "borne_by": borne[line.id]} for line in visit.lines],
            "bill": {"subtotal": yuan(bill.subtotal_fen), "tax": yuan(bill.tax_fen), "total": yuan(bill.total_fen),
                     "rate": f"{bill.tax_bps / 100:g}"},
            "signatures": [{"s": s, "at": local_time(s.signed_at, tz)} for s in visit.signatures],
            "sealed": bool(visit.sealed_by)}

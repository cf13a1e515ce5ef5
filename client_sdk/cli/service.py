"""The `fieldsync-client` commands of service work (issue 12, item 5): `requests`, `request`,
`event`, `visit`, `report`, `new-request`, `visit-sheet` and `sign-visit`. All work offline, from
the local database; the countdowns are computed on the phone by the server's clock code."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any, TextIO

from sync.clocks import duration

from ..client import Client
from ..labels import zone_of
from ..views import MilestoneView, RequestSummary
from .common import _find_device, _signature_input, _site_devices, _UserError
from .messages import MESSAGES, _say, _text, clock_words, value


def _find(rows: list[dict[str, Any]], ref: str, number: str, what: str) -> dict[str, Any]:
    """A row by id, by its number field (`number`, `sheet_no`, `name`), or by a unique prefix of its id."""
    found = (
        [r for r in rows if r["id"] == ref]
        or [r for r in rows if str(r["fields"].get(number) or "").casefold() == ref.casefold()]
        or [r for r in rows if r["id"].startswith(ref.lower())]
    )
    if not found:
        raise _UserError(_text(f"no_{what}", ref=ref))
    if len(found) > 1:
        raise _UserError(_text(f"ambiguous_{what}", ref=ref, matches=", ".join(r["id"] for r in found)))
    return found[0]


def _number(request: RequestSummary | dict[str, Any]) -> str:
    if isinstance(request, dict):
        return str(request["fields"].get("number") or request["id"])
    return str(request.number or request.id)


def _clock_time(local: str, today: str) -> str:
    """`14:05` today, `12-07 14:05` another day (`local` is `YYYY-MM-DD HH:MM`)."""
    return local[11:] if local[:10] == today else local[5:]


def countdown(m: MilestoneView, today: str) -> str:
    """"on site by 14:05 — 1 h 12 min left", from the catalogue."""
    words = {"name": MESSAGES[f"milestone_{m.name}"], "due": _clock_time(m.due_local, today),
             "left": duration(m.remaining_ms, clock_words()), "late": duration(m.remaining_ms, clock_words())}
    if m.status == "not_applicable":
        return _text("countdown_not_applicable", **words)
    if m.done_at is not None:
        return _text("countdown_met" if m.status == "met" else "countdown_breached", done=_clock_time(m.done_local or "", today),
                     **words)
    key = {"breached": "countdown_late", "at_risk": "countdown_at_risk"}.get(m.status, "countdown_left")
    return _text(key, **words)


def _today(client: Client, site_id: Any) -> str:
    return datetime.fromtimestamp(client.server_now() / 1000, zone_of(client.db, site_id)).strftime("%Y-%m-%d")


def _next(request: RequestSummary, today: str) -> str:
    """The most urgent clock still running, or what stands in for it."""
    if request.milestones is None:
        return MESSAGES["no_terms"]
    running = [m for m in request.milestones if m.done_at is None and m.status != "not_applicable"]
    if not running:
        return MESSAGES["countdown_done"]
    return countdown(min(running, key=lambda m: m.due_at), today)


def _who(client: Client, assigned_to: Any, short: bool = False) -> str:
    """Who a request is assigned to: `you`, another technician by username, or nobody."""
    if not assigned_to:
        return MESSAGES["assigned_none_short" if short else "assigned_none"]
    return MESSAGES["assigned_you"] if assigned_to == client.username else str(assigned_to)


def assignment_news(client: Client, out: TextIO) -> None:
    """After a sync: requests the desk assigned to me, and those reassigned off me, since I was last told; on
    a phone's first sync, how many are mine in one line (`requests` lists them). Recorded as told only once the
    lines are out (flushed): a broken pipe or a killed phone leaves them for the next sync."""
    news = client.assignment_news()
    told = news.new + news.gone
    if news.first and news.new:
        _say(out, "yours_first", count=len(news.new))
    elif not news.first:
        for request in told:
            f = request["fields"]
            site = client.get("sites", str(f.get("site_id")))
            device = client.get("devices", str(f.get("device_id"))) if f.get("device_id") else None
            words = {"number": _number(request), "site": (site["fields"].get("name") if site else None)
                     or MESSAGES["unknown"], "device": (device["fields"].get("code") if device else None) or "-",
                     "description": f.get("description") or "", "who": f.get("assigned_to")}
            _say(out, "now_yours" if request in news.new else "not_yours" if f.get("assigned_to")
                 else "not_yours_none", **words)
    if told:
        out.flush()
    client.assignment_told(news.mine)


def requests(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    shown = client.my_requests(include_all=args.all)
    if not shown:
        _say(out, "no_requests")
    for r in shown:
        _say(out, "request_line", number=_number(r), status=value("request_status", r.status), site=r.site_name or MESSAGES["unknown"],
             device=r.device_code or "-", who=_who(client, r.assigned_to, short=True),
             countdown=_next(r, _today(client, r.site_id)), id=r.id)
    return 0


def request(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = _find(client.rows("service_requests"), args.request, "number", "request")
    r = client.request(found["id"], catalogue=clock_words())
    today = _today(client, r.site_id)
    _say(out, "request_header", number=_number(r), status=value("request_status", r.status), site=r.site_name or MESSAGES["unknown"],
         device=r.device_code or "-", kind=value("request_kind", r.kind) if r.kind else "-", complexity=value("complexity", r.complexity), reported=r.reported_local or "-",
         who=_who(client, r.assigned_to))
    _say(out, "request_caller", caller=r.caller_name or "-", phone=r.caller_phone or "",
         description=r.description or "")
    _say(out, "request_milestones")
    if r.milestones is None:
        _say(out, "request_milestone", text="-", explanation=MESSAGES["no_terms"])
    for m in r.milestones or ():
        _say(out, "request_milestone", text=countdown(m, today), explanation=m.explanation)
    _say(out, "request_events")
    for e in r.events:
        extra = " ".join(x for x in (e.reason and value("pause_reason", e.reason), e.note and str(e.note)) if x)
        _say(out, "request_event", at=e.at_local or str(e.at), kind=value("event", e.kind), by=str(e.by or "-"), extra=extra,
             voided=MESSAGES["event_voided"] if e.voided else "", pending=MESSAGES["not_synced"] if e.pending else "")
    _say(out, "request_visits")
    for v in r.visits:
        outcome = ": ".join(x for x in (v.outcome and value("visit_outcome", v.outcome), v.work_done and str(v.work_done)) if x) or MESSAGES["not_checked"]
        _say(out, "request_visit", sheet_no=str(v.sheet_no or v.id), technician=str(v.technician or "-"),
             outcome=outcome, sealed=MESSAGES["sheet_sealed"] if v.sealed else "",
             pending=MESSAGES["not_synced"] if v.pending else "")
    return 0


def event(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = _find(client.rows("service_requests"), args.request, "number", "request")
    visit = _find(client.rows("service_visits"), args.visit, "sheet_no", "visit")["id"] if args.visit else None
    event_id = client.record_event(found["id"], args.kind, reason=args.reason, note=args.note, visit_id=visit)
    recorded = client.get("service_events", event_id)
    assert recorded is not None
    at = datetime.fromisoformat(str(recorded["fields"]["at"])).astimezone(zone_of(client.db, found["fields"].get("site_id")))
    _say(out, "event_recorded", kind=value("event", args.kind), number=_number(found), at=at.strftime("%H:%M"),
         seq=client.pending()[-1]["seq"])
    return 0


def visit(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = _find(client.rows("service_requests"), args.request, "number", "request")
    visit_id = client.start_visit(found["id"], planned_at=args.planned_at)
    _say(out, "visit_started", number=_number(found), id=visit_id, seq=client.pending()[-1]["seq"])
    return 0


def report(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = _find(client.rows("service_visits"), args.visit, "sheet_no", "visit")
    seq = client.record_visit_report(found["id"], args.outcome, work_done=args.work_done,
                                     fault_cause=args.fault_cause, warranty_void=args.void)
    _say(out, "report_recorded", sheet_no=found["fields"].get("sheet_no") or found["id"], outcome=value("visit_outcome", args.outcome),
         seq=seq)
    return 0


def new_request(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    site = _find(client.rows("sites"), args.site, "name", "site")
    device = _find_device(_site_devices(client, site["id"]), args.device)["id"] if args.device else None
    request_id = client.open_request(site["id"], args.description, device_id=device, kind=args.kind,
                                     caller_name=args.caller, caller_phone=args.phone,
                                     complexity="complex" if args.complex else None)
    _say(out, "request_opened", id=request_id, site=site["fields"].get("name") or site["id"],
         seq=client.pending()[-1]["seq"])
    return 0


def sign_visit(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = _find(client.rows("service_visits"), args.visit, "sheet_no", "visit")
    strokes, png = _signature_input(args)
    sig_id = client.sign_visit(found["id"], args.name, args.role, strokes=strokes, png=png)
    _say(out, "visit_signed", name=args.name, role=value("signer_role", args.role), sheet_no=found["fields"].get("sheet_no") or found["id"],
         id=sig_id)
    return 0

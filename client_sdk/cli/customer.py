"""What the customer reads on the phone before signing: `sheet` (an inspection's 定期维护单) and
`visit-sheet` (a visit's 技术服务联络单).

The technician's commands speak English (`sync/messages/cli.py`), but these two screens are the
customer's: they say what the printed sheet says, in its words (the catalogue's `sheets` and `values`
sections, Chinese), times in the site's zone, money in yuan, devices as the sheet names them. They list
every field the signature seals (the canonical sheet, `sync.sheet`), so what the customer reads is what
he signs. The notices for the technician (a signature that did not match, a check that lost) stay in
English above the sheet.
"""

from __future__ import annotations

import argparse
from collections import Counter
from itertools import groupby
from typing import Any, TextIO

from sync.messages import label, words
from sync.periods import site_zone
from sync.pricing import PER_HOUR, yuan
from sync.schema import COLLECTIONS
from sync.sheet import SYSTEM_ORDER

from ..client import Client
from ..service import _local
from .commands import _notices, _tell
from .common import _find_inspection
from .messages import _say
from .service import _find

SHEET = words("sheets")
CLOCKS = words("clocks", "zh")  # a milestone's explanation as the printed sheet says it
# Fields the sheet's head or its own lines already say; the others the signature seals follow them.
_VISIT_SAID = frozenset(["technician", "work_done", "fault_cause", "outcome"])
_LINE_SAID = frozenset(["item", "description", "quantity", "decision", "decided_by", "decided_at"])


def _field(name: str, value: Any) -> str:
    return SHEET["screen_field"].format(name=name, value=value)


def _pair(*pairs: tuple[str, Any]) -> str:
    """`单号：PM-…　维护周期：2026-Q4`: the printed sheet's head, a line of `(word key, value)`."""
    return SHEET["screen_sep"].join(_field(SHEET[key], value) for key, value in pairs)


def _join(*parts: str) -> str:
    return SHEET["screen_sep"].join(p for p in parts if p)


def _yes_no(value: object) -> str:
    return SHEET["yes" if value else "no"]


def _person(client: Client, username: object) -> str:
    """A user as the sheet names him: this phone's user by his name (王工), another by his username."""
    if not username:
        return ""
    if username == client.username:
        return str(client.db.meta("user_name") or username)
    return str(username)


def _value(client: Client, collection: str, name: str, value: Any, zone: Any) -> str:
    """A sealed field's value as the sheet says it: a time in the site's zone, a stored value's words,
    money in yuan, yes/no, a person by name."""
    spec = COLLECTIONS[collection].field(name)
    kind = spec.type if spec is not None else None
    if kind == "timestamp":
        return _local(value, zone) or str(value)
    if kind == "enum":
        return label(name, value)
    if isinstance(value, bool):
        return _yes_no(value)
    if name.endswith("_fen") and isinstance(value, int):
        return yuan(value)
    if name.endswith("_by") or name == "technician":
        return _person(client, value)
    return str(value)


def inspection_screen(client: Client, inspection_id: str) -> list[str]:
    """The 定期维护单 as the phone shows it: the printed sheet's head, counts and device lines (code,
    outcome, kind, location, time checked, note), each check's checklist items and who checked it."""
    shown = client.sheet(inspection_id)
    f, site = shown["inspection"], shown["site"]
    zone = site_zone(site.get("tz"))
    devices = sorted(shown["devices"], key=lambda d: (
        SYSTEM_ORDER.index(d["system"]) if d["system"] in SYSTEM_ORDER else len(SYSTEM_ORDER), d["code"] or ""))
    outcomes = Counter((d["check"] or {}).get("outcome") or "not_checked" for d in devices)
    lines = [
        SHEET["inspection_title"],
        _pair(("sheet_no", f.get("sheet_no") or ""), ("period", f.get("period") or "")),
        _pair(("customer", site.get("customer") or ""), ("technician", _person(client, f.get("assigned_to")))),
        _pair(("site", site.get("name") or ""), ("address", site.get("address") or "")),
        _pair(("status", label("inspection_status", f.get("status") or "scheduled"))),
        SHEET["devices"],
        SHEET["counts"].format(total=len(devices), **{k: outcomes[k] for k in (
            "serviced", "fault", "not_accessible", "skipped", "not_checked")}),
    ]
    checklists = {kind: {i["key"]: i for i in items} for kind, items in client.checklists().items()}
    for system, group in groupby(devices, key=lambda d: d["system"]):
        lines.append(label("system", system))
        for d in group:
            check = d["check"] or {}
            lines.append(SHEET["screen_row"].format(text=_join(
                d["code"] or d["device_id"], label("outcome", check.get("outcome")),
                label("kind", d["kind"]) if d["kind"] else "", d["location"] or "",
                _value(client, "device_checks", "checked_at", check["checked_at"], zone) if check.get("checked_at")
                else "", _field(SHEET["note"], check["note"]) if check.get("note") else "",
                label("conflict_reason", "sealed") if d["sealed_by"] else "")))
            items = checklists.get(str(d["kind"]), {})
            said = [_field(label("field", "checked_by"), _person(client, check["checked_by"]))
                    if check.get("checked_by") else ""]
            for key, value in sorted(check.items()):
                if key.startswith("item."):
                    item = items.get(key[5:], {})
                    said.append(_field(item.get("label_zh") or item.get("label") or key[5:],
                                       _yes_no(value) if isinstance(value, bool) else value))
            if any(said):
                lines.append(SHEET["screen_sub"].format(text=_join(*said)))
    lines.append(SHEET["screen_checks"].format(checks=shown["checks"]))
    lines.append(_field(SHEET["seal_hash"], shown["sheet_sha256"]))
    return lines


def visit_screen(client: Client, visit_id: str) -> list[str]:
    """The 技术服务联络单 as the phone shows it: the printed sheet's head, the fault and what was done, every
    other field the signature seals, and the charge lines priced on the phone as the server will."""
    shown = client.visit_sheet(visit_id)
    request, site, fields = shown["request"], shown["site"], shown["fields"]
    zone = site_zone(site.get("tz"))
    lines = [
        SHEET["visit_title"],
        _pair(("sheet_no", shown["visit"].get("sheet_no") or ""), ("request_no", request.get("number") or "")),
        _pair(("customer", site.get("customer") or ""), ("site", site.get("name") or "")),
        _pair(("call_time", _value(client, "service_requests", "reported_at", request.get("reported_at"), zone)
               if request.get("reported_at") else ""), ("channel", label("channel", request.get("channel")))),
        _pair(("caller", " ".join(x for x in (request.get("caller_name"), request.get("caller_phone")) if x)),
              ("technician", _person(client, fields.get("technician")))),
        _pair(("fault", request.get("description") or "")),
        _pair(("work_done", fields.get("work_done") or "")),
        _pair(("fault_cause", fields.get("fault_cause") or ""),
              ("visit_outcome", label("visit_outcome", fields["outcome"]) if fields.get("outcome") else "")),
    ]
    lines += [_field(label("field", name), _value(client, "service_visits", name, value, zone))
              for name, value in sorted(fields.items()) if name not in _VISIT_SAID]
    if shown["sealed"]:
        lines.append(label("conflict_reason", "sealed"))
    lines.append(SHEET["lines"])
    bill = client.bill(visit_id) if client.fee_schedules() is not None else None
    priced = {line.id: line for line in bill.lines} if bill is not None else {}
    order = [line_id for line_id, _ in client.visit_charges(visit_id) if line_id in shown["lines"]]
    for line_id in order:
        line, price = shown["lines"][line_id], priced.get(line_id)
        item = line.get("item")
        decision = label("decision", line.get("decision"))
        if line.get("decided_by") or line.get("decided_at"):
            decision = SHEET["screen_decided"].format(decision=decision, by=_person(client, line.get("decided_by")),
                                                      at=_value(client, "charge_lines", "decided_at",
                                                                line.get("decided_at"), zone))
        named = label("item", item) if item else ""
        lines.append(SHEET["screen_row"].format(text=_join(
            _field(named, line["description"]) if line.get("description") else named,
            SHEET["minutes"].format(n=line.get("quantity") or 0) if item == PER_HOUR else str(line.get("quantity", "")),
            _field(SHEET["consent"], decision),
            *(_field(label("field", k), _value(client, "charge_lines", k, v, zone))
              for k, v in sorted(line.items()) if k not in _LINE_SAID),
            *((_field(SHEET["covered"], _yes_no(price.covered)), _field(SHEET["billed"], _yes_no(price.billed)),
               _field(SHEET["amount"], yuan(price.amount_fen))) if price is not None else ()))))
    if bill is not None:
        lines += [_field(SHEET["subtotal"], yuan(bill.subtotal_fen)),
                  _field(SHEET["tax"].format(rate=f"{bill.tax_bps / 100:g}"), yuan(bill.tax_fen)),
                  _field(SHEET["total"], yuan(bill.total_fen))]
    lines += _milestones(client, str(request.get("id")))
    lines.append(_field(SHEET["seal_hash"], shown["sheet_sha256"]))
    return lines


def _milestones(client: Client, request_id: str) -> list[str]:
    """The printed sheet's 服务时限: each milestone's due and done times in the site's zone, its status and
    its explanation in the sheet's Chinese, counted on the phone as the server counts them; nothing while
    the phone holds no terms for the site (or no longer holds the request)."""
    found = client.get("service_requests", request_id)
    if found is None or found["deleted"]:
        return []
    milestones = client.request(request_id, catalogue=CLOCKS).milestones
    if not milestones:
        return []
    return [SHEET["milestones"], *(SHEET["screen_row"].format(text=_join(
        label("milestone", m.name), _field(SHEET["due_at"], m.due_local),
        _field(SHEET["done_at"], m.done_local) if m.done_local else "",
        label("milestone_status", m.status), _field(SHEET["explanation"], m.explanation))) for m in milestones)]


def sheet(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    inspection = _find_inspection(client, args.inspection)
    told = [notice for notice in _notices(client) if notice.about == inspection["id"]]
    for notice in told:  # the technician's, in English, above the customer's sheet
        _say(out, "sheet_attention", text=notice.text)
    _tell(client, told, out)
    print("\n".join(inspection_screen(client, inspection["id"])), file=out)
    return 0


def visit_sheet(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    found = _find(client.rows("service_visits"), args.visit, "sheet_no", "visit")
    print("\n".join(visit_screen(client, found["id"])), file=out)
    return 0

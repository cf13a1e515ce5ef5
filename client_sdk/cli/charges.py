"""The `fieldsync-client` commands of charges and duty (issue 13, item 7): `charge`, `bill`,
`duty-call` and `duty`. All work offline, from the local database: the bill is priced and the
technician on duty named on the phone by the server's own code (`sync.pricing`, `sync.duty`).

Money is typed in yuan as the customer hears it (`--price 350.50`) and turned into integer fen
exactly, from the text (at most two decimals; never a float); it is shown in yuan from the fen.
"""

from __future__ import annotations

import argparse
from typing import Any, TextIO

from sync import hlc
from sync.pricing import fen_of, yuan

from ..client import Client
from .common import _UserError
from .messages import MESSAGES, _say, _text, value
from .service import _find


def fen(text: str) -> int:
    """`350`, `350.5`, `350.50` yuan as integer fen (35000, 35050, 35050); anything else is refused."""
    found = fen_of(text)
    if found is None:
        raise _UserError(_text("bad_price", price=text[:40]))
    return found


def charge(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    visit = _find(client.rows("service_visits"), args.visit, "sheet_no", "visit")
    decision = "agreed" if args.agreed else "declined" if args.declined else None
    price = fen(args.price) if args.price is not None else None
    line_id = client.add_charge(visit["id"], args.item, args.quantity, unit_price_fen=price, decision=decision,
                                decided_by=args.by, description=args.description)
    _say(out, "charge_recorded", item=value("item", args.item), quantity=args.quantity,
         sheet_no=visit["fields"].get("sheet_no") or visit["id"], id=line_id, seq=client.pending()[-1]["seq"])
    return 0


def bill(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    visit = _find(client.rows("service_visits"), args.visit, "sheet_no", "visit")
    if client.fee_schedules() is None:
        raise _UserError(MESSAGES["no_fees"])
    shown = client.bill(visit["id"])
    fields = dict(client.visit_charges(visit["id"]))
    sealed = visit["fields"].get("sealed_by") is not None
    _say(out, "bill_header", sheet_no=visit["fields"].get("sheet_no") or visit["id"],
         sealed=MESSAGES["bill_signed"] if sealed else MESSAGES["bill_offline"])
    for line in shown.lines:
        f: dict[str, Any] = fields.get(line.id, {})
        status = ("bill_declined" if f.get("decision") == "declined" else "bill_covered" if line.covered
                  else "bill_billed" if line.billed else "bill_no_consent")
        _say(out, "bill_line", item=value("item", line.item), quantity=line.quantity if line.quantity is not None else "-",
             description=f.get("description") or "", amount=yuan(line.amount_fen), status=MESSAGES[status],
             id=line.id[:8])
    _say(out, "bill_totals", subtotal=yuan(shown.subtotal_fen), tax=yuan(shown.tax_fen),
         rate=f"{shown.tax_bps / 100:g}", total=yuan(shown.total_fen))
    return 0


def duty_call(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    site = _find(client.rows("sites"), args.site, "name", "site")["id"] if args.site else None
    follows = _find(client.rows("duty_calls"), args.follows, "id", "call")["id"] if args.follows else None
    request = _find(client.rows("service_requests"), args.request, "number", "request")["id"] if args.request else None
    call_id = client.log_duty_call(args.caller, args.phone, args.summary, args.duration, args.outcome,
                                   site_id=site, follows_id=follows, request_id=request)
    logged = client.get("duty_calls", call_id)
    assert logged is not None
    received = hlc.parse_ts(logged["fields"]["received_at"])
    rules = client.duty_rules()
    found = client.duty_at(received, rules)
    _say(out, "duty_call_logged", id=call_id, seq=client.pending()[-1]["seq"],
         on_duty=_who(found and found.state, found and found.technician, rules.month(received) if rules else None))
    return 0


def _who(state: str | None, technician: str | None, month: str | None) -> str:
    """Who is on duty (`sync.duty.Duty`'s state and technician), or why nobody is: no rules yet (`state`
    None), no roster for the month (ask the service desk), or the office's or the night's hours."""
    if state is None:
        return MESSAGES["no_duty_rules"]
    if state == "no_roster":
        return _text("no_roster", month=month or "-")
    return technician or MESSAGES["nobody_on_duty"]


def duty(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    shown = client.duty()
    _say(out, "duty_now", technician=_who(shown.state, shown.technician, shown.month), month=shown.month or "-")
    if not shown.calls:
        _say(out, "no_duty_calls")
    for c in shown.calls:
        _say(out, "duty_call_line", at=c.received_local or str(c.received_at), caller=str(c.caller_name or "-"),
             phone=str(c.caller_phone or ""), outcome=value("call_outcome", c.outcome) if c.outcome else "-", seconds=c.duration_s or 0,
             on_duty=c.on_duty or "-", summary=str(c.summary or ""), id=c.id[:8],
             pending=MESSAGES["not_synced"] if c.pending else "")
    return 0

"""`fieldsync-client`: a technician's client on the command line.

Everything but `login`, `sync` and `conflicts` works offline, from the local
database. All text shown to the user is in `MESSAGES`, so it can be translated
in one place.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import httpx

from sync import errors as E
from sync.wire import Scalar

from .client import Client

DEFAULT_DB = "~/.fieldsync/client.db"
DEFAULT_SERVER = "http://127.0.0.1:8000"
OUTCOMES = ("serviced", "fault", "not_accessible", "skipped")

MESSAGES: dict[str, str] = {
    "description": "fieldsync client: record maintenance checks offline and sync them with the server.",
    "help_db": "the local database file (default: $FIELDSYNC_CLIENT_DB or {default})",
    "help_server": "the server URL (default: the one stored at login, else {default})",
    "help_login": "sign in and enrol this client",
    "help_password": "the password (asked for when not given)",
    "help_name": "a name for this client, shown to supervisors",
    "help_sync": "push the outbox, then pull the server's changes",
    "help_inspections": "list my inspections, due first",
    "help_all": "list every inspection in my sites, not only those assigned to me",
    "help_check": "record the check of one device",
    "help_inspection": "the inspection: its sheet number, its id, or a unique prefix of the id",
    "help_device": "the device id, or its code (e.g. CAM-017) within the inspection's site",
    "help_outcome": "the outcome of the check",
    "help_note": "a note (required for fault and not_accessible)",
    "help_item": "a checklist item as key=value (true/false, a number, or text); repeatable",
    "help_outbox": "list the changes not yet acknowledged, and the problems",
    "help_conflicts": "list the server's conflict entries that concern me, and local problems",
    "password_prompt": "Password for {username}: ",
    "signed_in": "Signed in as {name} ({role}) on {server}; client {client_id}.",
    "synced": "Synced: {pushed} change(s) pushed, {pulled} row(s) pulled.",
    "sync_problems": "{count} change(s) did not count; see `fieldsync-client outbox`.",
    "no_inspections": "No inspections.",
    "inspection_line": "{sheet_no:<16} {period:<8} {site:<24} {status:<12} due {due_on:<10}  {checked}/{total}  {id}",
    "no_inspection": "No inspection matches {ref!r}.",
    "ambiguous_inspection": "{ref!r} matches several inspections: {matches}.",
    "no_device": "No device {ref!r} at the site of this inspection.",
    "ambiguous_device": "{ref!r} matches several devices: {matches}.",
    "bad_item": "An item is key=value, not {item!r}.",
    "recorded": "Recorded {device}: {outcome} (pending, seq {seq}). Run `fieldsync-client sync` when online.",
    "pending_count": "{count} change(s) waiting to be sent.",
    "pending_line": "  #{seq:<5} {action:<7} {collection} {id} {fields}",
    "problems_count": "{count} change(s) that did not count:",
    "problem_line": "  #{seq:<5} {status:<10} {reason} {collection} {id}: {detail}",
    "no_problems": "No problems.",
    "conflicts_count": "{count} conflict entr(ies) at the server concern you:",
    "conflict_line": "  {at} {kind:<14} {collection} {row_id} {register}: {detail}",
    "conflict_lost": "your {new!r} lost to {old!r} by {other}",
    "conflict_overwritten": "{old!r} by {other} was replaced by {new!r}",
    "conflict_rejected": "{reason}: {text}",
    "no_conflicts": "No conflict entries concern you.",
    "not_signed_in": "Not signed in: run `fieldsync-client login USERNAME` first.",
    "offline": "The server cannot be reached ({error}); your changes are kept and will be sent later.",
    "error": "Error: {detail}",
    "unknown": "unknown",
    "action_write": "write",
    "action_create": "create",
    "action_delete": "delete",
}


def _say(out: TextIO, key: str, **values: Any) -> None:
    print(MESSAGES[key].format(**values), file=out)


def _parser() -> argparse.ArgumentParser:
    m = MESSAGES
    parser = argparse.ArgumentParser(prog="fieldsync-client", description=m["description"])
    parser.add_argument("--db", default=os.environ.get("FIELDSYNC_CLIENT_DB", DEFAULT_DB),
                        help=m["help_db"].format(default=DEFAULT_DB))
    parser.add_argument("--server", default=None, help=m["help_server"].format(default=DEFAULT_SERVER))
    commands = parser.add_subparsers(dest="command", required=True)
    login = commands.add_parser("login", help=m["help_login"])
    login.add_argument("username")
    login.add_argument("--password", help=m["help_password"])
    login.add_argument("--name", default="fieldsync-client", help=m["help_name"])
    commands.add_parser("sync", help=m["help_sync"])
    inspections = commands.add_parser("inspections", help=m["help_inspections"])
    inspections.add_argument("--all", action="store_true", help=m["help_all"])
    check = commands.add_parser("check", help=m["help_check"])
    check.add_argument("inspection", help=m["help_inspection"])
    check.add_argument("device", help=m["help_device"])
    check.add_argument("--outcome", required=True, choices=OUTCOMES, help=m["help_outcome"])
    check.add_argument("--note", help=m["help_note"])
    check.add_argument("--item", action="append", default=[], metavar="KEY=VALUE", help=m["help_item"])
    commands.add_parser("outbox", help=m["help_outbox"])
    commands.add_parser("conflicts", help=m["help_conflicts"])
    return parser


class _UserError(Exception):
    pass


def _item_value(text: str) -> Scalar:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    if text.isdigit():
        return int(text)
    return text


def _items(pairs: Sequence[str]) -> dict[str, Scalar]:
    items: dict[str, Scalar] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise _UserError(MESSAGES["bad_item"].format(item=pair))
        items[key.strip()] = _item_value(value.strip())
    return items


def _find_inspection(client: Client, ref: str) -> dict[str, Any]:
    """By id, by sheet number (PM-2026Q4-0001), or by a unique prefix of the id."""
    inspections = client.rows("inspections")
    found = (
        [r for r in inspections if r["id"] == ref]
        or [r for r in inspections if str(r["fields"].get("sheet_no", "")).casefold() == ref.casefold()]
        or [r for r in inspections if r["id"].startswith(ref.lower())]
    )
    if not found:
        raise _UserError(MESSAGES["no_inspection"].format(ref=ref))
    if len(found) > 1:
        raise _UserError(MESSAGES["ambiguous_inspection"].format(ref=ref, matches=", ".join(r["id"] for r in found)))
    return found[0]


def _find_device(client: Client, site_id: str, ref: str) -> dict[str, Any]:
    devices = [d for d in client.rows("devices") if d["fields"].get("site_id") == site_id]
    found = [d for d in devices if d["id"] == ref] or [
        d for d in devices if str(d["fields"].get("code", "")).casefold() == ref.casefold()
    ]
    if not found:
        raise _UserError(MESSAGES["no_device"].format(ref=ref))
    if len(found) > 1:
        raise _UserError(MESSAGES["ambiguous_device"].format(ref=ref, matches=", ".join(d["id"] for d in found)))
    return found[0]


def _print_problems(client: Client, out: TextIO) -> None:
    problems = client.problems()
    if not problems:
        _say(out, "no_problems")
        return
    _say(out, "problems_count", count=len(problems))
    for p in problems:
        detail = p["detail"] or ", ".join(f"{k}: {v}" for k, v in (p["rejected_fields"] or {}).items())
        _say(out, "problem_line", seq=p["seq"], status=p["status"], reason=p["reason"] or "",
             collection=p["collection"], id=p["id"], detail=detail)


def _run(args: argparse.Namespace, client: Client, out: TextIO) -> int:
    unknown = MESSAGES["unknown"]
    if args.command == "login":
        password = args.password if args.password is not None else getpass.getpass(
            MESSAGES["password_prompt"].format(username=args.username))
        client.login(args.username, password, client_name=args.name)
        client.server_url = args.server or str(client.http.base_url).rstrip("/")
        _say(out, "signed_in", name=client.db.meta("user_name") or args.username, role=client.role,
             server=client.server_url, client_id=client.client_id)
        return 0
    if client.client_id is None:
        raise _UserError(MESSAGES["not_signed_in"])
    if args.command == "sync":
        report = client.sync()
        _say(out, "synced", pushed=report.pushed, pulled=report.pulled)
        failed = [r for r in report.results if r.status != "applied" or r.rejected_fields]
        if failed:
            _say(out, "sync_problems", count=len(failed))
        return 0
    if args.command == "inspections":
        sites = {s["id"]: s["fields"].get("name") or s["id"] for s in client.rows("sites")}
        shown = [
            i for i in client.rows("inspections")
            if args.all or i["fields"].get("assigned_to") == client.username
        ]
        shown.sort(key=lambda i: (i["fields"].get("due_on") or "9999-99-99", i["id"]))
        if not shown:
            _say(out, "no_inspections")
        for inspection in shown:
            f = inspection["fields"]
            checked, total = client.progress(inspection["id"])
            _say(out, "inspection_line", sheet_no=f.get("sheet_no") or "-", period=f.get("period") or "-",
                 site=sites.get(f.get("site_id"), unknown), status=f.get("status") or "-",
                 due_on=f.get("due_on") or "-", checked=checked, total=total, id=inspection["id"])
        return 0
    if args.command == "check":
        inspection = _find_inspection(client, args.inspection)
        device = _find_device(client, inspection["fields"].get("site_id", ""), args.device)
        client.record_check(inspection["id"], device["id"], args.outcome, note=args.note, items=_items(args.item))
        _say(out, "recorded", device=device["fields"].get("code") or device["id"], outcome=args.outcome,
             seq=client.pending()[-1]["seq"])
        return 0
    if args.command == "outbox":
        pending = client.pending()
        _say(out, "pending_count", count=len(pending))
        for p in pending:
            action = MESSAGES["action_delete" if p["delete"] else "action_create" if p["delete"] is False
                              else "action_write"]
            fields = ", ".join(f"{k}={v!r}" for k, v in p["fields"].items() if v is not None)
            _say(out, "pending_line", seq=p["seq"], action=action, collection=p["collection"], id=p["id"],
                 fields=fields)
        _print_problems(client, out)
        return 0
    if args.command == "conflicts":
        conflicts = client.conflicts()
        if not conflicts:
            _say(out, "no_conflicts")
        else:
            _say(out, "conflicts_count", count=len(conflicts))
        for c in conflicts:
            other = c.other_user or c.other_client_id or unknown
            if c.kind == "lost":
                text = MESSAGES["conflict_lost"].format(new=c.new_value, old=c.old_value, other=other)
            elif c.kind == "overwritten":
                text = MESSAGES["conflict_overwritten"].format(new=c.new_value, old=c.old_value, other=other)
            else:
                text = MESSAGES["conflict_rejected"].format(reason=c.reason, text=c.detail or c.new_value)
            _say(out, "conflict_line", at=c.at, kind=c.kind, collection=c.collection, row_id=c.row_id,
                 register=c.register or "", detail=text)
        _print_problems(client, out)
        return 0
    raise AssertionError(args.command)  # argparse allows no other command


def main(argv: Sequence[str] | None = None, http: httpx.Client | None = None) -> int:
    """Run the CLI; returns the exit status. `http` lets tests pass the server's test client."""
    args = _parser().parse_args(argv)
    out = sys.stdout
    db_path = Path(os.path.expanduser(args.db))
    own_http = None
    if http is None:
        http = own_http = httpx.Client(timeout=30)
    client = Client(db_path, http)
    try:
        if own_http is not None:
            own_http.base_url = httpx.URL(args.server or client.server_url or DEFAULT_SERVER)
        return _run(args, client, out)
    except _UserError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    except E.SyncError as exc:
        print(MESSAGES["error"].format(detail=exc.detail), file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        print(MESSAGES["offline"].format(error=exc), file=sys.stderr)
        return 3
    finally:
        client.close()
        if own_http is not None:
            own_http.close()

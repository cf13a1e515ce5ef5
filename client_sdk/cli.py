"""`fieldsync-client`: a technician's client on the command line.

Everything but `login`, `sync` and `conflicts` works offline, from the local
database: the day's work (`inspections`, `devices`, `start`, `check`,
`complete`) is recorded in the outbox and sent by the next `sync`. All text shown to the user is in `MESSAGES`, so it can be translated
in one place.
"""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import re
import string
import sys
import time
import unicodedata
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from sync import errors as E
from sync import schema
from sync.periods import site_zone
from sync.wire import Scalar

from . import media
from .client import Client
from .outbox import Progress

DEFAULT_DB = "~/.fieldsync/client.db"
DEFAULT_SERVER = "http://127.0.0.1:8000"
OUTCOMES = ("serviced", "fault", "not_accessible", "skipped")

MESSAGES: dict[str, str] = {
    "description": "fieldsync client: record maintenance checks offline and sync them with the server.",
    "help_db": "the local database file (default: $FIELDSYNC_CLIENT_DB or {default})",
    "help_server": "the server URL (default: $FIELDSYNC_SERVER, else the one stored at login, else {default})",
    "help_login": "sign in and enrol this client",
    "help_password": "the password (asked for when not given)",
    "help_name": "a name for this client, shown to supervisors",
    "help_sync": "push the outbox, then pull the server's changes",
    "help_inspections": "list my inspections, due first",
    "help_all": "list every inspection in my sites, not only those assigned to me",
    "help_check": "record the same check of one or more devices",
    "help_inspection": "the inspection: its sheet number, its id, or a unique prefix of the id",
    "help_device": "devices by id, by code (CAM-017) or by a range of codes (CAM-001..CAM-040), at the"
                   " inspection's site",
    "help_devices": "list the devices of an inspection by system and location, with their outcomes",
    "help_left": "only the devices still without an outcome",
    "help_checklist": "also print the checklist of each kind listed",
    "help_start": "start an inspection (recording a check starts it too)",
    "help_complete": "mark an inspection completed (refused while devices lack an outcome)",
    "help_outcome": "the outcome of the check",
    "help_note": "a note (required for fault and not_accessible)",
    "help_item": "a checklist item as key=value (yes/no items: true/false, yes/no or 是/否; a number; or text);"
                 " repeatable",
    "help_overwrite": "also replace the outcome of devices that already have one (a range or several devices"
                      " leaves them alone otherwise; one device named alone is always replaced)",
    "help_outbox": "list the changes not yet acknowledged, and the problems",
    "help_conflicts": "list the server's conflict entries that concern me, and local problems",
    "password_prompt": "Password for {username}: ",
    "signed_in": "Signed in as {name} ({role}) on {server}; client {client_id}.",
    "synced": "Synced: {pushed} change(s) pushed, {pulled} row(s) pulled.",
    "attention": "{count} thing(s) need your attention:",
    "attention_line": "  {sheet_no}: {text}",
    "attention_mark": "    ! {text}",
    "sheet_attention": "! {text}",
    "mismatch_customer": "the customer's signature ({name}) does not match the sheet: show the sheet to the"
                         " customer again (`fieldsync-client sheet {ref}`) and take a new signature",
    "mismatch_technician": "your signature ({name}) does not match the sheet: look at `fieldsync-client sheet"
                           " {ref}` and sign again",
    "lost_check": "your check of {what} lost to a newer one ({now}): look at `fieldsync-client sheet {ref}` and"
                  " record it again if yours is right",
    "lost_change": "your change of {what} lost to a newer one: look at it and make it again if yours is right",
    "now_check": "now {outcome}{note} by {by}",
    "refused_sealed": "your change of {what} was refused: the check is sealed by the customer's signature;"
                      " ask your supervisor if it is wrong",
    "refused_forbidden": "your change of {what} was refused: you may no longer change it ({detail}); ask your"
                         " supervisor",
    "refused": "your change of {what} was refused ({reason}: {detail}): fix it and record it again",
    "refused_fields": "the server kept your change of {what} but refused {fields}: record them again with a"
                      " valid value",
    "what_inspection": "the inspection",
    "what_photo": "a photo",
    "what_signature": "a signature",
    "what_row": "{collection} {id}",
    "no_inspections": "No inspections.",
    "inspection_line": "{sheet_no:<16} {period:<8} {site:<24} {status:<12} due {due_on:<10}  {checked}/{total}"
                       "  {id}{overdue}",
    "overdue": "  OVERDUE",
    "devices_header": "{sheet_no}  {site}  {period}  {status}  {checked}/{total} checked",
    "devices_left_header": "{sheet_no}  {site}  {period}  {status}  {left} of {total} left to check",
    "nothing_left": "Every device has an outcome: run `fieldsync-client complete {ref}`.",
    "system_line": "{system}",
    "location_line": "  {location}",
    "device_line": "    {code:<10} {kind:<18} {outcome}",
    "not_synced": "  (not synced)",
    "checklists": "Checklists:",
    "checklist_title": "  {kind}: {title}",
    "checklist_item": "    {item:<22} {type:<5} {label} / {label_zh}",
    "no_checklist": "  {kind}: no checklist",
    "not_checked": "-",
    "bad_range": "A range is two codes with the same prefix, lowest first (CAM-001..CAM-040), not {ref!r}.",
    "empty_range": "No device at the site of this inspection has a code in {ref!r}.",
    "recorded_many": "Recorded {count} devices ({first} … {last}): {outcome} (pending, seq {first_seq}–{last_seq})."
                     " Run `fieldsync-client sync` when online.",
    "started": "Started {sheet_no}: in progress (pending, seq {seq}).",
    "started_by_check": "Started {sheet_no}: in progress.",
    "already": "{sheet_no} is already {status}.",
    "completed": "Completed {sheet_no}: {checked}/{total} devices have an outcome (pending, seq {seq})."
                 " Run `fieldsync-client sync` when online.",
    "incomplete": "Cannot complete {sheet_no}: {count} device(s) have no outcome yet; see"
                  " `fieldsync-client devices {ref} --left`.",
    "no_inspection": "No inspection matches {ref!r}.",
    "ambiguous_inspection": "{ref!r} matches several inspections: {matches}.",
    "no_device": "No device {ref!r} at the site of this inspection.",
    "ambiguous_device": "{ref!r} matches several devices: {matches}.",
    "bad_item": "An item is key=value, not {item!r}.",
    "unknown_item": "{key!r} is not an item of the {kind} checklist ({devices}); its items are: {valid}.",
    "bad_yes_no": "{key} is a yes/no item: it takes true/false, yes/no or 是/否, not {value!r}.",
    "bad_int": "{key} takes a whole number, not {value!r}.",
    "skipped_one": "Skipped 1 device that already has an outcome ({shown}); use --overwrite to replace it.",
    "skipped_many": "Skipped {count} devices that already have an outcome ({shown}); use --overwrite to replace"
                    " them.",
    "and_more": "{shown} and {more} more",
    "recorded": "Recorded {device}: {outcome} (pending, seq {seq}). Run `fieldsync-client sync` when online.",
    "pending_count": "{count} change(s) waiting to be sent.",
    "pending_line": "  #{seq:<5} {action:<7} {collection} {id} {fields}",
    "problems_count": "{count} change(s) that did not count:",
    "problem_line": "  #{seq:<5} {status:<10} {reason} {collection} {id}: {detail}",
    "no_problems": "No problems.",
    "conflicts_count": "{count} conflict entr(ies) at the server concern you:",
    "conflict_line": "  {at} {kind:<11} {row:<16} {register:<18} {detail}",
    "conflict_lost": "your {new} lost to {old} by {other}",
    "conflict_overwritten": "{old} by {other} was replaced by {new}",
    "conflict_rejected": "{reason}: {text}",
    "conflict_same": "{count} more where both sides wrote the same value (nothing lost) not shown.",
    "conflict_kind_lost": "lost",
    "conflict_kind_overwritten": "overwritten",
    "conflict_kind_rejected": "rejected",
    "conflict_kind_rejected_field": "rejected",
    "value_empty": "(empty)",
    "value_yes": "yes",
    "value_no": "no",
    "value_text": "“{text}”",
    "value_field": "{field} {value}",
    "no_conflicts": "No conflict entries concern you.",
    "not_signed_in": "Not signed in: run `fieldsync-client login USERNAME` first.",
    "signed_out": "This phone was signed out at the server (a supervisor revoked it, changed your password or"
                  " disabled your account). Your {count} unsent change(s) stay on this phone; sign in again with"
                  " `fieldsync-client login {username}` to send them.",
    "offline_login": "The server at {url} cannot be reached ({error}); check the address (--server) and the"
                     " network, then sign in again.",
    "offline": "The server at {url} cannot be reached ({error}); your {count} change(s) are kept and will be"
               " sent later.",
    "offline_empty": "The server at {url} cannot be reached ({error}); nothing of yours is waiting to be sent.",
    "interrupted_sync": "Interrupted: nothing is lost; run `fieldsync-client sync` again.",
    "interrupted": "Interrupted.",
    "no_password": "No password given (end of input); nothing changed.",
    "no_file": "No file {path}.",
    "is_directory": "{path} is a directory, not a file.",
    "unreadable_file": "Cannot read {path}: {error}.",
    "not_png": "{path} is not a PNG file{kind}: save the signature as PNG, or give --strokes.",
    "not_png_kind": " (it is a {kind} file)",
    "progress_push": "Sending changes: {done}/{total}",
    "progress_pull": "Receiving rows: {done}",
    "progress_upload": "Uploading {kind} {index}/{count}: {done} of {total}{rate}",
    "progress_rate": ", {rate}/s",
    "kind_sheet": "sheet",
    "kind_image": "image",
    "error": "Error: {detail}",
    "help_photo": "shrink a photo (long edge 2,000 px) and queue it for upload with its row",
    "help_photo_device": "the device id or code; - for a photo of the site rather than of one device",
    "help_photo_path": "the photo file (JPEG or PNG)",
    "help_stage": "when it was taken: before, after, or evidence",
    "help_caption": "a caption",
    "help_sheet": "show an inspection's maintenance sheet, as the customer sees it before signing",
    "help_sign": "sign the sheet: a customer's signature seals its checks at the server",
    "help_signer": "the signer's name",
    "help_role": "who signs: customer (seals the checks) or technician (records only)",
    "help_png": "the signature as a PNG file",
    "help_strokes": "the signature as pen strokes: a JSON file [[[x, y], ...], ...]",
    "help_uploads": "list the photos, signatures and sheets waiting to upload",
    "help_uploads_all": "also list the uploads that reached the server",
    "photo_queued": "Photo of {device} queued: {bytes} bytes, taken {taken_at} (pending, seq {seq})."
                    " Run `fieldsync-client sync` when online.",
    "site_photo": "the site",
    "sheet_header": "{sheet_no}  {site}  {customer}  {period}  {status}",
    "sheet_line": "  {code:<10} {outcome:<15} {note}{sealed}",
    "sheet_items": "  {pad:<10} {items}",
    "sheet_sealed": "  [sealed]",
    "sheet_hash": "{checks} check(s) on the sheet; sheet {sha256}.",
    "signed": "Signed by {name} ({role}): {checks} check(s), signature {id} (pending)."
              " Run `fieldsync-client sync` when online.",
    "need_signature": "A signature needs --png or --strokes (one of them).",
    "bad_strokes": "The strokes file is not JSON of [[[x, y], ...], ...]: {error}",
    "uploads_count": "{count} upload(s) waiting.",
    "upload_line": "  {state:<9} {kind:<5} {content_type:<16} {offset:>9}/{length:<9} {sha256}{error}",
    "upload_error": "  ({error})",
    "uploaded": "{count} upload(s) sent.",
    "uploads_left": "{count} upload(s) still waiting; see `fieldsync-client uploads`.",
    "unknown": "unknown",
    "action_write": "write",
    "action_create": "create",
    "action_delete": "delete",
}


def display_width(text: str) -> int:
    """Terminal columns of a text: wide and full-width characters (CJK) take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
        for c in text
    )


def pad(text: str, width: int, align: str = "<") -> str:
    """`text` padded with spaces to `width` terminal columns (never cut)."""
    room = max(width - display_width(text), 0)
    if align == ">":
        return " " * room + text
    if align == "^":
        return " " * (room // 2) + text + " " * (room - room // 2)
    return text + " " * room


_WIDTH_SPEC = re.compile(r"([<>^]?)([0-9]+)\Z")


class _Formatter(string.Formatter):
    """`str.format`, but `{name:<24}` pads text by display width, so CJK columns line up."""

    def format_field(self, value: Any, format_spec: str) -> str:
        spec = _WIDTH_SPEC.match(format_spec)
        if isinstance(value, str) and spec is not None:
            return pad(value, int(spec.group(2)), spec.group(1) or "<")
        return str(super().format_field(value, format_spec))


_FORMAT = _Formatter()


def _text(message: str, /, **values: Any) -> str:
    return _FORMAT.format(MESSAGES[message], **values)


def _say(out: TextIO, message: str, /, **values: Any) -> None:
    print(_text(message, **values), file=out)


def _parser() -> argparse.ArgumentParser:
    m = MESSAGES
    parser = argparse.ArgumentParser(prog="fieldsync-client", description=m["description"])
    parser.add_argument("--db", default=os.environ.get("FIELDSYNC_CLIENT_DB", DEFAULT_DB),
                        help=m["help_db"].format(default=DEFAULT_DB))
    parser.add_argument("--server", default=os.environ.get("FIELDSYNC_SERVER") or None, help=m["help_server"].format(default=DEFAULT_SERVER))
    commands = parser.add_subparsers(dest="command", required=True)
    login = commands.add_parser("login", help=m["help_login"])
    login.add_argument("username")
    login.add_argument("--password", help=m["help_password"])
    login.add_argument("--name", default="fieldsync-client", help=m["help_name"])
    commands.add_parser("sync", help=m["help_sync"])
    inspections = commands.add_parser("inspections", help=m["help_inspections"])
    inspections.add_argument("--all", action="store_true", help=m["help_all"])
    devices = commands.add_parser("devices", help=m["help_devices"])
    devices.add_argument("inspection", help=m["help_inspection"])
    devices.add_argument("--left", action="store_true", help=m["help_left"])
    devices.add_argument("--checklist", action="store_true", help=m["help_checklist"])
    start = commands.add_parser("start", help=m["help_start"])
    start.add_argument("inspection", help=m["help_inspection"])
    check = commands.add_parser("check", help=m["help_check"])
    check.add_argument("inspection", help=m["help_inspection"])
    check.add_argument("devices", nargs="+", metavar="DEVICE", help=m["help_device"])
    check.add_argument("--outcome", required=True, choices=OUTCOMES, help=m["help_outcome"])
    check.add_argument("--note", help=m["help_note"])
    check.add_argument("--item", action="append", default=[], metavar="KEY=VALUE", help=m["help_item"])
    check.add_argument("--overwrite", action="store_true", help=m["help_overwrite"])
    complete = commands.add_parser("complete", help=m["help_complete"])
    complete.add_argument("inspection", help=m["help_inspection"])
    commands.add_parser("outbox", help=m["help_outbox"])
    photo = commands.add_parser("photo", help=m["help_photo"])
    photo.add_argument("inspection", help=m["help_inspection"])
    photo.add_argument("device", help=m["help_photo_device"])
    photo.add_argument("path", help=m["help_photo_path"])
    photo.add_argument("--stage", default="after", choices=("before", "after", "evidence"), help=m["help_stage"])
    photo.add_argument("--caption", help=m["help_caption"])
    sheet = commands.add_parser("sheet", help=m["help_sheet"])
    sheet.add_argument("inspection", help=m["help_inspection"])
    sign = commands.add_parser("sign", help=m["help_sign"])
    sign.add_argument("inspection", help=m["help_inspection"])
    sign.add_argument("--name", required=True, help=m["help_signer"])
    sign.add_argument("--role", default="customer", choices=("customer", "technician"), help=m["help_role"])
    sign.add_argument("--png", help=m["help_png"])
    sign.add_argument("--strokes", help=m["help_strokes"])
    uploads = commands.add_parser("uploads", help=m["help_uploads"])
    uploads.add_argument("--all", action="store_true", help=m["help_uploads_all"])
    commands.add_parser("conflicts", help=m["help_conflicts"])
    return parser


class _UserError(Exception):
    """A mistake in what was asked: one line, exit 2."""


class _Refused(Exception):
    """Nothing could be done as asked (no password given): one line, exit 1."""


def _file(text: str) -> Path:
    """A file the user named (`~` expanded): one clear line when it is missing or a directory."""
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        raise _UserError(_text("is_directory", path=text))
    if not path.is_file():
        raise _UserError(_text("no_file", path=text))
    return path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _UserError(_text("unreadable_file", path=path, error=exc.strerror or exc)) from None


def _size(count: float) -> str:
    """Bytes for a person: 850 B, 12.3 kB, 1.5 MB."""
    for unit in ("B", "kB", "MB"):
        if count < 1000 or unit == "MB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError  # the loop returns at MB


class _Progress:
    """Progress of a sync, on a terminal: one line on stderr, rewritten in place."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.width = 0  # columns of the line shown, 0: none
        self.started: dict[tuple[str, int, int], tuple[float, int]] = {}

    def __call__(self, step: Progress) -> None:
        if step.what == "push":
            line = _text("progress_push", done=step.done, total=step.total)
        elif step.what == "pull":
            line = _text("progress_pull", done=step.done)
        else:
            at, first = self.started.setdefault((step.what, step.index, step.count), (time.monotonic(), step.done))
            elapsed = time.monotonic() - at
            rate = _text("progress_rate", rate=_size((step.done - first) / elapsed)) if elapsed > 0 else ""
            line = _text("progress_upload", kind=MESSAGES.get(f"kind_{step.what}", step.what), index=step.index,
                         count=step.count, done=_size(step.done), total=_size(step.total), rate=rate)
        self.err.write("\r" + pad(line, self.width))
        self.width = display_width(line)
        if step.what != "pull" and step.done >= step.total:
            self.close()
        self.err.flush()

    def close(self) -> None:
        if self.width:
            self.err.write("\n")
            self.err.flush()
            self.width = 0


_INT = re.compile(r"-?[0-9]+\Z")


def _item_value(key: str, text: str, item_type: str | None = None) -> Scalar:
    """A typed item value; the template's type decides when known (a text item keeps `123` as text)."""
    if item_type == "text":
        return text
    if item_type == "bool":
        answer = schema.yes_no(text)
        if answer is None:
            raise _UserError(_text("bad_yes_no", key=key, value=text))
        return answer
    if item_type == "int":
        if not _INT.match(text):
            raise _UserError(_text("bad_int", key=key, value=text))
        return int(text)
    if text.lower() in ("true", "false"):  # no template here: guess as before
        return text.lower() == "true"
    if _INT.match(text):
        return int(text)
    return text


def _shown(names: Sequence[str], limit: int = 5) -> str:
    """`a, b, c` or `a, b, c, d, e and 7 more`."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else _text("and_more", shown=shown, more=len(names) - limit)


def _items(pairs: Sequence[str], devices: Sequence[dict[str, Any]] = (),
           checklists: dict[str, list[dict[str, Any]]] | None = None) -> dict[str, Scalar]:
    """`key=value` pairs typed by the checklists of the devices' kinds; an unknown key names the valid ones."""
    kinds: dict[str, list[str]] = {}
    for device in devices:
        kinds.setdefault(str(device["fields"].get("kind")), []).append(
            str(device["fields"].get("code") or device["id"]))
    templates = {kind: (checklists or {})[kind] for kind in kinds if kind in (checklists or {})}
    items: dict[str, Scalar] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise _UserError(_text("bad_item", item=pair))
        key = key.strip()
        name = key.removeprefix("item.")
        types = set()
        for kind, template in templates.items():
            found = [item["type"] for item in template if item["key"] == name]
            if not found:
                raise _UserError(_text("unknown_item", key=name, kind=kind, devices=_shown(kinds[kind], 3),
                                       valid=", ".join(item["key"] for item in template) or "-"))
            types.update(found)
        items[key] = _item_value(name, value.strip(), types.pop() if len(types) == 1 else None)
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
        raise _UserError(_text("no_inspection", ref=ref))
    if len(found) > 1:
        raise _UserError(_text("ambiguous_inspection", ref=ref, matches=", ".join(r["id"] for r in found)))
    return found[0]


def _site_devices(client: Client, site_id: str) -> list[dict[str, Any]]:
    return [d for d in client.rows("devices") if d["fields"].get("site_id") == site_id]


_CODE = re.compile(r"^(.*?)([0-9]+)$")


def _find_range(devices: list[dict[str, Any]], ref: str) -> list[dict[str, Any]]:
    """`CAM-001..CAM-040` (or `CAM-001..040`): the devices whose code has that prefix and a number in range."""
    low, _, high = ref.partition("..")
    first, last = _CODE.match(low.strip()), _CODE.match(high.strip())
    if first is None or last is None:
        raise _UserError(_text("bad_range", ref=ref))
    prefix = first.group(1).casefold()
    start, end = int(first.group(2)), int(last.group(2))
    if last.group(1).casefold() not in ("", prefix) or start > end:
        raise _UserError(_text("bad_range", ref=ref))
    found = []
    for device in devices:
        code = _CODE.match(str(device["fields"].get("code") or ""))
        if code is not None and code.group(1).casefold() == prefix and start <= int(code.group(2)) <= end:
            found.append((int(code.group(2)), device["id"], device))
    if not found:
        raise _UserError(_text("empty_range", ref=ref))
    return [device for _, _, device in sorted(found, key=lambda f: (f[0], f[1]))]


def _find_devices(client: Client, site_id: str, refs: Sequence[str]) -> list[dict[str, Any]]:
    """Each ref an id, a code or a range of codes; in the order given, each device once."""
    devices = _site_devices(client, site_id)
    found: dict[str, dict[str, Any]] = {}
    for ref in refs:
        for device in _find_range(devices, ref) if ".." in ref else [_find_device(devices, ref)]:
            found.setdefault(device["id"], device)
    return list(found.values())


def _find_device(devices: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    found = [d for d in devices if d["id"] == ref] or [
        d for d in devices if str(d["fields"].get("code", "")).casefold() == ref.casefold()
    ]
    if not found:
        raise _UserError(_text("no_device", ref=ref))
    if len(found) > 1:
        raise _UserError(_text("ambiguous_device", ref=ref, matches=", ".join(d["id"] for d in found)))
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


def _sheet(inspection: dict[str, Any]) -> str:
    return str(inspection["fields"].get("sheet_no") or inspection["id"])


def _devices(client: Client, inspection: dict[str, Any], args: argparse.Namespace, out: TextIO) -> int:
    """`devices`: by system, then location; `--left` keeps those without an outcome."""
    [summary] = [i for i in client.my_inspections(include_all=True) if i["id"] == inspection["id"]]
    head = {"sheet_no": _sheet(inspection), "site": summary["site_name"] or MESSAGES["unknown"],
            "period": summary["period"] or "-", "status": summary["status"], "total": summary["total"]}
    if args.left:
        _say(out, "devices_left_header", left=summary["total"] - summary["checked"], **head)
    else:
        _say(out, "devices_header", checked=summary["checked"], **head)
    kinds: dict[str, None] = {}
    for group in client.inspection_devices(inspection["id"]):
        system_said = False
        for location in group["locations"]:
            shown = [
                d for d in location["devices"]
                if not args.left or d["check"] is None or d["check"]["outcome"] is None
            ]
            if not shown:
                continue
            if not system_said:
                _say(out, "system_line", system=group["system"] or MESSAGES["unknown"])
                system_said = True
            _say(out, "location_line", location=location["location"] or MESSAGES["unknown"])
            for device in shown:
                kinds[str(device["kind"])] = None
                check = device["check"] or {}
                outcome = check.get("outcome") or MESSAGES["not_checked"]
                if check.get("note"):
                    outcome = f"{outcome}: {check['note']}"
                if device["pending"]:
                    outcome += MESSAGES["not_synced"]
                _say(out, "device_line", code=device["code"] or device["id"], kind=device["kind"] or "-",
                     outcome=outcome)
    if args.left and summary["checked"] >= summary["total"]:
        _say(out, "nothing_left", ref=args.inspection)
    if args.checklist and kinds:
        checklists = client.checklists()
        titles = {t["fields"].get("kind"): t["fields"].get("title") for t in client.rows("checklist_templates")}
        _say(out, "checklists")
        for kind in sorted(kinds):
            if kind not in checklists:
                _say(out, "no_checklist", kind=kind)
                continue
            _say(out, "checklist_title", kind=kind, title=titles.get(kind) or "")
            for item in checklists[kind]:
                _say(out, "checklist_item", item=item["key"], type=item["type"], label=item["label"] or "",
                     label_zh=item["label_zh"] or "-")
    return 0


def _check(client: Client, inspection: dict[str, Any], args: argparse.Namespace, out: TextIO) -> int:
    """`check`: the same outcome, note and items for every device named.

    A range or several devices leave those that already have an outcome alone
    (unless --overwrite): a bulk "serviced" must not replace a recorded fault.
    One device named alone is an edit, and replaces its outcome.
    """
    devices = _find_devices(client, inspection["fields"].get("site_id", ""), args.devices)
    items = _items(args.item, devices, client.checklists())
    overwrite = args.overwrite or (len(args.devices) == 1 and ".." not in args.devices[0])
    ids = [d["id"] for d in devices]
    skipped = {} if overwrite else client.outcomes(inspection["id"], ids)
    before = inspection["fields"].get("status") or "scheduled"
    client.record_checks(inspection["id"], ids, args.outcome, note=args.note, items=items, overwrite=overwrite)
    after = (client.get("inspections", inspection["id"]) or inspection)["fields"].get("status")
    if before == "scheduled" and after == "in_progress":
        _say(out, "started_by_check", sheet_no=_sheet(inspection))
    code = {d["id"]: str(d["fields"].get("code") or d["id"]) for d in devices}
    recorded = [code[i] for i in ids if i not in skipped]
    if recorded:
        last_seq = client.pending()[-1]["seq"]
        if len(recorded) == 1:
            _say(out, "recorded", device=recorded[0], outcome=args.outcome, seq=last_seq)
        else:
            _say(out, "recorded_many", count=len(recorded), first=recorded[0], last=recorded[-1],
                 outcome=args.outcome, first_seq=last_seq - len(recorded) + 1, last_seq=last_seq)
    if skipped:
        shown = _shown([f"{code[i]}: {outcome}" for i, outcome in skipped.items()])
        _say(out, "skipped_one" if len(skipped) == 1 else "skipped_many", count=len(skipped), shown=shown)
    return 0


def _what(client: Client, problem: dict[str, Any]) -> tuple[str | None, str]:
    """The inspection a problem belongs to (None: none), and what it is about in a person's words."""
    collection, fields = problem["collection"], problem["fields"]
    row = client.get(collection, problem["id"])
    known = {**(row["fields"] if row else {}), **{k: v for k, v in fields.items() if v is not None}}
    if collection == "inspections":
        return problem["id"], MESSAGES["what_inspection"]
    inspection_id = known.get("inspection_id")
    inspection = str(inspection_id) if inspection_id else None
    if collection == "device_checks":
        device = client.get("devices", str(known.get("device_id")))
        return inspection, str((device["fields"].get("code") if device else None) or known.get("device_id")
                               or problem["id"])
    if collection in ("photos", "signatures"):
        return inspection, MESSAGES[f"what_{collection[:-1]}"]
    return None, _text("what_row", collection=collection, id=problem["id"])


def _notices(client: Client) -> list[tuple[str | None, str]]:
    """What the technician must act on after a sync: (inspection id, what happened and what to do next).

    Signatures the server found not to match their sheet, and changes that did
    not count (superseded, rejected, or with refused fields) and were not made
    again since.
    """
    refs = {i["id"]: _sheet(i) for i in client.rows("inspections")}
    found: list[tuple[str | None, str]] = []
    for sig in client.mismatched_signatures():
        f = sig["fields"]
        signed = str(f.get("inspection_id"))
        key = "mismatch_customer" if f.get("signer_role") == "customer" else "mismatch_technician"
        found.append((signed, _text(key, name=f.get("signer_name") or "-", ref=refs.get(signed, signed))))
    for problem in client.problems(unresolved_only=True):
        inspection, what = _what(client, problem)
        ref = refs.get(inspection or "", inspection or "-")
        if problem["status"] == "superseded" and problem["collection"] == "device_checks":
            now = (client.get("device_checks", problem["id"]) or {"fields": {}})["fields"]
            note = f": {now['note']}" if now.get("note") else ""
            text = _text("lost_check", what=what, ref=ref, now=_text(
                "now_check", outcome=now.get("outcome") or MESSAGES["not_checked"], note=note,
                by=now.get("checked_by") or MESSAGES["unknown"]))
        elif problem["status"] == "superseded":
            text = _text("lost_change", what=what)
        elif problem["status"] == "rejected" and problem["reason"] in ("sealed", "forbidden"):
            text = _text(f"refused_{problem['reason']}", what=what, detail=problem["detail"] or "")
        elif problem["status"] == "rejected":
            text = _text("refused", what=what, reason=problem["reason"] or MESSAGES["unknown"],
                         detail=problem["detail"] or "")
        else:
            text = _text("refused_fields", what=what, fields=", ".join(
                f"{name.removeprefix('item.')} ({why})" for name, why in sorted(problem["rejected_fields"].items())))
        found.append((inspection, text))
    return found


def _run(args: argparse.Namespace, client: Client, out: TextIO) -> int:
    unknown = MESSAGES["unknown"]
    if args.command == "login":
        try:
            password = args.password if args.password is not None else getpass.getpass(
                _text("password_prompt", username=args.username))
        except EOFError:  # Ctrl-D at the prompt
            print(file=sys.stderr)
            raise _Refused(MESSAGES["no_password"]) from None
        client.login(args.username, password, client_name=args.name)
        client.server_url = args.server or str(client.http.base_url).rstrip("/")
        _say(out, "signed_in", name=client.db.meta("user_name") or args.username, role=client.role,
             server=client.server_url, client_id=client.client_id)
        return 0
    if client.client_id is None:
        raise _UserError(MESSAGES["not_signed_in"])
    if args.command == "sync":
        progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
        client.on_progress = progress
        try:
            report = client.sync()
        finally:
            if progress is not None:
                progress.close()
        _say(out, "synced", pushed=report.pushed, pulled=report.pulled)
        if report.uploaded:
            _say(out, "uploaded", count=report.uploaded)
        waiting = client.uploads(waiting_only=True)
        if waiting:
            _say(out, "uploads_left", count=len(waiting))
        notices = _notices(client)
        if notices:
            refs = {i["id"]: _sheet(i) for i in client.rows("inspections")}
            _say(out, "attention", count=len(notices))
            for about, text in notices:
                _say(out, "attention_line", sheet_no=refs.get(about or "", about or "-"), text=text)
        return 0
    if args.command == "inspections":
        shown = client.my_inspections(include_all=args.all)
        if not shown:
            _say(out, "no_inspections")
        notices = _notices(client)
        for i in shown:
            _say(out, "inspection_line", sheet_no=i["sheet_no"] or "-", period=i["period"] or "-",
                 site=i["site_name"] or unknown, status=i["status"], due_on=i["due_on"] or "-",
                 checked=i["checked"], total=i["total"], id=i["id"],
                 overdue=MESSAGES["overdue"] if i["overdue"] else "")
            for about, text in notices:
                if about == i["id"]:
                    _say(out, "attention_mark", text=text)
        return 0
    if args.command == "devices":
        return _devices(client, _find_inspection(client, args.inspection), args, out)
    if args.command == "start":
        inspection = _find_inspection(client, args.inspection)
        seq = client.start(inspection["id"])
        if seq is None:
            _say(out, "already", sheet_no=_sheet(inspection), status=inspection["fields"].get("status"))
        else:
            _say(out, "started", sheet_no=_sheet(inspection), seq=seq)
        return 0
    if args.command == "check":
        return _check(client, _find_inspection(client, args.inspection), args, out)
    if args.command == "complete":
        inspection = _find_inspection(client, args.inspection)
        try:
            seq = client.complete(inspection["id"])
        except E.InvalidRequest as exc:
            if exc.extra.get("reason") != "incomplete":
                raise
            print(_text("incomplete", sheet_no=_sheet(inspection), ref=args.inspection,
                                                count=len(client.remaining(inspection["id"]))), file=sys.stderr)
            return 1
        if seq is None:
            _say(out, "already", sheet_no=_sheet(inspection), status=inspection["fields"].get("status"))
        else:
            checked, total = client.progress(inspection["id"])
            _say(out, "completed", sheet_no=_sheet(inspection), checked=checked, total=total, seq=seq)
        return 0
    if args.command in ("photo", "sheet", "sign", "uploads"):
        return _media(args, client, out)
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
        _print_conflicts(client, out)
        _print_problems(client, out)
        return 0
    raise AssertionError(args.command)  # argparse allows no other command


def _value(value: Any) -> str:
    """A logged value as a person reads it: yes/no, quoted text, a group's fields one after another."""
    if value is None:
        return MESSAGES["value_empty"]
    if isinstance(value, bool):
        return MESSAGES["value_yes" if value else "value_no"]
    if isinstance(value, dict):
        return ", ".join(_text("value_field", field=k, value=_value(v)) for k, v in value.items() if v is not None)
    return _text("value_text", text=value) if isinstance(value, str) else str(value)


def _print_conflicts(client: Client, out: TextIO) -> None:
    """The server's entries that concern this user, rows named as people know them, times in the site's zone;
    entries where both sides wrote the same value are only counted."""
    found = client.conflicts()
    shown = [c for c in found if not c.no_op]
    _say(out, "conflicts_count" if shown else "no_conflicts", count=len(shown))
    zones = {s["id"]: site_zone(s["fields"].get("tz")) for s in client.rows("sites")}
    for c in shown:
        other = c.other_user or c.other_client_id or MESSAGES["unknown"]
        old, new = c.old_value, c.new_value
        if isinstance(old, dict) and isinstance(new, dict):  # a group: only the fields that differ
            old, new = ({k: v for k, v in sorted(side.items()) if json.dumps(old.get(k)) != json.dumps(new.get(k))}
                        for side in (old, new))
        if c.kind in ("lost", "overwritten"):
            text = _text(f"conflict_{c.kind}", new=_value(new), old=_value(old), other=other)
        else:
            text = _text("conflict_rejected", reason=c.reason, text=c.detail or _value(new))
        at = datetime.fromisoformat(c.at).astimezone(zones.get(c.site_id or "", site_zone(None)))
        _say(out, "conflict_line", at=at.strftime("%Y-%m-%d %H:%M"), kind=MESSAGES[f"conflict_kind_{c.kind}"],
             row=c.label or f"{c.collection} {c.row_id[:8]}", register=c.register or "", detail=text)
    if len(found) > len(shown):
        _say(out, "conflict_same", count=len(found) - len(shown))


def _media(args: argparse.Namespace, client: Client, out: TextIO) -> int:
    """`photo`, `sheet`, `sign` and `uploads` (client_sdk/media.py)."""
    if args.command == "uploads":
        listed = client.uploads(waiting_only=not args.all)
        _say(out, "uploads_count", count=sum(u["state"] in ("queued", "uploading") for u in listed))
        for u in listed:
            error = _text("upload_error", error=u["error"]) if u["error"] else ""
            _say(out, "upload_line", error=error, **{k: v for k, v in u.items() if k != "error"})
        return 0
    inspection = _find_inspection(client, args.inspection)
    if args.command == "photo":
        device = None
        if args.device != "-":
            site_id = inspection["fields"].get("site_id")
            found = [d for d in client.rows("devices") if d["fields"].get("site_id") == site_id and (
                d["id"] == args.device or str(d["fields"].get("code", "")).casefold() == args.device.casefold())]
            if len(found) != 1:
                raise _UserError(_text("no_device", ref=args.device))
            device = found[0]
        path = _file(args.path)
        try:
            photo_id = client.add_photo(inspection["id"], device["id"] if device else None, path,
                                        stage=args.stage, caption=args.caption)
        except OSError as exc:  # unreadable (permissions), or the card was pulled out
            raise _UserError(_text("unreadable_file", path=args.path, error=exc.strerror or exc)) from None
        fields = client.get("photos", photo_id)
        assert fields is not None
        _say(out, "photo_queued", device=(device["fields"].get("code") or device["id"]) if device
             else MESSAGES["site_photo"], bytes=fields["fields"]["bytes"],
             taken_at=fields["fields"].get("taken_at") or MESSAGES["unknown"], seq=client.pending()[-1]["seq"])
        return 0
    if args.command == "sheet":
        shown = client.sheet(inspection["id"])
        f, site = shown["inspection"], shown["site"]
        _say(out, "sheet_header", sheet_no=f.get("sheet_no") or "-", site=site.get("name") or site.get("id"),
             customer=site.get("customer") or "", period=f.get("period") or "-", status=f.get("status") or "-")
        for found_in, text in _notices(client):
            if found_in == inspection["id"]:
                _say(out, "sheet_attention", text=text)
        for d in shown["devices"]:
            check = d["check"] or {}
            _say(out, "sheet_line", code=d["code"] or d["device_id"],
                 outcome=check.get("outcome") or MESSAGES["not_checked"], note=check.get("note") or "",
                 sealed=MESSAGES["sheet_sealed"] if d["sealed_by"] else "")
            items = ", ".join(f"{k[5:]}={json.dumps(v, ensure_ascii=False)}" for k, v in sorted(check.items())
                              if k.startswith("item."))
            if items:
                _say(out, "sheet_items", pad="", items=items)
        _say(out, "sheet_hash", checks=shown["checks"], sha256=shown["sheet_sha256"])
        return 0
    # sign
    if (args.png is None) == (args.strokes is None):
        raise _UserError(MESSAGES["need_signature"])
    strokes = png = None
    if args.strokes is not None:
        try:
            strokes = json.loads(_file(args.strokes).read_text(encoding="utf-8"))
            if not isinstance(strokes, list) or not all(isinstance(s, list) for s in strokes):
                raise ValueError("not a list of strokes")
        except (OSError, ValueError) as exc:
            raise _UserError(_text("bad_strokes", error=exc)) from None
    else:
        png = _read(_file(args.png))
        kind = media.image_format(png)
        if kind != "PNG":
            raise _UserError(_text("not_png", path=args.png, kind=_text("not_png_kind", kind=kind) if kind else ""))
    sig_id = client.sign(inspection["id"], args.name, args.role, strokes=strokes, png=png)
    _say(out, "signed", name=args.name, role=args.role, checks=client.sheet(inspection["id"])["checks"], id=sig_id)
    return 0


def _tolerant(stream: TextIO) -> None:
    """On a terminal that cannot show a character (LANG=C, PYTHONIOENCODING=ascii), show an escape
    (`\\u79d1`) instead of failing with UnicodeEncodeError."""
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="backslashreplace")


def main(argv: Sequence[str] | None = None, http: httpx.Client | None = None) -> int:
    """Run the CLI; returns the exit status. `http` lets tests pass the server's test client.

    Every failure the user can cause is one line on stderr and an exit status:
    1 refused (by the server, or no password), 2 a mistake in the command,
    3 the server cannot be reached, 130 interrupted (Ctrl-C).
    """
    _tolerant(sys.stdout)
    _tolerant(sys.stderr)
    args = _parser().parse_args(argv)
    try:
        return _main(args, http)
    except KeyboardInterrupt:
        # Every local write is one SQLite transaction, rolled back when cut: nothing is half-written,
        # and a cut sync resumes where the server's acknowledgements stand.
        print(file=sys.stderr)
        print(MESSAGES["interrupted_sync" if args.command == "sync" else "interrupted"], file=sys.stderr)
        return 130


def _main(args: argparse.Namespace, http: httpx.Client | None) -> int:
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
    except _Refused as exc:
        print(str(exc), file=sys.stderr)
        return 1
    except E.ClientUnavailable as exc:
        if args.command == "login":  # refused for this sign-in, not a phone signed out
            print(_text("error", detail=exc.detail), file=sys.stderr)
        else:
            print(_text("signed_out", count=client.status()["pending"], username=client.username or "USERNAME"),
                  file=sys.stderr)
        return 1
    except E.SyncError as exc:
        print(_text("error", detail=exc.detail), file=sys.stderr)
        return 1
    except httpx.TransportError as exc:
        url = str(http.base_url).rstrip("/")
        if args.command == "login":
            print(_text("offline_login", url=url, error=exc), file=sys.stderr)
        else:
            count = client.status()["pending"]
            print(_text("offline" if count else "offline_empty", url=url, error=exc, count=count), file=sys.stderr)
        return 3
    except BrokenPipeError:
        # `fieldsync-client devices PM-2026Q4-0001 --left | head`: the reader has gone; stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        client.close()
        if own_http is not None:
            own_http.close()


if __name__ == "__main__":
    sys.exit(main())

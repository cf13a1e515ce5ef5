"""One function per `fieldsync-client` command: `(client, args, out) -> exit status`.

Everything but `login`, `sync` and `conflicts` works offline, from the local
database: the day's work (`inspections`, `devices`, `start`, `check`,
`complete`) is recorded in the outbox and sent by the next `sync`.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from datetime import datetime
from functools import partial
from typing import Any, NamedTuple, TextIO

from sync import errors as E
from sync.periods import site_zone
from sync.schema import device_check_id as check_id

from ..client import Client
from ..labels import zone_of, zones
from ..media.uploads import BLOB_FIELDS
from .common import (
    _file,
    _find_devices,
    _find_inspection,
    _print_problems,
    _Progress,
    _Refused,
    _sheet,
    _shown,
    _signature_input,
    _UserError,
    blob_names,
    said_synced,
    upload_counts,
)
from .conflict_log import local_value, print_conflicts
from .items import items
from .messages import MESSAGES, _say, _text, collection_name, field_name, value
from .service import assignment_news


def _what(client: Client, problem: dict[str, Any]) -> tuple[str | None, str]:
    """The inspection a problem belongs to (None: none), and what it is about in a person's words: from
    the rows, else from the label kept when the change was recorded (the rows may have left the phone)."""
    collection, fields, label = problem["collection"], problem["fields"], problem["label"]
    row = client.get(collection, problem["id"])
    known = {**(row["fields"] if row else {}), **{k: v for k, v in fields.items() if v is not None}}
    if collection == "inspections":
        return problem["id"], MESSAGES["what_inspection"]
    inspection_id = known.get("inspection_id")
    inspection = str(inspection_id) if inspection_id else None
    if collection == "device_checks":
        device = client.get("devices", str(known.get("device_id")))
        return inspection, str((device["fields"].get("code") if device else None) or label.get("device")
                               or known.get("device_id") or problem["id"])
    if collection in ("photos", "signatures"):
        return inspection, MESSAGES[f"what_{collection[:-1]}"]
    return None, _text("what_row", collection=collection_name(collection), id=label.get("sheet") or problem["id"])


class Notice(NamedTuple):
    """Something the technician must act on: the inspection it is about (None: none), its sheet number
    as he knows it, and what happened and what to do next."""

    about: str | None
    sheet_no: str
    text: str
    # A change whose result stays unknown: told once (`_tell`), then listed by `outbox` only.
    unknown_seq: int | None = None


def _refusal(client: Client, problem: dict[str, Any], what: str) -> str:
    """Why a change was refused, in the catalogue's words; the server's detail stays in `outbox`."""
    label, reason = problem["label"], problem["reason"]
    if label.get("site") and client.get("sites", label["site"]) is None:
        # The site left this phone: he was taken off it, which is why the server refused (as forbidden, or
        # as a change to a row it does not have: it tells no one outside a site what the site holds).
        yours = _text("yours_check" if problem["collection"] == "device_checks" else "yours_change", what=what)
        return _text("refused_left_site", yours=yours, site=label.get("site_name") or MESSAGES["unknown"])
    if reason in ("sealed", "forbidden"):
        return _text(f"refused_{reason}", what=what)
    return _text("refused", what=what, reason=MESSAGES.get(f"reason_{reason}", reason or MESSAGES["unknown"]))


def _notices(client: Client) -> list[Notice]:
    """What the technician must act on after a sync.

    Signatures the server found not to match their sheet, and changes that did
    not count (superseded, rejected, or with refused fields) and were not made
    again since.
    """
    refs = {i["id"]: _sheet(i) for i in client.rows("inspections")}
    found: list[Notice] = []
    for sig in client.mismatched_signatures():
        f = sig["fields"]
        signed = str(f.get("inspection_id"))
        key = "mismatch_customer" if f.get("signer_role") == "customer" else "mismatch_technician"
        ref = refs.get(signed, signed)
        found.append(Notice(signed, ref, _text(key, name=f.get("signer_name") or "-", ref=ref)))
    for problem in client.problems(unresolved_only=True):
        inspection, what = _what(client, problem)
        ref = refs.get(inspection or "", problem["label"].get("sheet") or inspection or "-")
        found.append(Notice(inspection, ref, _problem_text(client, problem, what, ref),
                            problem["seq"] if problem["status"] == "unknown" else None))
    return found


def _tell(client: Client, notices: list[Notice], out: TextIO) -> None:
    """The notices just shown: a result that stays unknown is told once, not at every sync. Told means out:
    `out` is flushed first (a pipe is block-buffered), so a pipe closed early raises before anything is recorded."""
    if not notices:
        return
    out.flush()
    client.told([n.unknown_seq for n in notices if n.unknown_seq is not None])


def _unknown_text(client: Client, problem: dict[str, Any]) -> str:
    """`outbox`'s words for a change whose result is not known (yet): the notice a sync gave."""
    return _problem_text(client, problem, _what(client, problem)[1], "-")


def _problem_text(client: Client, problem: dict[str, Any], what: str, ref: str) -> str:
    """What happened to a change that did not (fully) count, and what to do, in the catalogue's words."""
    status = problem["status"]
    if status == "superseded" and problem["collection"] == "device_checks":
        now = (client.get("device_checks", problem["id"]) or {"fields": {}})["fields"]
        outcome = value("outcome", now["outcome"]) if now.get("outcome") else MESSAGES["not_checked"]
        if now.get("note"):
            outcome = _text("outcome_note", outcome=outcome, note=now["note"])
        return _text("lost_check", what=what, ref=ref, now=_text(
            "now_check", outcome=outcome, by=now.get("checked_by") or MESSAGES["unknown"]))
    if status in ("superseded", "taken", "unknown"):
        return _text({"superseded": "lost_change", "taken": "taken_unknown", "unknown": "taken_gone"}[status],
                     what=what)
    if status == "rejected":
        return _refusal(client, problem, what)
    return _text("refused_fields", what=what, fields=MESSAGES["value_sep"].join(
        _text("refused_field", field=field_name(name).removeprefix("item."), reason=value("conflict_reason", why))
        for name, why in sorted(problem["rejected_fields"].items())))


# -- identity and sync ----------------------------------------------------------------


def login(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    try:
        password = args.password if args.password is not None else getpass.getpass(
            _text("password_prompt", username=args.username))
    except EOFError:  # Ctrl-D at the prompt
        print(file=sys.stderr)
        raise _Refused(MESSAGES["no_password"]) from None
    resent = client.login(args.username, password, client_name=args.name)
    client.server_url = args.server or str(client.http.base_url).rstrip("/")
    _say(out, "signed_in", name=client.db.meta("user_name") or args.username, role=value("role", client.role),
         server=client.server_url, client_id=client.client_id)
    if resent is not None:
        _say(out, "restored_login", count=resent)
    return 0


def sync(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    progress = _Progress(sys.stderr) if sys.stderr.isatty() else None
    client.on_progress = progress
    try:
        try:
            report = client.sync()
        finally:
            if progress is not None:
                progress.close()
    except BaseException:
        # Cut short (the link lost in an upload after the push went through, Ctrl-C): what did go is told
        # before why it stopped, or the technician never learns his checks reached the office.
        done = client.sync_so_far()
        if done.pushed or done.pulled or done.uploaded:
            said_synced(out, done, waiting=client.db.pending_count())
        raise
    said_synced(out, report)
    if report.dropped:
        _say(out, "uploads_dropped", count=report.dropped)
    assignment_news(client, out)
    waiting, failed = upload_counts(client)
    if waiting:
        _say(out, "uploads_left", count=waiting)
    if failed:
        _say(out, "uploads_failed", count=failed)
    notices = _notices(client)
    if notices:
        _say(out, "attention", count=len(notices))
        for notice in notices:
            _say(out, "attention_line", sheet_no=notice.sheet_no, text=notice.text)
        _tell(client, notices, out)
    return 0


# -- the day's work -------------------------------------------------------------------


def inspections(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    shown = client.my_inspections(include_all=args.all)
    # A snapshot not finished (a first sync cut, or one again after a restore) or never pulled: an empty or
    # short list says nothing about the work, so say why it may be short.
    short = "sync_incomplete" if client.db.meta("snapshot") == "running" else (
        "never_synced" if client.db.meta("cursor") is None else None)
    if not shown:
        _say(out, short or "no_inspections")
    notices = _notices(client)
    for i in shown:
        _say(out, "inspection_line", sheet_no=i.sheet_no or "-", period=i.period or "-",
             site=i.site_name or MESSAGES["unknown"], status=value("inspection_status", i.status), due_on=i.due_on or "-",
             checked=i.checked, total=i.total, id=i.id,
             overdue=MESSAGES["overdue"] if i.overdue else "")
        told = [notice for notice in notices if notice.about == i.id]
        for notice in told:
            _say(out, "attention_mark", text=notice.text)
        _tell(client, told, out)
    if shown and short is not None:
        _say(out, short)
    return 0


def devices(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """`devices`: by system, then location; `--left` keeps those without an outcome."""
    inspection = _find_inspection(client, args.inspection)
    [summary] = [i for i in client.my_inspections(include_all=True) if i.id == inspection["id"]]
    head = {"sheet_no": _sheet(inspection), "site": summary.site_name or MESSAGES["unknown"],
            "period": summary.period or "-", "status": value("inspection_status", summary.status), "total": summary.total}
    if args.left:
        _say(out, "devices_left_header", left=summary.total - summary.checked, **head)
    else:
        _say(out, "devices_header", checked=summary.checked, **head)
    kinds: dict[str, None] = {}
    for group in client.inspection_devices(inspection["id"]):
        system_said = False
        for location in group.locations:
            shown = [
                d for d in location.devices
                if not args.left or d.check is None or d.check.outcome is None
            ]
            if not shown:
                continue
            if not system_said:
                _say(out, "system_line", system=value("system", group.system) if group.system else MESSAGES["unknown"])
                system_said = True
            _say(out, "location_line", location=location.location or MESSAGES["unknown"])
            for device in shown:
                kinds[str(device.kind)] = None
                check = device.check
                outcome = value("outcome", check.outcome) if check and check.outcome else MESSAGES["not_checked"]
                if check and check.note:
                    outcome = _text("outcome_note", outcome=outcome, note=check.note)
                if device.pending:
                    outcome += MESSAGES["not_synced"]
                _say(out, "device_line", code=device.code or device.id, kind=value("kind", device.kind) if device.kind else "-",
                     outcome=outcome)
    if args.left and summary.checked >= summary.total:
        _say(out, "nothing_left", ref=args.inspection)
    if args.checklist and kinds:
        checklists = client.checklists()
        titles = {t["fields"].get("kind"): t["fields"].get("title") for t in client.rows("checklist_templates")}
        _say(out, "checklists")
        for kind in sorted(kinds):
            if kind not in checklists:
                _say(out, "no_checklist", kind=value("kind", kind))
                continue
            _say(out, "checklist_title", kind=value("kind", kind), title=titles.get(kind) or "")
            for item in checklists[kind]:  # typed by key or by either label (`check --item`)
                _say(out, "checklist_item", item=item["key"], type=MESSAGES[f"item_type_{item['type']}"],
                     label=item["label"] or "", label_zh=item["label_zh"] or "-")
    return 0


def check(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    """`check`: the same outcome, note and items for every device named.

    A range or several devices leave those that already have an outcome alone
    (unless --overwrite): a bulk "serviced" must not replace a recorded fault.
    One device named alone is an edit, and replaces its outcome.
    """
    inspection = _find_inspection(client, args.inspection)
    devices = _find_devices(client, inspection["fields"].get("site_id", ""), args.devices)
    typed = items(args.item, devices, client.checklists())
    overwrite = args.overwrite or (len(args.devices) == 1 and ".." not in args.devices[0])
    ids = [d["id"] for d in devices]
    skipped = {} if overwrite else client.outcomes(inspection["id"], ids)
    before = inspection["fields"].get("status") or "scheduled"
    try:
        client.record_checks(inspection["id"], ids, args.outcome, note=args.note, items_of=typed, overwrite=overwrite)
    except E.SyncError as exc:
        refused = exc.extra.get("refused") or {ids[0]: {"reason": exc.extra.get("reason"), "detail": exc.detail}}
        if not any(why["reason"] == "sealed" for why in refused.values()):
            raise
        raise _Refused(_sealed_here(client, inspection, devices, refused)) from None
    after = (client.get("inspections", inspection["id"]) or inspection)["fields"].get("status")
    if before == "scheduled" and after == "in_progress":
        _say(out, "started_by_check", sheet_no=_sheet(inspection))
    code = {d["id"]: str(d["fields"].get("code") or d["id"]) for d in devices}
    recorded = [code[i] for i in ids if i not in skipped]
    if recorded:
        last_seq = client.pending()[-1]["seq"]
        if len(recorded) == 1:
            _say(out, "recorded", device=recorded[0], outcome=value("outcome", args.outcome), seq=last_seq)
        else:
            _say(out, "recorded_many", count=len(recorded), first=recorded[0], last=recorded[-1],
                 outcome=value("outcome", args.outcome), first_seq=last_seq - len(recorded) + 1, last_seq=last_seq)
    if skipped:
        shown = _shown([_text("device_outcome", device=code[i], outcome=value("outcome", outcome))
                        for i, outcome in skipped.items()])
        _say(out, "skipped_one" if len(skipped) == 1 else "skipped_many", count=len(skipped), shown=shown)
    return 0


def _sealed_here(client: Client, inspection: dict[str, Any], devices: list[dict[str, Any]],
                 refused: dict[str, dict[str, str]]) -> str:
    """Why checks the customer signed cannot change, and what the technician can do: the devices, the
    signer and when, in the site's zone; then the devices `refused` for another reason, each with its own."""
    sealed = [d["id"] for d in devices if refused.get(d["id"], {}).get("reason") == "sealed"]
    by = next(filter(None, (client.sealing_signature(check_id(inspection["id"], d)) for d in sealed)), None)
    signature = (client.get("signatures", by) if by else None) or {"fields": {}}
    f = signature["fields"]
    at = datetime.fromisoformat(str(f["signed_at"])).astimezone(zone_of(client.db, inspection["fields"].get("site_id"))).strftime(
        "%Y-%m-%d %H:%M") if f.get("signed_at") else MESSAGES["unknown"]
    code = {d["id"]: str(d["fields"].get("code") or d["id"]) for d in devices}
    others: dict[str, list[str]] = {}
    for device_id, why in refused.items():
        if why["reason"] != "sealed":
            others.setdefault(why["detail"], []).append(code.get(device_id, device_id))
    return "\n".join([_text("sealed_here", devices=_shown([code[d] for d in sealed]),
                             sheet_no=_sheet(inspection), name=f.get("signer_name") or MESSAGES["unknown"], at=at),
                       *(_text("refused_too", devices=_shown(names), detail=detail) for detail, names in others.items())])


def start(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    inspection = _find_inspection(client, args.inspection)
    seq = client.start(inspection["id"])
    if seq is None:
        _say(out, "already", sheet_no=_sheet(inspection), status=value("inspection_status", inspection["fields"].get("status")))
    else:
        _say(out, "started", sheet_no=_sheet(inspection), seq=seq)
    return 0


def complete(client: Client, args: argparse.Namespace, out: TextIO) -> int:
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
        _say(out, "already", sheet_no=_sheet(inspection), status=value("inspection_status", inspection["fields"].get("status")))
    else:
        checked, total = client.progress(inspection["id"])
        _say(out, "completed", sheet_no=_sheet(inspection), checked=checked, total=total, seq=seq)
    return 0


def outbox(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    pending = client.pending()
    _say(out, "pending_count", count=len(pending))
    held = zones(client.db)
    for p in pending:
        action = MESSAGES["action_delete" if p["delete"] else "action_create" if p["delete"] is False
                          else "action_write"]
        label = p["label"]
        # The site's zone, also when the site has left the phone (the zone kept in the change's label).
        zone = held.get(label.get("site", "")) or site_zone(label.get("tz"))
        fields = ", ".join(f"{k}={local_value(p['collection'], k, v, zone)!r}" for k, v in p["fields"].items()
                           if v is not None)
        names = " ".join(label[k] for k in ("sheet", "device") if label.get(k) and label[k] != p["id"])
        _say(out, "pending_line", seq=p["seq"], action=action, collection=collection_name(p["collection"]), id=p["id"],
             about=_text("pending_about", names=names) if names else "", fields=fields)
    _print_problems(client, out, partial(_unknown_text, client))
    return 0


def conflicts(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    print_conflicts(client, out)
    _print_problems(client, out, partial(_unknown_text, client))
    return 0


# -- photos, the sheet, signatures and uploads (client_sdk/media/) -----------------------


def uploads(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    listed = [u for u in client.uploads() if args.all or u["state"] != "done"]
    _say(out, "uploads_count", count=sum(u["state"] in ("queued", "uploading") for u in listed))
    # A dropped upload: the refused change naming its bytes, told as `sync` tells it (while the outbox keeps it).
    refused = {p["fields"][key]: p for p in client.problems() if p["status"] == "rejected"
               for collection, key in BLOB_FIELDS if p["collection"] == collection and p["fields"].get(key)}
    about = blob_names(client)
    for u in listed:
        error = _text("upload_error", error=u["error"]) if u["error"] else ""
        if u["state"] == "dropped":
            problem = refused.get(u["sha256"])
            error = _text("upload_dropped", reason=_refusal(client, problem, _what(client, problem)[1]) if problem
                          else MESSAGES.get(f"reason_{u['error']}", u["error"]))
        named = about.get(u["sha256"])
        _say(out, "upload_line", error=error, about=_text("upload_about", names="; ".join(named)) if named else "",
             **{k: v for k, v in u.items() if k != "error"})
    return 0



def photo(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    inspection = _find_inspection(client, args.inspection)
    device = None
    if args.device != "-":
        site_id = inspection["fields"].get("site_id")
        found = [d for d in client.rows("devices") if d["fields"].get("site_id") == site_id and (
            d["id"] == args.device or str(d["fields"].get("code", "")).casefold() == args.device.casefold())]
        if len(found) != 1:
            raise _UserError(_text("no_device", ref=args.device))
        device = found[0]
    path = _file(args.path)
    before = {p["id"] for p in client.rows("photos")}
    try:
        photo_id = client.add_photo(inspection["id"], device["id"] if device else None, path,
                                    stage=args.stage, caption=args.caption)
    except OSError as exc:  # unreadable (permissions), or the card was pulled out
        raise _UserError(_text("unreadable_file", path=args.path, error=exc.strerror or exc)) from None
    fields = client.get("photos", photo_id)
    assert fields is not None
    named = (device["fields"].get("code") or device["id"]) if device else MESSAGES["site_photo"]
    queued = client.pending()[-1]  # the change just recorded
    if photo_id in before:  # the same bytes: the same row, updated, and one upload
        _say(out, "photo_again", device=named, stage=value("stage", args.stage), seq=queued["seq"],
             caption=_text("photo_caption", caption=args.caption) if args.caption else "")
        return 0
    taken = fields["fields"].get("taken_at")
    _say(out, "photo_queued", device=named, bytes=fields["fields"]["bytes"], seq=queued["seq"],
         taken_at=local_value("photos", "taken_at", taken, zone_of(client.db, queued["label"].get("site")))
         if taken else MESSAGES["unknown"])
    return 0


def sign(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    inspection = _find_inspection(client, args.inspection)
    strokes, png = _signature_input(args)
    sig_id = client.sign(inspection["id"], args.name, args.role, strokes=strokes, png=png)
    _say(out, "signed", name=args.name, role=value("signer_role", args.role), checks=client.sheet(inspection["id"])["checks"], id=sig_id)
    return 0

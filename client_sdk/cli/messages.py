"""All text `fieldsync-client` shows, in one table so it can be translated in one place,
and the formatting that lines up columns of CJK text by display width."""

from __future__ import annotations

import re
import string
import unicodedata
from typing import Any, TextIO

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
    "help_requests": "list my service requests (assigned to me, or open at my sites), most urgent first",
    "help_requests_all": "every request on this phone, closed and cancelled ones too",
    "help_request": "show a request: its countdowns, events and visits",
    "help_request_ref": "the request: its number (SR-2026-00042), its id, or a unique prefix of the id",
    "help_event": "record what happened on a request, now by this phone's clock",
    "help_event_kind": "what happened",
    "help_reason": "why the clock stops (with paused only)",
    "help_event_note": "a note",
    "help_event_visit": "the visit it belongs to: its sheet number, id or id prefix",
    "help_visit": "start a visit of a request under my name",
    "help_planned_at": "the time agreed with the customer (2026-12-06T06:00:00.000Z)",
    "help_report": "record a visit's result",
    "help_visit_ref": "the visit: its sheet number (SR-2026-00042-1), its id, or a unique prefix of the id",
    "help_visit_outcome": "the visit's outcome",
    "help_work_done": "what was done",
    "help_fault_cause": "what caused the fault",
    "help_void": "why the warranty does not cover it",
    "help_new_request": "open a request on site (a fault found while there)",
    "help_site": "the site: its name, its id, or a unique prefix of the id",
    "help_description": "what is wrong",
    "help_request_device": "the device at fault: its code or id",
    "help_request_kind": "the kind of request",
    "help_caller": "who reported it",
    "help_caller_phone": "their phone number",
    "help_complex": "a complex fault (72 h to fix instead of 24 h)",
    "no_requests": "No service requests.",
    "request_line": "{number:<16} {status:<10} {site:<20} {device:<10} {countdown}  {id}",
    "request_header": "{number}  {status}  {site}  {device}  {kind} ({complexity}), reported {reported}",
    "request_caller": "  {caller} {phone}: {description}",
    "request_milestones": "Countdowns:",
    "request_milestone": "  {text}  ({explanation})",
    "request_events": "Events:",
    "request_event": "  {at}  {kind:<16} {by:<8} {extra}{voided}{pending}",
    "request_visits": "Visits:",
    "request_visit": "  {sheet_no:<18} {technician:<8} {outcome}{sealed}{pending}",
    "no_terms": "no countdowns: this phone has no service terms for the site yet",
    "countdown_left": "{name} by {due} — {left} left",
    "countdown_at_risk": "{name} by {due} — {left} left (at risk)",
    "countdown_late": "{name} by {due} — {late} late",
    "countdown_met": "{name}: done {done}",
    "countdown_breached": "{name}: done {done}, {late} late",
    "countdown_not_applicable": "{name}: not applicable",
    "countdown_done": "-",
    "milestone_on_site": "on site",
    "milestone_fix": "fixed",
    "milestone_restore": "service restored",
    "milestone_loaner": "fix or loaner",
    "milestone_bench_repair": "unit back",
    "milestone_callback": "call-back",
    "event_voided": "  [voided]",
    "no_request": "No service request matches {ref!r}.",
    "ambiguous_request": "{ref!r} matches several requests: {matches}.",
    "no_visit": "No visit matches {ref!r}.",
    "ambiguous_visit": "{ref!r} matches several visits: {matches}.",
    "no_site": "No site matches {ref!r}.",
    "ambiguous_site": "{ref!r} matches several sites: {matches}.",
    "event_recorded": "Recorded {kind} on {number} at {at} (pending, seq {seq}). Run `fieldsync-client sync`"
                      " when online.",
    "visit_started": "Started a visit of {number}: visit {id} (pending, seq {seq}). Run `fieldsync-client sync`"
                     " when online.",
    "report_recorded": "Recorded the result of visit {sheet_no}: {outcome} (pending, seq {seq}). Run"
                       " `fieldsync-client sync` when online.",
    "request_opened": "Opened request {id} at {site} (on site, pending, seq {seq}); its number comes at the next"
                      " `fieldsync-client sync`.",
    "help_visit_sheet": "show a visit's contact sheet, as the customer sees it before signing",
    "help_sign_visit": "sign a visit's contact sheet: a customer's signature seals the visit at the server",
    "visit_sheet_header": "{sheet_no}  {site}  {customer}{sealed}",
    "visit_sheet_field": "  {name:<14} {value}",
    "visit_sheet_line": "  line {id}: {fields}",
    "visit_sheet_hash": "sheet {sha256}.",
    "visit_signed": "Signed {sheet_no} by {name} ({role}): signature {id} (pending). Run `fieldsync-client sync`"
                    " when online.",
    "help_charge": "add a charge line to a visit (priced by the server at sync; `bill` shows it now)",
    "help_charge_item": "the fee code, or part",
    "help_charge_quantity": "how many, in the item's unit: minutes for labour (rounded up to the schedule's step)",
    "help_price": "a part's actual price per unit, in yuan (350 or 350.50; turned into fen exactly)",
    "help_agreed": "the customer agreed to the part",
    "help_declined": "the customer declined the part (it stays on the sheet, not billed)",
    "help_decided_by": "who decided: the customer's name",
    "help_charge_description": "what it is (a part's name and model)",
    "help_bill": "show a visit's bill, priced on this phone as the server will: what the customer consents to",
    "help_duty_call": "log a call taken on the duty phone, received now",
    "help_duty_caller": "the caller's name",
    "help_duty_phone": "the caller's phone number",
    "help_duty_summary": "what the call was about",
    "help_duration": "how long the call took, in seconds",
    "help_duty_outcome": "how the call ended",
    "help_duty_site": "the site the call is about: its name or id",
    "help_follows": "an earlier call this one follows up: its id or a unique prefix",
    "help_duty_request": "the request opened for it: its number, id or id prefix",
    "help_duty": "who is on duty now, and this month's duty calls on this phone",
    "bad_price": "A price is yuan with at most two decimals (350 or 350.50), not {price!r}.",
    "charge_recorded": "Recorded {item} × {quantity} on visit {sheet_no}: line {id} (pending, seq {seq}). Run"
                       " `fieldsync-client bill` to show the customer the bill.",
    "no_fees": "No fee schedules on this phone yet: run `fieldsync-client sync` once with a signal.",
    "bill_header": "Bill of {sheet_no}{sealed}",
    "bill_offline": " (priced on this phone, as the server will)",
    "bill_signed": " (signed by the customer)",
    "bill_line": "  {item:<18} {quantity:>5}  {description:<24} {amount:>12}  {status}  {id}",
    "bill_covered": "covered",
    "bill_billed": "billed",
    "bill_declined": "declined",
    "bill_no_consent": "awaiting consent",
    "bill_totals": "  subtotal {subtotal}  tax {tax} ({rate} %)  total {total} yuan",
    "no_call": "No duty call matches {ref!r}.",
    "ambiguous_call": "{ref!r} matches several duty calls: {matches}.",
    "duty_call_logged": "Logged duty call {id} (pending, seq {seq}); on duty: {on_duty}.",
    "no_duty_rules": "unknown (no duty rules on this phone yet: sync once)",
    "nobody_on_duty": "nobody (office hours, or outside the on-call hours)",
    "duty_now": "On duty now: {technician}.  Calls of {month}:",
    "no_duty_calls": "  No duty calls.",
    "duty_call_line": "  {at}  {caller:<10} {phone:<16} {outcome:<16} {seconds:>5} s  on duty {on_duty:<8} {summary}"
                      "  {id}{pending}",
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

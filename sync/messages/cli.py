"""What `fieldsync-client` (the technician's phone or tablet) prints, in Chinese (`cli_zh.py`, the
technicians' language) and English (here). Which one a run speaks is the phone's choice (`--lang`, then
`FIELDSYNC_LANG`, then the locale; `client_sdk/cli/messages.py`). A stored value's words come from `values`.
The two screens the customer reads before signing (`sheet`, `visit-sheet`) are not the technician's: they
speak the printed sheet's words (`sheets`, `values`; `client_sdk/cli/customer.py`)."""

from __future__ import annotations

from .cli_zh import ZH

__all__ = ["EN", "ZH"]

EN: dict[str, str] = {
    "description": "fieldsync client: record maintenance checks offline and sync them with the server.",
    "help_db": "the local database file (default: $FIELDSYNC_CLIENT_DB or {default})",
    "help_server": "the server URL (default: $FIELDSYNC_SERVER, else the one stored at login, else {default})",
    "help_lang": "the language it speaks: zh (Chinese) or en (English) (default: $FIELDSYNC_LANG, else the"
                 " locale's: LC_ALL, LC_MESSAGES or LANG starting zh is Chinese; else English)",
    # argparse's own words, which it does not translate: the same in English as argparse says them.
    "help_usage": "usage: ",
    "help_positionals": "positional arguments",
    "help_options": "options",
    "help_help": "show this help message and exit",
    # An option's choices with their words, where those are not the choice as typed (in Chinese: fault 故障).
    "help_choices": "{help} ({choices})",
    "help_choice": "{value}: {words}",
    "help_choice_sep": ", ",
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
    "restored": "The server was restored from a backup: this phone enrolled anew and sent your recent work again"
                " ({count} change(s), counted above).",
    # A restore found by `login`, or by a sync cut before its resend was acknowledged: the next sync sends it.
    "restored_login": "The server was restored from a backup: this phone enrolled anew and sends your recent work"
                      " again ({count} change(s)) at your next sync.",
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
    "taken_unknown": "the server took your change of {what}, but its answer was lost: whether it counted shows"
                     " once a sync brings the row back",
    "taken_gone": "the server took your change of {what}, but its answer was lost, and whether it counted can no"
                  " longer be learnt on this phone (its row left it, or the server no longer shows its record):"
                  " ask your supervisor to look at it. Told once: `fieldsync-client outbox` keeps it listed",
    "refused_sealed": "your change of {what} was refused: the customer's signature sealed the check as it stood;"
                      " if it is wrong, ask your supervisor to retract that signature, then record it again and"
                      " have the customer sign again",
    "sealed_here": "Nothing recorded: the checks of {devices} on {sheet_no} are sealed by the customer's signature"
                   " ({name}, {at}), as the customer signed them. If a check is wrong, ask your supervisor to retract that signature;"
                   " then record it again and have the customer sign the sheet again.",
    "refused_too": "The checks of {devices} would be refused too: {detail}",
    "refused_forbidden": "your change of {what} was refused: you may no longer change it; ask your supervisor",
    "refused_left_site": "{yours} was refused: you are no longer a member of {site}; ask your supervisor",
    "yours_check": "your check of {what}",
    "yours_change": "your change of {what}",
    "refused": "your change of {what} was refused ({reason}): fix it and record it again; `fieldsync-client"
               " outbox` shows the server's words",
    "reason_invalid_field": "a value the server does not take",
    "reason_immutable": "a value that may not change once set",
    "reason_unknown_parent": "it names a row the server does not have",
    "reason_incomplete": "devices still have no outcome",
    "reason_too_large": "too large to send",
    "reason_forbidden": "you may no longer change it",
    "reason_sealed": "sealed by the customer's signature",
    "refused_fields": "the server kept your change of {what} but refused {fields}: record them again with a"
                      " valid value",
    "what_inspection": "the inspection",
    "what_photo": "a photo",
    "what_signature": "a signature",
    "what_row": "{collection} {id}",
    "no_inspections": "No inspections.",
    # `inspections` on a phone whose rows are not all here: a first sync cut mid-snapshot, or none yet.
    "sync_incomplete": "The last sync was cut before it brought everything: this list may miss inspections; run"
                       " `fieldsync-client sync` again.",
    "never_synced": "Nothing synced to this phone yet: run `fieldsync-client sync` once with a signal.",
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
    "pending_line": "  #{seq:<5} {action:<7} {collection} {about}{id} {fields}",
    "pending_about": "{names}: ",  # the sheet or request number and the device code a change is about
    "problems_count": "{count} change(s) that did not count:",
    "problem_line": "  #{seq:<5} {status:<11} {reason:<15} {collection} {id}: {detail}",
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
    "offline_uploads": "The server at {url} cannot be reached ({error}); your {uploads} upload(s) (photos, signed"
                       " sheets) are kept and will be sent later.",
    "offline_both": "The server at {url} cannot be reached ({error}); your {count} change(s) and {uploads} upload(s)"
                    " (photos, signed sheets) are kept and will be sent later.",
    "offline_empty": "The server at {url} cannot be reached ({error}); nothing of yours is waiting to be sent.",
    "uploads_failed": "{count} photo(s) or signed sheet(s) will not be sent: the server refused the file, or it is"
                      " gone from this phone; see `fieldsync-client uploads`, and take the photo again (or have the"
                      " sheet signed again).",
    "restored_again": "The server was restored from a backup while this ran: nothing on this phone is lost; run"
                      " `fieldsync-client sync` again.",
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
    "help_uploads": "list the photos, signatures and sheets waiting to upload, and those not sent",
    "help_uploads_all": "also list the uploads that reached the server",
    "photo_queued": "Photo of {device} queued: {bytes} bytes, taken {taken_at} (pending, seq {seq})."
                    " Run `fieldsync-client sync` when online.",
    # The same picture added again to the same device of the same inspection: one row (its id is of the
    # bytes), which the second `photo` updates, and one upload.
    "photo_again": "This photo of {device} was already added: its row updated (stage {stage}{caption}; pending, seq"
                   " {seq}); it is uploaded once.",
    "photo_caption": ", caption “{caption}”",
    "site_photo": "the site",
    "sheet_sealed": "  [sealed]",
    "signed": "Signed by {name} ({role}): {checks} check(s), signature {id} (pending)."
              " Run `fieldsync-client sync` when online.",
    "need_signature": "A signature needs --png or --strokes (one of them).",
    "bad_strokes": "The strokes file is not JSON of [[[x, y], ...], ...]: {error}",
    "uploads_count": "{count} upload(s) waiting.",
    "upload_line": "  {state:<9} {kind:<5} {content_type:<16} {offset:>9}/{length:<9} {sha256}{about}{error}",
    # What an upload is, as the technician knows it (the rows naming its bytes): the sheet, and the device or signer.
    "upload_about": "  {names}",
    "upload_photo": "{sheet} photo of {device}",
    "upload_signature": "{sheet} signature of {name}",
    "upload_sheet": "{sheet} sheet",
    "upload_error": "  ({error})",
    "upload_dropped": "  (not sent: {reason})",
    "uploads_dropped": "{count} upload(s) not sent: the server refused the changes that name them; see"
                       " `fieldsync-client uploads`.",
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
    "request_line": "{number:<16} {status:<10} {site:<20} {device:<10} {who:<10} {countdown}  {id}",
    "request_header": "{number}  {status}  {site}  {device}  {kind} ({complexity}), reported {reported},"
                      " assigned to {who}",
    # Who a request is assigned to, in `requests` (a column) and `request` (its header).
    "assigned_you": "you",
    "assigned_none": "nobody yet",
    "assigned_none_short": "-",
    # What a sync pulled of the desk's dispatch and a supervisor's reassignment, told once each on each phone;
    # a phone's first sync says how many are his in one line.
    "yours_first": "{count} open service request(s) are assigned to you: see `requests`",
    "now_yours": "Assigned to you: {number} at {site} ({device}): {description}",
    "not_yours": "{number} at {site} was reassigned to {who}: it is no longer yours; what you recorded on it"
                 " stays on it",
    "not_yours_none": "{number} at {site} was taken off you (assigned to nobody now): it is no longer yours;"
                      " what you recorded on it stays on it",
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
    # A month nobody is rostered for: nobody is on call all month, which the desk must know of.
    "no_roster": "nobody: no duty roster for {month} (ask the service desk who answers the duty phone)",
    "duty_now": "On duty now: {technician}.  Calls of {month}:",
    "no_duty_calls": "  No duty calls.",
    "duty_call_line": "  {at}  {caller:<10} {phone:<16} {outcome:<16} {seconds:>5} s  on duty {on_duty:<8} {summary}"
                      "  {id}{pending}",
    "unknown": "unknown",
    "action_write": "write",
    "action_create": "create",
    "action_delete": "delete",
}

"""`fieldsync-client`: a technician's client on the command line.

The parser and the dispatch, as `fieldsync` does it (server/cli.py): each
subcommand names its function in `commands` with `set_defaults(func=...)`.
Every failure the user can cause becomes one line on stderr and an exit status.
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn, TextIO

import httpx

from sync import errors as E
from sync import schema
from sync.clocks import PAUSE_REASONS
from sync.collections.duty import CALL_OUTCOMES
from sync.collections.service import EVENT_KINDS, SERVICE_REQUESTS, SERVICE_VISITS
from sync.pricing import ITEMS

from ..client import Client
from ..session import EpochChanged
from . import charges, commands, customer, service
from .common import _Refused, _UserError, upload_counts
from .messages import (
    LANGS,
    MESSAGES,
    Choice,
    _text,
    argparse_words,
    choose,
    display_width,
    listed_choices,
    value,
    wrap,
)

DEFAULT_DB = "~/.fieldsync/client.db"
DEFAULT_SERVER = "http://127.0.0.1:8000"
_STAGES = ("before", "after", "evidence")
_ROLES = ("customer", "technician")


class _Help(argparse.HelpFormatter):
    """argparse's help, wrapped by terminal columns (Chinese takes two a character) and in the CLI's words."""

    def _split_lines(self, text: str, width: int) -> list[str]:
        return wrap(text, width)

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n".join(indent + line for line in wrap(text, width - len(indent)))

    def _format_usage(self, usage: str | None, actions: Any, groups: Any, prefix: str | None) -> str:
        # argparse indents the usage's later lines by the prefix's characters: give it as many spaces as
        # the words take columns (用法： is three characters, six columns), then put the words in.
        words = MESSAGES["help_usage"] if prefix is None else prefix
        shown: str = super()._format_usage(usage, actions, groups, " " * display_width(words))
        return words + shown[display_width(words):]


class _Parser(argparse.ArgumentParser):
    """An `ArgumentParser` (its subcommands' too) whose own words (titles, `-h`) are the catalogue's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{**kwargs, "add_help": False, "formatter_class": _Help})
        self._positionals.title = MESSAGES["help_positionals"]
        self._optionals.title = MESSAGES["help_options"]
        self.add_argument("-h", "--help", action="help", default=argparse.SUPPRESS, help=MESSAGES["help_help"])


def _choices(key: str, group: str, choices: Sequence[str]) -> dict[str, Any]:
    """An option of listed `choices` (`group`'s values in the catalogue): typed as stored or by their Chinese
    words (`--outcome 故障` is `fault`, cli/messages.py `Choice`), its help listing them."""
    return {"choices": choices, "type": Choice(group, choices), "help": _help(key, group, choices)}


def _help(key: str, group: str, choices: Sequence[str]) -> str:
    """An option's help, with each choice's words where they are not the choice as typed: in Chinese
    `fault 故障`; in English a choice is its own word (`fault`), and the help is as the catalogue has it."""
    if all(choice == value(group, choice) for choice in choices):
        return MESSAGES[key]
    return MESSAGES["help_choices"].format(help=MESSAGES[key], choices=listed_choices(group, choices))


def _parser() -> argparse.ArgumentParser:
    m = MESSAGES
    parser = _Parser(prog="fieldsync-client", description=m["description"])
    _global_options(parser)
    sub = parser.add_subparsers(dest="command", required=True)
    login = sub.add_parser("login", help=m["help_login"])
    login.add_argument("username")
    login.add_argument("--password", help=m["help_password"])
    login.add_argument("--name", default="fieldsync-client", help=m["help_name"])
    sub.add_parser("sync", help=m["help_sync"])
    inspections = sub.add_parser("inspections", help=m["help_inspections"])
    inspections.add_argument("--all", action="store_true", help=m["help_all"])
    devices = sub.add_parser("devices", help=m["help_devices"])
    devices.add_argument("inspection", help=m["help_inspection"])
    devices.add_argument("--left", action="store_true", help=m["help_left"])
    devices.add_argument("--checklist", action="store_true", help=m["help_checklist"])
    start = sub.add_parser("start", help=m["help_start"])
    start.add_argument("inspection", help=m["help_inspection"])
    check = sub.add_parser("check", help=m["help_check"])
    check.add_argument("inspection", help=m["help_inspection"])
    check.add_argument("devices", nargs="+", metavar="DEVICE", help=m["help_device"])
    check.add_argument("--outcome", required=True, **_choices("help_outcome", "outcome", schema.OUTCOMES))
    check.add_argument("--note", help=m["help_note"])
    check.add_argument("--item", action="append", default=[], metavar="ITEM=VALUE", help=m["help_item"])
    check.add_argument("--overwrite", action="store_true", help=m["help_overwrite"])
    complete = sub.add_parser("complete", help=m["help_complete"])
    complete.add_argument("inspection", help=m["help_inspection"])
    sub.add_parser("outbox", help=m["help_outbox"])
    photo = sub.add_parser("photo", help=m["help_photo"])
    photo.add_argument("inspection", help=m["help_inspection"])
    photo.add_argument("device", help=m["help_photo_device"])
    photo.add_argument("path", help=m["help_photo_path"])
    photo.add_argument("--stage", default="after", choices=_STAGES, type=Choice("stage", _STAGES),
                       help=m["help_stage"])  # its help names each choice's words
    photo.add_argument("--caption", help=m["help_caption"])
    sheet = sub.add_parser("sheet", help=m["help_sheet"])
    sheet.add_argument("inspection", help=m["help_inspection"])
    sign = sub.add_parser("sign", help=m["help_sign"])
    sign.add_argument("inspection", help=m["help_inspection"])
    _signer_options(sign)
    uploads = sub.add_parser("uploads", help=m["help_uploads"])
    uploads.add_argument("--all", action="store_true", help=m["help_uploads_all"])
    sub.add_parser("conflicts", help=m["help_conflicts"])
    _service_parsers(sub)
    _charges_parsers(sub)
    for name, command in sub.choices.items():
        # `check` runs commands.check; `new-request` service.new_request; `duty-call` charges.duty_call
        func = name.replace("-", "_")
        command.set_defaults(func=next(getattr(m, func) for m in (commands, customer, service, charges) if hasattr(m, func)))
    return parser


def _global_options(parser: argparse.ArgumentParser) -> None:
    """The options before the command: the parser's, and the look-ahead's that reads `--lang` (`_lang_option`)."""
    m = MESSAGES
    parser.add_argument("--lang", choices=LANGS, help=m["help_lang"])
    parser.add_argument("--db", default=os.environ.get("FIELDSYNC_CLIENT_DB", DEFAULT_DB),
                        help=m["help_db"].format(default=DEFAULT_DB))
    parser.add_argument("--server", default=os.environ.get("FIELDSYNC_SERVER") or None,
                        help=m["help_server"].format(default=DEFAULT_SERVER))


class _NotTaken(Exception):
    """The look-ahead met what the parser will refuse (`--lang` with no value, an ambiguous option)."""


class _LookAhead(argparse.ArgumentParser):
    """The options before the command and nothing else (the command and all after it kept, unread): the
    parser's own (`_global_options`, `-h`), read by argparse itself, so that every spelling the parser takes
    (`--lang=zh`, `--lan zh`, `--l zh`) is read alike, and nothing after the command is."""

    def __init__(self) -> None:
        super().__init__(add_help=False)
        self.add_argument("-h", "--help", action="store_true")
        _global_options(self)
        self.add_argument("command", nargs=argparse.REMAINDER)

    def error(self, message: str) -> NoReturn:
        raise _NotTaken(message)


def _signer_options(sign: argparse.ArgumentParser) -> None:
    """Who signs and how: the options of `sign` and `sign-visit`."""
    m = MESSAGES
    sign.add_argument("--name", required=True, help=m["help_signer"])
    sign.add_argument("--role", default="customer", choices=_ROLES, type=Choice("signer_role", _ROLES),
                      help=m["help_role"])  # its help names each choice's words
    sign.add_argument("--png", help=m["help_png"])
    sign.add_argument("--strokes", help=m["help_strokes"])


def _service_parsers(sub: Any) -> None:
    """The commands of service work (cli/service.py)."""
    m = MESSAGES
    requests = sub.add_parser("requests", help=m["help_requests"])
    requests.add_argument("--all", action="store_true", help=m["help_requests_all"])
    request = sub.add_parser("request", help=m["help_request"])
    request.add_argument("request", help=m["help_request_ref"])
    event = sub.add_parser("event", help=m["help_event"])
    event.add_argument("request", help=m["help_request_ref"])
    event.add_argument("kind", **_choices("help_event_kind", "event", EVENT_KINDS))
    event.add_argument("--reason", **_choices("help_reason", "pause_reason", PAUSE_REASONS))
    event.add_argument("--note", help=m["help_event_note"])
    event.add_argument("--visit", help=m["help_event_visit"])
    visit = sub.add_parser("visit", help=m["help_visit"])
    visit.add_argument("request", help=m["help_request_ref"])
    visit.add_argument("--planned-at", help=m["help_planned_at"])
    report = sub.add_parser("report", help=m["help_report"])
    report.add_argument("visit", help=m["help_visit_ref"])
    report.add_argument("--outcome", required=True,
                        **_choices("help_visit_outcome", "visit_outcome", SERVICE_VISITS.fields["outcome"].choices))
    report.add_argument("--work-done", help=m["help_work_done"])
    report.add_argument("--fault-cause", help=m["help_fault_cause"])
    report.add_argument("--void", **_choices("help_void", "warranty_void", SERVICE_VISITS.fields["warranty_void"].choices))
    new = sub.add_parser("new-request", help=m["help_new_request"])
    new.add_argument("site", help=m["help_site"])
    new.add_argument("--description", required=True, help=m["help_description"])
    new.add_argument("--device", help=m["help_request_device"])
    new.add_argument("--kind", default="repair", **_choices("help_request_kind", "request_kind", SERVICE_REQUESTS.fields["kind"].choices))
    new.add_argument("--caller", help=m["help_caller"])
    new.add_argument("--phone", help=m["help_caller_phone"])
    new.add_argument("--complex", action="store_true", help=m["help_complex"])
    sheet = sub.add_parser("visit-sheet", help=m["help_visit_sheet"])
    sheet.add_argument("visit", help=m["help_visit_ref"])
    sign = sub.add_parser("sign-visit", help=m["help_sign_visit"])
    sign.add_argument("visit", help=m["help_visit_ref"])
    _signer_options(sign)


def _charges_parsers(sub: Any) -> None:
    """The commands of charges and duty (cli/charges.py)."""
    m = MESSAGES
    charge = sub.add_parser("charge", help=m["help_charge"])
    charge.add_argument("visit", help=m["help_visit_ref"])
    charge.add_argument("item", **_choices("help_charge_item", "item", ITEMS))
    charge.add_argument("quantity", type=int, help=m["help_charge_quantity"])
    charge.add_argument("--price", help=m["help_price"])
    decision = charge.add_mutually_exclusive_group()
    decision.add_argument("--agreed", action="store_true", help=m["help_agreed"])
    decision.add_argument("--declined", action="store_true", help=m["help_declined"])
    charge.add_argument("--by", help=m["help_decided_by"])
    charge.add_argument("--description", help=m["help_charge_description"])
    bill = sub.add_parser("bill", help=m["help_bill"])
    bill.add_argument("visit", help=m["help_visit_ref"])
    call = sub.add_parser("duty-call", help=m["help_duty_call"])
    call.add_argument("--caller", required=True, help=m["help_duty_caller"])
    call.add_argument("--phone", required=True, help=m["help_duty_phone"])
    call.add_argument("--summary", required=True, help=m["help_duty_summary"])
    call.add_argument("--duration", required=True, type=int, help=m["help_duration"])
    call.add_argument("--outcome", required=True, **_choices("help_duty_outcome", "call_outcome", CALL_OUTCOMES))
    call.add_argument("--site", help=m["help_duty_site"])
    call.add_argument("--follows", help=m["help_follows"])
    call.add_argument("--request", help=m["help_duty_request"])
    sub.add_parser("duty", help=m["help_duty"])


def _tolerant(stream: TextIO) -> None:
    """On a terminal that cannot show a character (LANG=C, PYTHONIOENCODING=ascii), show an escape
    (`\\u79d1`) instead of failing with UnicodeEncodeError."""
    if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
        stream.reconfigure(errors="backslashreplace")


def run() -> NoReturn:
    """`fieldsync-client` as a program (its console script, `python -m client_sdk.cli`): `main`, then exit with
    its status. Once the command has ended, Ctrl-C is ignored (`main`'s `program`): it could only cut the
    exit itself (`sys.exit`, the output's last flush), which printed a traceback after a finished sync."""
    sys.exit(main(program=True))


def main(argv: Sequence[str] | None = None, http: httpx.Client | None = None, *, program: bool = False) -> int:
    """Run the CLI; returns the exit status. `http` lets tests pass the server's test client; `program`: this
    run is the process's (`run`), which ignores Ctrl-C once the command has ended.

    Every failure the user can cause is one line on stderr and an exit status:
    1 refused (by the server, or no password), 2 a mistake in the command,
    3 the server cannot be reached, 130 interrupted (Ctrl-C).
    """
    _tolerant(sys.stdout)
    _tolerant(sys.stderr)
    argv = sys.argv[1:] if argv is None else list(argv)
    # The language before the parser is built, so that its help speaks it too; restored at the end, for
    # the tests that run several commands in one process.
    before = MESSAGES.use(choose(_lang_option(argv), os.environ))
    try:
        with argparse_words():  # argparse's own error lines in the CLI's language
            args = _parser().parse_args(argv)
        return _run(args, http, program)
    finally:
        MESSAGES.use(before)


def _lang_option(argv: Sequence[str]) -> str | None:
    """The `--lang` the parser will take from `argv`, read before the whole command line is parsed: as argparse
    reads the options before the command (`_LookAhead`: every unambiguous prefix, `=`); else a `--lang zh` or
    `--lang=zh` after the command, which the parser refuses, in the language it names."""
    try:
        taken = _LookAhead().parse_known_args(argv)[0].lang
    except _NotTaken:
        taken = None
    if taken is not None:
        return str(taken)
    for i, arg in enumerate(argv):
        if arg == "--":
            break
        if arg.startswith("--lang="):
            return arg.partition("=")[2]
        if arg == "--lang" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def _run(args: argparse.Namespace, http: httpx.Client | None, program: bool) -> int:
    try:
        status = _main(args, http)
        if program:
            # Ended (its database closed): a Ctrl-C from here on could only cut the exit, never the work. Ignored
            # in this handler's reach, so one that comes first is still caught here.
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        return status
    except KeyboardInterrupt:
        if program:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut this line short
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
        if args.command != "login" and client.client_id is None:
            raise _UserError(MESSAGES["not_signed_in"])
        status: int = args.func(client, args, out)
        return status
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
            # What stays on the phone: its changes, and the photos and sheets still to upload (a sync whose
            # push went through can be cut in an upload, with no change left waiting).
            # A failed upload is never sent again: it is told apart, with what to do, not promised for later.
            count, (uploads, failed) = client.status()["pending"], upload_counts(client)
            key = ("offline_both" if uploads else "offline") if count else (
                "offline_uploads" if uploads else "offline_empty")
            print(_text(key, url=url, error=exc, count=count, uploads=uploads), file=sys.stderr)
            if failed:
                print(_text("uploads_failed", count=failed), file=sys.stderr)
        return 3
    except EpochChanged:
        # The recoveries catch a restored server where it is met; one left over must not end in a traceback.
        print(MESSAGES["restored_again"], file=sys.stderr)
        return 1
    except BrokenPipeError:
        # `fieldsync-client devices PM-2026Q4-0001 --left | head`: the reader has gone; stop quietly.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    finally:
        client.close()
        if own_http is not None:
            own_http.close()

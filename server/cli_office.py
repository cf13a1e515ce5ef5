"""The office's commands of `fieldsync` (accounts and memberships, a site's service terms, a customer's site and its
devices from the archive's spreadsheet), and what every command shares: a refusal and the data directory."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sync.errors import SyncError
from sync.fields import ROLES

from .settings import Settings, database_url

T = TypeVar("T")
DATA_HELP = ("the data directory: its fieldsync.db; with --database, only this process's own files (thumbnails,"
             " the blob cache)")


class Refused(Exception):
    """A command refused before it changed anything: its message, and exit status 2."""


def data_dir(data: str, database: str | None = None) -> Path:
    """The data directory of every command but `init`, which alone creates a database.

    A mistyped `--data` would otherwise open (and create) an empty database there. With
    `--database` the database is PostgreSQL's, and the directory holds only this process's files.
    """
    path = Path(data).resolve()
    if database is None and not (path / "fieldsync.db").is_file():
        raise Refused(f"no database in {path}; check --data, or create one with: fieldsync init --data {data}")
    return path


def checked(check: Callable[[str], T]) -> Callable[[str], T]:
    """A setting's check as argparse's type: refused with the setting's own reason, never echoing the value
    (`--database` may hold a password)."""
    def checked(text: str) -> T:
        try:
            return check(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return checked


def data_option(p: argparse.ArgumentParser, help: str = DATA_HELP) -> None:
    p.add_argument("--data", required=True, metavar="DIR", help=help)


def database_option(p: argparse.ArgumentParser, help: str | None = None) -> None:
    p.add_argument("--database", type=checked(database_url), metavar="URL",
                   help=help or "a PostgreSQL database (postgresql://user[:password]@host[:port]/name) that several"
                                " processes share; default: the SQLite file under --data")


def subcommand(sub: argparse._SubParsersAction[argparse.ArgumentParser], name: str,
               help: str) -> argparse.ArgumentParser:
    """A subcommand over a database: `--data` and `--database`, each with its help."""
    p = sub.add_parser(name, help=help)
    data_option(p)
    database_option(p)
    return p


def settings_of(args: argparse.Namespace, **values: Any) -> Settings:
    """A command's settings: its `--data` (which must hold a database, unless `--database` names one)."""
    return Settings(data_dir=data_dir(args.data, args.database), database=args.database, **values)


def typed_password(prompt: str) -> str:
    """A password typed twice at the terminal. When standard input is not one (a script, a pipe:
    `echo … | fieldsync passwd`), its first line; a second line, when there is one, must be the same.
    getpass read a pipe for both prompts and ended in an EOFError traceback after one line."""
    import getpass

    if not sys.stdin.isatty():
        password, again = (sys.stdin.readline().rstrip("\r\n") for _ in range(2))
        if not password:
            raise Refused("no password on standard input; nothing changed")
        if again and again != password:
            raise Refused("the two passwords differ; nothing changed")
        return password
    password = getpass.getpass(prompt)
    if getpass.getpass("the same again: ") != password:
        raise Refused("the two passwords differ; nothing changed")
    return password


def add_user(args: argparse.Namespace) -> int:
    from .domains.identity.access import Access, account_refusal
    from .services import Store

    if args.site and args.role != "technician":
        raise Refused("--site is for technicians: supervisors see every site")
    if why := account_refusal(args.username, args.name or args.username):
        raise Refused(f"{why}; nothing changed")
    store = Store(settings_of(args))
    try:
        # Every site is found before the account is made: a wrong one leaves nothing behind.
        sites = [Access(store).find_site(ref) for ref in args.site or []]
        password = args.password if args.password is not None else typed_password(f"password for {args.username}: ")
        store.create_user(args.username, args.name or args.username, args.role, password,
                          sites=[site_id for site_id, _ in sites])
    finally:
        store.close()
    names = ", ".join(name for _, name in sites)
    print(f"{args.role} {args.username} created" + (f", member of {names}" if sites else ""))
    return 0


def passwd(args: argparse.Namespace) -> int:
    """A lost phone from the shell: a new password, or the account disabled or enabled; every
    client of the user is revoked (the same as PATCH /api/users/{username})."""
    from .services import Store

    if args.database is None and not (Path(args.data) / "fieldsync.db").exists():
        print(f"fieldsync: no database in {args.data}", file=sys.stderr)
        return 2
    disabled = True if args.disable else False if args.enable else None
    password = None
    if disabled is None:
        try:
            password = typed_password(f"new password for {args.username}: ")
        except Refused as exc:
            print(f"fieldsync: {exc}", file=sys.stderr)
            return 2
    store = Store(Settings(data_dir=Path(args.data), database=args.database))
    try:
        revoked = store.update_user(args.username, password=password, disabled=disabled)
    finally:
        store.close()
    done, then = (("password changed", "each signs in again with the new password") if password is not None else
                  ("disabled", f"no sign-in until: fieldsync passwd --enable {args.username}") if disabled else
                  ("enabled", "each signs in again with the password"))
    print(f"{args.username}: {done}; {revoked} client(s) revoked ({then})")
    return 0


def member(args: argparse.Namespace) -> int:
    """A technician made a member of a site, or taken off it, from the shell (the same as POST and DELETE
    /api/sites/{site_id}/members); the audit entry names the command, as no user did it."""
    from .domains.identity.access import Access
    from .services import Store

    store = Store(settings_of(args))
    try:
        access = Access(store)
        site_id, name = access.find_site(args.site)
        was = args.username in access.members(site_id).members
        if args.remove:
            access.remove_member(None, site_id, args.username, via="fieldsync member --remove")
        else:
            access.add_member(None, site_id, args.username, via="fieldsync member")
    finally:
        store.close()
    if args.remove:
        print(f"{args.username}: no longer a member of {name}; their phones' next pull removes the site" if was else
              f"{args.username}: not a member of {name}; nothing changed")
    else:
        print(f"{args.username}: already a member of {name}; nothing changed" if was else
              f"{args.username}: member of {name}; their phones' next pull brings the site")
    return 0


def terms_command(args: argparse.Namespace) -> int:
    """A site's service terms from the shell: shown, or its override set or cleared (the same as
    GET and PUT /api/sites/{site_id}/service-terms)."""
    import json

    from .domains.identity.access import Access
    from .domains.service.office import ServiceOffice
    from .services import Store

    override = None
    if args.set is not None:
        try:
            override = json.loads(args.set)
        except ValueError as exc:
            raise Refused(f"--set takes a JSON object: {exc}") from None
        if not isinstance(override, dict):
            raise Refused('--set takes a JSON object, e.g. \'{"on_site_hours": {"urban": 2}}\'')
    store = Store(settings_of(args))
    try:
        office = ServiceOffice(store)
        site_id, _ = Access(store).find_site(args.site)
        changed = args.set is not None or args.clear
        terms = office.set_terms(None, site_id, override) if changed else office.terms(site_id)
    finally:
        store.close()
    print(json.dumps({"site_id": terms.site_id, "contract": terms.contract, "override": terms.override,
                      "set_by": terms.set_by, "set_at": terms.set_at, "terms": terms.terms},
                     ensure_ascii=False, indent=2))
    return 0


def import_devices(args: argparse.Namespace) -> int:
    """A site's devices from the customer archive's spreadsheet (the same as POST /api/sites/{site_id}/import)."""
    from .domains.archive.service import Archive
    from .domains.archive.spreadsheet import MAX_IMPORT_BYTES
    from .domains.identity.access import Access
    from .services import Store

    path = Path(args.file)
    if not path.is_file():
        raise Refused(f"no file {path}")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise Refused(f"{path} is over {MAX_IMPORT_BYTES} bytes; split it by system")
    store = Store(settings_of(args))
    try:
        site_id, name = Access(store).find_site(args.site)
        try:
            report = Archive(store).import_devices(None, site_id, path.read_bytes(), dry_run=args.dry_run,
                                                   retire=args.retire)
        except SyncError as exc:
            for bad in exc.extra.get("errors", []):
                print(f"row {bad['row']}: {bad['detail']}", file=sys.stderr)
            raise
    finally:
        store.close()
    verb = "would be" if args.dry_run else "were"
    print(f"{name}: {report.rows} rows; {len(report.created)} devices {verb} created, {len(report.changed)}"
          f" changed, {report.unchanged} unchanged")
    for changed in report.changed:
        print(f"  {changed.code}: {', '.join(changed.fields)}")
    if report.retired:
        print(f"{len(report.retired)} devices the file no longer lists {verb} retired: {', '.join(report.retired)}")
    elif report.retire:
        print(f"{len(report.retire)} active devices are not in the file (retire them with --retire):"
              f" {', '.join(report.retire)}")
    if report.ignored_columns:
        print(f"columns ignored: {', '.join(report.ignored_columns)}")
    return 0


def add_site(args: argparse.Namespace) -> int:
    """Register a customer's site (the same as POST /api/sites); prints its id for `import --site`."""
    import msgspec

    from .domains.archive.schemas import NewSite
    from .domains.archive.service import Archive
    from .services import Store

    given = {"name": args.name, "customer": args.customer, "contract": args.contract, "address": args.address,
             "zone": args.zone, "tz": args.tz, "accepted_on": args.accepted_on,
             "warranty_months": args.warranty_months, "contract_price_fen": args.price_fen,
             "members": args.member or []}
    new = msgspec.convert({k: v for k, v in given.items() if v is not None}, NewSite)
    store = Store(settings_of(args))
    try:
        site = Archive(store).register_site(None, new)
    finally:
        store.close()
    members = f", members {', '.join(site.members)}" if site.members else ""
    print(f"site {site.fields['name']} ({site.fields['customer']}) registered: {site.id}{members}")
    return 0


def add_office_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """`add-user`, `passwd`, `member`, `terms`, `add-site` and `import`."""
    p = subcommand(sub, "add-user", "create an account (passwords must be strong outside the demo)")
    p.add_argument("username", help="the name they sign in with (letters, digits, . _ -)")
    p.add_argument("--name", help="the name shown to others, e.g. 王工")
    p.add_argument("--role", choices=list(ROLES), required=True, help="what they may do (docs/security.md)")
    p.add_argument("--password", help="asked for when left out")
    p.add_argument("--site", action="append", help="a site (its name or id) the technician works on (repeatable)")
    p.set_defaults(func=add_user)
    p = subcommand(sub, "passwd", "set a user's password, or disable or enable them; revokes their clients")
    p.add_argument("username", help="the account's username")
    toggle = p.add_mutually_exclusive_group()
    toggle.add_argument("--disable", action="store_true", help="disable the account instead (no password asked)")
    toggle.add_argument("--enable", action="store_true", help="enable a disabled account again")
    p.set_defaults(func=passwd)
    p = subcommand(sub, "member", "make a technician a member of a site, or take them off it (--remove)")
    p.add_argument("site", help="the site's id or name")
    p.add_argument("username", help="the technician's username")
    p.add_argument("--remove", action="store_true", help="end the membership: the phone's next pull removes the site")
    p.set_defaults(func=member)
    p = subcommand(sub, "terms", "show a site's response-time terms, or set or clear its override")
    p.add_argument("site", help="the site's id or name")
    change = p.add_mutually_exclusive_group()
    change.add_argument("--set", metavar="JSON", help='the override, e.g. \'{"on_site_hours": {"urban": 2}}\'')
    change.add_argument("--clear", action="store_true", help="remove the override: the contract's terms apply")
    p.set_defaults(func=terms_command)
    p = subcommand(sub, "add-site", "register a customer's site, its contract and its technicians")
    p.add_argument("name", help="the site's name, e.g. 东区园区")
    p.add_argument("--customer", required=True, help="the customer's name, e.g. 科峰科技有限公司")
    p.add_argument("--contract", required=True, choices=["annual", "per_visit", "warranty"],
                   help="how the site's service is paid for")
    p.add_argument("--address", help="the site's address, as a technician finds it")
    p.add_argument("--zone", choices=["urban", "suburban"], help="for the response-time terms and the fee book (default: urban)")
    p.add_argument("--tz", help="an IANA time zone (default Asia/Shanghai)")
    p.add_argument("--accepted-on", help="the acceptance date, YYYY-MM-DD")
    p.add_argument("--warranty-months", type=int, help="the warranty's length in months, for devices that name none of their own")
    p.add_argument("--price-fen", type=int, help="the contract's price a year, in fen")
    p.add_argument("--member", action="append", help="a technician who serves the site (repeatable)")
    p.set_defaults(func=add_site)
    p = subcommand(sub, "import", "import a site's devices from the customer archive (.xlsx or CSV)")
    p.add_argument("file", help="an .xlsx or CSV (UTF-8 or GB18030) with a header row: system, kind, code, name,"
                                " location, model, serial number, installed on (or 系统, 类型, 编号, …)")
    p.add_argument("--site", required=True, help="the site's id or name (register it first)")
    p.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    p.add_argument("--retire", action="store_true", help="retire the active devices the file no longer lists")
    p.set_defaults(func=import_devices)

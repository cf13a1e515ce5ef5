"""`fieldsync`: create a database, load the demo, serve, set service terms, purge tombstones, collect blobs, back up
and restore."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from sync.errors import SyncError
from sync.fields import ROLES

from .settings import Settings, public_url, served_url
from .storage.sqlite.backup import BLOBS, BackupError, backup, data_lock, restore


class _Refused(Exception):
    """A command refused before it changed anything: its message, and exit status 2."""


def _data_dir(data: str) -> Path:
    """The data directory of every command but `init`, which alone creates a database.

    A mistyped `--data` would otherwise open (and create) an empty database there.
    """
    path = Path(data).resolve()
    if not (path / "fieldsync.db").is_file():
        raise _Refused(f"no database in {path}; check --data, or create one with: fieldsync init --data {data}")
    return path


def _blobs(args: argparse.Namespace) -> str | None:
    """`--blobs` checked: an `s3://bucket/prefix` address or a directory (None: `blobs/` under --data)."""
    if args.blobs is None:
        return None
    if args.blobs.startswith("s3://"):
        from .domains.media.s3 import parse_address

        try:
            parse_address(args.blobs)
        except ValueError as exc:
            raise _Refused(f"--blobs: {exc}") from None
        return str(args.blobs)
    return str(Path(args.blobs).resolve())


def _blobs_dir(blobs: str | None) -> Path | None:
    """The blob directory `backup` and `restore` copy: None for a bucket."""
    return None if blobs and blobs.startswith("s3://") else Path(blobs or BLOBS)


def _init(args: argparse.Namespace) -> int:
    from .demo import load_demo
    from .services import Store

    if args.scale is not None and not args.demo:
        print("--scale adds to the demo: use it with --demo", file=sys.stderr)
        return 2
    if args.scale is not None and args.scale < 1:
        print("--scale is a number of sites, 1 or more", file=sys.stderr)
        return 2
    settings = Settings(data_dir=Path(args.data), demo=args.demo, blobs=_blobs(args))
    store = Store(settings)
    try:
        if args.demo:
            with store.read() as db:
                loaded = db.execute("SELECT count(*) FROM users").fetchone()[0]
            if loaded:
                print(f"{settings.db_path} already holds data; demo not loaded again")
            else:
                counts = load_demo(store)
                print("demo loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
                if args.scale:
                    from .scale import load_scale

                    counts = load_scale(store, args.scale, seed=args.seed)
                    print("scale demo added: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        print(f"database ready at {settings.db_path}")
    finally:
        store.close()
    return 0


def _demo_accounts(db_path: Path) -> str | None:
    """The demo accounts that still have the published password, for `make run` to show; None if none has."""
    import msgspec

    from .demo import FIXTURES
    from .domains.identity.passwords import check_password
    from .storage.sqlite.identity import password_hashes

    accounts = msgspec.json.decode((FIXTURES / "accounts.json").read_bytes())
    hashes = password_hashes(db_path)
    shown = [f"{a['username']} ({a['name']}, {a['role']})" for a in accounts
             if a["username"] in hashes and check_password(a["password"], hashes[a["username"]])]
    return f"demo accounts, password demo: {', '.join(shown)}" if shown else None


def _serve(args: argparse.Namespace) -> int:
    import ipaddress
    import json

    from .transport import PortUnavailable, exclusive_server, granian_options, listen, raise_open_files

    data = _data_dir(args.data)
    if not 1 <= args.header_timeout <= 60:
        print("fieldsync: --header-timeout is 1 to 60 seconds", file=sys.stderr)
        return 2
    if args.body_timeout < 1 or args.max_connections < 1:
        print("fieldsync: --body-timeout and --max-connections are 1 or more", file=sys.stderr)
        return 2
    try:
        proxies = tuple(str(ipaddress.ip_network(a, strict=False)) for a in args.trusted_proxy or [])
    except ValueError as exc:
        print(f"fieldsync: --trusted-proxy takes an IP address or range: {exc}", file=sys.stderr)
        return 2
    connections = raise_open_files(args.max_connections)
    if connections < args.max_connections:
        print(f"fieldsync: the limit on open files allows {connections} connections, not {args.max_connections}",
              file=sys.stderr)
    overrides = {"header_read_timeout_seconds": args.header_timeout, "body_idle_timeout_seconds": args.body_timeout,
                 "max_connections": max(1, connections), "trusted_proxies": proxies, "blobs": _blobs(args),
                 "public_url": args.public_url or served_url(args.host, args.port)}
    settings = Settings(data_dir=data, **overrides)
    demo = _demo_accounts(data / "fieldsync.db")
    if demo:
        print(demo, flush=True)
    os.environ["FIELDSYNC_DATA"] = str(data)
    os.environ["FIELDSYNC_SETTINGS"] = json.dumps(overrides)
    # Held while serving, so `fieldsync restore` cannot replace the database under us.
    with data_lock(data):
        options = granian_options(settings)
        try:
            sock = listen(args.host, args.port, options["backlog"])
        except PortUnavailable as exc:
            print(f"fieldsync: {exc}", file=sys.stderr)
            return 1
        from granian.constants import Interfaces

        # One worker process: every write goes through its single writer connection.
        exclusive_server(
            sock,
            target="server.asgi:app_factory",
            address=args.host,
            port=args.port,
            interface=Interfaces.ASGI,
            workers=1,
            factory=True,
            log_access=args.access_log,
            **options,
        ).serve()
    return 0


def _backup(args: argparse.Namespace) -> int:
    blobs = _blobs(args)
    info = backup(_data_dir(args.data), Path(args.to), _blobs_dir(blobs))
    where = "" if _blobs_dir(blobs) else f"; the blobs stay in {blobs}"
    print(f"backed up {info.rows} rows (version {info.version}) and {info.blobs} blobs to {args.to}{where}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    blobs = _blobs(args)
    result = restore(Path(args.source), Path(args.data), force=args.force, blobs_dir=_blobs_dir(blobs))
    if blobs and not _blobs_dir(blobs) and (Path(args.source) / BLOBS).is_dir():
        import shutil

        from .domains.media.blobs import open_blob_store

        # A bucket gets the backup's blobs it lacks, each through a copy (put consumes its file).
        store = open_blob_store(Settings(data_dir=Path(args.data), blobs=blobs))
        for blob in (Path(args.source) / BLOBS).rglob("*"):
            if blob.is_file() and not store.exists(blob.name):
                copy = Path(args.data) / f".restoring-{blob.name}"
                shutil.copyfile(blob, copy)
                store.put(blob.name, copy)
    print(f"restored {result.backup.rows} rows (version {result.backup.version}, backed up"
          f" {result.backup.created_at}) into {args.data}; new server_epoch {result.server_epoch}")
    if result.replaced:
        print(f"the database that was there is kept in {result.replaced}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from .domains.inspections.service import Inspections
    from .services import Store

    store = Store(Settings(data_dir=_data_dir(args.data)))
    try:
        result = Inspections(store).generate(args.period)
    finally:
        store.close()
    print(f"{args.period}: {len(result.created)} inspections created, {len(result.existing)} already there")
    return 0


def _add_user(args: argparse.Namespace) -> int:
    import getpass

    from .domains.identity.access import Access, account_refusal
    from .services import Store

    if args.site and args.role != "technician":
        raise _Refused("--site is for technicians: supervisors see every site")
    if why := account_refusal(args.username, args.name or args.username):
        raise _Refused(f"{why}; nothing changed")
    store = Store(Settings(data_dir=_data_dir(args.data)))
    try:
        # Every site is found before the account is made: a wrong one leaves nothing behind.
        sites = [Access(store).find_site(ref) for ref in args.site or []]
        password = args.password
        if password is None:
            password = getpass.getpass(f"password for {args.username}: ")
            if getpass.getpass("the same password again: ") != password:
                raise _Refused("the two passwords differ; nothing changed")
        store.create_user(args.username, args.name or args.username, args.role, password,
                          sites=[site_id for site_id, _ in sites])
    finally:
        store.close()
    names = ", ".join(name for _, name in sites)
    print(f"{args.role} {args.username} created" + (f", member of {names}" if sites else ""))
    return 0


def _passwd(args: argparse.Namespace) -> int:
    """A lost phone from the shell: a new password, or the account disabled or enabled; every
    client of the user is revoked (the same as PATCH /api/users/{username})."""
    import getpass

    from .services import Store

    if not (Path(args.data) / "fieldsync.db").exists():
        print(f"fieldsync: no database in {args.data}", file=sys.stderr)
        return 2
    disabled = True if args.disable else False if args.enable else None
    password = None
    if disabled is None:
        password = getpass.getpass(f"new password for {args.username}: ")
        if getpass.getpass("the same again: ") != password:
            print("fieldsync: the two passwords differ; nothing changed", file=sys.stderr)
            return 2
    store = Store(Settings(data_dir=Path(args.data)))
    try:
        revoked = store.update_user(args.username, password=password, disabled=disabled)
    finally:
        store.close()
    done = "password changed" if password is not None else "disabled" if disabled else "enabled"
    print(f"{args.username}: {done}; {revoked} client(s) revoked (each signs in again with the password)")
    return 0


def _terms(args: argparse.Namespace) -> int:
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
            raise _Refused(f"--set takes a JSON object: {exc}") from None
        if not isinstance(override, dict):
            raise _Refused('--set takes a JSON object, e.g. \'{"on_site_hours": {"urban": 2}}\'')
    store = Store(Settings(data_dir=_data_dir(args.data)))
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


def _import(args: argparse.Namespace) -> int:
    """A site's devices from the customer archive's spreadsheet (the same as POST /api/sites/{site_id}/import)."""
    from .domains.archive.service import Archive
    from .domains.archive.spreadsheet import MAX_IMPORT_BYTES
    from .domains.identity.access import Access
    from .services import Store

    path = Path(args.file)
    if not path.is_file():
        raise _Refused(f"no file {path}")
    if path.stat().st_size > MAX_IMPORT_BYTES:
        raise _Refused(f"{path} is over {MAX_IMPORT_BYTES} bytes; split it by system")
    store = Store(Settings(data_dir=_data_dir(args.data)))
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


def _add_site(args: argparse.Namespace) -> int:
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
    store = Store(Settings(data_dir=_data_dir(args.data)))
    try:
        site = Archive(store).register_site(None, new)
    finally:
        store.close()
    members = f", members {', '.join(site.members)}" if site.members else ""
    print(f"site {site.fields['name']} ({site.fields['customer']}) registered: {site.id}{members}")
    return 0


def _purge(args: argparse.Namespace) -> int:
    from .services import Store

    settings = Settings(data_dir=_data_dir(args.data), tombstone_horizon_days=args.days, blobs=_blobs(args))
    store = Store(settings)
    try:
        print(f"forgot {store.purge_tombstones()} rows deleted more than {args.days} days ago")
        from .domains.media.uploads import Uploads

        given_up = Uploads(store, store.blobs, settings).clean_uploads()
        print(f"gave up {given_up} unfinished uploads untouched for {settings.upload_expiry_seconds} s")
    finally:
        store.close()
    return 0


def _gc(args: argparse.Namespace) -> int:
    from .domains.media.gc import collect
    from .services import Store

    if args.grace_hours < 0:
        print("fieldsync: --grace-hours is 0 or more", file=sys.stderr)
        return 2
    store = Store(Settings(data_dir=Path(args.data), blobs=_blobs(args)))
    try:
        removed = collect(store, store.blobs, args.grace_hours)
    finally:
        store.close()
    for blob in removed:
        print(f"removed {blob.sha256} ({blob.bytes} bytes)")
    print(f"removed {len(removed)} blobs ({sum(b.bytes for b in removed)} bytes): older than"
          f" {args.grace_hours:g} hours, and no row, upload or signature references them")
    return 0


def _blobs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--blobs", metavar="DIR|s3://BUCKET/PREFIX",
                   help="where blobs live: a directory, or an S3-compatible bucket (endpoint and credentials from"
                        " AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY);"
                        " default: blobs/ under --data")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="fieldsync", description="fieldsync server")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init", help="create the database (and load the demo)")
    p.add_argument("--data", required=True, help="data directory")
    p.add_argument("--demo", action="store_true", help="load the reference site and demo accounts")
    p.add_argument("--scale", type=int, metavar="N",
                   help="with --demo: add N generated sites, their technicians and 8 past quarters of inspections")
    p.add_argument("--seed", type=int, default=0, help="seed of the --scale data (default 0)")
    _blobs_option(p)
    p.set_defaults(func=_init)
    p = sub.add_parser("serve", help="serve the API")
    p.add_argument("--data", required=True)
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--access-log", action="store_true")
    limits = Settings(data_dir=Path("."))
    p.add_argument("--header-timeout", type=int, default=limits.header_read_timeout_seconds, metavar="SECONDS",
                   help="a request's headers must arrive within this (1-60; default %(default)s)")
    p.add_argument("--body-timeout", type=int, default=limits.body_idle_timeout_seconds, metavar="SECONDS",
                   help="a request body that sends nothing this long is cut off with 408 (default %(default)s)")
    p.add_argument("--max-connections", type=int, default=limits.max_connections, metavar="N",
                   help="connections served at once; more wait to be accepted (default %(default)s)")
    p.add_argument("--trusted-proxy", action="append", metavar="ADDRESS",
                   help="a reverse proxy (address or range) whose X-Forwarded-For gives the client's address"
                        " (repeatable)")
    p.add_argument("--public-url", type=public_url, metavar="URL", help="where customers reach the server: the printed"
                   " sheets' QR codes open it (default: http://HOST:PORT)")
    _blobs_option(p)
    p.set_defaults(func=_serve)
    p = sub.add_parser("schedule", help="create the period's inspections for every planned site")
    p.add_argument("--data", required=True)
    p.add_argument("--period", required=True, help="e.g. 2026-Q4, 2026-H2, 2026-M11")
    p.set_defaults(func=_schedule)
    p = sub.add_parser("add-user", help="create an account (passwords must be strong outside the demo)")
    p.add_argument("--data", required=True)
    p.add_argument("username")
    p.add_argument("--name", help="the name shown to others, e.g. 王工")
    p.add_argument("--role", choices=list(ROLES), required=True)
    p.add_argument("--password", help="asked for when left out")
    p.add_argument("--site", action="append", help="a site (its name or id) the technician works on (repeatable)")
    p.set_defaults(func=_add_user)
    p = sub.add_parser("passwd", help="set a user's password, or disable or enable them; revokes their clients")
    p.add_argument("--data", required=True)
    p.add_argument("username")
    toggle = p.add_mutually_exclusive_group()
    toggle.add_argument("--disable", action="store_true", help="disable the account instead (no password asked)")
    toggle.add_argument("--enable", action="store_true", help="enable a disabled account again")
    p.set_defaults(func=_passwd)
    p = sub.add_parser("terms", help="show a site's response-time terms, or set or clear its override")
    p.add_argument("--data", required=True)
    p.add_argument("site", help="the site's id or name")
    change = p.add_mutually_exclusive_group()
    change.add_argument("--set", metavar="JSON", help='the override, e.g. \'{"on_site_hours": {"urban": 2}}\'')
    change.add_argument("--clear", action="store_true", help="remove the override: the contract's terms apply")
    p.set_defaults(func=_terms)
    p = sub.add_parser("add-site", help="register a customer's site, its contract and its technicians")
    p.add_argument("--data", required=True)
    p.add_argument("name", help="the site's name, e.g. 东区园区")
    p.add_argument("--customer", required=True)
    p.add_argument("--contract", required=True, choices=["annual", "per_visit", "warranty"])
    p.add_argument("--address")
    p.add_argument("--zone", choices=["urban", "suburban"])
    p.add_argument("--tz", help="an IANA time zone (default Asia/Shanghai)")
    p.add_argument("--accepted-on", help="the acceptance date, YYYY-MM-DD")
    p.add_argument("--warranty-months", type=int)
    p.add_argument("--price-fen", type=int, help="the contract's price a year, in fen")
    p.add_argument("--member", action="append", help="a technician who serves the site (repeatable)")
    p.set_defaults(func=_add_site)
    p = sub.add_parser("import", help="import a site's devices from the customer archive (.xlsx or CSV)")
    p.add_argument("--data", required=True)
    p.add_argument("file", help="an .xlsx or CSV (UTF-8 or GB18030) with a header row: system, kind, code, name,"
                                " location, model, serial number, installed on (or 系统, 类型, 编号, …)")
    p.add_argument("--site", required=True, help="the site's id or name (register it first)")
    p.add_argument("--dry-run", action="store_true", help="report what would change; write nothing")
    p.add_argument("--retire", action="store_true", help="retire the active devices the file no longer lists")
    p.set_defaults(func=_import)
    p = sub.add_parser("purge", help="forget tombstones older than the horizon, and abandoned uploads")
    p.add_argument("--data", required=True)
    p.add_argument("--days", type=float, default=Settings(data_dir=Path(".")).tombstone_horizon_days)
    _blobs_option(p)
    p.set_defaults(func=_purge)
    p = sub.add_parser("gc", help="remove blobs no row, upload or signature references, after a grace period")
    p.add_argument("--data", required=True)
    p.add_argument("--grace-hours", type=float, default=Settings(data_dir=Path(".")).gc_grace_hours,
                   help="keep an unreferenced blob this long after its upload (default %(default)g)")
    _blobs_option(p)
    p.set_defaults(func=_gc)
    p = sub.add_parser("backup", help="back up the database and blobs, online (the server may run)")
    p.add_argument("--data", required=True)
    p.add_argument("--to", required=True, help="a new directory for the backup")
    _blobs_option(p)
    p.set_defaults(func=_backup)
    p = sub.add_parser("restore", help="restore a backup, with a new server_epoch (the server must be stopped)")
    p.add_argument("--from", dest="source", required=True, help="a directory made by `fieldsync backup`")
    p.add_argument("--data", required=True)
    p.add_argument("--force", action="store_true", help="replace an existing database (kept aside)")
    _blobs_option(p)
    p.set_defaults(func=_restore)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args))
    except SyncError as exc:
        print(f"fieldsync: {exc.detail}", file=sys.stderr)
        return 2
    except (BackupError, _Refused) as exc:
        print(f"fieldsync: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

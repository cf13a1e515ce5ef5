"""`fieldsync`: create a database, load the demo, serve, purge tombstones, collect blobs, back up and restore;
the office's commands (accounts, service terms, a customer's site and its devices) are in `cli_office.py`."""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from sync.errors import SyncError

from .cli_office import (
    Refused,
    add_office_commands,
    checked,
    data_dir,
    data_option,
    database_option,
    settings_of,
    subcommand,
)
from .cli_ops import add_commands, add_missing_blobs
from .datafiles import DataFileError
from .datafiles import check as check_data_files
from .settings import Settings, public_url, served_url
from .storage.base import NewerSchema, Unreachable
from .storage.sqlite.backup import BLOBS, BackupError, backup, data_lock, restore
from .storage.sqlite.connection import Refused as SQLiteRefused

if TYPE_CHECKING:
    from sync.workhours import Calendar

# `init --demo --scale N`'s most sites: at 1,000 (the benches' size) about 200,000 devices and 1.6 million checks,
# loaded in one write transaction (server/scale.py); a typo of a few more digits ran for hours, then filled the disk.
MAX_SCALE = 1_000


def _blobs(args: argparse.Namespace) -> str | None:
    """`--blobs` checked: an `s3://bucket/prefix` address or a directory (None: `blobs/` under --data)."""
    if args.blobs is None:
        return None
    if args.blobs.startswith("s3://"):
        from .domains.media.s3 import parse_address

        try:
            parse_address(args.blobs)
        except ValueError as exc:
            raise Refused(f"--blobs: {exc}") from None
        return str(args.blobs)
    return str(Path(args.blobs).resolve())


def _up_to(most: float) -> Callable[[str], float]:
    """A number of days or hours from 0 to `most`: a negative one would purge every tombstone (or collect
    blobs uploaded a moment ago), and nan, inf or 1e300 were a traceback."""
    def number(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if not 0 <= value <= most:  # nan too
            raise ValueError(f"a number from 0 to {most:g}")
        return value
    return number


def _sqlite_only(args: argparse.Namespace) -> None:
    if args.database is not None:
        raise Refused(f"{args.command} copies the SQLite file under --data; a PostgreSQL database is backed up"
                      " with pg_dump and restored with pg_restore (docs/operations.md)")


def _blobs_dir(blobs: str | None) -> Path | None:
    """The blob directory `backup` and `restore` copy: None for a bucket."""
    return None if blobs and blobs.startswith("s3://") else Path(blobs or BLOBS)


def _init(args: argparse.Namespace) -> int:
    from .demo import check_demo_files, load_demo
    from .services import Store

    if args.scale is not None and not args.demo:
        print("fieldsync: --scale adds to the demo: use it with --demo", file=sys.stderr)
        return 2
    if args.scale is not None and not 1 <= args.scale <= MAX_SCALE:
        print(f"fieldsync: --scale is a number of sites, 1 to {MAX_SCALE:,}", file=sys.stderr)
        return 2
    if args.demo:  # the files it loads from read before the database is made: a typo in one leaves nothing
        check_data_files()
        check_demo_files()
    settings = Settings(data_dir=Path(args.data), demo=args.demo, blobs=_blobs(args), database=args.database)
    store = Store(settings)
    try:
        if args.demo:
            with store.read() as db:
                loaded = db.execute("SELECT count(*) FROM users").fetchone()[0]
            if loaded:
                print(f"{settings.database_shown} already holds data; demo not loaded again")
            else:
                counts = load_demo(store)
                print("demo loaded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
                if args.scale:
                    from .scale import load_scale

                    counts = load_scale(store, args.scale, seed=args.seed)
                    print("scale demo added: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
        print(f"database ready at {settings.database_shown}")
    finally:
        store.close()
    return 0


def _demo_accounts(settings: Settings) -> str | None:
    """The demo accounts that still have the published password, for `make run` to show; None if none has."""
    from .datafiles import about
    from .demo import demo_accounts
    from .domains.identity.passwords import check_password
    from .services import backend_of
    from .storage.identity import credentials, password_hashes

    accounts = demo_accounts()
    with about("accounts.json"):
        if settings.database is None:
            hashes = password_hashes(settings.db_path)  # without migrating the file: the server does
        else:
            database = backend_of(settings).open(settings.database, 1)
            try:
                with database.read() as db:
                    hashes = {a["username"]: found[3] for a in accounts if (found := credentials(db, a["username"]))}
            finally:
                database.close()
        shown = [f"{a['username']} ({a['name']}, {a['role']})" for a in accounts
                 if a["username"] in hashes and check_password(a["password"], hashes[a["username"]])]
    return f"demo accounts, password demo: {', '.join(shown)}" if shown else None


def _calendar_warnings(now_ms: int | None = None, sites: Mapping[str, Calendar] | None = None) -> list[str]:
    """The dashboard's warning of a holiday calendar that ends within 60 days of now or has ended, in English:
    the server's named calendars, then those sites' terms write out (`sites`, by the site's name)."""
    from sync.hlc import wall_ms
    from sync.messages import words

    from .domains.console.pages import calendar_warnings

    return calendar_warnings(wall_ms() if now_ms is None else now_ms, words("console", "en"), sites)


def _open_to_serve(settings: Settings) -> tuple[tuple[str, ...], list[str]]:
    """The database opened as serving will open it, its schema brought up to date: the steps that applied,
    and the dashboard's holiday-calendar warnings, with the calendars sites' terms write out."""
    from .domains.archive.service import terms_calendars
    from .services import backend_of

    database = backend_of(settings).open(settings.database or settings.db_path, 1)
    try:
        with database.read() as db:
            sites = terms_calendars(db)
    finally:
        database.close()
    return database.migrated, _calendar_warnings(sites=sites)


def _serve(args: argparse.Namespace) -> int:
    import ipaddress
    import json

    from .logs import ACCESS_FORMAT, log_config
    from .transport import PortUnavailable, exclusive_server, granian_options, listen, raise_open_files

    data = data_dir(args.data, args.database)
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
                 "public_url": args.public_url or served_url(args.host, args.port), "database": args.database}
    settings = Settings(data_dir=data, **overrides)
    check_data_files()  # every file under fixtures/ it serves from, before anything is opened: a typo is one line
    demo = _demo_accounts(settings)
    os.environ["FIELDSYNC_DATA"] = str(data)
    os.environ["FIELDSYNC_SETTINGS"] = json.dumps(overrides)
    # Held while serving, so `fieldsync restore` cannot replace the database under us. Over PostgreSQL it
    # keeps two processes out of one directory of per-process files (thumbnails, upload parts).
    with data_lock(data, _TAKEN_BY_ANOTHER if args.database else "is in use by a running server; stop it first"):
        # The schema is brought up to date here, where a refusal (a newer one) is one line, not the worker's crash.
        migrated, warnings = _open_to_serve(settings)
        if migrated:  # what it did, whether or not it then serves: the operator of an upgrade wants it named
            print(f"fieldsync: upgraded the database's schema, applied: {', '.join(migrated)}", flush=True)
        options = granian_options(settings)
        try:
            sock = listen(args.host, args.port, options["backlog"])
        except PortUnavailable as exc:
            print(f"fieldsync: {exc}", file=sys.stderr)
            return 1
        if demo:  # once it holds the port: a server refused prints nothing but its reason
            print(demo, flush=True)
        for warning in warnings:  # once it serves: a port taken is one line, as before
            print(f"fieldsync: {warning}", file=sys.stderr, flush=True)
        from granian.constants import Interfaces

        # One worker process: on SQLite every write goes through its single writer connection; over
        # PostgreSQL, more processes are more `fieldsync serve`s, each with its own --data (docs/operations.md).
        exclusive_server(
            sock,
            target="server.asgi:app_factory",
            address=args.host,
            port=args.port,
            interface=Interfaces.ASGI,
            workers=1,
            factory=True,
            log_access=args.access_log,
            log_access_format=ACCESS_FORMAT,
            log_dictconfig=log_config(),
            **options,
        ).serve()
    return 0


_TAKEN_BY_ANOTHER = ("is in use by another fieldsync serve: over PostgreSQL, every process needs a --data directory"
                     " of its own (its thumbnails, its blob cache), e.g. /srv/fieldsync-8001 for the process"
                     " on port 8001")


def _backup(args: argparse.Namespace) -> int:
    _sqlite_only(args)
    blobs = _blobs(args)
    info = backup(data_dir(args.data), Path(args.to), _blobs_dir(blobs))
    where = "" if _blobs_dir(blobs) else f"; the blobs stay in {blobs}"
    print(f"backed up {info.rows} rows (version {info.version}) and {info.blobs} blobs to {args.to}{where}")
    return 0


def _restore(args: argparse.Namespace) -> int:
    _sqlite_only(args)
    blobs = _blobs(args)
    result = restore(Path(args.source), Path(args.data), force=args.force, blobs_dir=_blobs_dir(blobs))
    if blobs and not _blobs_dir(blobs) and (Path(args.source) / BLOBS).is_dir():
        # A bucket gets the backup's blobs it lacks.
        add_missing_blobs(Path(args.source) / BLOBS, Path(args.data), blobs)
    print(f"restored {result.backup.rows} rows (version {result.backup.version}, backed up"
          f" {result.backup.created_at}) into {args.data}; new server_epoch {result.server_epoch}")
    if result.replaced:
        print(f"the database that was there is kept in {result.replaced}")
    return 0


def _schedule(args: argparse.Namespace) -> int:
    from .domains.inspections.service import Inspections
    from .services import Store

    store = Store(settings_of(args))
    try:
        result = Inspections(store).generate(args.period)
    finally:
        store.close()
    print(f"{args.period}: {len(result.created)} inspections created, {len(result.existing)} already there")
    return 0


def _purge(args: argparse.Namespace) -> int:
    from .services import Store

    settings = settings_of(args, tombstone_horizon_days=args.days, blobs=_blobs(args))
    store = Store(settings)
    try:
        print(f"forgot {store.purge_tombstones()} rows deleted more than {args.days:g} days ago")
        from .domains.media.uploads import Uploads

        given_up = Uploads(store, store.blobs, settings).clean_uploads()
        print(f"gave up {given_up} unfinished uploads untouched for {settings.upload_expiry_seconds} s")
    finally:
        store.close()
    return 0


def _gc(args: argparse.Namespace) -> int:
    from .domains.media.gc import collect
    from .services import Store

    blobs = _blobs(args)  # the arguments checked before the disk is
    store = Store(Settings(data_dir=data_dir(args.data, args.database), blobs=blobs, database=args.database))
    try:
        removed = collect(store, store.blobs, args.grace_hours, dry_run=args.dry_run)
    finally:
        store.close()
    verb = "would remove" if args.dry_run else "removed"
    for blob in removed:
        print(f"{verb} {blob.sha256} " + ("(left by a failed run: its record forgotten, its bytes not)" if blob.left
                                          else f"({blob.bytes} bytes)"))
    unneeded = [b for b in removed if not b.left]
    print(f"{verb} {len(unneeded)} blobs ({sum(b.bytes for b in unneeded)} bytes): older than"
          f" {args.grace_hours:g} hours, and no row, upload or signature references them"
          + (f"; and the bytes of {len(removed) - len(unneeded)} a failed run left" if len(removed) > len(unneeded)
             else "") + ("; nothing removed" if args.dry_run else ""))
    return 0


def _blobs_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--blobs", metavar="DIR|s3://BUCKET/PREFIX",
                   help="where blobs live: a directory, or an S3-compatible bucket (endpoint and credentials from"
                        " AWS_ENDPOINT_URL, AWS_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY);"
                        " default: blobs/ under --data")


def parser() -> argparse.ArgumentParser:
    """The `fieldsync` command line: every subcommand and its options, each with its help."""
    parser = argparse.ArgumentParser(prog="fieldsync", description="fieldsync server")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("init", help="create the database (and load the demo)")
    data_option(p, "the data directory, made if missing: the SQLite file fieldsync.db goes there (with --database,"
                   " only this process's own files)")
    database_option(p)
    p.add_argument("--demo", action="store_true", help="load the reference site and demo accounts")
    p.add_argument("--scale", type=int, metavar="N",
                   help=f"with --demo: add N generated sites (1 to {MAX_SCALE:,}), their technicians and 8 past quarters"
                        " of inspections, in one transaction")
    p.add_argument("--seed", type=int, default=0, help="seed of the --scale data (default 0)")
    _blobs_option(p)
    p.set_defaults(func=_init)
    p = subcommand(sub, "serve", "serve the API")
    p.add_argument("--host", default="127.0.0.1", help="the address to listen on (default %(default)s: this machine"
                   " only; 0.0.0.0 for every interface)")
    p.add_argument("--port", type=int, default=8000, help="default %(default)s")
    p.add_argument("--access-log", action="store_true", help="log a line for each request")
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
    p.add_argument("--public-url", type=checked(public_url), metavar="URL", help="where customers reach the server: the printed"
                   " sheets' QR codes open it (default: http://HOST:PORT)")
    _blobs_option(p)
    p.set_defaults(func=_serve)
    p = subcommand(sub, "schedule", "create the period's inspections for every planned site")
    p.add_argument("--period", required=True, help="e.g. 2026-Q4, 2026-H2, 2026-M11, 2027-M1 (no leading zero)")
    p.set_defaults(func=_schedule)
    add_office_commands(sub)  # add-user, passwd, member, terms, add-site, import
    p = subcommand(sub, "purge", "forget tombstones older than the horizon, and abandoned uploads")
    p.add_argument("--days", type=checked(_up_to(36_500)), default=Settings(data_dir=Path(".")).tombstone_horizon_days,
                   help="forget rows deleted more than this many days ago; a phone whose last pull is older"
                        " pulls everything again (default %(default)g)")
    _blobs_option(p)
    p.set_defaults(func=_purge)
    p = subcommand(sub, "gc", "remove blobs no row, upload or signature references, after a grace period")
    p.add_argument("--grace-hours", type=checked(_up_to(876_000)), default=Settings(data_dir=Path(".")).gc_grace_hours,
                   help="keep an unreferenced blob this long after its upload (default %(default)g)")
    p.add_argument("--dry-run", action="store_true", help="list what would be removed, and remove nothing")
    _blobs_option(p)
    p.set_defaults(func=_gc)
    p = sub.add_parser("backup", help="back up the database and blobs, online (the server may run)")
    data_option(p, "the data directory whose fieldsync.db (and blobs/) are copied")
    database_option(p, "refused: backup copies the SQLite file under --data; back up a PostgreSQL database with"
                       " pg_dump (docs/operations.md)")
    p.add_argument("--to", required=True, help="a new directory for the backup")
    _blobs_option(p)
    p.set_defaults(func=_backup)
    p = sub.add_parser("restore", help="restore a backup, with a new server_epoch (the server must be stopped)")
    p.add_argument("--from", dest="source", required=True, help="a directory made by `fieldsync backup`")
    data_option(p, "the data directory to restore into (made if missing)")
    database_option(p, "refused: restore puts a SQLite file under --data; restore a PostgreSQL database with"
                       " pg_restore, then fieldsync new-epoch (docs/operations.md)")
    p.add_argument("--force", action="store_true", help="replace an existing database (kept aside)")
    _blobs_option(p)
    p.set_defaults(func=_restore)
    add_commands(sub)  # migrate, new-epoch
    return parser


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except SyncError as exc:
        print(f"fieldsync: {exc.detail}", file=sys.stderr)
        return 2
    except (BackupError, Refused, DataFileError) as exc:
        print(f"fieldsync: {exc}", file=sys.stderr)
        return 2
    except (Unreachable, NewerSchema) as exc:
        print(f"fieldsync: cannot open the database: {exc}", file=sys.stderr)
        return 1
    except SQLiteRefused as exc:  # the file cannot be written, or another process holds it
        print(f"fieldsync: SQLite: {_sqlite_reason(exc, getattr(args, 'data', None) or '--data')}", file=sys.stderr)
        return 1
    except OSError as exc:  # a directory that cannot be made or written: one line, not a traceback
        print(f"fieldsync: {exc}", file=sys.stderr)
        return 1


def _sqlite_reason(exc: SQLiteRefused, data: str) -> str:
    """What the operator can do about SQLite's refusal, after its own words."""
    if "locked" in str(exc):
        return (f"{exc}: another process (a fieldsync command, a sqlite3 shell) held it for 60 s;"
                " run this again once it has finished")
    if any(word in str(exc) for word in ("unable to open", "readonly", "disk")):
        return f"{exc}: check that {data} and its files can be written by this user, and the disk is not full"
    return str(exc)


if __name__ == "__main__":
    sys.exit(main())

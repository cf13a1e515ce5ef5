"""The operator's commands of `fieldsync` for PostgreSQL (docs/operations.md): `migrate` moves a SQLite
deployment into PostgreSQL, `new-epoch` tells clients that a restored database forgot what it acknowledged."""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .cli_office import Refused, checked, data_dir
from .settings import Settings, database_url
from .storage.sqlite.backup import BLOBS, DB_NAME, data_lock


@contextmanager
def _reaching_postgres() -> Iterator[None]:
    """A database that cannot be reached is one line, exit 1, as for `serve`: `cannot open the database: …`
    (libpq's words carry no password). They were printed as libpq wrote them, on two lines, exit 2."""
    import psycopg

    from .storage.postgres.connection import unreachable

    try:
        yield
    except psycopg.OperationalError as exc:
        raise unreachable(exc) from None


def add_missing_blobs(source: Path, data: Path, blobs: str | None) -> int:
    """Put every blob under `source` into the store `blobs` names (under `data` by default) that it
    lacks; how many were added. Each goes through a copy: a store's `put` consumes its file. A file not
    named by a hash is no blob (an upload's part under `uploads/`, an editor's or a file manager's file):
    left where it is; it was a traceback, and a `.copying-…` file left in `data`."""
    from .domains.media.blobs import is_sha256, open_blob_store

    store = open_blob_store(Settings(data_dir=data, blobs=blobs))
    added = 0
    for blob in sorted(source.rglob("*")):
        if blob.is_file() and is_sha256(blob.name) and not store.exists(blob.name):
            copy = data / f".copying-{blob.name}"
            shutil.copyfile(blob, copy)
            store.put(blob.name, copy)
            added += 1
    return added


def migrate_command(args: argparse.Namespace) -> int:
    from .storage.postgres.from_sqlite import copy_database

    data = data_dir(args.data)
    source_blobs = Path(args.from_blobs).resolve() if args.from_blobs else data / BLOBS
    if args.blobs and not args.blobs.startswith("s3://"):
        args.blobs = str(Path(args.blobs).resolve())
    with data_lock(data):  # the SQLite server is stopped, and stays so while we copy
        # Blobs first: the copied rows then never name a blob the new store lacks.
        added = 0
        if args.blobs and args.blobs != str(source_blobs):
            if not source_blobs.is_dir():
                raise Refused(f"no blobs at {source_blobs}; name the SQLite deployment's with --from-blobs")
            added = add_missing_blobs(source_blobs, data, args.blobs)
        with _reaching_postgres():
            moved = copy_database(data / DB_NAME, args.to)
    print("copied " + ", ".join(f"{n} {t}" for t, n in moved.tables.items() if n))
    where = f"{added} blobs added to {args.blobs}" if args.blobs and args.blobs != str(source_blobs) else \
        f"the blobs stay in {source_blobs}"
    print(f"{where}; same server_epoch {moved.server_epoch} (version {moved.version}): clients carry on."
          f" Serve it with --database and no longer from {data / DB_NAME}")
    return 0


def new_epoch_command(args: argparse.Namespace) -> int:
    from .storage.postgres.from_sqlite import new_epoch

    with _reaching_postgres():
        epoch = new_epoch(args.database)
    print(f"new server_epoch {epoch}: clients resend what they hold and pull afresh")
    return 0


def add_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("migrate", help="copy a SQLite deployment into an empty PostgreSQL database"
                                       " (the server must be stopped)")
    p.add_argument("--data", required=True, help="the SQLite deployment's data directory")
    p.add_argument("--to", required=True, type=checked(database_url), metavar="URL",
                   help="an empty PostgreSQL database: postgresql://user@host[:port]/name")
    p.add_argument("--blobs", metavar="DIR|s3://BUCKET/PREFIX",
                   help="where the PostgreSQL deployment keeps its blobs, if elsewhere: they are copied there")
    p.add_argument("--from-blobs", metavar="DIR", help="the SQLite deployment's --blobs directory"
                                                       " (default: blobs/ under --data)")
    p.set_defaults(func=migrate_command)
    p = sub.add_parser("new-epoch", help="give a PostgreSQL database a new server_epoch after pg_restore"
                                         " (the servers must be stopped)")
    p.add_argument("--database", required=True, type=checked(database_url), metavar="URL",
                   help="the database pg_restore filled: postgresql://user@host[:port]/name")
    p.set_defaults(func=new_epoch_command)

"""Online backup and restore of a data directory: the database and the blob store.

A backup is a directory: `fieldsync.db` (a consistent snapshot taken with
SQLite's backup API on its own connection, while the server keeps writing),
`blobs/` (a copy of the blob store, if there is one) and `backup.json` (what
was taken and when). It is written to a temporary directory next to its
destination and renamed into place, so a backup directory is whole or absent.

A restore puts a backup in place with a new `server_epoch`: every client then
learns that the server forgot whatever it acknowledged after the backup, and
resends what it still holds (docs/sync-protocol.md, "Client side").
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sqlite3
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path

from sync import hlc

from ...domains.media.blobs import fsync_dir

DB_NAME = "fieldsync.db"
BLOBS = "blobs"
MANIFEST = "backup.json"
LOCK_NAME = "fieldsync.lock"


class BackupError(Exception):
    """A backup or restore that cannot be done as asked; nothing was changed."""


@dataclass(frozen=True)
class BackupInfo:
    """What a backup holds: `backup.json`, and what `restore` reports."""

    created_at: str
    source: str
    server_epoch: str
    version: int
    rows: int
    blobs: int


@contextmanager
def data_lock(data_dir: Path, taken: str = "is in use by a running server; stop it first") -> Iterator[None]:
    """Hold the data directory's lock: one server (or restore) at a time; BackupError if taken
    (`taken` says why, after the directory's name).

    `fieldsync serve` holds it for its lifetime, so a restore cannot pull the
    database out from under a running server. The lock is released by the
    kernel when the process dies, however it dies.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(f"{data_dir} {taken}") from None
        yield
    finally:
        os.close(fd)


def _integrity(conn: sqlite3.Connection) -> None:
    problems = [r[0] for r in conn.execute("PRAGMA integrity_check")]
    if problems != ["ok"]:
        raise BackupError("integrity_check failed: " + "; ".join(problems[:10]))


def _summary(conn: sqlite3.Connection) -> tuple[str, int, int]:
    meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN ('server_epoch', 'version')"))
    rows = conn.execute("SELECT count(*) FROM rows").fetchone()[0]
    return meta["server_epoch"], int(meta["version"]), int(rows)


def _fsync_tree(root: Path) -> None:
    for path in [*sorted(root.rglob("*"), reverse=True), root]:
        fsync_dir(path)


def backup(data_dir: Path, dest: Path, blobs_dir: Path | None = Path(BLOBS)) -> BackupInfo:
    """Back up `data_dir` into the new directory `dest`, while a server may be writing to it.

    `blobs_dir` is the blob store's directory (relative to `data_dir`); None for a bucket,
    whose blobs stay where they are (the bucket's own versioning or replication keeps them).
    """
    source_path = data_dir / DB_NAME
    if not source_path.is_file():
        raise BackupError(f"no database at {source_path}")
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise BackupError(f"{dest} already exists; back up into a new directory")
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.parent / f".{dest.name}.partial-{uuid.uuid4().hex[:8]}"
    partial.mkdir()
    try:
        # A connection of its own, as one more reader beside the server's.
        source = sqlite3.connect(source_path, timeout=60)
        target = sqlite3.connect(partial / DB_NAME, isolation_level=None)
        try:
            source.execute("PRAGMA busy_timeout = 60000")
            # All pages in one step: one read transaction, so one snapshot. In WAL mode
            # it does not block the writer; a stepwise backup would start over on every
            # commit and might never finish under a steady stream of pushes.
            source.backup(target, pages=-1)
            _integrity(target)
            epoch, version, rows = _summary(target)
            # A self-contained file: no -wal beside it to forget when copying the backup.
            target.execute("PRAGMA journal_mode = DELETE")
        finally:
            target.close()
            source.close()
        # Blobs after the database: a row of the snapshot never names a blob the copy lacks
        # (bytes are stored before the row that names them counts them as stored).
        blobs = 0
        if blobs_dir is not None and (data_dir / blobs_dir).is_dir():
            # Not the unfinished uploads kept beside the blobs (`uploads.parts_dir`): no blob yet.
            shutil.copytree(data_dir / blobs_dir, partial / BLOBS, ignore=shutil.ignore_patterns("uploads"))
            blobs = sum(1 for p in (partial / BLOBS).rglob("*") if p.is_file())
        info = BackupInfo(
            created_at=hlc.format_ts(hlc.wall_ms()), source=str(data_dir.resolve()),
            server_epoch=epoch, version=version, rows=rows, blobs=blobs,
        )
        (partial / MANIFEST).write_text(json.dumps(asdict(info), indent=2) + "\n", encoding="utf-8")
        _fsync_tree(partial)
        if dest.exists():
            dest.rmdir()  # empty, checked above
        partial.rename(dest)
        fsync_dir(dest.parent)
    except BaseException:
        shutil.rmtree(partial, ignore_errors=True)
        raise
    return info


def read_info(backup_dir: Path) -> BackupInfo:
    return BackupInfo(**json.loads((backup_dir / MANIFEST).read_text(encoding="utf-8")))


@dataclass(frozen=True)
class RestoreInfo:
    backup: BackupInfo
    server_epoch: str
    replaced: str | None  # where the database that was there before now lies


def restore(backup_dir: Path, data_dir: Path, force: bool = False,
            blobs_dir: Path | None = Path(BLOBS)) -> RestoreInfo:
    """Put a backup in place as `data_dir`'s database, with a new `server_epoch`.

    Refuses while a server holds the directory, and refuses to replace an
    existing database without `force`; even then the old files are moved to
    `data_dir/replaced-<time>/`, never deleted. Blobs of the backup are added
    to the blob store; blobs already there stay (they are content-addressed,
    and clients resending rows after the restore may name them). `blobs_dir` is
    the store's directory (relative to `data_dir`); None for a bucket, which the
    caller fills.
    """
    source_path = backup_dir / DB_NAME
    if not source_path.is_file() or not (backup_dir / MANIFEST).is_file():
        raise BackupError(f"{backup_dir} is not a fieldsync backup (no {DB_NAME} or {MANIFEST})")
    info = read_info(backup_dir)
    target_path = data_dir / DB_NAME
    with data_lock(data_dir):
        if target_path.exists() and not force:
            raise BackupError(f"{target_path} exists; pass --force to replace it (it is kept aside, not deleted)")
        staged = data_dir / f".{DB_NAME}.restoring-{uuid.uuid4().hex[:8]}"
        try:
            shutil.copyfile(source_path, staged)
            conn = sqlite3.connect(staged, isolation_level=None)
            try:
                _integrity(conn)
                epoch = str(uuid.uuid4())
                conn.execute("BEGIN IMMEDIATE")
                conn.execute("UPDATE meta SET value = ? WHERE key = 'server_epoch'", [epoch])
                conn.execute("COMMIT")
                conn.execute("PRAGMA journal_mode = WAL")
            finally:
                conn.close()
            fsync_dir(staged)
            replaced = None
            old = [Path(f"{target_path}{suffix}") for suffix in ("", "-wal", "-shm")]
            if any(p.exists() for p in old):
                aside = data_dir / ("replaced-" + hlc.format_ts(hlc.wall_ms()).replace(":", ""))
                aside.mkdir()
                for path in old:
                    if path.exists():
                        path.rename(aside / path.name)
                replaced = str(aside)
            staged.rename(target_path)
            fsync_dir(data_dir)
        except BaseException:
            staged.unlink(missing_ok=True)
            raise
        if blobs_dir is not None and (backup_dir / BLOBS).is_dir():
            shutil.copytree(backup_dir / BLOBS, data_dir / blobs_dir, dirs_exist_ok=True)
        conn = sqlite3.connect(target_path)
        try:
            _integrity(conn)
        finally:
            conn.close()
    return RestoreInfo(backup=info, server_epoch=epoch, replaced=replaced)

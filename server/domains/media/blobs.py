"""Content-addressed blob storage behind a small interface.

Two stores: a directory (`FileBlobStore`: under the data directory by default, or
any directory every server process mounts) and an S3-compatible bucket
(`S3BlobStore` in `s3.py`), chosen by `Settings.blobs` (`--blobs`). A blob only
ever enters a store whole and verified: `put` takes a finished, checked file and
moves it in atomically.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from sync import errors as E

if TYPE_CHECKING:
    from ...settings import Settings

_SHA256 = re.compile(r"[0-9a-f]{64}")
log = logging.getLogger("fieldsync")

# What a client is told to wait before trying again: a bucket outage or a remount passes in
# seconds to minutes; a full disk waits for an operator.
RETRY_UNAVAILABLE_S = 30
RETRY_FULL_S = 300
# A write the filesystem refused for want of room, and one it refused for any reason of its own
# (read-only, no permission, an I/O error, a mount gone): the store's failure, not the request's.
_FULL = {errno.ENOSPC, errno.EDQUOT}
_REFUSED = {errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO, errno.ENOTDIR, errno.ENXIO, errno.ESTALE,
            errno.ENOTCONN}


def is_sha256(text: str) -> bool:
    return bool(_SHA256.fullmatch(text))


class BlobStore(Protocol):
    def put(self, sha256: str, path: Path) -> None:
        """Move a verified file in as the blob `sha256` (the file is consumed)."""

    def open(self, sha256: str) -> BinaryIO:
        """The blob's bytes; FileNotFoundError when it is not stored."""

    def exists(self, sha256: str) -> bool: ...

    def path(self, sha256: str) -> Path:
        """Where the blob lives on local disk; for a remote store a cache file, fetched on first use
        (FileNotFoundError when the blob is not stored)."""

    def delete(self, sha256: str) -> None:
        """Remove the blob (and any local copy of it); nothing happens if it is not stored."""


# The problems of a store that failed under a request: the request keeps nothing, the upload stays resumable.
STORE_FAILURES = (E.StorageUnavailable, E.StorageFull)


def unavailable(what: str, cause: BaseException) -> E.StorageUnavailable:
    """The problem for a store that did not answer or refused a write, logged once for the operator."""
    log.warning("blob store unavailable (%s): %s: %s", what, type(cause).__name__, cause)
    return E.StorageUnavailable(f"the photo storage failed ({what}); nothing was kept",
                                retry_after=RETRY_UNAVAILABLE_S)


def store_error(what: str, exc: BaseException) -> E.SyncError | None:
    """A filesystem error as the problem a client gets (507 full, 503 refused), or None for any other
    (a missing file stays FileNotFoundError: a blob not stored is the caller's answer to give)."""
    if isinstance(exc, STORE_FAILURES):
        return exc
    if isinstance(exc, OSError) and exc.errno in _FULL:
        log.warning("blob store full (%s): %s", what, exc)
        return E.StorageFull(f"the photo storage is full ({what}); nothing was kept", retry_after=RETRY_FULL_S)
    if isinstance(exc, OSError) and exc.errno in _REFUSED:
        return unavailable(what, exc)
    return None


@contextmanager
def guarded(what: str) -> Iterator[None]:
    """Filesystem work on the store (or the upload's part file) whose failure is a 507 or 503 problem."""
    try:
        yield
    except OSError as exc:
        error = store_error(what, exc)
        if error is None:
            raise
        raise error from exc


def open_blob_store(settings: Settings) -> BlobStore:
    """The store `Settings.blobs` names: `s3://bucket/prefix`, a directory, or `blobs/` under the data directory."""
    where = settings.blobs
    if where and where.startswith("s3://"):
        from .s3 import S3BlobStore

        return S3BlobStore(where, Path(settings.data_dir) / "blob-cache", settings.blob_cache_bytes)
    return FileBlobStore(Path(where) if where else Path(settings.data_dir) / "blobs")


def fsync_dir(path: Path) -> None:
    """fsync a directory (a rename is durable once its directory is synced), or a file."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobStore:
    """Blobs under `root/ab/cd/<sha256>`: two levels keep directories small at a million photos."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def path(self, sha256: str) -> Path:
        if not is_sha256(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return is_sha256(sha256) and self.path(sha256).is_file()

    def open(self, sha256: str) -> BinaryIO:
        return self.path(sha256).open("rb")

    def delete(self, sha256: str) -> None:
        with guarded("delete"):
            self.path(sha256).unlink(missing_ok=True)

    def put(self, sha256: str, path: Path) -> None:
        with guarded("store a blob"):
            self._put(sha256, path)

    def _put(self, sha256: str, path: Path) -> None:
        target = self.path(sha256)
        if target.exists():
            # Content-addressed: the same name holds the same bytes already.
            path.unlink(missing_ok=True)
            return
        with path.open("rb+") as f:
            os.fsync(f.fileno())
        target.parent.mkdir(parents=True, exist_ok=True)
        # With the store under the data directory, the upload directory is on the same
        # filesystem and this is a rename: the blob appears whole or not at all.
        try:
            os.replace(path, target)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise
            # A store on another filesystem (`--blobs DIR`, a shared mount): copied beside
            # the target, synced, then renamed there, so it still appears whole.
            partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
            try:
                shutil.copyfile(path, partial)
                with partial.open("rb+") as f:
                    os.fsync(f.fileno())
                os.replace(partial, target)
            finally:
                partial.unlink(missing_ok=True)
            path.unlink()
        fsync_dir(target.parent)

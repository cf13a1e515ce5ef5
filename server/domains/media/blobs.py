"""Content-addressed blob storage behind a small interface.

The filesystem store is the only one today; an S3-compatible store later needs
the same four methods. A blob only ever enters the store whole and verified:
`put` takes a finished, checked file and moves it in atomically.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import BinaryIO, Protocol

_SHA256 = re.compile(r"[0-9a-f]{64}")


def is_sha256(text: str) -> bool:
    return bool(_SHA256.fullmatch(text))


class BlobStore(Protocol):
    def put(self, sha256: str, path: Path) -> None:
        """Move a verified file in as the blob `sha256` (the file is consumed)."""

    def open(self, sha256: str) -> BinaryIO:
        """The blob's bytes; FileNotFoundError when it is not stored."""

    def exists(self, sha256: str) -> bool: ...

    def path(self, sha256: str) -> Path:
        """Where the blob lives on local disk (a cache file for a remote store)."""


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

    def put(self, sha256: str, path: Path) -> None:
        target = self.path(sha256)
        if target.exists():
            # Content-addressed: the same name holds the same bytes already.
            path.unlink(missing_ok=True)
            return
        with path.open("rb+") as f:
            os.fsync(f.fileno())
        target.parent.mkdir(parents=True, exist_ok=True)
        # The upload directory and the blob store are on one filesystem (both under
        # the data directory), so this is a rename: the blob appears whole or not at all.
        os.replace(path, target)
        fsync_dir(target.parent)

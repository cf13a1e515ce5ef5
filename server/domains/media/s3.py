"""Blobs in an S3-compatible bucket (`--blobs s3://bucket/prefix`, issue 16), for several server processes.

Alibaba OSS, Tencent COS and Huawei OBS speak the S3 API, so boto3 reaches them
all. Where and as whom come from boto3's usual environment variables:
`AWS_ENDPOINT_URL` (the cloud's endpoint), `AWS_REGION` (or `AWS_DEFAULT_REGION`),
`AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY`; its config file sets the rest
(e.g. `addressing_style`). Keys are `prefix/ab/cd/<sha256>`, as in the directory store.

An object appears whole when its upload completes, so `put` needs no rename.
Readers want a local file (responses, thumbnails, the sheet check): `path`
fetches the object into a local cache under the data directory, bounded to
`blob_cache_bytes` (least recently used out first; the file just fetched stays,
so the cache may run over by one blob). A cached copy is served without asking
the bucket again: blobs are content-addressed and never change, and whether a
blob may be read is the database's answer, given before the store is asked.

A bucket that cannot be reached (down, refusing, too slow) is a 503 `storage_unavailable` problem,
never a 500: every call here turns boto3's failures into it, and each call is bounded in time
(`connect`), so a hung bucket holds a request thread for at most about half a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import threading
import uuid
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, BinaryIO, cast

import boto3
import boto3.exceptions
import botocore.config
import botocore.exceptions

from .blobs import guarded, is_sha256, unavailable

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

# S3's bucket names (3-63 lower-case letters, digits, dots, hyphens); the prefix is bounded too.
_ADDRESS = re.compile(r"s3://([a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])(?:/([A-Za-z0-9._\-/]{0,200}))?")


# boto3's own defaults are 60 s to connect and 60 s per read, each tried up to 5 times: a hung bucket
# held a request for minutes. A bucket in the server's region connects in milliseconds (3 s covers a
# lost SYN, retried at 1 s) and answers a 1 MiB piece's PUT or a GET's first bytes in well under a
# second (10 s is a slow day); one retry rides over a dropped connection. At worst, 2 * (3 + 10) s
# and a backoff of under a second: then the client gets 503 and tries again later.
CONNECT_TIMEOUT_S = 3
READ_TIMEOUT_S = 10
ATTEMPTS = 2


def connect(endpoint_url: str | None = None) -> S3Client:
    """boto3's S3 client from its usual environment, with the time bounds above."""
    config = botocore.config.Config(connect_timeout=CONNECT_TIMEOUT_S, read_timeout=READ_TIMEOUT_S,
                                    retries={"total_max_attempts": ATTEMPTS, "mode": "standard"})
    return boto3.client("s3", config=config, endpoint_url=endpoint_url)


@contextmanager
def reaching(what: str) -> Iterator[None]:
    """A call to the bucket whose failure (unreachable, timed out, refused) is a 503 problem; a cache
    file that cannot be written is the local disk's (507 or 503)."""
    try:
        with guarded(what):
            yield
    except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError,
            boto3.exceptions.S3UploadFailedError) as exc:
        raise unavailable(what, exc) from exc


def parse_address(address: str) -> tuple[str, str]:
    """`s3://bucket/prefix` as (bucket, prefix without slashes at either end); ValueError if malformed."""
    found = _ADDRESS.fullmatch(address)
    if not found:
        raise ValueError(f"not an s3://bucket/prefix address: {address!r}")
    return found[1], (found[2] or "").strip("/")


class S3BlobStore:
    def __init__(self, address: str, cache_dir: Path, cache_bytes: int, client: S3Client | None = None) -> None:
        self.bucket, self.prefix = parse_address(address)
        self.client: S3Client = client or connect()
        self.cache_dir = Path(cache_dir)
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        self.cache_bytes = cache_bytes
        for partial in [*self.cache_dir.glob("fetch-*"), *self.cache_dir.glob("put-*")]:
            partial.unlink(missing_ok=True)  # left by a process that died while fetching or storing
        self._lock = threading.Lock()
        # Cached files, least recently used first, with their sizes; rebuilt from the directory at start.
        self._cached: OrderedDict[Path, int] = OrderedDict(
            (p, p.stat().st_size) for p in sorted(self.cache_dir.glob("??/*"), key=lambda p: p.stat().st_mtime)
            if is_sha256(p.name))
        self._total = sum(self._cached.values())
        self.fetches = 0  # objects downloaded into the cache since start, for tests
        self.pieces = Pieces(self.client, self.bucket, f"{self.prefix}/uploads/" if self.prefix else "uploads/")

    def key(self, sha256: str) -> str:
        if not is_sha256(sha256):
            raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
        name = f"{sha256[:2]}/{sha256[2:4]}/{sha256}"
        return f"{self.prefix}/{name}" if self.prefix else name

    def _cache_path(self, sha256: str) -> Path:
        return self.cache_dir / sha256[:2] / sha256

    def exists(self, sha256: str) -> bool:
        if not is_sha256(sha256):
            return False
        if self._cache_path(sha256).is_file():
            return True
        with reaching("look up a blob"):
            try:
                self.client.head_object(Bucket=self.bucket, Key=self.key(sha256))
            except botocore.exceptions.ClientError as exc:
                if _missing(exc):
                    return False
                raise
        return True

    def put(self, sha256: str, path: Path) -> None:
        if not self.exists(sha256):
            with reaching("store a blob"):
                self.client.upload_file(str(path), self.bucket, self.key(sha256))
        # Kept as the cached copy: the blob was just verified and is about to be read (a thumbnail).
        # Moved beside the cache first (a copy when it is on another filesystem), then renamed in.
        partial = self.cache_dir / f"put-{uuid.uuid4().hex}"
        with reaching("cache a blob"):
            shutil.move(path, partial)
            self._keep(sha256, partial)

    def path(self, sha256: str) -> Path:
        target = self._cache_path(sha256)
        key = self.key(sha256)  # checks the hash before anything touches the disk
        with self._lock:
            if target in self._cached:
                self._cached.move_to_end(target)
                return target
        partial = self.cache_dir / f"fetch-{uuid.uuid4().hex}"
        with reaching("fetch a blob"):
            try:
                self.client.download_file(self.bucket, key, str(partial))
            except BaseException as exc:
                partial.unlink(missing_ok=True)
                if isinstance(exc, botocore.exceptions.ClientError) and _missing(exc):
                    raise FileNotFoundError(f"no blob {sha256} in s3://{self.bucket}/{self.prefix}") from None
                raise
            self.fetches += 1
            return self._keep(sha256, partial)

    def open(self, sha256: str) -> BinaryIO:
        # Opened at once: an open file survives its cache entry being evicted.
        return self.path(sha256).open("rb")

    def delete(self, sha256: str) -> None:
        with reaching("delete a blob"):
            self.client.delete_object(Bucket=self.bucket, Key=self.key(sha256))
        target = self._cache_path(sha256)
        with self._lock:
            self._total -= self._cached.pop(target, 0)
            target.unlink(missing_ok=True)

    def _keep(self, sha256: str, path: Path) -> Path:
        """Move a whole local copy into the cache as the newest entry, and evict the oldest past the bound."""
        target = self._cache_path(sha256)
        target.parent.mkdir(exist_ok=True)
        size = path.stat().st_size
        with self._lock:
            os.replace(path, target)
            self._total += size - self._cached.pop(target, 0)
            self._cached[target] = size
            while self._total > self.cache_bytes and len(self._cached) > 1:
                oldest, oldest_size = self._cached.popitem(last=False)
                oldest.unlink(missing_ok=True)
                self._total -= oldest_size
        return target


class Pieces:
    """An unfinished upload's bytes in the bucket, one object per PATCH, so that another process resumes
    it (`uploads.py`): `uploads/<upload id>/<name>` beside the blobs' `ab/cd/<sha256>` keys."""

    def __init__(self, client: S3Client, bucket: str, root: str) -> None:
        self.client, self.bucket, self.root = client, bucket, root

    def put(self, upload_id: str, name: str, f: BinaryIO, start: int, length: int) -> None:
        """Store `length` bytes of `f` from `start` (read in blocks, never whole in memory)."""
        window = cast("IO[bytes]", _Window(f, start, length))  # read() is all boto3 asks of it
        with reaching("store an upload's piece"):
            self.client.upload_fileobj(window, self.bucket, f"{self.root}{upload_id}/{name}")

    def fetch(self, upload_id: str, name: str) -> Iterator[bytes]:
        """The piece's bytes, in blocks, as they arrive."""
        with reaching("fetch an upload's piece"):
            body = self.client.get_object(Bucket=self.bucket, Key=f"{self.root}{upload_id}/{name}")["Body"]
            yield from body.iter_chunks(1 << 20)

    def listed(self, upload_id: str = "") -> Iterator[tuple[str, str, float]]:
        """(upload id, name, when stored, in epoch seconds) of every piece in the bucket, or of one upload's."""
        prefix = f"{self.root}{upload_id}/" if upload_id else self.root
        with reaching("list upload pieces"):
            for page in self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix):
                for found in page.get("Contents", []):
                    upload_id, _, name = found["Key"][len(self.root):].partition("/")
                    yield upload_id, name, found["LastModified"].timestamp()

    def delete_upload(self, upload_id: str) -> None:
        """Every piece of an upload that completed, failed or expired (a PATCH's that lost a race too)."""
        self.delete(upload_id, [name for _, name, _ in self.listed(upload_id)])

    def delete(self, upload_id: str, names: list[str]) -> None:
        with reaching("delete upload pieces"):
            for at in range(0, len(names), 1000):  # S3 deletes at most 1000 keys a request; none: no request
                self.client.delete_objects(Bucket=self.bucket, Delete={
                    "Objects": [{"Key": f"{self.root}{upload_id}/{n}"} for n in names[at:at + 1000]], "Quiet": True})


class _Window:
    """`length` bytes of a file from `start`, read as a file is (what boto3's upload_fileobj takes)."""

    def __init__(self, f: BinaryIO, start: int, length: int) -> None:
        self.fd, self.at, self.end = f.fileno(), start, start + length

    def read(self, size: int = -1) -> bytes:
        size = self.end - self.at if size < 0 else min(size, self.end - self.at)
        data = os.pread(self.fd, size, self.at)
        self.at += len(data)
        return data


def _missing(exc: botocore.exceptions.ClientError) -> bool:
    return exc.response.get("Error", {}).get("Code") in {"404", "NoSuchKey", "NotFound"}

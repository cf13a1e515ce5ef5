"""The blob store failing under a request: a bucket that does not answer (moto's real server, the store
pointed at a port where nothing listens, then back), a blob directory that cannot be written, a disk
that is full. Each is a 503 `storage_unavailable` or 507 `storage_full` problem with Retry-After,
never a 500; the upload's offset stays where it was, nothing is recorded that is not stored, and the
upload finishes, its hash verified, once the store is back.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from bench import _tus as tus
from bench._server import free_port
from server.app import create_app
from server.domains.media import s3
from server.domains.media.blobs import FileBlobStore
from server.domains.media.uploads import parts_dir
from server.services import Store
from server.settings import Settings
from tests.conftest import Session
from tests.server.test_s3_blobs import key, keys, pieces
from tests.server.test_uploads import jpeg, photo


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def outage(store: Any, endpoint: str | None = None) -> None:
    """The store's bucket unreachable (a port where nothing listens), or back (`endpoint` None: boto3's
    environment, moto's server)."""
    client = s3.connect(endpoint or f"http://127.0.0.1:{free_port()}")
    store.blobs.client = store.blobs.pieces.client = client


def refused(response: httpx.Response, status: int = 503, code: str = "storage_unavailable") -> None:
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert int(response.headers["retry-after"]) > 0


@pytest.fixture
def settings(tmp_path: Path, bucket: str) -> Settings:
    return Settings(data_dir=tmp_path / "server", blobs=bucket)


def test_a_bucket_down_mid_upload_is_503_and_the_upload_resumes_when_it_is_back(
        http, wang, store, bucket: str) -> None:
    # Regression (s23 closing note, "an S3 bucket outage -> 500"): a PATCH's piece, the last byte's
    # blob, a resume's rebuild from the pieces each failed with boto3's connection error: a 500.
    data = jpeg((600, 400), noise=True, seed=41)
    half = len(data) // 2
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    assert tus.patch(http, wang.headers, location, 0, data[:half]).status_code == 204
    outage(store)
    refused(tus.patch(http, wang.headers, location, half, data[half:]))
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == str(half)
    part = parts_dir(store.settings) / f"{location.rsplit('/', 1)[1]}.part"
    assert part.stat().st_size == half
    # The creation of an upload of bytes this user already sent asks the bucket too.
    outage(store, s3_endpoint := os.environ["AWS_ENDPOINT_URL"])
    assert len(pieces(bucket)) == 1 and key(bucket, sha(data)) not in keys(bucket)
    assert tus.patch(http, wang.headers, location, half, data[half:]).status_code == 204
    assert store.blobs.path(sha(data)).read_bytes() == data and pieces(bucket) == []
    # Another process's resume, made again from the pieces while the bucket is down: 503, then it goes on.
    other = jpeg((600, 400), noise=True, seed=42)
    location = tus.create(http, wang.headers, other, "image/jpeg").headers["location"]
    assert tus.patch(http, wang.headers, location, 0, other[:half]).status_code == 204
    uploads = http.app.state.uploads
    uploads._hashers.clear()  # what a process that did not append those bytes knows of them
    outage(store)
    refused(tus.patch(http, wang.headers, location, half, other[half:]))
    outage(store, s3_endpoint)
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == str(half)
    assert tus.patch(http, wang.headers, location, half, other[half:]).status_code == 204
    assert hashlib.sha256(store.blobs.path(sha(other)).read_bytes()).hexdigest() == sha(other)


def test_a_bucket_down_at_download_thumbnail_and_creation_is_503(http, wang, store, site) -> None:
    data = jpeg((300, 200), noise=True, seed=43)
    assert tus.upload(http, wang.headers, data).status_code == 204
    photo(wang, site, data)
    for cached in (store.settings.data_dir / "blob-cache").rglob("*"):
        if cached.is_file():
            cached.unlink()
    store.blobs._cached.clear()
    outage(store)
    refused(http.get(f"/blobs/{sha(data)}", headers=wang.headers))
    refused(http.get(f"/blobs/{sha(data)}/thumbnail?size=160", headers=wang.headers))
    refused(tus.create(http, wang.headers, data, "image/jpeg"))  # born complete only if the bucket has it
    outage(store, os.environ["AWS_ENDPOINT_URL"])
    assert http.get(f"/blobs/{sha(data)}", headers=wang.headers).content == data


def test_a_hung_bucket_is_given_up_within_the_client_bounds() -> None:
    client = s3.connect("http://127.0.0.1:9")
    assert (client.meta.config.connect_timeout, client.meta.config.read_timeout) == (3, 10)
    assert client.meta.config.retries["total_max_attempts"] == 2


@contextmanager
def on_disk(tmp_path: Path) -> Iterator[tuple[Any, Session, Store]]:
    """A server over a blob directory (this file's `settings` is a bucket): its client, wang, its store."""
    settings = Settings(data_dir=tmp_path / "data")
    store = Store(settings)
    store.create_user("wang", "Wang", "technician", "demo", demo=True)
    try:
        with TestClient(create_app(settings, store)) as http:
            yield http, Session(http, "wang"), store
    finally:
        store.close()


def test_a_blob_directory_that_cannot_be_written_is_503_and_the_upload_resumes(tmp_path: Path) -> None:
    # Regression (s23): the last byte's move into a directory it could not write was a 500, and the part
    # file stayed whole: HEAD said Upload-Offset = Upload-Length, so a tus client called it done.
    # A shard directory that is a file: refused as a read-only directory is, for root too.
    data = jpeg((300, 200), noise=True, seed=44)
    with on_disk(tmp_path) as (http, wang, store):
        shard = store.settings.data_dir / "blobs" / sha(data)[:2]
        shard.write_bytes(b"not a directory")
        location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
        assert tus.patch(http, wang.headers, location, 0, data[:1000]).status_code == 204
        refused(tus.patch(http, wang.headers, location, 1000, data[1000:]))
        assert tus.head(http, wang.headers, location).headers["upload-offset"] == "1000"
        assert not store.blobs.exists(sha(data))
        shard.unlink()
        assert tus.patch(http, wang.headers, location, 1000, data[1000:]).status_code == 204
        assert isinstance(store.blobs, FileBlobStore)
        assert store.blobs.path(sha(data)).read_bytes() == data


def test_a_full_disk_under_an_upload_is_507_and_the_upload_resumes(tmp_path: Path) -> None:
    # Regression (s23): ENOSPC while writing a PATCH's bytes was a 500. The kernel's own ENOSPC: the
    # part file is /dev/full, which refuses every write for want of room.
    data = jpeg((300, 200), noise=True, seed=45)
    with on_disk(tmp_path) as (http, wang, store):
        location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
        part = parts_dir(store.settings) / f"{location.rsplit('/', 1)[1]}.part"
        part.symlink_to("/dev/full")
        refused(tus.patch(http, wang.headers, location, 0, data), 507, "storage_full")
        part.unlink()  # room again
        assert tus.head(http, wang.headers, location).headers["upload-offset"] == "0"
        assert tus.patch(http, wang.headers, location, 0, data).status_code == 204
        assert store.blobs.path(sha(data)).read_bytes() == data

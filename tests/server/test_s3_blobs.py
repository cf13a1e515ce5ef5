"""Blobs in an S3-compatible bucket (issue 16): `S3BlobStore` against moto's standalone server, a real
`fieldsync serve --blobs s3://…` taking a photo over tus and serving it, garbage collection in the bucket.

The bucket is a real process (tests/s3.py) reached over HTTP with boto3's usual environment variables.
Resuming an upload on another process needs the upload state in a shared database: that is the
PostgreSQL backend's part of issue 16 and is not tested here.
"""

from __future__ import annotations

import hashlib
import tempfile
import uuid
from pathlib import Path

import boto3
import httpx
import pytest

from bench import _tus as tus
from bench._server import ServerProcess
from server.cli import main
from server.domains.media.blobs import open_blob_store
from server.domains.media.s3 import S3BlobStore, parse_address
from server.settings import Settings
from tests.reliability.wire import INSPECTION, prepare
from tests.server.test_uploads import jpeg, photo


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def keys(bucket: str) -> list[str]:
    name, prefix = parse_address(bucket)
    listed = boto3.client("s3").list_objects_v2(Bucket=name, Prefix=prefix)
    return sorted(o["Key"] for o in listed.get("Contents", []))


def key(bucket: str, digest: str) -> str:
    return f"{parse_address(bucket)[1]}/{digest[:2]}/{digest[2:4]}/{digest}"


def staged(tmp_path: Path, data: bytes) -> Path:
    path = tmp_path / f"staged-{uuid.uuid4().hex}"
    path.write_bytes(data)
    return path


@pytest.fixture
def settings(tmp_path: Path, bucket: str) -> Settings:
    """The shared fixtures (store, http, sessions) over a bucket instead of `blobs/`."""
    return Settings(data_dir=tmp_path / "server", blobs=bucket)


def test_put_exists_open_and_delete_go_to_the_bucket(bucket: str, tmp_path: Path) -> None:
    store = open_blob_store(Settings(data_dir=tmp_path / "a", blobs=bucket))
    assert isinstance(store, S3BlobStore)
    data = jpeg(noise=True, seed=1)
    assert not store.exists(sha(data))
    store.put(sha(data), staged(tmp_path, data))
    assert keys(bucket) == [key(bucket, sha(data))]
    # Another process (its own cache) finds it in the bucket and reads it through its cache.
    other = open_blob_store(Settings(data_dir=tmp_path / "b", blobs=bucket))
    assert isinstance(other, S3BlobStore)
    assert other.exists(sha(data)) and other.fetches == 0
    with other.open(sha(data)) as f:
        assert f.read() == data
    assert other.fetches == 1 and other.path(sha(data)).read_bytes() == data and other.fetches == 1
    # The same bytes again: content-addressed, nothing new in the bucket, the staged file consumed.
    again = staged(tmp_path, data)
    other.put(sha(data), again)
    assert not again.exists() and keys(bucket) == [key(bucket, sha(data))]
    other.delete(sha(data))
    assert keys(bucket) == [] and not other.exists(sha(data))
    with pytest.raises(FileNotFoundError):
        other.path(sha(data))
    assert not store.exists("../" + sha(data)[3:]) and not store.exists(sha(data).upper())


def test_the_local_cache_holds_at_most_its_bound(bucket: str, tmp_path: Path) -> None:
    blobs = [jpeg((200, 200), noise=True, seed=s) for s in range(5)]
    writer = open_blob_store(Settings(data_dir=tmp_path / "w", blobs=bucket))
    for data in blobs:
        writer.put(sha(data), staged(tmp_path, data))
    bound = 3 * max(map(len, blobs))
    reader = open_blob_store(Settings(data_dir=tmp_path / "r", blobs=bucket, blob_cache_bytes=bound))
    assert isinstance(reader, S3BlobStore)
    for data in blobs:
        assert reader.path(sha(data)).read_bytes() == data
        cached = sum(p.stat().st_size for p in reader.cache_dir.rglob("*") if p.is_file())
        assert cached <= bound
    assert reader.fetches == 5
    reader.path(sha(blobs[-1]))  # the newest is still cached
    assert reader.fetches == 5
    assert reader.path(sha(blobs[0])).read_bytes() == blobs[0]  # the oldest was evicted: fetched again
    assert reader.fetches == 6
    # A restart finds what is cached and keeps to the bound, and forgets half-fetched files.
    (reader.cache_dir / "fetch-0123").write_bytes(b"half")
    restarted = open_blob_store(Settings(data_dir=tmp_path / "r", blobs=bucket, blob_cache_bytes=bound))
    assert isinstance(restarted, S3BlobStore)
    restarted.path(sha(blobs[0]))
    assert restarted.fetches == 0 and not (reader.cache_dir / "fetch-0123").exists()


@pytest.mark.parametrize("address", ["s3://", "s3://a", "s3://Upper-Case/x", "s3://bucket/white space",
                                     "s3://" + "b" * 64, "s3://bucket/" + "p" * 201, "s3://bucket\n/x"])
def test_a_malformed_bucket_address_is_refused_in_one_line(address: str, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gc", "--data", str(tmp_path), "--blobs", address]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fieldsync: --blobs: not an s3://bucket/prefix address") and err.count("\n") == 1


def test_uploads_thumbnails_and_gc_in_process_use_the_bucket(http, wang, store, site, bucket: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    from tests.server.test_blob_hardening import _forget_finished_uploads

    kept, orphan = jpeg((300, 200), noise=True, seed=7), jpeg((300, 200), noise=True, seed=8)
    for data in (kept, orphan):
        assert tus.upload(http, wang.headers, data).status_code == 204
    photo(wang, site, kept)
    assert keys(bucket) == sorted(key(bucket, sha(d)) for d in (kept, orphan))
    assert not (store.settings.data_dir / "blobs").exists()
    assert http.get(f"/blobs/{sha(kept)}", headers=wang.headers).content == kept
    thumb = http.get(f"/blobs/{sha(kept)}/thumbnail?size=160", headers=wang.headers)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    _forget_finished_uploads(store)
    assert main(["gc", "--data", str(store.settings.data_dir), "--blobs", bucket, "--grace-hours", "0"]) == 0
    assert f"removed {sha(orphan)}" in capsys.readouterr().out
    assert keys(bucket) == [key(bucket, sha(kept))]
    assert not list((store.settings.data_dir / "blob-cache").rglob(sha(orphan)))
    assert http.get(f"/blobs/{sha(kept)}", headers=wang.headers).content == kept


def test_a_server_process_over_a_bucket_takes_a_photo_and_serves_it_and_its_thumbnail(
        bucket: str, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    prepare(data_dir, ["wang"], 1)
    data = jpeg((640, 480), noise=True, seed=9)
    first = ServerProcess(data_dir, args=("--blobs", bucket)).start()
    try:
        wire = httpx.post(first.url + "/auth/token", json={"username": "wang", "password": "demo"}).json()
        auth = {"Authorization": f"Bearer {wire['token']}"}
        with httpx.Client(base_url=first.url, timeout=30) as client:
            assert tus.upload(client, auth, data, chunk=100_000).status_code == 204
            from sync import hlc

            push = client.post("/sync/push", headers=auth, json={
                "protocol": 1, "client_id": wire["client_id"], "client_time": hlc.format_ts(hlc.wall_ms()),
                "changes": [{"seq": 1, "collection": "photos", "id": str(uuid.uuid4()),
                             "hlc": hlc.Clock(wire["client_id"]).now(),
                             "fields": {"inspection_id": INSPECTION, "sha256": sha(data), "content_type": "image/jpeg"}}]})
            assert push.json()["results"][0]["status"] == "applied", push.text
    finally:
        first.stop()
    assert keys(bucket) == [key(bucket, sha(data))]
    assert not [p for p in (data_dir / "blobs").rglob("*") if p.is_file()]  # prepare() made it, empty
    # A server with nothing of the blob on its disk (another machine's, as far as blobs go) serves it.
    for cached in (data_dir / "blob-cache").rglob("*"):
        if cached.is_file():
            cached.unlink()
    second = ServerProcess(data_dir, args=("--blobs", bucket)).start()
    try:
        with httpx.Client(base_url=second.url, timeout=30) as client:
            got = client.get(f"/blobs/{sha(data)}", headers=auth)
            assert got.status_code == 200 and got.content == data
            thumb = client.get(f"/blobs/{sha(data)}/thumbnail?size=320", headers=auth)
            assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
    finally:
        second.stop()


def test_a_blob_directory_on_another_filesystem_takes_uploads(http, wang, tmp_path: Path) -> None:
    # Regression: put() renamed the upload into the store, which fails across filesystems (EXDEV).
    shared = Path(tempfile.mkdtemp(dir="/dev/shm"))
    try:
        from server.app import create_app
        from server.services import Store

        settings = Settings(data_dir=tmp_path / "other", blobs=str(shared))
        store = Store(settings)
        store.create_user("wang", "Wang", "technician", "demo", demo=True)
        from litestar.testing import TestClient

        from tests.conftest import Session

        with TestClient(create_app(settings, store)) as client:
            session = Session(client, "wang")
            data = jpeg(noise=True, seed=10)
            assert tus.upload(client, session.headers, data).status_code == 204
        store.close()
        assert (shared / sha(data)[:2] / sha(data)[2:4] / sha(data)).read_bytes() == data
        assert [p.name for p in shared.rglob("*") if p.is_file()] == [sha(data)]
    finally:
        import shutil

        shutil.rmtree(shared)


def test_backup_leaves_a_buckets_blobs_there_and_restore_fills_a_bucket(bucket: str, tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    from server.services import Store

    data = jpeg(noise=True, seed=11)
    on_disk = Store(Settings(data_dir=tmp_path / "disk"))
    on_disk.blobs.put(sha(data), staged(tmp_path, data))
    on_disk.close()
    assert main(["backup", "--data", str(tmp_path / "disk"), "--to", str(tmp_path / "b1")]) == 0
    # Moving up to a bucket: the backup's blobs go into it.
    assert main(["restore", "--from", str(tmp_path / "b1"), "--data", str(tmp_path / "up"), "--blobs", bucket]) == 0
    assert keys(bucket) == [key(bucket, sha(data))]
    assert not list((tmp_path / "up").glob(".restoring-*"))
    capsys.readouterr()
    assert main(["backup", "--data", str(tmp_path / "up"), "--blobs", bucket, "--to", str(tmp_path / "b2")]) == 0
    assert f"and 0 blobs to {tmp_path / 'b2'}; the blobs stay in {bucket}" in capsys.readouterr().out
    assert not (tmp_path / "b2" / "blobs").exists()

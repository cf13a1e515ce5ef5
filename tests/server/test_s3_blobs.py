"""Blobs in an S3-compatible bucket (issue 16): `S3BlobStore` against moto's standalone server, a real
`fieldsync serve --blobs s3://…` taking a photo over tus and serving it, garbage collection in the bucket.

The bucket is a real process (tests/s3.py) reached over HTTP with boto3's usual environment variables.
An upload resumed on another process shares only the bucket and the PostgreSQL database with it
(each PATCH's bytes are a piece in the bucket, the offset is the database's): two real processes.
"""

from __future__ import annotations

import hashlib
import tempfile
import threading
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


def push_photo(client: httpx.Client, wire: dict[str, str], data: bytes) -> None:
    """Push a photo row of these bytes, by the client `wire` (a sign-in's answer) names."""
    from sync import hlc

    push = client.post("/sync/push", headers={"Authorization": f"Bearer {wire['token']}"}, json={
        "protocol": 1, "client_id": wire["client_id"], "client_time": hlc.format_ts(hlc.wall_ms()),
        "changes": [{"seq": 1, "collection": "photos", "id": str(uuid.uuid4()), "hlc": hlc.Clock(wire["client_id"]).now(),
                     "fields": {"inspection_id": INSPECTION, "sha256": sha(data), "content_type": "image/jpeg"}}]})
    assert push.json()["results"][0]["status"] == "applied", push.text


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
            push_photo(client, wire, data)
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


# -- an upload resumed on another process, with nothing shared but the database and the bucket --------


def pieces(bucket: str) -> list[str]:
    """The keys of unfinished uploads' pieces in the bucket."""
    return [k for k in keys(bucket) if k.startswith(f"{parse_address(bucket)[1]}/uploads/")]


def test_two_patches_at_one_offset_on_two_processes_over_a_bucket(bucket: str, database: str,
                                                                   tmp_path: Path) -> None:
    # Regression (issue 16): with a bucket, each process's part file and lock file are its own,
    # so the lock decided nothing between processes and a second PATCH at the same offset appended too.
    # Now the database does: the offset moves by compare-and-set, the loser gets 409 and its piece goes.
    from litestar.testing import TestClient

    from server.app import create_app
    from server.services import Store
    from tests.conftest import Session
    from tests.server.test_shared_uploads import _patch_held

    settings = [Settings(data_dir=tmp_path / name, blobs=bucket, database=database) for name in "ab"]
    stores = [Store(s) for s in settings]
    stores[0].create_user("wang", "Wang", "technician", "demo", demo=True)
    try:
        with TestClient(create_app(settings[0], stores[0])) as a, TestClient(create_app(settings[1], stores[1])) as b:
            wang = Session(a, "wang")
            data = jpeg((600, 400), noise=True, seed=23)
            half = len(data) // 2
            location = tus.create(a, wang.headers, data, "image/jpeg").headers["location"]
            go, sent = threading.Event(), threading.Event()
            held = _patch_held(a, wang.headers, location, 0, bytes(100), bytes(half - 100), go, sent)
            assert sent.wait(30)  # A has read the offset (0) and is receiving its body
            assert tus.patch(b, wang.headers, location, 0, data[:half]).status_code == 204
            go.set()
            assert held.result(60) == 409  # A's bytes lost the race: not one of them counts
            assert len(pieces(bucket)) == 1  # B's; A's was deleted
            assert tus.head(a, wang.headers, location).headers["upload-offset"] == str(half)
            # A resumes: its part file holds nothing it may trust, so it is made again from the bucket.
            assert tus.patch(a, wang.headers, location, half, data[half:]).status_code == 204
            assert stores[0].blobs.path(sha(data)).read_bytes() == data
            assert pieces(bucket) == []
    finally:
        for store in stores:
            store.close()


def test_an_upload_resumes_on_another_server_process_sharing_only_a_bucket_and_a_database(
        bucket: str, database: str, tmp_path: Path) -> None:
    # Regression (issue 16): the part file was in each process's own DATA/uploads/, so an
    # upload begun on one process could not go on on another unless DATA was shared. Now each PATCH's
    # bytes are also a piece in the bucket and the offset is the database's.
    from server.domains.media.gc import collect
    from server.domains.media.uploads import Uploads
    from server.services import Store

    prepare(tmp_path / "setup", ["wang"], 1, database=database)
    args = ("--blobs", bucket, "--database", database)
    first = ServerProcess(tmp_path / "a", args=args).start()
    try:
        second = ServerProcess(tmp_path / "b", args=args).start()
    except BaseException:
        first.stop()
        raise
    data, orphan, dropped = (jpeg((900, 700), noise=True, seed=s) for s in (24, 25, 26))
    try:
        wire = httpx.post(first.url + "/auth/token", json={"username": "wang", "password": "demo"}).json()
        auth = {"Authorization": f"Bearer {wire['token']}"}
        with httpx.Client(base_url=first.url, timeout=30) as a, httpx.Client(base_url=second.url, timeout=30) as b:
            location = tus.create(a, auth, data, "image/jpeg").headers["location"]
            third = len(data) // 3
            assert tus.patch(a, auth, location, 0, data[:third]).status_code == 204
            assert tus.head(b, auth, location).headers["upload-offset"] == str(third)
            assert tus.patch(b, auth, location, third, data[third:2 * third]).status_code == 204
            stale = tus.patch(a, auth, location, third, data[third:2 * third])  # A's own file says third
            assert (stale.status_code, stale.json()["offset"]) == (409, 2 * third)
            assert len(pieces(bucket)) == 2
            assert tus.patch(a, auth, location, 2 * third, data[2 * third:]).status_code == 204
            assert key(bucket, sha(data)) in keys(bucket) and pieces(bucket) == []
            push_photo(b, wire, data)
            got = a.get(f"/blobs/{sha(data)}", headers=auth)
            assert got.status_code == 200 and got.content == data
            thumb = a.get(f"/blobs/{sha(data)}/thumbnail?size=320", headers=auth)
            assert thumb.status_code == 200 and thumb.content[:3] == b"\xff\xd8\xff"
            # An unreferenced blob, and an upload given up half-way on the second process.
            assert tus.upload(b, auth, orphan).status_code == 204
            given_up = tus.create(b, auth, dropped, "image/jpeg").headers["location"]
            assert tus.patch(b, auth, given_up, 0, dropped[:1000]).status_code == 204
    finally:
        first.stop()
        second.stop()
    # A PATCH that died between storing its piece and moving the offset left one no record names.
    name, prefix = parse_address(bucket)
    boto3.client("s3").put_object(Bucket=name, Key=f"{prefix}/uploads/{uuid.uuid4().hex}/0-dead", Body=b"x")
    assert len(pieces(bucket)) == 2
    # Garbage collection, as the server runs it, a day on: the given-up upload expires, and the
    # unreferenced blob and every piece no open upload has on record go; the photo's blob stays.
    store = Store(Settings(data_dir=tmp_path / "gc", blobs=bucket, database=database))
    try:
        later = store.now_ms() + 86_400_000
        Uploads(store, store.blobs, store.settings).clean_uploads(later)
        assert pieces(bucket) == []
        removed = collect(store, store.blobs, 0, later)
    finally:
        store.close()
    assert [r.sha256 for r in removed] == [sha(orphan)]
    assert keys(bucket) == [key(bucket, sha(data))]


def test_an_upload_over_a_bucket_takes_at_most_max_pieces_patches(http, wang, bucket: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (issue 16): each PATCH over a bucket is an object and a row, so one-byte PATCHes
    # of a 64 MiB upload would have made 64 million of each. Past MAX_PIECES - 1, only the rest in one.
    from server.domains.media import upload_pieces

    monkeypatch.setattr(upload_pieces, "MAX_PIECES", 3)
    data = jpeg(noise=True, seed=27)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    for at in (0, 1):
        assert tus.patch(http, wang.headers, location, at, data[at:at + 1]).status_code == 204
    refused = tus.patch(http, wang.headers, location, 2, data[2:3])
    assert (refused.status_code, refused.json()["code"], refused.json()["limit"]) == (400, "invalid_request", 3)
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == "2" and len(pieces(bucket)) == 2
    assert tus.patch(http, wang.headers, location, 2, data[2:]).status_code == 204
    assert key(bucket, sha(data)) in keys(bucket) and pieces(bucket) == []


def test_a_patch_the_server_gives_up_on_over_a_bucket_keeps_nothing(http, wang, store, bucket: str) -> None:
    # Over a bucket bytes count once they are a piece: a request the server cancels mid-body (a shutdown)
    # leaves the offset where it was and nothing in the part file, and its client sends them again.
    from server.domains.media import uploads
    from server.domains.media.uploads import parts_dir
    from tests.server.test_shared_uploads import _patch_held

    data = jpeg((1600, 1200), noise=True, seed=28)
    first = uploads._WRITE_CHUNK + 1000  # past one write: in the part file when the server gives up
    assert len(data) > first
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    go, sent = threading.Event(), threading.Event()
    held = _patch_held(http, wang.headers, location, 0, data[:first], data[first:], go, sent)
    assert sent.wait(30)
    part = parts_dir(store.settings) / f"{location.rsplit('/', 1)[1]}.part"
    held.cancel()
    go.set()
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == "0"
    assert pieces(bucket) == [] and part.stat().st_size == 0
    assert tus.patch(http, wang.headers, location, 0, data).status_code == 204
    assert store.blobs.path(sha(data)).read_bytes() == data

"""The blob store failing under a request: a bucket that does not answer (moto's real server, the store
pointed at a port where nothing listens, then back), a blob directory that cannot be written, a disk
that is full. Each is a 503 `storage_unavailable` or 507 `storage_full` problem with Retry-After,
never a 500; the upload's offset stays where it was, nothing is recorded that is not stored, and the
upload finishes, its hash verified, once the store is back.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
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
from server.storage.media import SqliteMedia
from sync import errors as E
from tests.conftest import Session
from tests.hop import Answer, Hop
from tests.server.test_s3_blobs import key, keys, pieces
from tests.server.test_uploads import jpeg, photo


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def apps(http: Any) -> list[Any]:
    """The app, or each app of the PostgreSQL mode's processes (tests/servers.py)."""
    return list(getattr(http.app, "apps", [http.app]))


def forget_local_copies(http: Any) -> None:
    """Nothing of any blob on any server's disk: each must come from the bucket."""
    for app in apps(http):
        blobs = app.state.store.blobs
        for cached in blobs.cache_dir.rglob("*"):
            if cached.is_file():
                cached.unlink()
        blobs._cached.clear()


def outage(http: Any, endpoint: str | None = None) -> None:
    """Every server's bucket unreachable (a port where nothing listens), or reached at `endpoint`."""
    for app in apps(http):
        client = s3.connect(endpoint or f"http://127.0.0.1:{free_port()}")
        app.state.store.blobs.client = app.state.store.blobs.pieces.client = client


class Gate(Hop):
    """A real HTTP hop between the store and moto's server that answers 503 (S3's own SlowDown) to the
    requests `refuse` picks by path, and passes every other on: a bucket that fails for some keys only;
    or that holds those `hold` picks until `go` (a slow bucket)."""

    def __init__(self, upstream: str) -> None:
        self.refuse: Callable[[str], bool] = lambda path: False
        # A slow bucket: the requests `hold` picks (by method and path) wait until `go` is set.
        self.hold: Callable[[str, str], bool] = lambda method, path: False
        self.held, self.go = threading.Event(), threading.Event()
        super().__init__(upstream, self._own)

    def _own(self, method: str, path: str, body: bytes) -> Answer | None:
        if self.hold(method, path):
            self.held.set()
            self.go.wait(60)  # a guard against a hang, not a measurement
        return (503, {}, b"") if self.refuse(path) else None


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
    outage(http)
    refused(tus.patch(http, wang.headers, location, half, data[half:]))
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == str(half)
    with SqliteMedia(store).reading() as q:  # over a bucket the offset is the database's
        record = q.upload(location.rsplit("/", 1)[1])
        assert record is not None and (record[4], record[5]) == (half, "open")
    outage(http, s3_endpoint := os.environ["AWS_ENDPOINT_URL"])
    assert len(pieces(bucket)) == 1 and key(bucket, sha(data)) not in keys(bucket)
    assert tus.patch(http, wang.headers, location, half, data[half:]).status_code == 204
    assert store.blobs.path(sha(data)).read_bytes() == data and pieces(bucket) == []
    # Another process's resume, made again from the pieces while the bucket is down: 503, then it goes on.
    other = jpeg((600, 400), noise=True, seed=42)
    location = tus.create(http, wang.headers, other, "image/jpeg").headers["location"]
    assert tus.patch(http, wang.headers, location, 0, other[:half]).status_code == 204
    for app in apps(http):
        app.state.uploads._hashers.clear()  # what a process that did not append those bytes knows of them
    outage(http)
    refused(tus.patch(http, wang.headers, location, half, other[half:]))
    outage(http, s3_endpoint)
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == str(half)
    assert tus.patch(http, wang.headers, location, half, other[half:]).status_code == 204
    assert hashlib.sha256(store.blobs.path(sha(other)).read_bytes()).hexdigest() == sha(other)


def test_a_bucket_that_takes_the_last_piece_but_not_the_blob_gives_the_offset_back(
        http, wang, store, bucket: str) -> None:
    # Regression (s23): the last PATCH's piece was stored and the offset moved to the upload's end before
    # the blob went in; when the blob's PUT failed, HEAD said Upload-Offset = Upload-Length (a tus client
    # calls that done) and no row named the blob. Now the offset goes back and that piece off the record.
    data = jpeg((600, 400), noise=True, seed=46)
    half = len(data) // 2
    gate = Gate(os.environ["AWS_ENDPOINT_URL"])
    try:
        outage(http, gate.url)
        location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
        upload_id = location.rsplit("/", 1)[1]
        assert tus.patch(http, wang.headers, location, 0, data[:half]).status_code == 204
        gate.refuse = lambda path: "/uploads/" not in path  # pieces go in, the blob does not
        refused(tus.patch(http, wang.headers, location, half, data[half:]))
        assert tus.head(http, wang.headers, location).headers["upload-offset"] == str(half)
        with SqliteMedia(store).reading() as q:
            record = q.upload(upload_id)
            assert record is not None and (record[4], record[5]) == (half, "open")
            assert len(q.pieces(upload_id)) == 1
        assert len(pieces(bucket)) == 2 and key(bucket, sha(data)) not in keys(bucket)
        gate.refuse = lambda path: False
        assert tus.patch(http, wang.headers, location, half, data[half:]).status_code == 204
        assert hashlib.sha256(store.blobs.path(sha(data)).read_bytes()).hexdigest() == sha(data)
        assert pieces(bucket) == []  # the one no record named went with the upload's others
    finally:
        gate.close()


def test_a_bucket_down_at_download_thumbnail_and_creation_is_503(http, wang, store, site) -> None:
    data = jpeg((300, 200), noise=True, seed=43)
    assert tus.upload(http, wang.headers, data).status_code == 204
    photo(wang, site, data)
    forget_local_copies(http)
    outage(http)
    refused(http.get(f"/blobs/{sha(data)}", headers=wang.headers))
    refused(http.get(f"/blobs/{sha(data)}/thumbnail?size=160", headers=wang.headers))
    refused(tus.create(http, wang.headers, data, "image/jpeg"))  # born complete only if the bucket has it
    outage(http, os.environ["AWS_ENDPOINT_URL"])
    assert http.get(f"/blobs/{sha(data)}", headers=wang.headers).content == data


def test_a_bucket_down_when_a_signed_sheet_is_printed_is_503(site, http, wang, lin, store) -> None:
    # Regression (s23): the sheet PDF embeds the customer's signature image, read from the bucket: a 500.
    from tests.server import test_sealing as sealing

    insp = site["inspection"]
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    _, sig = sealing._signature(wang, insp, sealing._sheet(insp, c1))
    assert sealing._results(wang.push([c1, sig])) == [("applied", None)] * 2
    forget_local_copies(http)
    outage(http)
    refused(lin.http.get(f"/api/inspections/{insp}/sheet.pdf", headers=lin.headers))
    outage(http, os.environ["AWS_ENDPOINT_URL"])
    printed = lin.http.get(f"/api/inspections/{insp}/sheet.pdf", headers=lin.headers)
    assert printed.status_code == 200 and printed.content.startswith(b"%PDF")


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


def test_a_server_started_while_its_bucket_is_down_starts_and_answers_503(
        bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression (s23): startup sweeps the bucket's stale upload pieces; with the bucket down that raised
    # and `fieldsync serve` never came up. Now the sweep waits for the next run; the server starts, syncs,
    # and answers 503 where it needs the bucket. `fieldsync gc` says so in one line.
    from bench._server import ServerProcess
    from server.cli import main
    from tests.reliability.wire import prepare

    data_dir = tmp_path / "data"
    prepare(data_dir, ["wang"], 1)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    server = ServerProcess(data_dir, args=("--blobs", bucket)).start()
    try:
        wire = httpx.post(server.url + "/auth/token", json={"username": "wang", "password": "demo"}).json()
        auth = {"Authorization": f"Bearer {wire['token']}"}
        with httpx.Client(base_url=server.url, timeout=60) as client:
            assert client.get("/sync/pull", headers=auth, params={"client_id": wire["client_id"]}).status_code == 200
            data = jpeg(noise=True, seed=47)
            created = tus.create(client, auth, data, "image/jpeg")
            assert created.status_code == 201
            refused(tus.patch(client, auth, created.headers["location"], 0, data))
            assert tus.head(client, auth, created.headers["location"]).headers["upload-offset"] == "0"
    finally:
        server.stop()
    assert main(["gc", "--data", str(data_dir), "--blobs", bucket, "--grace-hours", "0"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("fieldsync: the photo storage failed") and err.count("\n") == 1


def test_a_bucket_down_under_a_push_with_a_signature_is_503_and_applies_nothing(
        site, http, wang, lin, stores) -> None:
    # Regression (s23 leftovers, item 4): the push reads the signature's sheet (and image) from the bucket.
    from server.domains.signatures.service import SheetCache
    from tests.server import test_sealing as sealing

    insp = site["inspection"]
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    data = sealing._sheet(insp, c1)
    sealing._upload(wang, data, "application/json")
    sig_id, sig = sealing._signature(wang, insp, data)
    forget_local_copies(http)
    for each in stores:
        each.sheets = SheetCache()  # what a server started since knows of the sheet
    outage(http)
    refused(wang.push([c1, sig]))
    rows = sealing._rows(lin)
    assert ("signatures", sig_id) not in rows and ("device_checks", c1["id"]) not in rows
    outage(http, os.environ["AWS_ENDPOINT_URL"])
    assert sealing._results(wang.push([c1, sig])) == [("applied", None)] * 2
    assert sealing._signatures(lin, insp)[0]["verification"] == "valid"


def _doomed(store: Store, digest: str) -> tuple[bool, bool]:
    """(whether a record names the blob, whether its hash is doomed: its bytes being removed)."""
    with store.read() as db:
        return (db.execute("SELECT 1 FROM blobs WHERE sha256 = ?", [digest]).fetchone() is not None,
                db.execute("SELECT 1 FROM blobs_doomed WHERE sha256 = ?", [digest]).fetchone() is not None)


def _collect_failing_then_an_upload_between(http: Any, wang: Session, store: Store, data: bytes,
                                            fail: Callable[[], None], mend: Callable[[], None]) -> str:
    """An orphan blob collected with its store failing at the bytes (`fail`), then the same bytes
    uploaded between the two steps once it is back (`mend`): refused, nothing recorded; the next
    collection deletes the bytes, and the upload, sent again, is stored whole. Its location."""
    from server.domains.media.gc import Removed, collect

    assert tus.upload(http, wang.headers, data).status_code == 204  # no row names it
    later = store.now_ms() + 86_400_000
    for app in apps(http):
        app.state.uploads.clean_uploads(later)  # its finished upload forgotten
    fail()
    with pytest.raises(E.StorageUnavailable):
        collect(store, store.blobs, 0, later)
    assert _doomed(store, sha(data)) == (False, True)  # the record went in its own transaction
    mend()
    assert store.blobs.exists(sha(data))  # the bytes the failed delete left
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    refused(tus.patch(http, wang.headers, location, 0, data))  # stored, but no record while doomed
    assert _doomed(store, sha(data)) == (False, True)
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == "0"
    # The hash left doomed: its bytes go, and the run names them.
    assert collect(store, store.blobs, 0, later + 3_600_001) == [Removed(sha(data), 0, left=True)]
    assert _doomed(store, sha(data)) == (False, False) and not store.blobs.exists(sha(data))
    assert tus.patch(http, wang.headers, location, 0, data).status_code == 204
    assert _doomed(store, sha(data)) == (True, False)
    assert hashlib.sha256(store.blobs.path(sha(data)).read_bytes()).hexdigest() == sha(data)
    return location


def test_gc_deletes_bytes_after_their_record_and_an_upload_meanwhile_is_never_recorded_without_them(
        http, wang, store, bucket: str) -> None:
    # Regression (s23 leftovers, item 2): `collect` deleted the bytes inside its write transaction, so a
    # slow bucket held the writer (on PostgreSQL past the idle-in-transaction limit, which killed it and
    # restored records whose bytes were gone). The record goes first, in its own transaction; the
    # bucket failing at the bytes leaves the hash doomed, and an upload of the same bytes meanwhile
    # records nothing until the next collection has deleted them.
    data = jpeg((300, 200), noise=True, seed=48)
    gc_store = apps(http)[0].state.store
    _collect_failing_then_an_upload_between(http, wang, gc_store, data, lambda: outage(http),
                                            lambda: outage(http, os.environ["AWS_ENDPOINT_URL"]))
    assert key(bucket, sha(data)) in keys(bucket)


def test_gc_over_a_blob_directory_that_fails_at_the_bytes_keeps_the_hash_doomed(tmp_path: Path) -> None:
    # Regression (s23 leftovers, item 2), a blob directory: its shard a file when the bytes are deleted.
    data = jpeg((300, 200), noise=True, seed=49)
    with on_disk(tmp_path) as (http, wang, store):
        shard = store.settings.data_dir / "blobs" / sha(data)[:2]
        away = shard.with_name("away")

        def fail() -> None:
            shard.rename(away)
            shard.write_bytes(b"not a directory")

        def mend() -> None:
            shard.unlink()
            away.rename(shard)

        _collect_failing_then_an_upload_between(http, wang, store, data, fail, mend)


def test_gc_holds_no_writer_while_the_bucket_is_slow_to_delete(http, wang, store, site) -> None:
    # Regression (s23 leftovers, item 2): the bytes were deleted inside collect's write transaction, so a
    # slow bucket held the writer (every push waited; on PostgreSQL the idle-in-transaction limit killed
    # it). With the bucket holding the blob's DELETE, a push goes through and the record is already gone.
    from server.domains.media.gc import collect

    data = jpeg((300, 200), noise=True, seed=51)
    assert tus.upload(http, wang.headers, data).status_code == 204
    later = store.now_ms() + 86_400_000
    for app in apps(http):
        app.state.uploads.clean_uploads(later)
    gc_store = apps(http)[0].state.store
    gate = Gate(os.environ["AWS_ENDPOINT_URL"])
    try:
        outage(http, gate.url)
        gate.hold = lambda method, path: method == "DELETE" and sha(data) in path
        collecting = threading.Thread(target=collect, args=(gc_store, gc_store.blobs, 0, later))
        collecting.start()
        assert gate.held.wait(60)  # the bytes' DELETE is under way, held by the bucket
        assert _doomed(gc_store, sha(data)) == (False, True)
        photo(wang, site, jpeg((300, 200), noise=True, seed=52))  # a push: the writer is free
        gate.go.set()
        collecting.join(60)
        assert not collecting.is_alive() and _doomed(gc_store, sha(data)) == (False, False)
        assert not gc_store.blobs.exists(sha(data))
    finally:
        gate.go.set()
        gate.close()


def test_a_bucket_down_on_a_console_page_says_the_storage_not_the_database(http, wang, store, site) -> None:
    # Regression (s27, left by fixperiod): the console picked its words by status, and the blob store's
    # 503 read "数据库暂时无法连接" (the database cannot be reached).
    from tests.server.test_console_desk import console

    data = jpeg((300, 200), noise=True, seed=44)
    assert tus.upload(http, wang.headers, data).status_code == 204
    photo(wang, site, data)
    forget_local_copies(http)
    console(http, "wang")
    outage(http)
    page = http.get(f"/console/blobs/{sha(data)}")
    assert page.status_code == 503 and page.headers["content-type"].startswith("text/html"), page.text[:300]
    assert "照片与签字存储暂时无法连接" in page.text and "数据库" not in page.text
    outage(http, os.environ["AWS_ENDPOINT_URL"])
    assert http.get(f"/console/blobs/{sha(data)}").content == data

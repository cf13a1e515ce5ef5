"""An upload shared by server processes (issue 16): begun on one, resumed on another, never two
PATCHes appending at once. Each app here has a `Store` of its own over one database file and one
blob directory (`--blobs DIR`, where the part files then live): two processes' worth of state."""

from __future__ import annotations

import threading
from concurrent.futures import Future
from pathlib import Path
from typing import Any

import anyio
import pytest
from litestar.testing import TestClient

from bench import _tus as tus
from server.domains.media import uploads as uploads_module
from server.domains.media.uploads import parts_dir
from server.services import Store
from server.settings import Settings
from tests.conftest import Session
from tests.server.test_uploads import blob_of, jpeg, photo, sha


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Blobs in a directory of their own, as processes on several machines mount one."""
    return Settings(data_dir=tmp_path / "server", blobs=str(tmp_path / "shared-blobs"))


def test_the_part_files_are_beside_the_blobs(settings: Settings, store: Store) -> None:
    assert parts_dir(settings) == Path(str(settings.blobs)) / "uploads"
    assert parts_dir(Settings(data_dir=settings.data_dir, blobs="s3://bucket/x")) == settings.data_dir / "uploads"


def test_an_upload_begun_on_one_process_is_finished_on_another(http, other_http, wang: Session, store: Store,
                                                               site, row_of) -> None:
    # Regression (issue 16): the digest so far lived in the process that began the upload. Here A
    # begins (its digest and JPEG check at a third), B continues (it has neither: it hashes the file
    # so far), A finishes (what it holds is at a third, not where the upload stands: made again).
    data = jpeg((900, 700), noise=True, seed=16)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    third = len(data) // 3
    for client, start, end in ((http, 0, third), (other_http, third, 2 * third), (http, 2 * third, len(data))):
        r = tus.patch(client, wang.headers, location, start, data[start:end])
        assert (r.status_code, r.headers["upload-offset"]) == (204, str(end)), r.text
    assert store.blobs.path(sha(data)).read_bytes() == data  # hashed whole, and found right
    assert tus.head(other_http, wang.headers, location).headers["upload-offset"] == str(len(data))
    row_id = photo(wang, site, data)
    assert blob_of(row_of, row_id) == "stored"
    got = http.get(f"/blobs/{sha(data)}", headers=wang.headers)  # served by the first
    assert got.status_code == 200 and got.content == data
    assert sorted(p.name for p in parts_dir(store.settings).iterdir()) == []  # no part, no lock file left


def test_bytes_resumed_on_another_process_are_checked_whole(http, other_http, wang: Session, store: Store) -> None:
    # The other process appends the wrong bytes: the digest over the whole file refuses them.
    data = jpeg((300, 200), noise=True, seed=17)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    half = len(data) // 2
    assert tus.patch(http, wang.headers, location, 0, data[:half]).status_code == 204
    r = tus.patch(other_http, wang.headers, location, half, bytes(len(data) - half))
    assert (r.status_code, r.json()["code"]) == (422, "digest_mismatch")
    assert not store.blobs.exists(sha(data))


def _patch_held(client: TestClient[Any], headers: dict[str, str], location: str, offset: int, first: bytes,
                rest: bytes, go: threading.Event, sent: threading.Event) -> Future[int]:
    """A PATCH to `client`'s app, as ASGI, that sends `first`, then waits for `go` before `rest`: a
    process in the middle of a body. Its status, when done."""
    pieces = [first, rest]
    done = anyio.Event()
    status: list[int] = []

    async def receive() -> dict[str, Any]:
        if not pieces:
            await done.wait()
            return {"type": "http.disconnect"}
        piece = pieces.pop(0)
        if pieces:
            sent.set()
        else:
            await anyio.to_thread.run_sync(go.wait)
        return {"type": "http.request", "body": piece, "more_body": bool(pieces)}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif not message.get("more_body"):
            done.set()

    async def call() -> int:
        names = {**headers, **tus.PATCH, "Upload-Offset": str(offset), "Content-Length": str(len(first + rest))}
        await client.app({
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "PATCH", "scheme": "http",
            "path": location, "raw_path": location.encode(), "query_string": b"", "root_path": "",
            "headers": [(k.lower().encode(), v.encode()) for k, v in names.items()] + [(b"host", b"testserver")],
            "client": ("127.0.0.1", 50000), "server": ("testserver", 80), "extensions": {},
        }, receive, send)
        return status[0]

    return client.blocking_portal.start_task_soon(call)


def test_a_patch_on_another_process_waits_and_never_interleaves(http, other_http, wang: Session, store: Store,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (issue 16): each process locked an upload only against its own requests, so a second
    # process read the offset of a PATCH still under way and appended its bytes into the same file.
    monkeypatch.setattr(uploads_module, "_LOCK_WAIT_S", 0.5)
    data = jpeg((300, 200), noise=True, seed=18)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    go, sent = threading.Event(), threading.Event()
    first = _patch_held(http, wang.headers, location, 0, data[:1000], data[1000:], go, sent)
    assert sent.wait(60)  # A holds the upload and has a piece of the body
    second = tus.patch(other_http, wang.headers, location, 0, data)
    assert (second.status_code, second.json()["code"]) == (423, "upload_locked")  # waited, then gave up
    part = parts_dir(store.settings) / f"{location.rsplit('/', 1)[1]}.part"
    assert part.stat().st_size == 0  # nothing of B's body went in
    go.set()
    assert first.result(60) == 204
    assert store.blobs.path(sha(data)).read_bytes() == data
    again = tus.patch(other_http, wang.headers, location, 0, data)
    assert (again.status_code, again.json()["code"], again.json()["offset"]) == (409, "offset_mismatch", len(data))


def test_concurrent_patches_at_one_offset_on_two_processes(http, other_http, wang: Session, store: Store) -> None:
    # One 204 and one 409, whichever comes first: the file holds one body, once.
    data = jpeg((600, 400), noise=True, seed=19)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    half = len(data) // 2
    assert tus.patch(other_http, wang.headers, location, 0, data[:half]).status_code == 204
    start = threading.Barrier(2)
    answers: list[int] = [0, 0]

    def send(i: int) -> None:
        start.wait()
        answers[i] = tus.patch((http, other_http)[i], wang.headers, location, half, data[half:]).status_code

    threads = [threading.Thread(target=send, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [204, 409]
    assert store.blobs.path(sha(data)).read_bytes() == data


def test_a_backup_leaves_the_unfinished_uploads_beside_the_blobs_out(http, wang: Session, store: Store,
                                                                       tmp_path: Path) -> None:
    from server.storage.sqlite.backup import backup

    done, begun = jpeg(seed=20), jpeg((300, 200), noise=True, seed=21)
    assert tus.upload(http, wang.headers, done).status_code == 204
    location = tus.create(http, wang.headers, begun, "image/jpeg").headers["location"]
    assert tus.patch(http, wang.headers, location, 0, begun[:100]).status_code == 204
    assert ".part" in {p.suffix for p in parts_dir(store.settings).iterdir()}  # an upload under way
    info = backup(store.settings.data_dir, tmp_path / "backup", Path(str(store.settings.blobs)))
    copied = [p.relative_to(tmp_path / "backup" / "blobs") for p in (tmp_path / "backup" / "blobs").rglob("*")
              if p.is_file()]
    assert info.blobs == 1 and [p.name for p in copied] == [sha(done)]

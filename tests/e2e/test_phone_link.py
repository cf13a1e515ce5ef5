"""A technician's phone on a link that drops partway through a sync: a real server process, a real TCP link in
between that is cut mid-request, and the phone's own CLI on its SQLite file."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import httpx
import pytest
from PIL import Image

from bench._server import ServerProcess
from client_sdk.cli.main import main as phone
from client_sdk.cli.messages import MESSAGES
from sync.wire import TUS_VERSION
from tests.cutlink import CutLink
from tests.reliability.wire import INSPECTION, prepare


@pytest.fixture
def link(tmp_path: Path) -> Iterator[CutLink]:
    """Wang's site of three cameras served by a real process, reached through a link a test can cut."""
    prepare(tmp_path / "server", ["wang"], 3)
    server = ServerProcess(tmp_path / "server").start()
    cut = CutLink(server.port)
    try:
        yield cut
    finally:
        cut.close()
        server.stop()


def run(db: Path, link: CutLink, *args: str) -> tuple[int, list[str], list[str]]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = phone(["--db", str(db), "--server", link.url, *args])
    return status, out.getvalue().splitlines(), err.getvalue().splitlines()


def upload_on_phone(db: Path) -> tuple[str, int, str]:
    """The phone's one upload as its own table holds it (its URL and offset), and the phone's token."""
    phone_db = sqlite3.connect(db)
    try:
        [(url, offset)] = phone_db.execute('SELECT url, "offset" FROM uploads').fetchall()
        [(token,)] = phone_db.execute("SELECT value FROM meta WHERE key = 'token'").fetchall()
    finally:
        phone_db.close()
    return url, offset, token


def held_of_upload(db: Path, link: CutLink) -> int:
    """How many bytes of the phone's one upload the server holds (tus `HEAD`, with the phone's own token)."""
    url, _, token = upload_on_phone(db)
    answer = httpx.head(f"{link.url}{url}" if url.startswith("/") else url,
                        headers={"Authorization": f"Bearer {token}", "Tus-Resumable": TUS_VERSION})
    assert answer.status_code == 200, answer
    return int(answer.headers["upload-offset"])


def photo_to_send(link: CutLink, tmp_path: Path, *checked: str) -> Path:
    """Wang's phone signed in and synced, `checked` devices serviced, then a photo of CAM-000 queued: its database."""
    db = tmp_path / "wang.db"
    assert run(db, link, "login", "wang", "--password", "demo")[0] == 0
    assert run(db, link, "sync")[0] == 0
    jpeg = tmp_path / "cam.jpg"
    Image.new("RGB", (640, 480), (20, 120, 200)).save(jpeg, "JPEG")
    if checked:
        assert run(db, link, "check", INSPECTION, *checked, "--outcome", "serviced")[0] == 0
    assert run(db, link, "photo", INSPECTION, "CAM-000", str(jpeg))[0] == 0
    return db


def test_a_sync_cut_in_an_upload_after_its_push_went_through_says_what_was_pushed(link, tmp_path):
    # Regression (s28 phone walk, left for s29): the push went through, then the link dropped in the photo's
    # upload; `sync` printed only "cannot be reached …", and the next sync said "0 change(s) pushed": the
    # technician never read that his checks had reached the office. Now the cut sync says what it pushed.
    db = photo_to_send(link, tmp_path, "CAM-000", "CAM-001")
    link.cut(b"PATCH /files", 200)  # the headers and 200 of the photo's bytes reach the server
    status, out, err = run(db, link, "sync")
    assert (status, link.cuts) == (3, 1)
    # The cut is inside the photo's bytes: the server holds the first 200 (the next sync resumes there).
    assert held_of_upload(db, link) == 200
    # The inspection started, two checks and the photo's row: four changes the server took.
    assert out == [MESSAGES["synced"].format(pushed=4, pulled=0)]
    assert err[0].startswith(f"The server at {link.url} cannot be reached")
    assert err[0].endswith(MESSAGES["offline_uploads"].split("}")[-1].format())  # the photo is kept
    status, out, err = run(db, link, "sync")
    assert (status, err) == (0, [])
    assert out[1:] == [MESSAGES["uploaded"].format(count=1)]
    assert out[0].startswith(MESSAGES["synced"].format(pushed=0, pulled=0).split(",")[0])


def test_a_patch_cut_mid_way_leaves_the_phone_knowing_what_the_server_holds(link, tmp_path):
    # Regression (phone30, item 4): a PATCH cut mid-way left the phone's upload at the offset of before it (0),
    # though the server held the bytes that arrived; `uploads` showed 0/N until the upload finished, and a resumed
    # upload cut again showed where it had resumed, never what the server had taken since. After a cut the phone
    # now asks the server (tus HEAD) and keeps its offset.
    db = photo_to_send(link, tmp_path)
    link.cut(b"PATCH /files", 200)
    assert run(db, link, "sync")[0] == 3
    assert held_of_upload(db, link) == upload_on_phone(db)[1] == 200
    status, out, _ = run(db, link, "uploads")
    assert status == 0 and " 200/" in out[1]
    link.cut(b"PATCH /files", 300)  # resumed at 200, cut again
    assert run(db, link, "sync")[0] == 3
    assert held_of_upload(db, link) == upload_on_phone(db)[1] == 500
    status, out, _ = run(db, link, "sync")
    assert status == 0 and out[1:] == [MESSAGES["uploaded"].format(count=1)]

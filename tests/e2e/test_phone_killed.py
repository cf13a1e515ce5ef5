"""The phone's CLI killed (SIGKILL, a real process) in the middle of a photo upload and of a push, then run
again: nothing lost, nothing sent twice, the upload resumed where the server stands (tus `HEAD`).

A real server process; between it and the CLI a real TCP link slowed to a weak mobile link's rate, so the
kill lands while bytes are on the way. It lands when the phone's own database says so (an upload's first
chunk answered, a first push batch acknowledged), not after a fixed time.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
from PIL import Image

from bench._server import ROOT, ServerProcess
from tests.cutlink import CutLink
from tests.reliability.wire import INSPECTION, prepare


def cli(db: Path, url: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "client_sdk.cli", "--db", str(db), "--server", url, *args],
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def run(db: Path, url: str, *args: str) -> str:
    proc = cli(db, url, *args)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, out.decode()
    return out.decode()


def phone_db(db: Path, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=30)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


def kill_when(proc: subprocess.Popen[bytes], condition: Callable[[], bool], seconds: float = 240) -> None:
    """SIGKILL `proc` as soon as `condition` holds (polled), as a phone's OS kills an app; fails if it
    ended first."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        if condition():
            proc.send_signal(signal.SIGKILL)
            proc.communicate()  # reaps it and closes its pipe
            return
        time.sleep(0.02)
    out = proc.communicate()[0].decode() if proc.poll() is not None else ""
    raise AssertionError(f"the CLI ended before the moment to kill it came: {out}")


def server_db(data: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(data / "fieldsync.db", timeout=30)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


@contextlib.contextmanager
def served(data: Path, rate: int) -> Iterator[tuple[ServerProcess, CutLink, CutLink]]:
    """The server, a slow link to it (`rate` bytes a second) and a fast one."""
    server = ServerProcess(data).start()
    slow = CutLink(server.port, rate=rate)
    fast = CutLink(server.port)
    try:
        yield server, slow, fast
    finally:
        slow.close()
        fast.close()
        server.stop()


def test_the_cli_killed_mid_upload_resumes_at_the_servers_offset(tmp_path: Path) -> None:
    data, db = tmp_path / "server", tmp_path / "phone.db"
    prepare(data, ["wang"], 2)
    rnd = random.Random(7)
    photo = tmp_path / "cam.jpg"
    Image.frombytes("RGB", (2000, 1500), rnd.randbytes(2000 * 1500 * 3)).save(photo, "JPEG", quality=95)
    with served(data, 400_000) as (server, slow, fast):
        run(db, fast.url, "login", "wang", "--password", "demo")
        run(db, fast.url, "sync")
        run(db, fast.url, "photo", INSPECTION, "CAM-000", str(photo))
        [(sha, length)] = phone_db(db, "SELECT sha256, length FROM uploads")
        assert length > 1024 * 1024 + 200_000  # two PATCHes of 1 MiB at most
        syncing = cli(db, slow.url, "sync")
        kill_when(syncing, lambda: bool(phone_db(db, 'SELECT 1 FROM uploads WHERE "offset" > 0')))
        [(state, offset, url)] = phone_db(db, 'SELECT state, "offset", url FROM uploads')
        assert state == "uploading" and 0 < offset < length and url
        # The photo's row went before its bytes (photos upload after the push), once.
        assert phone_db(db, "SELECT state FROM outbox WHERE collection = 'photos'") == [("applied",)]

        before = fast.sent
        out = run(db, fast.url, "sync")
        assert "1 upload(s) sent" in out, out
        # Resumed: of the photo, only what the server lacked went again (headers and the rows' JSON aside).
        assert fast.sent - before < length - offset + 100_000
        assert phone_db(db, "SELECT state FROM uploads") == [("done",)]
        # One tus upload at the server, no second creation; the photo counted once and stored.
        assert server_db(data, "SELECT count(*), max(status) FROM uploads WHERE sha256 = ?", sha) == [(1, "complete")]
        lin = httpx.post(f"{server.url}/auth/token", json={"username": "lin", "password": "demo"}).json()["token"]
        blob = httpx.get(f"{server.url}/blobs/{sha}", headers={"Authorization": f"Bearer {lin}"})
        assert blob.status_code == 200 and len(blob.content) == length
        assert server_db(data, "SELECT count(*) FROM rows WHERE collection = 'photos'") == [(1,)]


def test_the_cli_killed_mid_push_loses_nothing_and_sends_nothing_twice(tmp_path: Path) -> None:
    data, db = tmp_path / "server", tmp_path / "phone.db"
    prepare(data, ["wang"], 700)
    with served(data, 60_000) as (_, slow, fast):
        run(db, fast.url, "login", "wang", "--password", "demo")
        run(db, fast.url, "sync")
        run(db, fast.url, "check", INSPECTION, "CAM-000..CAM-699", "--outcome", "serviced", "--note",
            "after the kill too")
        [(recorded,)] = phone_db(db, "SELECT count(*) FROM outbox WHERE state = 'pending'")
        assert recorded == 701  # the inspection started, and 700 checks
        syncing = cli(db, slow.url, "sync")
        kill_when(syncing, lambda: bool(phone_db(db, "SELECT 1 FROM outbox WHERE state = 'applied'")))
        [(left,)] = phone_db(db, "SELECT count(*) FROM outbox WHERE state = 'pending'")
        assert 0 < left < recorded  # killed between the batches

        run(db, fast.url, "sync")
        assert phone_db(db, "SELECT state, count(*) FROM outbox GROUP BY state") == [("applied", recorded)]
        # Every check once at the server, each from its one change: no seq taken twice as a new change.
        checks = server_db(data, "SELECT count(*) FROM rows WHERE collection = 'device_checks'"
                                 " AND json_extract(fields, '$.note') = 'after the kill too'")
        assert checks == [(700,)]
        assert server_db(data, "SELECT max(acked_seq) FROM clients WHERE acked_seq > 0") == [(recorded,)]

"""`fieldsync backup` while a real server is writing, and `fieldsync restore` with a new server_epoch."""

from __future__ import annotations

import json
import random
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench._server import ServerProcess
from server.cli import main
from server.http.problems import EPOCH_HEADER
from server.storage.sqlite.backup import BackupError, backup, restore
from sync import hlc
from tests.reliability.wire import Threads, Wire, full_pull, integrity, photo_spec, prepare

TECHNICIANS = ["chen", "wang"]


class PhotoPusher:
    """Pushes batches of new photos and remembers the version each push committed at."""

    def __init__(self, url: str, username: str) -> None:
        self.wire = Wire(url, username)
        self.clock = hlc.Clock(self.wire.client_id)
        self.rng = random.Random(username)
        self.pushes: list[tuple[int, int, list[str]]] = []  # (version, last seq, photo ids)

    def run(self, stop: threading.Event) -> None:
        seq = 1
        while not stop.is_set():
            specs = []
            for i in range(self.rng.randint(1, 30)):
                stamp = hlc.parse(self.clock.now())
                spec = photo_spec(self.rng, f"{self.wire.username}/{self.wire.client_id}", seq + i, stamp.ms, None)
                spec.counter = stamp.counter
                specs.append(spec)
            body = self.wire.push(self.wire.changes(seq, specs))
            seq += len(specs)
            self.pushes.append((body["version"], seq - 1, [s.id for s in specs]))
        self.wire.close()


def db_rows(db_path: Path, collection: str) -> set[str]:
    conn = sqlite3.connect(db_path)
    try:
        return {r[0] for r in conn.execute("SELECT id FROM rows WHERE collection = ?", [collection])}
    finally:
        conn.close()


def acked_seqs(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        return dict(conn.execute("SELECT id, acked_seq FROM clients"))
    finally:
        conn.close()


def test_backup_while_writing_and_restore(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data, dest = tmp_path / "server", tmp_path / "backups" / "monday"
    prepare(data, TECHNICIANS, 3)
    (data / "blobs" / "ab").mkdir(parents=True)
    (data / "blobs" / "ab" / "abcd").write_bytes(b"photo bytes")
    server = ServerProcess(data).start()
    try:
        lin = Wire(server.url, "lin")
        old_epoch = lin.pull("0", limit=1)["server_epoch"]
        lin.close()
        pushers = [PhotoPusher(server.url, name) for name in TECHNICIANS]
        stop = threading.Event()
        threads = Threads()
        for pusher in pushers:
            threads.start(lambda p=pusher: p.run(stop), pusher.wire.username)
        while sum(len(p.pushes) for p in pushers) < 20:
            threads.raise_first()
            time.sleep(0.01)
        assert main(["backup", "--data", str(data), "--to", str(dest)]) == 0
        pushes_at_backup = sum(len(p.pushes) for p in pushers)
        while sum(len(p.pushes) for p in pushers) < pushes_at_backup + 20:
            threads.raise_first()
            time.sleep(0.01)
        stop.set()
        threads.join()

        # A running server holds its data directory: no restore under it, even with --force.
        with pytest.raises(BackupError, match="in use by a running server"):
            restore(dest, data, force=True)
    finally:
        server.stop()

    assert sorted(p.name for p in dest.parent.iterdir()) == ["monday"]  # no partial directory left
    info = json.loads((dest / "backup.json").read_text())
    assert integrity(dest / "fieldsync.db") == "ok"
    assert (dest / "blobs" / "ab" / "abcd").read_bytes() == b"photo bytes"
    # The backup is one snapshot: exactly the pushes committed at or below its version.
    before = [push for p in pushers for push in p.pushes if push[0] <= info["version"]]
    after = [push for p in pushers for push in p.pushes if push[0] > info["version"]]
    assert before and after
    assert db_rows(dest / "fieldsync.db", "photos") == {i for push in before for i in push[2]}
    acked = acked_seqs(dest / "fieldsync.db")
    for p in pushers:
        assert acked[p.wire.client_id] == max(seq for version, seq, _ in p.pushes if version <= info["version"])

    assert main(["restore", "--from", str(dest), "--data", str(data)]) == 2
    assert "pass --force" in capsys.readouterr().err
    assert len(db_rows(data / "fieldsync.db", "photos")) == sum(len(push[2]) for p in pushers for push in p.pushes)

    (data / "blobs" / "cd").mkdir()
    (data / "blobs" / "cd" / "cdef").write_bytes(b"uploaded after the backup")
    assert main(["restore", "--from", str(dest), "--data", str(data), "--force"]) == 0
    out = capsys.readouterr().out
    replaced = next(data.glob("replaced-*"))
    assert str(replaced) in out
    # The database that was replaced is kept aside, whole.
    assert len(db_rows(replaced / "fieldsync.db", "photos")) == sum(
        len(push[2]) for p in pushers for push in p.pushes)
    assert integrity(data / "fieldsync.db") == "ok"
    assert (data / "blobs" / "ab" / "abcd").read_bytes() == b"photo bytes"
    assert (data / "blobs" / "cd" / "cdef").exists()  # content-addressed: kept for resent rows

    server = ServerProcess(data).start()
    try:
        lin = Wire(server.url, "lin")
        resp = lin.http.get("/sync/pull", headers=lin.headers, params={"cursor": "0", "limit": 1})
        new_epoch = resp.json()["server_epoch"]
        rows = full_pull(server.url)
        lin.close()
    finally:
        server.stop()
    assert new_epoch != old_epoch
    assert new_epoch in out
    assert resp.headers[EPOCH_HEADER] == new_epoch
    photos = {key[1] for key in rows if key[0] == "photos"}
    assert photos == {i for push in before for i in push[2]}
    assert max(row["version"] for row in rows.values()) == info["version"]


def test_backup_into_an_existing_directory_is_refused(tmp_path: Path) -> None:
    data, dest = tmp_path / "server", tmp_path / "backup"
    prepare(data, TECHNICIANS, 1)
    dest.mkdir()
    (dest / "something").write_text("mine")
    with pytest.raises(BackupError, match="already exists"):
        backup(data, dest)
    assert sorted(p.name for p in dest.iterdir()) == ["something"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup", "server"]


def test_restore_refuses_what_is_not_a_backup(tmp_path: Path) -> None:
    data = tmp_path / "server"
    prepare(data, TECHNICIANS, 1)
    before = (data / "fieldsync.db").read_bytes()
    with pytest.raises(BackupError, match="not a fieldsync backup"):
        restore(tmp_path / "nothing", data, force=True)
    assert (data / "fieldsync.db").read_bytes() == before


def epoch_of(db_path: Path) -> Any:
    conn = sqlite3.connect(db_path)
    try:
        return conn.execute("SELECT value FROM meta WHERE key = 'server_epoch'").fetchone()[0]
    finally:
        conn.close()


def test_every_restore_gives_a_new_epoch(tmp_path: Path) -> None:
    data, dest = tmp_path / "server", tmp_path / "backup"
    prepare(data, TECHNICIANS, 1)
    original = epoch_of(data / "fieldsync.db")
    backup(data, dest)
    assert epoch_of(dest / "fieldsync.db") == original
    epochs = {original}
    for _ in range(2):
        result = restore(dest, data, force=True)
        assert epoch_of(data / "fieldsync.db") == result.server_epoch
        epochs.add(result.server_epoch)
    assert len(epochs) == 3
    assert epoch_of(dest / "fieldsync.db") == original  # the backup itself is never changed

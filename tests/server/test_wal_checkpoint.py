"""The WAL is checkpointed by a thread of its own, outside the writer lock (issue 15, session 31).

SQLite's automatic checkpoint ran inside the push whose commit crossed `wal_autocheckpoint`, and
every push waiting for the writer waited for it. These hold what the thread must do instead: copy
the committed frames into the database file without a push asking, let the WAL start over, and
lose nothing a commit acknowledged.
"""

from __future__ import annotations

import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

from server.storage.sqlite.connection import Database


def _eventually(done: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 60  # a loaded machine; the test asserts no time
    while not done():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.01)


def _wal(path: Path) -> tuple[int, int]:
    """(frames in the WAL, frames of it copied into the database file), read from the wal-index
    (`-shm`) without checkpointing anything: its header's `mxFrame` at byte 16 and the checkpoint
    info's `nBackfill` at byte 96, native byte order (https://www.sqlite.org/walformat.html)."""
    head = Path(f"{path}-shm").read_bytes()[:136]
    return int.from_bytes(head[16:20], sys.byteorder), int.from_bytes(head[96:100], sys.byteorder)


def _commit(db: Database, rows: int, start: int = 0) -> None:
    with db.write() as conn:
        conn.executemany("INSERT INTO t(id, body) VALUES (?, ?)", [(i, "x" * 1000) for i in range(start, start + rows)])


def _open(path: Path) -> Database:
    db = Database(path, readers=1)
    with db.write() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS t(id INTEGER PRIMARY KEY, body TEXT)")
    return db


def test_committed_frames_reach_the_database_file_without_a_push_running_the_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "fieldsync.db"
    db = _open(path)
    try:
        _commit(db, 200)  # about 60 pages: far below the writer's own wal_autocheckpoint (20,000)
        frames = _wal(path)[0]
        assert frames > 0
        # The writer's automatic checkpoint does not run at this size: the thread copies every frame.
        _eventually(lambda: _wal(path) == (frames, frames), "the commit copied into the database file")
    finally:
        db.close()


def test_the_wal_starts_over_once_a_checkpoint_copied_all_of_it(tmp_path: Path) -> None:
    path = tmp_path / "fieldsync.db"
    db = _open(path)
    try:
        _commit(db, 2000)
        big = _wal(path)[0]
        _eventually(lambda: _wal(path) == (big, big), "the big commit copied into the database file")
        _commit(db, 1, start=2000)  # the writer begins the WAL again: it holds this commit's frames alone
        frames, _ = _wal(path)
        assert 0 < frames < big / 10
    finally:
        db.close()


def test_every_commit_survives_checkpoints_running_beside_the_writer_and_readers(tmp_path: Path) -> None:
    """Commits, readers' snapshots and the thread's checkpoints at once; then the file reopened."""
    path = tmp_path / "fieldsync.db"
    db = _open(path)
    seen: list[int] = []
    stop = threading.Event()

    def read() -> None:
        while not stop.is_set():
            with db.read() as conn:
                seen.append(conn.execute("SELECT count(*) FROM t").fetchone()[0])

    reader = threading.Thread(target=read)
    reader.start()
    try:
        for i in range(150):
            _commit(db, 20, start=i * 20)
            if i % 50 == 49:
                done = db.checkpointer.done
                _eventually(lambda done=done: db.checkpointer.done > done, "a checkpoint during the commits")
    finally:
        stop.set()
        reader.join()
        db.close()
    assert seen == sorted(seen) and all(n % 20 == 0 for n in seen)  # whole commits, never one going back
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("SELECT count(*), count(DISTINCT id) FROM t").fetchone() == (3000, 3000)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()


def test_closing_stops_the_checkpointer_and_a_late_nudge_starts_nothing(tmp_path: Path) -> None:
    db = _open(tmp_path / "fieldsync.db")
    _commit(db, 10)
    db.close()
    thread = db.checkpointer._thread
    assert thread is not None and not thread.is_alive()
    db.checkpointer.nudge()
    assert db.checkpointer._thread is thread and not thread.is_alive()

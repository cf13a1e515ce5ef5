"""The phone database: its migrations, and a database written before they existed."""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from client_sdk import Client
from client_sdk.migrations import migrations
from client_sdk.replica import Replica, TransactionLost
from tests.client_sdk.support import supervisor_rows

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
PHOTO = "e75a600b8f1fd0cb801d217fb01ffb8c8c79f74a17d464c08644322fecd7ae19"
FAULT_CHECK = "670d28d2-7e29-50c6-b041-ee3c92c5c80b"
PHOTO_ROW = "d2165cfc-22bf-5e8d-ad21-a3c66e73addf"


def _old_phone(folder: Path) -> Path:
    """The database of `fixtures/phone-v1.sql` (made by the app before migrations), with its blob files."""
    folder.mkdir(parents=True)
    path = folder / "phone.db"
    conn = sqlite3.connect(path)
    conn.executescript((FIXTURES / "phone-v1.sql").read_text().replace("{phone_dir}", str(folder)))
    conn.close()
    shutil.copytree(FIXTURES / "phone-v1.blobs", folder / "phone.db.blobs")
    return path


def _applied(path: Path) -> list[str]:
    conn = sqlite3.connect(path)
    try:
        return [name for (name,) in conn.execute("SELECT name FROM _sqlite_migrations ORDER BY id")]
    finally:
        conn.close()


def test_a_new_phone_database_records_its_migrations_once(server, tmp_path):
    path = tmp_path / "phone.db"
    Client(path, server.http).close()
    Client(path, server.http).close()  # opened again: nothing applied twice
    assert _applied(path) == [m.name for m in migrations.pending(sqlite_utils.Database(memory=True))]


def test_a_phone_written_before_migrations_keeps_its_outbox_and_upload_queue(server, site, tmp_path):
    path = _old_phone(tmp_path / "old")
    phone = Client(path, server.http)
    try:
        # Upgraded: the schema it had is recorded, and the tables of service terms (issue 12) and of
        # the fee book and duty rules (issue 13) added, empty; the upload queue copied to take `dropped`;
        # the outbox's `sent_seq` added (NULL: each change's seq is the one the server knows), and `told_ms`.
        assert _applied(path) == ["m001_phone_v1", "m002_service_terms", "m003_reference_data",
                                  "m004_outbox_labels", "m005_dropped_uploads", "m006_outbox_sent_seq",
                                  "m007_outbox_told", "m008_outbox_label_tz"]
        assert phone.db.terms_fetched() == {} and phone.db.reference("fee_schedules") is None
        assert [(e["seq"], e["collection"], e["id"]) for e in phone.pending()] == [
            (3, "device_checks", FAULT_CHECK), (4, "photos", PHOTO_ROW)]
        assert [(u["sha256"], u["state"]) for u in phone.uploads()] == [(PHOTO, "queued")]
        assert phone.username == "wang" and phone.db.meta("token") and phone.acked_seq == 2
        assert phone.get("device_checks", FAULT_CHECK)["fields"]["note"] == "lens cracked"

        # This server never saw that phone: the technician signs in again, and what waited goes.
        phone.login("wang", "demo")
        report = phone.sync()
        assert report.uploaded == 1 and phone.pending() == []
        assert [(u["sha256"], u["state"]) for u in phone.uploads()] == [(PHOTO, "done")]
        rows = {(r["collection"], r["id"]): r for r in supervisor_rows(server.http)}
        check = rows[("device_checks", FAULT_CHECK)]["fields"]
        assert (check["outcome"], check["note"]) == ("fault", "lens cracked")
        assert rows[("photos", PHOTO_ROW)]["fields"]["sha256"] == PHOTO
        # The outbox was renumbered for the new enrolment; each change keeps its own result.
        held = {e.id: e.state for e in phone.db.entries()}
        assert (held[FAULT_CHECK], held[PHOTO_ROW]) == ("applied", "applied")
    finally:
        phone.close()


def test_a_joined_block_that_fails_leaves_nothing_in_the_outer_transaction(tmp_path):
    # Regression (s27-phone6 item 2): `Replica.transaction` inside an open one joined it with no SAVEPOINT, so a
    # joined block's error, caught inside the outer block, left the block's first writes in the outer
    # transaction, and they were committed with it: half a block on disk.

    db = Replica(tmp_path / "phone.db")
    with db.transaction():
        db.set_meta_tx(outer="before")
        try:
            with db.transaction():
                db.set_meta_tx(half="written")
                raise ValueError("the block's second step fails")
        except ValueError:
            pass
        with db.transaction():  # a joined block that succeeds is kept, nested ones too
            db.set_meta_tx(whole="written")
            with db.transaction():
                db.set_meta_tx(nested="written")
        db.set_meta_tx(outer="after")
    db.close()

    reopened = Replica(tmp_path / "phone.db")
    try:
        assert reopened.meta("half") is None
        assert (reopened.meta("outer"), reopened.meta("whole"), reopened.meta("nested")) == ("after", "written",
                                                                                              "written")
        assert not reopened.conn.in_transaction
    finally:
        reopened.close()


def _full_after(folder: Path, pages: int) -> Replica:
    """A phone database whose disk fills `pages` pages from now: SQLite's own SQLITE_FULL (`max_page_count`)."""
    db = Replica(folder / "phone.db")
    count = db.conn.execute("PRAGMA page_count").fetchone()[0]
    db.conn.execute(f"PRAGMA max_page_count = {count + pages}")
    return db


def _fill(db: Replica) -> None:
    for i in range(1000):
        db.conn.execute("INSERT INTO meta (key, value) VALUES (?, ?)", [f"filler_{i}", "x" * 3000])


def test_a_full_disk_under_a_joined_block_keeps_nothing_of_the_outer_transaction(tmp_path):
    # Regression (s27-fixphone item 5): SQLITE_FULL rolls back the whole transaction. A joined block's error,
    # caught inside the outer block, left the caller writing outside any transaction (each write committed on
    # its own: half the outer block on disk), and the outer COMMIT then failed with "no transaction is active".
    # Now a new transaction is opened at once, and the outer block rolls it back and says the transaction was lost.
    db = _full_after(tmp_path, 3)
    with pytest.raises(TransactionLost), db.transaction():
        db.set_meta_tx(outer="before")
        with pytest.raises(sqlite3.OperationalError) as caught, db.transaction():
            _fill(db)
        assert caught.value.sqlite_errorname == "SQLITE_FULL"  # the block's own error, as it was
        db.set_meta_tx(outer="after")  # the caller goes on
    assert not db.conn.in_transaction
    db.close()
    reopened = Replica(tmp_path / "phone.db")
    try:
        assert reopened.meta("outer") is None  # nothing of the outer block, not its second half either
        with reopened.transaction():  # and the phone's next transaction works as ever
            reopened.set_meta_tx(next="written")
        assert reopened.meta("next") == "written"
    finally:
        reopened.close()


def test_a_full_disk_in_a_transaction_raises_its_own_error_not_the_rollbacks(tmp_path):
    # Regression (s27-fixphone item 5): the block's ROLLBACK after SQLITE_FULL (which had rolled the transaction
    # back already) failed with "cannot rollback - no transaction is active", which hid the disk being full.
    db = _full_after(tmp_path, 3)
    with pytest.raises(sqlite3.OperationalError) as caught, db.transaction():
        db.set_meta_tx(outer="before")
        _fill(db)
    assert caught.value.sqlite_errorname == "SQLITE_FULL", caught.value
    assert not db.conn.in_transaction and db.meta("outer") is None
    db.close()

"""The phone's prepared files (`<db>.blobs/`) against the real server: freed once nothing may send them again,
kept while something may, and sent again after a server restore."""

from __future__ import annotations

import os
import time

import pytest

from client_sdk import Client
from tests.client_sdk.test_media import STROKES, _photo, _signed_in
from tests.conftest import Session

DAY_MS = 86_400_000


def _files(client: Client) -> set[str]:
    return {p.name for p in client.upload_queue.dir.iterdir()} if client.upload_queue.dir.is_dir() else set()


def _age(client: Client) -> None:
    """Date the prepared files as written 31 days ago, as they would be by then (`clean` reads file dates)."""
    month_ago = time.time() - 31 * 86_400
    for path in client.upload_queue.dir.iterdir():
        os.utime(path, (month_ago, month_ago))


def test_uploaded_files_are_freed_once_no_held_change_names_them(server, site, new_client, tmp_path):
    # Regression (issue s26-phone2, finding 1): the prepared files of finished uploads were never deleted, so a
    # technician's phone kept every photo and signature it ever took. They now go once the server has the bytes
    # and the outbox no longer holds a change naming them (30 days after its answer, the window a restore resends).
    now = [int(time.time() * 1000)]
    phone = _signed_in(new_client, server, wall=lambda: now[0])
    phone.add_photo(site["inspection"], site["cam1"], _photo(tmp_path / "a.jpg", (800, 600)))
    phone.record_check(site["inspection"], site["cam1"], "serviced")
    phone.record_check(site["inspection"], site["cam2"], "serviced")
    phone.sign(site["inspection"], "Ms Li", strokes=STROKES)
    phone.sync()
    done = {u["sha256"] for u in phone.uploads() if u["state"] == "done"}
    assert len(done) == 3 and _files(phone) == done  # a photo, a sheet, a signature image
    assert {p["fields"]["blob"] for p in phone.rows("photos")} == {"stored"}

    # A photo taken later, not synced: its upload waits.
    now[0] += 31 * DAY_MS
    later = phone.add_photo(site["inspection"], site["cam2"], _photo(tmp_path / "b.jpg", (640, 480)))
    [waiting] = phone.uploads(waiting_only=True)
    _age(phone)  # every file on disk is old now, the waiting one too
    phone.outbox.prune()
    assert phone.upload_queue.free() == 3
    assert phone.upload_queue.clean() == 3
    assert _files(phone) == {waiting["sha256"]}  # the waiting one stays, old as it is
    assert [u["sha256"] for u in phone.uploads()] == [waiting["sha256"]]

    # Synced, it is done, and stays while its change is held.
    phone.sync()
    assert [u["state"] for u in phone.uploads()] == ["done"] and _files(phone) == {waiting["sha256"]}
    assert phone.get("photos", later)["fields"]["blob"] == "stored"
    # What the server holds is untouched by the phone's freeing.
    wang = Session(server.http, "wang")
    for sha in done:
        assert wang.http.get(f"/blobs/{sha}", headers=wang.headers).status_code == 200


def test_a_file_whose_change_waits_or_is_held_is_kept(server, site, new_client, tmp_path):
    now = [int(time.time() * 1000)]
    phone = _signed_in(new_client, server, wall=lambda: now[0])
    phone.add_photo(site["inspection"], site["cam1"], _photo(tmp_path / "a.jpg", (800, 600)))
    phone.sync()
    [done] = phone.uploads()
    assert done["state"] == "done"
    _age(phone)
    # Uploaded and applied, but answered a day ago: a restore would send it again, with its bytes.
    now[0] += DAY_MS
    phone.sync()
    assert _files(phone) == {done["sha256"]} and [u["state"] for u in phone.uploads()] == ["done"]
    # The same bytes named by a change still to be sent (the photo filed under the other camera): kept past
    # the first change's 30 days.
    phone.add_photo(site["inspection"], site["cam2"], _photo(tmp_path / "a.jpg", (800, 600)))
    now[0] += 31 * DAY_MS
    _age(phone)
    phone.outbox.prune()
    assert phone.upload_queue.free() == 0 and phone.upload_queue.clean() == 0
    assert _files(phone) == {done["sha256"]}


def test_a_failed_upload_is_forgotten_once_no_held_change_names_it(server, site, new_client, tmp_path):
    # Regression (s26-phone3 item 4): a `failed` upload (here its prepared file was removed before it went) was
    # kept in the queue for ever, listed by `uploads` long after the outbox forgot the photo naming it.
    now = [int(time.time() * 1000)]
    phone = _signed_in(new_client, server, wall=lambda: now[0])
    phone.add_photo(site["inspection"], site["cam1"], _photo(tmp_path / "a.jpg", (800, 600)))
    [queued] = phone.uploads()
    os.unlink(queued["path"])
    phone.sync()
    assert [(u["state"], u["error"]) for u in phone.uploads()] == [("failed", "the prepared file is gone")]
    # While the photo's change is held (answered a day ago), the failure stays listed for the technician.
    now[0] += DAY_MS
    phone.sync()
    assert [u["state"] for u in phone.uploads()] == ["failed"]
    now[0] += 30 * DAY_MS
    phone.sync()  # prunes the change, then frees what no held change names
    assert phone.uploads() == [] and phone.outbox.db.entries() == []


@pytest.mark.one_sqlite_server("backs up and restores the SQLite file (tests/client_sdk/support.Server)")
def test_uploads_go_again_after_a_server_restore(server, site, new_client, tmp_path):
    # Regression (issue s26-phone2, finding 1b): a server restored from a backup taken before an upload forgot
    # that the user had uploaded those bytes. The phone resent the photo's row but not its bytes (its upload was
    # `done`), and the photo stayed `missing` at the server for good. Its uploads now go again after a restore.
    phone = _signed_in(new_client, server)
    backup = server.backup(tmp_path / "backup.db")
    photo = phone.add_photo(site["inspection"], site["cam1"], _photo(tmp_path / "a.jpg", (800, 600)))
    phone.sync()
    [done] = phone.uploads()
    assert done["state"] == "done"
    phone.close()
    http = server.restore(backup)
    phone = Client(tmp_path / "phone.db", http)
    report = phone.sync()
    assert report.uploaded == 1
    assert [u["state"] for u in phone.uploads()] == ["done"]
    lin = Session(http, "lin")
    assert lin.http.get(f"/blobs/{done['sha256']}", headers=lin.headers).status_code == 200
    phone.sync()
    assert phone.get("photos", photo)["fields"]["blob"] == "stored"
    phone.close()


@pytest.mark.one_sqlite_server("backs up and restores the SQLite file (tests/client_sdk/support.Server)")
def test_a_freed_file_is_told_after_a_restore(server, site, new_client, tmp_path):
    """Past the outbox's 30 days the phone no longer holds the change nor its bytes; a restore from a backup
    older than that loses them, as docs/operations.md says. What the phone holds nothing of, it does not claim."""
    now = [int(time.time() * 1000)]
    phone = _signed_in(new_client, server, wall=lambda: now[0])
    backup = server.backup(tmp_path / "backup.db")
    phone.add_photo(site["inspection"], site["cam1"], _photo(tmp_path / "a.jpg", (800, 600)))
    phone.sync()
    now[0] += 31 * DAY_MS
    _age(phone)
    phone.sync()
    assert phone.uploads() == [] and _files(phone) == set()
    phone.close()
    http = server.restore(backup)
    phone = Client(tmp_path / "phone.db", http, wall=lambda: now[0])
    phone.sync()
    assert phone.uploads() == [] and phone.pending() == [] and phone.rows("photos") == []
    phone.close()


@pytest.mark.one_sqlite_server("restores")
def test_a_restore_without_a_new_epoch_sends_the_photos_bytes_again(server, site, new_client, tmp_path):
    # Regression (session 26, the final review): a server restored without a new epoch (a database put
    # back by hand, a lagging replica) shows itself by a seq_gap below acked_seq. The phone resent the
    # photo's row but not its bytes: the upload stayed `done`, the server's photo `missing`, and 30 days
    # later the phone freed its file, so the photo was gone on both sides. Now its upload goes again.
    phone = _signed_in(new_client, server)
    backup = server.backup(tmp_path / "backup.db")
    phone.add_photo(site["inspection"], site["cam1"], _photo(tmp_path / "a.jpg", (800, 600)))
    phone.sync()
    [done] = phone.uploads()
    assert done["state"] == "done"
    phone.close()
    http = server.restore(backup, new_epoch=False)
    phone = Client(tmp_path / "phone.db", http)
    phone.write("devices", site["cam2"], {"location": "Gate 9"})  # any later change: its push meets the gap
    phone.sync()
    assert [u["state"] for u in phone.uploads()] == ["done"]
    lin = Session(http, "lin")
    assert lin.http.get(f"/blobs/{done['sha256']}", headers=lin.headers).status_code == 200
    phone.close()

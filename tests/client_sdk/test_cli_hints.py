"""What the technician's CLI says where a plain line misled him: an inspection list short because the first
sync was cut, and the same photo added twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from client_sdk import Client
from client_sdk.cli import MESSAGES, main
from client_sdk.cli.messages import _text

PHOTO = Path(__file__).resolve().parents[2] / "fixtures" / "photos" / "IMG_2041.jpg"


class _Cut(Exception):
    pass


def test_inspections_after_a_first_sync_cut_mid_snapshot_says_the_list_is_incomplete(http, site, tmp_path, capsys):
    """Regression (s27 customer): a first sync cut after its first page left `inspections` saying
    "No inspections." on a phone whose inspection had simply not arrived yet."""
    db = tmp_path / "phone.db"
    phone = Client(db, http, page_size=1)
    try:
        phone.login("wang", "demo")

        def cut(_progress: object) -> None:
            raise _Cut  # the signal lost after the first page of the snapshot

        phone.on_progress = cut
        with pytest.raises(_Cut):
            phone.pull()
        assert phone.my_inspections(include_all=True) == []
    finally:
        phone.close()
    assert main(["--db", str(db), "inspections"], http=http) == 0
    out = capsys.readouterr().out
    assert MESSAGES["no_inspections"] not in out and MESSAGES["sync_incomplete"] in out
    assert main(["--db", str(db), "sync"], http=http) == 0
    assert main(["--db", str(db), "inspections"], http=http) == 0
    out = capsys.readouterr().out
    assert site["inspection"] in out and MESSAGES["sync_incomplete"] not in out


def test_inspections_before_any_sync_says_to_sync(http, site, tmp_path, capsys):
    db = str(tmp_path / "phone.db")
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "inspections"], http=http) == 0
    assert MESSAGES["never_synced"] in capsys.readouterr().out


def test_the_same_photo_added_twice_says_its_row_is_updated_not_queued_again(http, site, tmp_path, capsys):
    """Regression (s27 customer): adding the same picture of the same device again said "queued" a second
    time, as though a second photo would upload; it is the same row (its id is of the bytes), updated."""
    db, insp = str(tmp_path / "phone.db"), site["inspection"]
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert main(["--db", db, "photo", insp, "CAM-001", str(PHOTO)], http=http) == 0
    assert "Photo of CAM-001 queued" in capsys.readouterr().out
    assert main(["--db", db, "photo", insp, "CAM-001", str(PHOTO), "--stage", "before", "--caption", "镜头"],
                http=http) == 0
    out = capsys.readouterr().out
    phone = Client(db, http)
    try:
        [row] = phone.rows("photos")
        seq = phone.pending()[-1]["seq"]
        waiting = phone.uploads(waiting_only=True)
    finally:
        phone.close()
    assert out.strip() == _text("photo_again", device="CAM-001", stage="before", seq=seq,
                                caption=_text("photo_caption", caption="镜头"))
    assert (row["fields"]["stage"], row["fields"]["caption"]) == ("before", "镜头")
    assert len([u for u in waiting if u["kind"] == "image"]) == 1

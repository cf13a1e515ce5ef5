"""Photos, signatures and the upload queue of the client SDK, against the real server."""

from __future__ import annotations

import base64
import io
import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from PIL import ExifTags, Image

from bench._server import ROOT
from client_sdk import Client
from client_sdk.cli import main
from client_sdk.media import render_strokes, shrink_photo
from sync import errors as E
from sync import sheet
from sync.messages import label
from sync.schema import device_check_id
from tests.client_sdk.support import cut_client
from tests.conftest import Session

STROKES = [[(10, 40), (30, 10), (50, 40), (70, 10)], [(90, 25), (140, 30)], [(150, 45)]]


def _photo(path: Path, size: tuple[int, int] = (4000, 3000), noise: bool = False) -> Path:
    """A camera JPEG: EXIF orientation 6 (turn 90° clockwise to view), capture time and GPS.

    The stored pixels have a red block at the top left; viewed upright it is at the top right.
    """
    if noise:
        rnd = random.Random(4)
        image = Image.frombytes("RGB", size, rnd.randbytes(size[0] * size[1] * 3))
    else:
        image = Image.new("RGB", size, (40, 90, 160))
    image.paste((255, 0, 0), (0, 0, size[0] // 4, size[1] // 4))
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = 6
    exif[ExifTags.Base.Make] = "PhoneCam"
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "2026:11:20 10:15:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    gps.update({ExifTags.GPS.GPSLatitudeRef: "N", ExifTags.GPS.GPSLatitude: (31.0, 14.0, 2.5),
                ExifTags.GPS.GPSLongitudeRef: "E", ExifTags.GPS.GPSLongitude: (121.0, 28.0, 30.0)})
    image.save(path, "JPEG", quality=95, exif=exif)
    return path


def _signed_in(new_client, server, **options) -> Client:
    client = new_client(server.http, **options)
    client.sync()
    return client


def test_a_photo_is_shrunk_turned_upright_and_keeps_its_capture_time_and_position(server, site, new_client, tmp_path):
    client = _signed_in(new_client, server)
    photo_id = client.add_photo(site["inspection"], site["cam1"], _photo(tmp_path / "cam.jpg"), stage="before",
                                caption="机柜门")
    row = client.get("photos", photo_id)["fields"]
    [queued] = client.uploads()
    data = Path(queued["path"]).read_bytes()
    assert queued["state"] == "queued" and queued["kind"] == "image" and queued["sha256"] == row["sha256"]
    assert row["bytes"] == len(data) == queued["length"] and row["content_type"] == "image/jpeg"
    assert row["taken_at"] == "2026-11-20T02:15:00.000Z"  # 10:15 at the site (Asia/Shanghai)
    assert row["stage"] == "before" and row["caption"] == "机柜门" and row["device_id"] == site["cam1"]

    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG" and image.size == (1500, 2000)  # upright: portrait, long edge 2,000
    assert image.getpixel((1450, 40))[0] > 200 and image.getpixel((40, 40))[0] < 100  # red block top right
    exif = image.getexif()
    assert ExifTags.Base.Orientation not in exif and ExifTags.Base.Make not in exif
    assert exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] == "2026:11:20 10:15:00"
    gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    assert gps[ExifTags.GPS.GPSLatitudeRef] == "N" and tuple(map(float, gps[ExifTags.GPS.GPSLatitude])) == (
        31.0, 14.0, 2.5)
    assert tuple(map(float, gps[ExifTags.GPS.GPSLongitude])) == (121.0, 28.0, 30.0)


def test_a_photo_with_broken_exif_keeps_its_pixels(tmp_path):
    image = Image.new("RGB", (300, 200), "white")
    exif = Image.Exif()
    exif.get_ifd(ExifTags.IFD.Exif)[ExifTags.Base.DateTimeOriginal] = "not a time"
    buf = io.BytesIO()
    image.save(buf, "JPEG", exif=exif)
    photo = shrink_photo(buf.getvalue())
    assert (photo.width, photo.height, photo.taken_at) == (300, 200, None)
    with pytest.raises(E.InvalidRequest):
        shrink_photo(b"GIF89a not a photo")


def test_uploads_survive_a_restart_and_resume_after_a_cut(server, site, new_client, tmp_path):
    http, transport = cut_client(server.http)
    client = _signed_in(new_client, server)
    client.close()
    client = Client(tmp_path / "phone.db", http)
    client.chunk_size = 64 * 1024
    client.add_photo(site["inspection"], site["cam2"], _photo(tmp_path / "noisy.jpg", (1200, 900), noise=True))
    [queued] = client.uploads()
    assert queued["length"] > 4 * client.chunk_size
    transport.count = 0
    transport.cut_after = {4}  # push, POST /files, PATCH, PATCH (stored at the server, answer lost)
    with pytest.raises(httpx.ReadError):
        client.sync()
    [cut] = client.uploads()
    # What the server holds, asked after the cut (tus HEAD): the second PATCH's bytes too, its answer lost.
    assert cut["state"] == "uploading" and cut["offset"] == 2 * client.chunk_size
    client.close()

    # The app restarts: the queue is in its database, and the server says where to go on.
    client = Client(tmp_path / "phone.db", http)
    client.chunk_size = 64 * 1024
    before = len(transport.paths)
    report = client.sync()
    assert report.uploaded == 1
    resumed = transport.paths[before:]
    assert resumed[0].startswith("HEAD /files/")
    assert "POST /files" not in resumed
    assert transport.paths.count("POST /files") == 1
    [done] = client.uploads()
    assert done["state"] == "done" and done["offset"] == done["length"] and client.uploads(waiting_only=True) == []
    wang = Session(server.http, "wang")
    blob = wang.http.get(f"/blobs/{done['sha256']}", headers=wang.headers)
    assert blob.status_code == 200 and blob.content == Path(done["path"]).read_bytes()
    [photo] = client.rows("photos")
    assert photo["fields"]["blob"] == "stored"
    client.close()


def test_bytes_the_user_already_uploaded_are_born_complete(server, site, new_client, tmp_path):
    photo = _photo(tmp_path / "cam.jpg", (800, 600))
    phone = _signed_in(new_client, server)
    phone.add_photo(site["inspection"], site["cam1"], photo)
    assert phone.sync().uploaded == 1
    http, transport = cut_client(server.http)
    tablet = new_client(http, name="tablet")  # the same user's second client
    tablet.sync()
    tablet.add_photo(site["inspection"], site["cam2"], photo)
    transport.paths[:] = []
    assert tablet.sync().uploaded == 1
    assert "POST /files" in transport.paths and not any(p.startswith("PATCH") for p in transport.paths)
    assert [u["state"] for u in tablet.uploads()] == ["done"]
    assert {p["fields"]["blob"] for p in tablet.rows("photos")} == {"stored"}


def test_round_trip_from_strokes_to_a_sealed_inspection(server, site, new_client):
    http, transport = cut_client(server.http)
    client = new_client(http)
    client.sync()
    insp = site["inspection"]
    client.record_check(insp, site["cam1"], "serviced", items={"lens_cleaned": True})
    client.record_check(insp, site["cam2"], "fault", note="镜头起雾，已更换")
    client.write("inspections", insp, {"status": "completed"})

    shown = client.sheet(insp)
    assert [d["code"] for d in shown["devices"]] == ["CAM-001", "CAM-002"]
    assert shown["devices"][1]["check"]["note"] == "镜头起雾，已更换" and shown["checks"] == 2
    sig_id = client.sign(insp, "陈女士", strokes=STROKES)
    signature = client.get("signatures", sig_id)["fields"]
    assert signature["sheet_sha256"] == shown["sheet_sha256"]
    assert [u["kind"] for u in client.uploads()] == ["sheet", "image"]

    transport.count, transport.paths[:] = 0, []
    report = client.sync()
    # (The client's own `completed` may be superseded: the server completes the inspection
    # itself when the last check arrives.)
    assert report.uploaded == 2 and [r.status for r in report.results] in (
        ["applied"] * 4, ["applied", "applied", "superseded", "applied"])
    # The sheet and the customer's signature image are stored before the signature is pushed
    # (issue 9, finding 17: the server seals nothing on a customer's signature without its image).
    push = transport.paths.index("POST /sync/push")
    assert transport.paths[:push].count("POST /files") == 2 and transport.paths[push:].count("POST /files") == 0

    assert client.get("signatures", sig_id)["fields"]["verification"] == "valid"
    assert client.get("inspections", insp)["fields"]["status"] == "signed"
    for cam in ("cam1", "cam2"):
        assert client.get("device_checks", device_check_id(insp, site[cam]))["fields"]["sealed_by"] == sig_id
    lin = Session(server.http, "lin")
    [info] = lin.http.get(f"/api/inspections/{insp}", headers=lin.headers).json()["signatures"]
    assert (info["verification"], info["compared"], info["sealed"], info["sheet_stored"]) == (
        "valid", "sheet", 2, True)
    image = lin.http.get(f"/blobs/{signature['image_sha256']}", headers=lin.headers)
    assert image.status_code == 200 and image.content == render_strokes(STROKES)
    drawn = Image.open(io.BytesIO(image.content))
    assert drawn.format == "PNG" and drawn.getpixel((30, 10)) == 0 and drawn.getpixel((5, 5)) == 255
    stored_sheet = lin.http.get(f"/blobs/{signature['sheet_sha256']}", headers=lin.headers)
    assert sheet.parse(stored_sheet.content)[0] == insp

    # Sealed: the client refuses a change, as the server would.
    with pytest.raises(E.Forbidden):
        client.record_check(insp, site["cam1"], "skipped")


def test_signing_refuses_a_sheet_the_server_would_not_accept(server, site, new_client, tmp_path):
    client = _signed_in(new_client, server)
    insp = site["inspection"]
    with pytest.raises(E.InvalidRequest, match="no check"):
        client.sign(insp, "陈女士", strokes=STROKES)
    client.write("device_checks", device_check_id(insp, site["cam1"]),
                 {"inspection_id": insp, "device_id": site["cam1"], "item.lens_cleaned": True})
    with pytest.raises(E.InvalidRequest, match="no outcome"):
        client.sign(insp, "陈女士", strokes=STROKES)
    client.record_check(insp, site["cam1"], "serviced")
    with pytest.raises(E.InvalidRequest, match="not a PNG"):
        client.sign(insp, "陈女士", png=b"\x89PNG broken")
    with pytest.raises(E.InvalidRequest):
        client.sign(insp, "陈女士", strokes=STROKES, png=render_strokes(STROKES))
    with pytest.raises(E.InvalidRequest):
        client.sign(insp, " ", strokes=STROKES)
    client.sync()

    # Another phone's customer seals CAM-001; this phone changed it meanwhile and then pulled.
    other = new_client(server.http, name="other")
    other.sync()
    other.sign(insp, "陈女士", strokes=STROKES)
    other.sync()
    client.record_check(insp, site["cam1"], "serviced", note="changed after the other sheet")
    client.pull()
    with pytest.raises(E.InvalidRequest, match="sealed") as refused:
        client.sign(insp, "陈女士", strokes=STROKES)
    assert refused.value.extra["reason"] == "sealed"
    assert client.uploads(waiting_only=True) == [] and len(client.rows("signatures")) == 1


def test_uploads_names_each_upload_by_its_sheet_and_device_or_signer(server, site, tmp_path, capsys):
    # Regression (s29 phone walk): `uploads` listed seven photos of a quarter's PM as content types and SHA-256s; a
    # technician told that one failed could not tell which device to photograph again. Each line now names it.
    db, http = str(tmp_path / "cli.db"), server.http
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert main(["--db", db, "check", site["inspection"], "CAM-001", "--outcome", "serviced"], http=http) == 0
    assert main(["--db", db, "photo", site["inspection"], "CAM-001", str(_photo(tmp_path / "a.jpg", (80, 60)))],
                http=http) == 0
    assert main(["--db", db, "photo", site["inspection"], "-", str(_photo(tmp_path / "b.jpg", (60, 80)))],
                http=http) == 0
    strokes = tmp_path / "strokes.json"
    strokes.write_text(json.dumps(STROKES))
    assert main(["--db", db, "sign", site["inspection"], "--name", "陈女士", "--strokes", str(strokes)],
                http=http) == 0
    phone = Client(db, http)
    sheet = phone.get("inspections", site["inspection"])["fields"].get("sheet_no") or site["inspection"]
    phone.close()
    capsys.readouterr()
    assert main(["--db", db, "uploads"], http=http) == 0
    ends = sorted(line.split("  ")[-1] for line in capsys.readouterr().out.splitlines()[1:])
    assert ends == sorted([f"{sheet} photo of CAM-001", f"{sheet} photo of the site", f"{sheet} signature of 陈女士",
                           f"{sheet} sheet"])


def test_photo_sign_and_uploads_on_the_command_line(server, site, tmp_path, capsys):
    db, http = str(tmp_path / "cli.db"), server.http
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    photo = _photo(tmp_path / "cam.jpg", (800, 600))
    assert main(["--db", db, "check", site["inspection"], "CAM-001", "--outcome", "serviced"], http=http) == 0
    assert main(["--db", db, "check", site["inspection"], "CAM-002", "--outcome", "skipped"], http=http) == 0
    assert main(["--db", db, "photo", site["inspection"], "CAM-001", str(photo), "--caption", "after cleaning"],
                http=http) == 0
    queued = capsys.readouterr().out
    assert "Photo of CAM-001 queued" in queued
    # Regression (s28 repair): the capture time read as the wire's UTC (taken 2026-11-20T02:15:00.000Z); the
    # camera's 10:15 at the site is what the technician saw on his phone.
    assert "taken 2026-11-20 10:15:00 " in queued and "02:15" not in queued, queued
    assert main(["--db", db, "sheet", site["inspection"]], http=http) == 0
    out = capsys.readouterr().out
    assert "CAM-001" in out and label("outcome", "serviced") in out and label("outcome", "skipped") in out
    strokes = tmp_path / "strokes.json"
    strokes.write_text(json.dumps(STROKES))
    assert main(["--db", db, "sign", site["inspection"], "--name", "陈女士", "--strokes", str(strokes)],
                http=http) == 0
    assert "Signed by 陈女士" in capsys.readouterr().out
    assert main(["--db", db, "uploads"], http=http) == 0
    out = capsys.readouterr().out
    assert "3 upload(s) waiting" in out and "sheet" in out and "image/png" in out and "image/jpeg" in out
    assert main(["--db", db, "sync"], http=http) == 0
    assert "3 upload(s) sent" in capsys.readouterr().out
    assert main(["--db", db, "uploads"], http=http) == 0
    assert "0 upload(s) waiting" in capsys.readouterr().out
    assert main(["--db", db, "sheet", site["inspection"]], http=http) == 0
    assert label("inspection_status", "signed") in capsys.readouterr().out
    assert main(["--db", db, "sign", site["inspection"], "--name", "陈女士"], http=http) == 2
    assert "--png or --strokes" in capsys.readouterr().err


def _stored(http: httpx.Client, user: str, sha: str, length: int) -> bool:
    """Whether the server holds these bytes from `user`: a tus creation by him is then born complete."""
    caller = Session(http, user)  # type: ignore[arg-type]
    resp = http.post("/files", headers={**caller.headers, "Tus-Resumable": "1.0.0", "Upload-Length": str(length),
                     "Upload-Metadata": f"sha256 {base64.b64encode(sha.encode()).decode()},"
                                        f"content_type {base64.b64encode(b'image/jpeg').decode()}"})
    assert resp.status_code == 201
    return int(resp.headers["Upload-Offset"]) == length


def test_the_photo_of_a_refused_change_is_not_uploaded(http, site, store, tmp_path, capsys):
    # Regression (s25-phone3, finding 2): a technician taken off the site while offline recorded a photo
    # there; the server refused its row, yet the phone uploaded the bytes ("1 upload(s) sent"), which spent
    # his mobile data on a blob no row points at, kept at the server until `gc` 168 h later.
    db = str(tmp_path / "cli.db")
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    source = _photo(tmp_path / "cam.jpg", (800, 600))
    assert main(["--db", db, "photo", site["inspection"], "CAM-001", str(source)], http=http) == 0
    store.remove_member(site["site"], "wang")
    capsys.readouterr()
    assert main(["--db", db, "sync"], http=http) == 0
    out = capsys.readouterr().out
    assert "upload(s) sent" not in out and "upload(s) still waiting" not in out
    assert "1 upload(s) not sent: the server refused the changes that name them" in out
    with Client(db, http) as phone:
        [upload] = phone.uploads()
        [problem] = phone.problems()
    assert problem["collection"] == "photos" and problem["status"] == "rejected"
    assert upload["state"] == "dropped" and upload["error"] == problem["reason"]
    # Regression (session 25, final read): the first version deleted the photo's file here. A refused change
    # is sent again after a server restore or a seq_gap, and may then be applied: its bytes were gone.
    assert Path(upload["path"]).exists()
    assert not _stored(http, "wang", upload["sha256"], upload["length"])
    assert main(["--db", db, "uploads"], http=http) == 0
    out = capsys.readouterr().out
    assert "0 upload(s) waiting." in out
    assert (f"  dropped   image image/jpeg{0:>16}/{upload['length']:<9} {upload['sha256']}  (not sent: your change of"
            " a photo was refused: you are no longer a member of Test park; ask your supervisor)\n") in out
    with Client(db, http) as phone:  # the refused change to be sent again (as a restore's resend leaves it)
        phone.db.conn.execute("UPDATE outbox SET state = 'pending' WHERE collection = 'photos'")
        assert phone.upload_queue.drop_refused() == []
        [upload] = phone.uploads()
        assert upload["state"] == "queued" and upload["error"] is None and Path(upload["path"]).exists()
        phone.db.conn.execute("UPDATE outbox SET state = 'rejected' WHERE collection = 'photos'")
        assert phone.upload_queue.drop_refused() == [upload["sha256"]]
    with Client(db, http) as phone:  # the same photo recorded again (at a site he still has) is queued again
        with phone.upload_queue.adding([(shrink_photo(source.read_bytes()).data, "image/jpeg", "image")],
                                       phone.wall()):
            pass
        [upload] = phone.uploads()
    assert upload["state"] == "queued" and Path(upload["path"]).exists()


@pytest.mark.parametrize("collection", ["photos", "signatures"])
def test_an_upload_is_queued_with_the_change_naming_it_or_not_at_all(server, site, new_client, tmp_path, collection):
    # Regression (s26-phone, item 2): add_photo (and sign) queued the upload in one transaction and wrote the
    # change in another: a failure between them left an upload that no change names, sent to the server for
    # nothing, or one dropped before its change came. A real constraint now fails the change's insert.
    client = _signed_in(new_client, server)
    client.db.conn.execute(
        f"CREATE TRIGGER no_room BEFORE INSERT ON outbox WHEN NEW.collection = '{collection}'"
        " BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END")
    with pytest.raises(sqlite3.IntegrityError, match="disk is full"):
        if collection == "photos":
            client.add_photo(site["inspection"], site["cam1"], _photo(tmp_path / "cam.jpg", (800, 600)))
        else:
            client.record_check(site["inspection"], site["cam1"], "serviced")
            client.record_check(site["inspection"], site["cam2"], "serviced")
            client.sign(site["inspection"], "Ms Li", strokes=STROKES)
    assert client.uploads() == [] and client.outbox.pending_ids(collection) == set()
    kept = sorted(client.upload_queue.dir.iterdir())
    assert kept  # the files were written first: a file without rows is harmless
    assert client.upload_queue.clean() == 0  # young: it may be another process's upload under way
    hour_ago = time.time() - 3_601
    for path in kept:
        os.utime(path, (hour_ago, hour_ago))
    client.db.conn.execute("DROP TRIGGER no_room")
    client.sync()
    assert list(client.upload_queue.dir.iterdir()) == []
    # Recorded again, the same bytes are written anew and go with their change.
    if collection == "photos":
        client.add_photo(site["inspection"], site["cam1"], _photo(tmp_path / "cam.jpg", (800, 600)))
        assert [u["state"] for u in client.uploads()] == ["queued"] and client.outbox.pending_ids("photos")


_PEAK = """
import sys
from pathlib import Path
from client_sdk.media import shrink_photo

def peak_kib():  # this process's own high-water RSS (ru_maxrss keeps the forking parent's across exec)
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))

data = Path(sys.argv[1]).read_bytes()
before = peak_kib()
photo = shrink_photo(data)
print(peak_kib() - before, photo.width, photo.height)
"""


def test_a_12_mp_camera_photo_is_decoded_near_the_size_it_is_shrunk_to(tmp_path):
    # Regression (s29 review of phone29, finding 5): `photo` decoded a 12 MP camera JPEG at full size (36 MB of
    # pixels, turned upright in a copy as large) only to resize it to a long edge of 2,000 px: 0.9-1.7 s a photo
    # on a phone. It is now decoded at the JPEG's half scale, the size it is kept at. Measured in a fresh process:
    # its peak memory grows by less than one full-size decode.
    photo = _photo(tmp_path / "cam.jpg")  # 4000 × 3000, orientation 6
    ran = subprocess.run([sys.executable, "-c", _PEAK, str(photo)], capture_output=True, text=True, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=120)
    assert ran.returncode == 0, ran.stderr
    grown_kib, width, height = map(int, ran.stdout.split())
    assert (width, height) == (1500, 2000)  # the long edge kept, upright
    assert grown_kib * 1024 < 4000 * 3000 * 3, grown_kib

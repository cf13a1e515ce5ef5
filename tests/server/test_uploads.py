"""Resumable uploads (tus), image checks, EXIF, thumbnails, and photos `stored`/`missing` (issue 4).

Images are made with Pillow here; bad input is real bytes. Each bad upload is
checked to leave no readable blob and, after cleanup, no temporary file.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import random
import socket
import struct
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import ExifTags, Image, TiffImagePlugin

from bench import _tus as tus
from bench._server import ServerProcess
from server.services import Store
from sync import sheet as sheets
from tests.conftest import OTHER_SITE, Session
from tests.reliability.wire import INSPECTION, prepare

# -- images made here --------------------------------------------------------------------------------


def exif(orientation: int | None = None, taken: str | None = None, offset: str | None = None,
         gps: tuple[float, float] | None = None) -> Image.Exif:
    tags = Image.Exif()
    if orientation is not None:
        tags[0x0112] = orientation
    if taken is not None:
        tags.get_ifd(ExifTags.IFD.Exif)[36867] = taken
    if offset is not None:
        tags.get_ifd(ExifTags.IFD.Exif)[36881] = offset
    if gps is not None:
        def dms(value: float) -> tuple[float, float, float]:
            d, rest = divmod(abs(value) * 3600, 3600)
            m, s = divmod(rest, 60)
            return (float(d), float(m), round(s, 4))

        lat, lon = gps
        tags.get_ifd(ExifTags.IFD.GPSInfo).update(
            {1: "N" if lat >= 0 else "S", 2: dms(lat), 3: "E" if lon >= 0 else "W", 4: dms(lon)}
        )
    return tags


def jpeg(size: tuple[int, int] = (64, 48), tags: Image.Exif | bytes | None = None, noise: bool = False,
         seed: int = 0) -> bytes:
    """A JPEG whose left half is red and right half blue (so a rotation shows), or noise."""
    if noise:
        img = Image.frombytes("RGB", size, random.Random(seed).randbytes(size[0] * size[1] * 3))
    else:
        img = Image.new("RGB", size, (0, 0, 255))
        img.paste((255, 0, 0), (0, 0, size[0] // 2, size[1]))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=95, **({"exif": tags} if tags is not None else {}))
    return out.getvalue()


def png(size: tuple[int, int] = (40, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", size, (0, 128, 0, 128)).save(out, "PNG")
    return out.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A valid 1-bit PNG of any size in a few kilobytes: every row is zeros, which deflate well."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    row = b"\x00" * (1 + (width + 7) // 8)
    idat = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def gif() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (16, 16), "red").save(out, "GIF")
    return out.getvalue()


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# -- helpers ---------------------------------------------------------------------------------------------------


def uploads_dir(store: Store) -> Path:
    return store.settings.data_dir / "uploads"


def photo(session: Session, site: dict[str, str], data: bytes, device: str | None = "cam1", **fields: Any) -> str:
    """Push a photos row for these bytes; its id."""
    row_id = str(uuid.uuid4())
    body = {"inspection_id": site["inspection"], "sha256": sha(data), "content_type": "image/jpeg",
            "bytes": len(data), "stage": "before", "caption": "cabinet", **fields}
    if device:
        body["device_id"] = site[device]
    result = session.push([session.change("photos", row_id, body)]).json()["results"][0]
    assert result["status"] == "applied", result
    return row_id


def blob_of(row_of: Any, row_id: str) -> str:
    return str(row_of("photos", row_id)["fields"]["blob"])


def left_behind(store: Store) -> list[str]:
    """Temporary files after cleanup (cleanup of the far future: everything expired)."""
    from server.domains.media.uploads import Uploads

    Uploads(store, store.blobs, store.settings).clean_uploads(store.now_ms() + 10**9)
    return sorted(p.name for p in uploads_dir(store).iterdir())


# -- tus: creation, offsets, resumption ---------------------------------------------------------------


def test_options_advertises_tus_without_a_token(http):
    r = http.options("/files")
    assert r.status_code == 204
    assert r.headers["tus-resumable"] == "1.0.0" and r.headers["tus-version"] == "1.0.0"
    assert r.headers["tus-extension"] == "creation"
    assert int(r.headers["tus-max-size"]) == 64 * 1024 * 1024
    assert r.headers["fieldsync-server-epoch"]


def test_upload_in_chunks_with_head_between(http, wang, store, site, row_of):
    data = jpeg((300, 200), noise=True)
    created = tus.create(http, wang.headers, data, "image/jpeg", filename="cam1.jpg")
    assert created.status_code == 201, created.text
    assert created.headers["upload-offset"] == "0" and created.headers["tus-resumable"] == "1.0.0"
    location = created.headers["location"]
    assert location.startswith("/files/")
    offset = 0
    for size in (1000, 7, len(data)):
        r = tus.patch(http, wang.headers, location, offset, data[offset:offset + size])
        assert r.status_code == 204, r.text
        offset = min(offset + size, len(data))
        assert int(r.headers["upload-offset"]) == offset and r.headers["tus-resumable"] == "1.0.0"
        h = tus.head(http, wang.headers, location)
        assert h.status_code == 200
        assert int(h.headers["upload-offset"]) == offset and int(h.headers["upload-length"]) == len(data)
        assert h.headers["cache-control"] == "no-store"
    assert store.blobs.exists(sha(data))
    assert store.blobs.path(sha(data)).read_bytes() == data
    assert left_behind(store) == []
    # Readable once a row in the caller's scope says stored.
    row_id = photo(wang, site, data)
    assert blob_of(row_of, row_id) == "stored"
    got = http.get(f"/blobs/{sha(data)}", headers=wang.headers)
    assert got.status_code == 200 and got.content == data and got.headers["content-type"] == "image/jpeg"


def test_creation_answers_in_headers_with_no_body(http, wang):
    """`POST /files` answered its 201 with a JSON body, `null`: the OpenAPI description says no body, and
    api.md's `curl -si` example printed `null` glued to the next prompt. Then an empty body announced
    as `application/json`."""
    created = tus.create(http, wang.headers, jpeg(), "image/jpeg")
    assert created.status_code == 201 and created.content == b""
    assert created.headers["content-length"] == "0"
    # Nor does it say `application/json` of its empty body (a client parsing by the type failed on it).
    assert "content-type" not in created.headers


def test_born_complete_for_the_same_user_only(http, wang, zhao, lin, store):
    data = jpeg(seed=1)
    assert tus.upload(http, wang.headers, data).status_code == 204
    again = tus.create(http, wang.headers, data, "image/jpeg")
    assert again.status_code == 201 and int(again.headers["upload-offset"]) == len(data)
    # The same user from another phone: the user has uploaded these bytes.
    other_phone = Session(http, "wang")
    assert int(tus.create(http, other_phone.headers, data, "image/jpeg").headers["upload-offset"]) == len(data)
    # Anyone else must send the bytes, supervisor included: a hash proves nothing.
    for session in (zhao, lin):
        theirs = tus.create(http, session.headers, data, "image/jpeg")
        assert theirs.status_code == 201 and theirs.headers["upload-offset"] == "0"


def test_wrong_offset_is_409_and_changes_nothing(http, wang, store):
    data = jpeg(seed=2)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    assert tus.patch(http, wang.headers, location, 0, data[:100]).status_code == 204
    for offset in (0, 99, 101, len(data)):
        r = tus.patch(http, wang.headers, location, offset, data[offset:offset + 10])
        assert r.status_code == 409 and r.json()["code"] == "offset_mismatch" and r.json()["offset"] == 100
        assert r.headers["tus-resumable"] == "1.0.0"
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == "100"
    assert tus.patch(http, wang.headers, location, 100, data[100:]).status_code == 204
    assert store.blobs.path(sha(data)).read_bytes() == data


def test_body_past_upload_length_is_413_and_keeps_nothing_of_it(http, wang, store):
    data = jpeg(seed=3)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    assert tus.patch(http, wang.headers, location, 0, data[:50]).status_code == 204
    r = tus.patch(http, wang.headers, location, 50, data[50:] + b"trailing bytes")
    assert r.status_code == 413 and r.json()["code"] == "upload_exceeds_length"
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == "50"
    assert (uploads_dir(store) / f"{location.rsplit('/', 1)[1]}.part").stat().st_size == 50
    # Without Content-Length (a stream), the same: nothing of the body stays.
    streamed = http.patch(location, headers={**wang.headers, **tus.PATCH, "Upload-Offset": "50"},
                          content=iter([data[50:], b"more"]))
    assert streamed.status_code == 413 and streamed.json()["code"] == "upload_exceeds_length"
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == "50"
    assert not store.blobs.exists(sha(data))
    assert tus.patch(http, wang.headers, location, 50, data[50:]).status_code == 204
    assert store.blobs.path(sha(data)).read_bytes() == data


def test_over_tus_max_size_is_413(http, wang, store):
    r = http.post("/files", headers={**wang.headers, **tus.TUS, "Upload-Length": str(64 * 1024 * 1024 + 1),
                                     "Upload-Metadata": tus.metadata("a" * 64, "image/jpeg")})
    assert r.status_code == 413 and r.json()["code"] == "upload_too_large"
    assert r.json()["max_size"] == 64 * 1024 * 1024
    assert left_behind(store) == []


@pytest.mark.parametrize(("headers", "status", "code"), [
    ({"Upload-Metadata": tus.metadata("a" * 64, "image/jpeg")}, 400, "invalid_request"),  # no Upload-Length
    ({"Upload-Length": "-1", "Upload-Metadata": tus.metadata("a" * 64, "image/jpeg")}, 400, "invalid_request"),
    ({"Upload-Length": "0", "Upload-Metadata": tus.metadata("a" * 64, "image/jpeg")}, 400, "invalid_request"),
    ({"Upload-Length": "10"}, 400, "invalid_request"),  # no metadata
    ({"Upload-Length": "10", "Upload-Metadata": tus.metadata("abc", "image/jpeg")}, 400, "invalid_request"),
    ({"Upload-Length": "10", "Upload-Metadata": "sha256 !!!"}, 400, "invalid_request"),
    ({"Upload-Length": "10", "Upload-Metadata": tus.metadata("a" * 64, "image/gif")}, 415, "unsupported_media_type"),
])
def test_creation_refuses_bad_headers(http, wang, headers, status, code):
    r = http.post("/files", headers={**wang.headers, **tus.TUS, **headers})
    assert r.status_code == status and r.json()["code"] == code, r.text
    assert r.headers["tus-resumable"] == "1.0.0"


def test_tus_version_and_patch_content_type_are_checked(http, wang):
    data = jpeg(seed=4)
    r = http.post("/files", headers={**wang.headers, "Upload-Length": str(len(data)),
                                     "Upload-Metadata": tus.metadata(sha(data), "image/jpeg")})
    assert r.status_code == 412 and r.json()["code"] == "tus_version_unsupported"
    assert r.headers["tus-version"] == "1.0.0"
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    wrong = http.patch(location, headers={**wang.headers, **tus.TUS, "Upload-Offset": "0",
                                          "Content-Type": "application/octet-stream"}, content=data)
    assert wrong.status_code == 415
    assert http.post("/files", headers=tus.TUS).status_code == 401


def test_a_client_holds_a_limited_number_of_unfinished_uploads(http, wang, store):
    limit = store.settings.max_open_uploads_per_client
    photos = [jpeg(seed=100 + i) for i in range(limit + 1)]
    locations = [tus.create(http, wang.headers, data, "image/jpeg").headers["location"] for data in photos[:limit]]
    refused = tus.create(http, wang.headers, photos[limit], "image/jpeg")
    assert refused.status_code == 429 and refused.json()["code"] == "too_many_requests", refused.text
    # Finishing one makes room.
    assert tus.patch(http, wang.headers, locations[0], 0, photos[0]).status_code == 204
    assert tus.create(http, wang.headers, photos[limit], "image/jpeg").status_code == 201


def test_another_users_upload_is_404(http, wang, zhao):
    data = jpeg(seed=5)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    assert tus.head(http, zhao.headers, location).status_code == 404
    r = tus.patch(http, zhao.headers, location, 0, data)
    assert r.status_code == 404 and r.json()["code"] == "not_found"
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == "0"
    assert tus.head(http, wang.headers, "/files/" + uuid.uuid4().hex).status_code == 404



@pytest.mark.parametrize("upload_id", ["a" * 300, "é" * 200])
def test_a_patch_to_an_upload_id_too_long_for_a_file_name_is_404_not_500(http, wang, store, upload_id):
    # Regression (s28 apisweep): a PATCH looked for the id's lock file before anything else read the id, and an
    # id over the file system's 255 bytes a name raised OSError (File name too long): a 500 for any client.
    before = sorted(p.name for p in uploads_dir(store).iterdir())
    r = tus.patch(http, wang.headers, f"/files/{upload_id}", 0, b"abc")
    assert (r.status_code, r.json()["code"]) == (404, "not_found"), r.text
    assert tus.head(http, wang.headers, f"/files/{upload_id}").status_code == 404
    assert sorted(p.name for p in uploads_dir(store).iterdir()) == before

def test_abandoned_partial_upload_is_cleaned(http, wang, store):
    from server.domains.media.uploads import Uploads

    data = jpeg(seed=6)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    assert tus.patch(http, wang.headers, location, 0, data[:100]).status_code == 204
    uploads = Uploads(store, store.blobs, store.settings)
    assert uploads.clean_uploads() == 0  # young: kept
    assert tus.head(http, wang.headers, location).headers["upload-offset"] == "100"
    later = store.now_ms() + store.settings.upload_expiry_seconds * 1000 + 1
    assert uploads.clean_uploads(later) == 1
    assert list(uploads_dir(store).iterdir()) == []
    assert tus.head(http, wang.headers, location).status_code == 404


def test_purge_command_cleans_abandoned_uploads(tmp_path, capsys):
    from server.cli import main
    from server.domains.media.uploads import Uploads
    from server.settings import Settings

    data_dir = tmp_path / "data"
    store = Store(Settings(data_dir=data_dir, demo=True, upload_expiry_seconds=0))
    try:
        store.create_user("wang", "Wang", "technician", "demo")
        with store.write() as db:
            db.execute("INSERT INTO uploads(id, user_id, client_id, sha256, content_type, length, received, status,"
                       " created_ms, updated_ms) VALUES ('u1', 'x', 'c', ?, 'image/jpeg', 10, 5, 'open', 0, 0)",
                       ["a" * 64])
        part = Uploads(store, store.blobs, store.settings).dir / "u1.part"
        part.write_bytes(b"12345")
        os.utime(part, (0, 0))  # last touched in 1970
    finally:
        store.close()
    assert main(["purge", "--data", str(data_dir)]) == 0
    assert "gave up 1 unfinished uploads" in capsys.readouterr().out
    assert list((data_dir / "uploads").iterdir()) == []


# -- bad content: a clear 4xx, no blob, no temporary file ---------------------------------------------

GOOD = jpeg((120, 90), noise=True, seed=7)
DEVICE = str(uuid.uuid5(uuid.NAMESPACE_URL, "cam1"))  # the site fixture's first camera


def _made_up_sheet() -> bytes:
    """A canonical sheet of a real inspection's id listing devices that exist nowhere."""
    from sync.schema import inspection_id

    fake = {str(uuid.uuid5(uuid.NAMESPACE_URL, f"fake{i}")): {"outcome": "serviced"} for i in range(3)}
    return sheets.sheet_bytes(inspection_id(OTHER_SITE, "2026-Q4"), fake)


@pytest.mark.parametrize(("data", "declared", "content_type", "code"), [
    pytest.param(GOOD, sha(GOOD[::-1]), "image/jpeg", "digest_mismatch", id="hash-mismatch"),
    pytest.param(GOOD[: len(GOOD) * 2 // 3], None, "image/jpeg", "invalid_image", id="truncated-jpeg"),
    pytest.param(GOOD[:600] + random.Random(1).randbytes(len(GOOD) - 600), None, "image/jpeg", "invalid_image",
                 id="corrupt-bytes"),
    pytest.param(gif(), None, "image/jpeg", "invalid_image", id="gif-as-jpeg"),
    pytest.param(b"not a photo at all\n" * 40, None, "image/jpeg", "invalid_image", id="text-named-jpg"),
    pytest.param(GOOD, None, "image/png", "invalid_image", id="jpeg-declared-png"),
    pytest.param(huge_png(20000, 20000), None, "image/png", "image_too_large", id="20000x20000-png"),
    pytest.param(huge_png(8000, 8000), None, "image/png", "image_too_large", id="64MP-over-the-setting"),
    # Regression (issue 9, finding 7): a PNG decodes whole; 7000×7000 ones starved the server's threads.
    pytest.param(huge_png(4500, 4500), None, "image/png", "image_too_large", id="20MP-png-over-the-png-budget"),
    pytest.param(b'{"inspection": "x", "checks": ', None, "application/json", "invalid_sheet", id="broken-sheet"),
    pytest.param(b'[1, 2, 3]', None, "application/json", "invalid_sheet", id="json-not-a-sheet"),
    # Regression (issue 9, finding 8): any JSON object with the two keys was stored as a sheet.
    pytest.param(b'{"checks":{},"inspection":"x","pad":"' + b"A" * 100_000 + b'"}', None, "application/json",
                 "invalid_sheet", id="padded-sheet"),
    pytest.param(b'{"checks": {}, "inspection": "x"}', None, "application/json", "invalid_sheet",
                 id="sheet-not-canonical"),
    # A visit's contact sheet (issue 12) is bounded and canonical like a maintenance sheet.
    pytest.param(b'{"fields": {}, "lines": {}, "visit": "x"}', None, "application/json", "invalid_sheet",
                 id="contact-sheet-not-canonical"),
    pytest.param(b'{"fields":{"work_done":["a"]},"lines":{},"visit":"x"}', None, "application/json",
                 "invalid_sheet", id="contact-sheet-value-not-a-scalar"),
    pytest.param(b'{"fields":{},"lines":{"not-a-line":{}},"visit":"x"}', None, "application/json",
                 "invalid_sheet", id="contact-sheet-line-not-an-id"),
    pytest.param(b'{"checks":{"' + DEVICE.encode() + b'":{"outcome":{"a":1}}},"inspection":"x"}', None,
                 "application/json", "invalid_sheet", id="sheet-value-not-a-scalar"),
    pytest.param(b'{"checks":{"' + DEVICE.encode() + b'":{"n":1.5}},"inspection":"x"}', None,
                 "application/json", "invalid_sheet", id="sheet-float"),
    # Regression (issue 9, finding 11): a deeply nested sheet left the upload open, with a traceback.
    pytest.param(b'{"checks":{"d":{"a":' + b"[" * 100_000 + b"]" * 100_000 + b'}},"inspection":"x"}', None,
                 "application/json", "invalid_sheet", id="deeply-nested-sheet"),
    # Regression (issue 9, finding 3): a sheet of 70,000 made-up checks was stored, then verified by
    # every signature naming it; a sheet lists only devices of its inspection's site.
    pytest.param(_made_up_sheet(), None, "application/json", "invalid_sheet", id="made-up-devices"),
])
def test_bad_upload_is_refused_and_leaves_nothing(http, wang, store, data, declared, content_type, code, caplog):
    declared = declared or sha(data)
    created = tus.create(http, wang.headers, data, content_type, sha256=declared, filename="photo.jpg")
    assert created.status_code == 201
    location = created.headers["location"]
    half = len(data) // 2
    assert tus.patch(http, wang.headers, location, 0, data[:half]).status_code == 204
    r = tus.patch(http, wang.headers, location, half, data[half:])
    assert r.status_code in (409, 413, 422) and r.json()["code"] == code, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["tus-resumable"] == "1.0.0" and r.headers["fieldsync-server-epoch"]
    assert tus.head(http, wang.headers, location).status_code == 410
    again = tus.patch(http, wang.headers, location, len(data), b"")
    assert again.status_code == 410 and again.json()["code"] == "upload_failed"
    assert not store.blobs.exists(declared) and not store.blobs.exists(sha(data))
    assert list(uploads_dir(store).iterdir()) == []
    assert left_behind(store) == []
    # Not born complete either: nothing was ever stored for this user.
    assert tus.create(http, wang.headers, data, content_type, sha256=declared).headers["upload-offset"] == "0"
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")]  # no traceback


def test_a_sheet_over_the_sheet_limit_is_refused_before_a_byte_is_sent(http, wang, store):
    # Regression (issue 9, finding 8): a 60 MB sheet upload took the worker to 1.6 GB.
    r = http.post("/files", headers={**wang.headers, **tus.TUS, "Upload-Length": str(60 * 1024 * 1024),
                                     "Upload-Metadata": tus.metadata("a" * 64, "application/json")})
    assert r.status_code == 413 and r.json()["code"] == "upload_too_large", r.text
    assert r.json()["limit"] == sheets.MAX_SHEET_BYTES == 2 * 1024 * 1024
    assert left_behind(store) == []


def test_a_sheet_lists_only_devices_of_its_inspections_site_among_the_uploaders(http, wang, zhao, store, stores, site):
    # Regression (issue 9, finding 3): the site's own devices, of a site the uploader is a member of.
    other_device = str(uuid.uuid4())
    store.write_server_changes([
        ("sites", OTHER_SITE, {"name": "Other park"}, False),
        ("devices", other_device, {"site_id": OTHER_SITE, "system": "video", "kind": "dome_camera",
                                   "code": "CAM-900"}, False),
    ])
    mixed = sheets.sheet_bytes(site["inspection"], {site["cam1"]: {"outcome": "serviced"},
                                                     other_device: {"outcome": "serviced"}})
    r = tus.upload(http, wang.headers, mixed, "application/json")
    assert r.status_code == 422 and r.json()["code"] == "invalid_sheet", r.text
    assert other_device in r.json()["detail"]
    # zhao's sheet of wang's inspection and wang's site's devices: not one of zhao's sites.
    own = sheets.sheet_bytes(site["inspection"], {site["cam1"]: {"outcome": "serviced"}})
    r = tus.upload(http, zhao.headers, own, "application/json")
    assert r.status_code == 422 and r.json()["code"] == "invalid_sheet", r.text
    assert not store.blobs.exists(sha(mixed)) and not store.blobs.exists(sha(own))
    # The same sheet from a member of the site is stored, and parsed once: the upload fills the cache.
    assert tus.upload(http, wang.headers, own, "application/json").status_code == 204
    # Regression (issue 16, two servers): the cache is the process's that took the upload, not always `store`'s.
    parsed = (True, sheets.Sheet(site["inspection"], {site["cam1"]: {"outcome": "serviced"}}))
    assert parsed in [each.sheets.get(sha(own)) for each in stores]


def test_a_sheet_of_an_inspection_created_offline_is_taken_for_its_sites_devices(http, wang, store, site):
    # An inspection a technician created offline is not at the server when its sheet goes up.
    from sync.schema import inspection_id

    offline = sheets.sheet_bytes(inspection_id(site["site"], "2027-Q1"), {site["cam2"]: {"outcome": "skipped"}})
    assert tus.upload(http, wang.headers, offline, "application/json").status_code == 204


def test_a_sheet_snapshot_is_stored(http, wang, store, site):
    data = sheets.sheet_bytes(site["inspection"], {site["cam1"]: {"outcome": "serviced"}})
    assert tus.upload(http, wang.headers, data, "application/json").status_code == 204
    assert store.blobs.path(sha(data)).read_bytes() == data


# -- EXIF ---------------------------------------------------------------------------------------------------


def _blob_row(store: Store, digest: str) -> dict[str, Any]:
    with store.read() as db:
        cursor = db.execute("SELECT * FROM blobs WHERE sha256 = ?", [digest])
        names = [d[0] for d in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


def test_exif_capture_time_orientation_and_gps_are_stored(http, wang, store):
    data = jpeg((80, 40), exif(orientation=6, taken="2026:11:20 10:15:00", offset="+08:00",
                               gps=(31.2304, 121.4737)))
    assert tus.upload(http, wang.headers, data).status_code == 204
    row = _blob_row(store, sha(data))
    assert (row["width"], row["height"], row["orientation"]) == (80, 40, 6)
    assert row["taken_at"] == "2026-11-20T02:15:00.000Z" and row["taken_local"] == "2026-11-20T10:15:00.000"
    assert row["lat"] == pytest.approx(31.2304, abs=1e-6) and row["lon"] == pytest.approx(121.4737, abs=1e-6)
    assert row["bytes"] == len(data) and row["content_type"] == "image/jpeg"
    # The original bytes are kept exactly: their hash is the evidence.
    assert store.blobs.path(sha(data)).read_bytes() == data


def test_southern_and_western_positions_are_negative(http, wang, store):
    data = jpeg(tags=exif(gps=(-33.8568, -70.6483)))
    assert tus.upload(http, wang.headers, data).status_code == 204
    row = _blob_row(store, sha(data))
    assert row["lat"] == pytest.approx(-33.8568, abs=1e-6) and row["lon"] == pytest.approx(-70.6483, abs=1e-6)


def _malformed_exif_variants() -> list[Any]:
    good = exif(orientation=3, taken="2026:11:20 10:15:00", gps=(31.0, 121.0)).tobytes()
    cut_ifd = b"Exif\x00\x00" + good[:20]  # the IFD stops in the middle of an entry
    bad_offset = b"Exif\x00\x00MM\x00\x2a\xff\xff\xff\xff"  # the first IFD points far past the end
    garbage = b"Exif\x00\x00" + random.Random(5).randbytes(200)
    gps_zero = exif(gps=(0.0, 0.0))  # a camera without a fix
    gps_ifd = exif(taken="not a date")
    gps_ifd.get_ifd(ExifTags.IFD.GPSInfo).update(
        {1: "N", 2: (31.0, 0.0), 3: "Q", 4: (TiffImagePlugin.IFDRational(1, 0), 0.0, 0.0)})
    return [
        pytest.param(cut_ifd, id="cut-ifd"),
        pytest.param(bad_offset, id="offset-past-end"),
        pytest.param(garbage, id="garbage"),
        pytest.param(gps_zero, id="gps-zero"),
        pytest.param(gps_ifd, id="nonsense-values"),
        pytest.param(exif(orientation=42), id="orientation-42"),
    ]


@pytest.mark.parametrize("tags", _malformed_exif_variants())
def test_malformed_exif_never_costs_a_photo(http, wang, store, site, tags):
    data = jpeg((64, 48), tags)
    r = tus.upload(http, wang.headers, data)
    assert r.status_code == 204, r.text
    row = _blob_row(store, sha(data))
    assert (row["width"], row["height"]) == (64, 48)
    assert row["lat"] is None and row["lon"] is None and row["taken_at"] is None
    assert row["orientation"] in (None, 3)
    photo(wang, site, data)
    thumb = http.get(f"/blobs/{sha(data)}/thumbnail", params={"size": 160}, headers=wang.headers)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"


def test_exif_without_offset_is_read_in_the_site_time_zone(http, wang, store, site):
    data = jpeg(tags=exif(taken="2026:11:20 10:15:00"))
    assert tus.upload(http, wang.headers, data).status_code == 204
    assert _blob_row(store, sha(data))["taken_at"] is None
    photo(wang, site, data, taken_at="2026-11-20T02:15:03.000Z")
    sheet = http.get(f"/api/inspections/{site['inspection']}", headers=wang.headers).json()
    listed = sheet["coverage"]["devices"][0]["photos"][0]
    # The test site is in Asia/Shanghai: 10:15 there is 02:15 UTC.
    assert listed["exif_taken_at"] == "2026-11-20T02:15:00.000Z"
    assert listed["taken_at"] == "2026-11-20T02:15:03.000Z"


@pytest.mark.parametrize(("subsec", "offset", "taken_at"), [
    ("5Q", "+08:00", "2026-11-20T02:15:00.000Z"), (None, "+0Q:00", None), ("Q", None, None)])
def test_a_superscript_in_exif_sub_seconds_or_offset_costs_only_that_tag(http, wang, store, subsec, offset, taken_at):
    # Regression (s27 ops7): the sub-seconds and offset were checked with str.isdigit(), which takes "²" (byte 0xB2
    # of an ASCII tag, read as Latin-1); int() then raised and the photo lost its whole capture time.
    tags = exif(taken="2026:11:20 10:15:00", offset=offset)
    if subsec is not None:
        tags.get_ifd(ExifTags.IFD.Exif)[37521] = subsec  # SubSecTimeOriginal
    data = jpeg(tags=tags.tobytes().replace(b"Q", b"\xb2"))  # Pillow would write "²" as "?"
    assert tus.upload(http, wang.headers, data).status_code == 204
    row = _blob_row(store, sha(data))
    assert (row["taken_local"], row["taken_at"]) == ("2026-11-20T10:15:00.000", taken_at)


# -- thumbnails --------------------------------------------------------------------------------------------


def test_thumbnail_is_upright_stripped_and_cached(http, wang, store, site):
    # Stored 80×40, left red and right blue, with orientation 6: shown rotated 90° clockwise,
    # so upright it is 40×80 with red on top.
    data = jpeg((80, 40), exif(orientation=6, taken="2026:11:20 10:15:00", gps=(31.2, 121.4)))
    assert tus.upload(http, wang.headers, data).status_code == 204
    photo(wang, site, data)
    r = http.get(f"/blobs/{sha(data)}/thumbnail?size=160", headers=wang.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    with Image.open(io.BytesIO(r.content)) as thumb:
        assert thumb.format == "JPEG"
        assert thumb.size == (40, 80)
        assert not thumb.getexif() and "exif" not in thumb.info and "icc_profile" not in thumb.info
        top, bottom = thumb.convert("RGB").getpixel((20, 5)), thumb.convert("RGB").getpixel((20, 75))
    assert top[0] > 200 and top[2] < 60, top
    assert bottom[2] > 200 and bottom[0] < 60, bottom
    cached = store.settings.data_dir / "thumbs" / sha(data)[:2] / f"{sha(data)}-160.jpg"
    assert cached.read_bytes() == r.content
    stamp = cached.stat().st_mtime_ns
    assert http.get(f"/blobs/{sha(data)}/thumbnail?size=160", headers=wang.headers).content == r.content
    assert cached.stat().st_mtime_ns == stamp
    # A large photo is reduced to the size asked for; a PNG with alpha becomes an opaque JPEG.
    big = jpeg((1600, 1200), noise=True, seed=9)
    small_png = png((400, 300))
    for blob in (big, small_png):
        content_type = "image/png" if blob is small_png else "image/jpeg"
        assert tus.upload(http, wang.headers, blob, content_type).status_code == 204
        photo(wang, site, blob, content_type=content_type)
    with Image.open(io.BytesIO(http.get(f"/blobs/{sha(big)}/thumbnail?size=320", headers=wang.headers).content)) as t:
        assert t.size == (320, 240)
    got = http.get(f"/blobs/{sha(small_png)}/thumbnail", headers=wang.headers)
    with Image.open(io.BytesIO(got.content)) as t:
        assert t.format == "JPEG" and t.mode == "RGB" and t.size == (320, 240)
    assert list(uploads_dir(store).iterdir()) == []


def test_thumbnail_sizes_are_allow_listed(http, wang, site):
    data = jpeg(seed=10)
    tus.upload(http, wang.headers, data)
    photo(wang, site, data)
    for size in ("100", "5000", "x"):
        r = http.get(f"/blobs/{sha(data)}/thumbnail", params={"size": size}, headers=wang.headers)
        assert r.status_code == 400, (size, r.text)


# -- a hash known without the bytes opens nothing ----------------------------------------------------------


def _other_site(store: Store) -> str:
    """An inspection at the site zhao is a member of (wang is not)."""
    from sync.schema import inspection_id

    insp = inspection_id(OTHER_SITE, "2026-Q4")
    store.write_server_changes([
        ("sites", OTHER_SITE, {"name": "Other park", "customer": "Other", "tz": "Asia/Shanghai"}, False),
        ("inspections", insp, {"site_id": OTHER_SITE, "period": "2026-Q4", "status": "scheduled"}, False),
    ])
    return insp


def test_a_hash_alone_opens_nothing(http, wang, zhao, lin, store, site, row_of):
    data = jpeg((80, 40), exif(taken="2026:11:20 10:15:00", offset="+08:00", gps=(31.2304, 121.4737)), seed=11)
    digest = sha(data)
    assert tus.upload(http, wang.headers, data).status_code == 204
    # Before any row says stored, nobody reads it, not even the uploader.
    assert http.get(f"/blobs/{digest}", headers=wang.headers).status_code == 404
    photo(wang, site, data)
    assert http.get(f"/blobs/{digest}", headers=wang.headers).status_code == 200
    assert http.get(f"/blobs/{digest}", headers=lin.headers).status_code == 200  # supervisors see every site
    # zhao knows the hash but not the bytes, at another site.
    assert http.get(f"/blobs/{digest}", headers=zhao.headers).status_code == 404
    assert http.get(f"/blobs/{digest}/thumbnail", headers=zhao.headers).status_code == 404
    assert tus.create(http, zhao.headers, data, "image/jpeg").headers["upload-offset"] == "0"
    # A row of zhao's own naming the hash stays missing, opens nothing, and shows nothing of the bytes.
    other = _other_site(store)
    row_id = str(uuid.uuid4())
    r = zhao.push([zhao.change("photos", row_id, {"inspection_id": other, "sha256": digest,
                                                  "content_type": "image/jpeg", "stage": "evidence"})])
    assert r.json()["results"][0]["status"] == "applied"
    assert blob_of(row_of, row_id) == "missing"
    assert http.get(f"/blobs/{digest}", headers=zhao.headers).status_code == 404
    listed = http.get(f"/api/inspections/{other}", headers=zhao.headers).json()["photos"]
    assert [(p["id"], p["blob"], p["lat"], p["exif_taken_at"], p["width"]) for p in listed] == [
        (row_id, "missing", None, None, None)]
    missing = http.get(f"/api/inspections/{other}/missing-blobs", headers=zhao.headers).json()["missing"]
    assert missing == [{"sha256": digest, "collection": "photos", "row_id": row_id, "field": "sha256",
                        "uploader": "zhao"}]
    # Unknown and malformed hashes are 404 alike.
    for name in ("0" * 64, "nothex", digest.upper() + "0"):
        assert http.get(f"/blobs/{name}", headers=wang.headers).status_code == 404
    assert http.get(f"/api/inspections/{other}/missing-blobs", headers=wang.headers).status_code == 404


def test_a_client_cannot_write_the_blob_field(wang, site, row_of):
    data = jpeg(seed=12)
    row_id = str(uuid.uuid4())
    r = wang.push([wang.change("photos", row_id, {"inspection_id": site["inspection"], "sha256": sha(data),
                                                  "blob": "stored"})])
    result = r.json()["results"][0]
    assert result["status"] == "rejected" or "blob" in (result.get("rejected_fields") or {}), result
    row = row_of("photos", row_id)
    assert row is None or row["fields"].get("blob") == "missing"


# -- photos in sync: missing, then stored ---------------------------------------------------------------------


def test_photo_before_its_blob_goes_missing_then_stored(http, wang, zhao, lin, store, site, row_of):
    store.add_member(site["site"], "zhao")
    zhao = Session(http, "zhao")  # signed in again: scope is read per request, the session is fresh
    data = jpeg((80, 40), exif(orientation=6, taken="2026:11:20 10:15:00", offset="+08:00", gps=(31.2304, 121.4737)),
                seed=13)
    digest = sha(data)
    wang_row = photo(wang, site, data, taken_at="2026-11-20T02:15:01.000Z")
    zhao_row = photo(zhao, site, data, device="cam2")
    whole_row = photo(wang, site, data, device=None, stage="evidence")
    assert [blob_of(row_of, r) for r in (wang_row, zhao_row, whole_row)] == ["missing"] * 3
    missing = http.get(f"/api/inspections/{site['inspection']}/missing-blobs", headers=lin.headers).json()
    assert sorted((m["row_id"], m["uploader"]) for m in missing["missing"]) == sorted(
        [(wang_row, "wang"), (zhao_row, "zhao"), (whole_row, "wang")])
    assert {m["sha256"] for m in missing["missing"]} == {digest}
    sheet = http.get(f"/api/inspections/{site['inspection']}", headers=lin.headers).json()
    assert sheet["coverage"]["devices"][0]["photos"][0]["blob"] == "missing"
    assert sheet["coverage"]["devices"][0]["photos"][0]["lat"] is None
    assert http.get(f"/blobs/{digest}", headers=lin.headers).status_code == 404

    cursor_before = wang.pull().json()["cursor"]
    assert tus.upload(http, wang.headers, data).status_code == 204
    # wang's rows are stored; zhao's row waits for zhao's own upload.
    assert [blob_of(row_of, r) for r in (wang_row, zhao_row, whole_row)] == ["stored", "missing", "stored"]
    pulled = {r["id"]: r for r in wang.pull(cursor_before).json()["rows"]}
    assert pulled[wang_row]["fields"]["blob"] == "stored" and pulled[whole_row]["fields"]["blob"] == "stored"
    missing = http.get(f"/api/inspections/{site['inspection']}/missing-blobs", headers=wang.headers).json()
    assert [(m["row_id"], m["uploader"]) for m in missing["missing"]] == [(zhao_row, "zhao")]

    sheet = http.get(f"/api/inspections/{site['inspection']}", headers=lin.headers).json()
    cam1 = next(d for d in sheet["coverage"]["devices"] if d["device_id"] == site["cam1"])
    cam2 = next(d for d in sheet["coverage"]["devices"] if d["device_id"] == site["cam2"])
    listed = cam1["photos"][0]
    assert listed["id"] == wang_row and listed["blob"] == "stored" and listed["sha256"] == digest
    assert listed["stage"] == "before" and listed["caption"] == "cabinet"
    assert listed["taken_at"] == "2026-11-20T02:15:01.000Z" and listed["exif_taken_at"] == "2026-11-20T02:15:00.000Z"
    assert listed["orientation"] == 6 and (listed["width"], listed["height"]) == (80, 40)
    assert listed["lat"] == pytest.approx(31.2304, abs=1e-6) and listed["lon"] == pytest.approx(121.4737, abs=1e-6)
    assert [(p["id"], p["blob"], p["lat"]) for p in cam2["photos"]] == [(zhao_row, "missing", None)]
    assert [(p["id"], p["blob"]) for p in sheet["photos"]] == [(whole_row, "stored")]
    coverage = http.get(f"/api/sites/{site['site']}/coverage", params={"period": "2026-Q4"},
                        headers=wang.headers).json()
    assert [p["blob"] for d in coverage["devices"] for p in d["photos"]] == ["stored", "missing"]
    history = http.get(f"/api/devices/{site['cam1']}/history", headers=wang.headers).json()
    assert history["checks"] == [] or all("photos" in c for c in history["checks"])

    # zhao's own upload stores zhao's row; then nothing is missing.
    assert tus.upload(http, zhao.headers, data).status_code == 204
    assert blob_of(row_of, zhao_row) == "stored"
    assert http.get(f"/api/inspections/{site['inspection']}/missing-blobs",
                    headers=wang.headers).json()["missing"] == []
    # A photo pushed after the upload is stored at once; born complete for the same user.
    later = photo(wang, site, data, device="cam2")
    assert blob_of(row_of, later) == "stored"


def test_photos_of_one_push_share_the_blob_hlc_and_an_upload_still_stores_them(http, wang, site, row_of):
    # Regression (issue 15, the push path, third round): the media hook takes one server HLC a push for
    # its photos' `blob` registers, not one each. Each photo still gets its own value (stored for bytes
    # this user uploaded, missing for the rest), at a server HLC of this push, and the upload after
    # the push still stores the missing ones (its write's HLC is newer).
    uploaded, later = jpeg(noise=True, seed=21), jpeg(noise=True, seed=22)
    assert tus.upload(http, wang.headers, uploaded).status_code == 204
    before = wang.push([]).json()["server_hlc"]
    rows = {data: str(uuid.uuid4()) for data in (uploaded, later)}
    rows[b"again"] = str(uuid.uuid4())
    changes = [wang.change("photos", row_id, {"inspection_id": site["inspection"], "device_id": site["cam1"],
                                              "sha256": sha(later if data == b"again" else data),
                                              "content_type": "image/jpeg", "bytes": 1000})
               for data, row_id in rows.items()]
    response = wang.push(changes).json()
    assert [r["status"] for r in response["results"]] == ["applied"] * 3
    assert [blob_of(row_of, r) for r in rows.values()] == ["stored", "missing", "missing"]
    [stamp] = {tuple(row_of("photos", r)["clocks"]["blob"]) for r in rows.values()}
    assert stamp[1] == "srv" and before < stamp[0] <= response["server_hlc"]
    assert tus.upload(http, wang.headers, later).status_code == 204
    assert [blob_of(row_of, r) for r in rows.values()] == ["stored"] * 3


def test_device_history_lists_photos_per_check(http, wang, site):
    data = jpeg(tags=exif(gps=(31.5, 121.5)), seed=14)
    from sync.schema import device_check_id

    check = device_check_id(site["inspection"], site["cam1"])
    r = wang.push([wang.change("device_checks", check, {"inspection_id": site["inspection"],
                                                        "device_id": site["cam1"], "outcome": "serviced",
                                                        "checked_by": "wang",
                                                        "checked_at": "2026-11-20T02:00:00.000Z"})])
    assert r.json()["results"][0]["status"] == "applied"
    row_id = photo(wang, site, data)
    history = http.get(f"/api/devices/{site['cam1']}/history", headers=wang.headers).json()
    assert [(p["id"], p["blob"]) for p in history["checks"][0]["photos"]] == [(row_id, "missing")]
    tus.upload(http, wang.headers, data)
    history = http.get(f"/api/devices/{site['cam1']}/history", headers=wang.headers).json()
    listed = history["checks"][0]["photos"][0]
    assert listed["blob"] == "stored" and listed["lat"] == pytest.approx(31.5)


def test_missing_blobs_lists_signature_images_and_sheets(http, wang, site, store):
    image, sheet = png((60, 20)), sheets.sheet_bytes(site["inspection"], {})
    row_id = str(uuid.uuid4())
    r = wang.push([wang.change("signatures", row_id, {
        "inspection_id": site["inspection"], "signer_name": "Wang", "signer_role": "technician",
        "signed_at": "2026-11-20T03:00:00.000Z", "image_sha256": sha(image), "sheet_sha256": sha(sheet)})])
    assert r.json()["results"][0]["status"] == "applied", r.text
    url = f"/api/inspections/{site['inspection']}/missing-blobs"
    assert sorted(m["field"] for m in http.get(url, headers=wang.headers).json()["missing"]) == [
        "image_sha256", "sheet_sha256"]
    assert http.get(f"/blobs/{sha(image)}", headers=wang.headers).status_code == 404
    assert tus.upload(http, wang.headers, image, "image/png").status_code == 204
    assert [m["field"] for m in http.get(url, headers=wang.headers).json()["missing"]] == ["sheet_sha256"]
    got = http.get(f"/blobs/{sha(image)}", headers=wang.headers)
    assert got.status_code == 200 and got.content == image and got.headers["content-type"] == "image/png"
    assert tus.upload(http, wang.headers, sheet, "application/json").status_code == 204
    assert http.get(url, headers=wang.headers).json()["missing"] == []
    assert http.get(f"/blobs/{sha(sheet)}/thumbnail", headers=wang.headers).status_code == 404


# -- a real server and a real cut connection -----------------------------------------------------------------


@pytest.fixture
def server(tmp_path):
    prepare(tmp_path / "data", ["wang", "zhao"], 2)
    proc = ServerProcess(tmp_path / "data").start()
    yield proc
    proc.stop()


def _sign_in(url: str, username: str) -> dict[str, str]:
    body = httpx.post(url + "/auth/token", json={"username": username, "password": "demo"}).json()
    return {"Authorization": f"Bearer {body['token']}"}


def _cut_patch(port: int, auth: dict[str, str], location: str, offset: int, data: bytes, cut: int) -> None:
    """Send a PATCH announcing the rest of the file, then drop the connection after `cut` bytes of it."""
    head = (f"PATCH {location} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: {auth['Authorization']}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: {offset}\r\n"
            f"Content-Length: {len(data) - offset}\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port)) as s:
        s.sendall(head)
        view = memoryview(data)[offset:cut]
        for start in range(0, len(view), 65536):
            s.sendall(view[start:start + 65536])
        time.sleep(0.05)


def test_resume_after_a_cut_at_a_random_byte(server):
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    data = jpeg((700, 500), noise=True, seed=seed % 1000)
    auth = _sign_in(server.url, "wang")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        created = tus.create(client, auth, data, "image/jpeg")
        assert created.status_code == 201
        location = created.headers["location"]
        offset = 0
        for _ in range(2):
            cut = rng.randrange(offset + 1, len(data))
            _cut_patch(server.port, auth, location, offset, data, cut)
            h = tus.head(client, auth, location)
            assert h.status_code == 200 and h.headers["tus-resumable"] == "1.0.0"
            reported = int(h.headers["upload-offset"])
            # Everything sent before the cut reached the server (loopback), and nothing more.
            assert reported == cut, f"seed {seed}: cut at {cut}, server says {reported}"
            offset = reported
        done = tus.patch(client, auth, location, offset, data[offset:])
        assert done.status_code == 204, f"seed {seed}: {done.text}"
        assert int(done.headers["upload-offset"]) == len(data)
        row_id = str(uuid.uuid4())
        from sync import hlc

        wire = httpx.post(server.url + "/auth/token", json={"username": "wang", "password": "demo"}).json()
        auth = {"Authorization": f"Bearer {wire['token']}"}
        push = client.post("/sync/push", headers=auth, json={
            "protocol": 1, "client_id": wire["client_id"], "client_time": hlc.format_ts(hlc.wall_ms()),
            "changes": [{"seq": 1, "collection": "photos", "id": row_id, "hlc": hlc.Clock(wire["client_id"]).now(),
                         "fields": {"inspection_id": INSPECTION, "sha256": sha(data), "content_type": "image/jpeg"}}]})
        assert push.json()["results"][0]["status"] == "applied", push.text
        got = client.get(f"/blobs/{sha(data)}", headers=auth)
        assert got.status_code == 200 and got.content == data, f"seed {seed}"
    assert list((server.data / "uploads").iterdir()) == []


def test_off_the_shelf_tus_client_uploads(server):
    from tusclient import client as tus_client

    data = jpeg((400, 300), noise=True, seed=15)
    auth = _sign_in(server.url, "zhao")
    uploader = tus_client.TusClient(server.url + "/files", headers=auth).uploader(
        file_stream=io.BytesIO(data), chunk_size=50_000,
        metadata={"sha256": sha(data), "content_type": "image/jpeg", "filename": "cam.jpg"},
    )
    uploader.upload()
    assert uploader.offset == len(data)
    assert (server.data / "blobs" / sha(data)[:2] / sha(data)[2:4] / sha(data)).read_bytes() == data
    # In one PATCH (tuspy's default chunk size), again without being told the bytes are there.
    other = jpeg((400, 300), noise=True, seed=16)
    whole = tus_client.TusClient(server.url + "/files", headers=auth).uploader(
        file_stream=io.BytesIO(other), metadata={"sha256": sha(other), "content_type": "image/jpeg"})
    whole.upload()
    assert (server.data / "blobs" / sha(other)[:2] / sha(other)[2:4] / sha(other)).read_bytes() == other


def test_head_of_an_upload_announces_no_body(server):
    """`HEAD /files/{id}` answered `Content-Type: application/json` and `Content-Length: 4` (a JSON `null`
    Litestar rendered and the HEAD never sent): a client reading the body its headers announce waits for it.
    Now headers only, `Content-Length: 0`; an off-the-shelf tus client resumes from it."""
    from tusclient import client as tus_client

    data = jpeg((400, 300), noise=True, seed=17)
    auth = _sign_in(server.url, "wang")
    first = tus_client.TusClient(server.url + "/files", headers=auth).uploader(
        file_stream=io.BytesIO(data), chunk_size=20_000, metadata={"sha256": sha(data), "content_type": "image/jpeg"})
    first.upload_chunk()
    location = first.url.removeprefix(server.url)
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        for _ in range(2):  # twice on one connection: nothing of the first answer is left to read
            s.sendall(f"HEAD {location} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                      f"Authorization: {auth['Authorization']}\r\nTus-Resumable: 1.0.0\r\n\r\n".encode())
            answer = b""
            while b"\r\n\r\n" not in answer:
                answer += s.recv(4096)
            head, _, rest = answer.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
            assert lines[0] == "HTTP/1.1 200 OK" and rest == b""
            assert headers["content-length"] == "0" and "content-type" not in headers, headers
            assert headers["upload-offset"] == "20000" and headers["upload-length"] == str(len(data))
            assert headers["tus-resumable"] == "1.0.0" and headers["cache-control"] == "no-store"
    again = tus_client.TusClient(server.url + "/files", headers=auth).uploader(
        file_stream=io.BytesIO(data), url=first.url, chunk_size=20_000)
    assert again.get_offset() == 20_000
    again.upload()
    assert (server.data / "blobs" / sha(data)[:2] / sha(data)[2:4] / sha(data)).read_bytes() == data


def test_a_cut_in_a_large_patch_keeps_every_byte_that_arrived(server):
    # Issue 15: the bytes of a PATCH cut after several of the server's 1 MiB write pieces stay,
    # and the JPEG decoded as it arrived goes on from there: a client's larger chunk loses
    # nothing on a drop when it talks to fieldsync directly (behind nginx, which reads a body
    # whole before passing it on, a cut PATCH loses all of its bytes: docs/performance.md).
    seed = random.randrange(2**32)
    rng = random.Random(seed)
    data = jpeg((2000, 1500), noise=True, seed=seed % 1000)
    assert len(data) > 3 * 2**20
    auth = _sign_in(server.url, "wang")
    with httpx.Client(base_url=server.url, timeout=30) as client:
        created = tus.create(client, auth, data, "image/jpeg")
        location = created.headers["location"]
        cut = rng.randrange(2 * 2**20 + 1, len(data) - 1)
        _cut_patch(server.port, auth, location, 0, data, cut)
        reported = int(tus.head(client, auth, location).headers["upload-offset"])
        assert reported == cut, f"seed {seed}: cut at {cut}, server says {reported}"
        done = tus.patch(client, auth, location, cut, data[cut:])
        assert done.status_code == 204, f"seed {seed}: {done.text}"
    blob = server.data / "blobs" / sha(data)[:2] / sha(data)[2:4] / sha(data)
    assert blob.read_bytes() == data


def _jpeg_variants() -> list[Any]:
    photo = jpeg((640, 480), exif(orientation=6, taken="2026:11:20 10:00:00", offset="+08:00", gps=(31.5, 121.4)),
                 noise=True, seed=21)
    out = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(out, "JPEG", quality=90, progressive=True)
    progressive = out.getvalue()
    out = io.BytesIO()
    Image.open(io.BytesIO(photo)).convert("L").save(out, "JPEG", quality=90)
    grey = out.getvalue()
    out = io.BytesIO()
    Image.open(io.BytesIO(photo)).save(out, "JPEG", quality=90, subsampling=0)
    full_chroma = out.getvalue()
    rng = random.Random(5)
    middle = len(photo) // 2
    scribbled = photo[:middle] + rng.randbytes(4000) + photo[middle + 4000:]
    # With each: whether it is decoded as it arrives (True), checked whole at the end (False), or
    # either (the decode may stop at the broken bytes, and then the whole check answers).
    return [
        pytest.param(photo, True, id="baseline-with-exif"),
        pytest.param(progressive, False, id="progressive"),
        pytest.param(grey, True, id="grey"),
        pytest.param(full_chroma, True, id="4:4:4"),
        pytest.param(photo[: len(photo) // 3], True, id="cut-at-a-third"),
        pytest.param(photo[:-2], True, id="no-end-marker"),
        pytest.param(photo[:2000], None, id="cut-in-the-header"),
        pytest.param(scribbled, None, id="scribbled-in-the-middle"),
        pytest.param(progressive[: len(progressive) * 2 // 3], False, id="progressive-cut"),
    ]


@pytest.mark.parametrize(("data", "as_it_arrives"), _jpeg_variants())
@pytest.mark.parametrize("piece", [997, 65536, 1 << 20])
def test_a_jpeg_checked_as_it_arrives_gets_the_answer_of_the_whole_check(tmp_path, data, as_it_arrives, piece):
    # Issue 15: a JPEG is checked as its bytes arrive (images.JpegCheck), so the last PATCH does
    # not carry the whole decode; what it accepts, the whole decode accepts with the same info, and
    # anything else is decoded whole (tests/server/test_jpeg_check.py holds it to that at length).
    from server.domains.media import images
    from sync import errors as E

    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    try:
        whole: Any = images.decode_image(path, "image/jpeg", 50_000_000)
    except E.InvalidImage:
        whole = "invalid_image"
    check = images.JpegCheck(50_000_000)
    for start in range(0, len(data), piece):
        check.feed(data[start:start + piece])
    assert check.fed == len(data)
    if as_it_arrives is not None:
        assert check.decoding is as_it_arrives
    accepted = check.result()
    assert accepted is None or accepted == whole
    assert (accepted is not None) is (as_it_arrives is True and whole != "invalid_image")


@pytest.mark.one_sqlite_server("watches one process's in-memory image checks")
def test_abandoned_uploads_never_hold_every_place_of_the_checks_as_they_arrive(http, wang, monkeypatch):
    # Issue 15: JPEGs decoded as they arrive are bounded (uploads._LIVE_CHECKS, 2 here); a new one
    # drops the oldest, which is then checked whole on its last byte and gets the same answer.
    from server.domains.media import uploads as uploads_module

    monkeypatch.setattr(uploads_module, "_LIVE_CHECKS", 2)
    live = http.app.state.uploads._checks
    photos = [jpeg((300, 200), noise=True, seed=40 + i) for i in range(3)]
    photos[0] = photos[0][: len(photos[0]) * 2 // 3]  # the oldest is also cut short
    locations = []
    for data in photos:
        location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
        assert tus.patch(http, wang.headers, location, 0, data[:4000]).status_code == 204
        locations.append(location)
    assert set(live) == {loc.rsplit("/", 1)[1] for loc in locations[1:]}
    answers = [tus.patch(http, wang.headers, location, 4000, data[4000:])
               for location, data in zip(locations, photos, strict=True)]
    assert answers[0].status_code == 422 and answers[0].json()["code"] == "invalid_image"
    assert [a.status_code for a in answers[1:]] == [204, 204]
    assert live == {}


def test_metadata_values_are_base64(http, wang):
    data = jpeg(seed=17)
    value = base64.b64encode(sha(data).encode()).decode()
    r = http.post("/files", headers={**wang.headers, **tus.TUS, "Upload-Length": str(len(data)),
                                     "Upload-Metadata": f"sha256 {value},content_type "
                                     f"{base64.b64encode(b'image/jpeg').decode()},is_confidential"})
    assert r.status_code == 201, r.text


def test_a_library_that_loads_truncated_images_does_not_let_one_through(tmp_path):
    # Regression (issue 14 merge): WeasyPrint sets Pillow's process-wide LOAD_TRUNCATED_IMAGES on
    # import, and from then on every upload accepted a truncated JPEG. Importing the sheets' renderer
    # puts it back, and the upload check refuses a truncated file whatever the flag says.
    from PIL import ImageFile

    import server.domains.sheets.render  # noqa: F401 (imports weasyprint)
    from server.domains.media.images import check_image
    from sync import errors as E

    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (200, 30, 30)).save(buffer, "JPEG", quality=90)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(buffer.getvalue()[: len(buffer.getvalue()) * 2 // 3])
    ImageFile.LOAD_TRUNCATED_IMAGES = True  # as another library might leave it
    try:
        with pytest.raises(E.InvalidImage):
            check_image(truncated, "image/jpeg", 50_000_000)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


@pytest.mark.parametrize("mode", ["RGB", "L", "CMYK"])
def test_the_check_decodes_in_grey_at_an_eighth_yet_reports_the_photos_own_size(tmp_path, mode):
    # Issue 15: a colour JPEG is checked decoded in grey at 1/8 scale (every block is still read);
    # what is stored about it is the photo's own size, whatever its colour space.
    from server.domains.media.images import check_image
    from sync import errors as E

    buffer = io.BytesIO()
    Image.frombytes(mode, (203, 101), random.Random(3).randbytes(203 * 101 * len(mode))).save(buffer, "JPEG")
    path = tmp_path / "photo.jpg"
    path.write_bytes(buffer.getvalue())
    info = check_image(path, "image/jpeg", 50_000_000)
    assert (info.width, info.height) == (203, 101)
    path.write_bytes(buffer.getvalue()[:-200])  # the last blocks of every colour component missing
    with pytest.raises(E.InvalidImage):
        check_image(path, "image/jpeg", 50_000_000)


def test_a_thumbs_directory_that_cannot_be_written_is_503_then_served(http, wang, store, site) -> None:
    # Regression (s23 leftovers, item 3): a thumbnail made into a DATA/thumbs that could not be
    # written was a 500. A thumbs path that is a file: refused as a read-only directory is, for root too.
    data = jpeg((300, 200), noise=True, seed=48)
    assert tus.upload(http, wang.headers, data).status_code == 204
    photo(wang, site, data)
    thumbs = store.settings.data_dir / "thumbs"
    thumbs.write_bytes(b"not a directory")
    r = http.get(f"/blobs/{sha(data)}/thumbnail?size=160", headers=wang.headers)
    assert (r.status_code, r.json()["code"]) == (503, "storage_unavailable"), r.text
    assert int(r.headers["retry-after"]) > 0
    assert list((store.settings.data_dir / "uploads").glob("thumb-*")) == []  # no scratch file left behind
    thumbs.unlink()
    r = http.get(f"/blobs/{sha(data)}/thumbnail?size=160", headers=wang.headers)
    assert r.status_code == 200 and (thumbs / sha(data)[:2] / f"{sha(data)}-160.jpg").read_bytes() == r.content


@pytest.mark.one_sqlite_server("counts one process's trips to worker threads")
def test_a_patch_resolves_its_caller_in_the_uploads_own_trip_to_a_thread(http, wang, monkeypatch):
    # Issue 15, session 27: each PATCH took three trips to a worker thread, the first only to look up
    # the token (the `caller` dependency, through Litestar's executor), at about 0.25 ms of server
    # CPU each. The caller is now resolved in the upload's first trip: two a PATCH, the first too (it took
    # a third, to 404 before its in-process lock was kept: s27-fixperiod keeps a lock only while it is used).
    import anyio.to_thread
    import litestar.concurrency

    trips: list[str] = []
    litestar_run, anyio_run = litestar.concurrency._run_sync_asyncio, anyio.to_thread.run_sync

    async def via_litestar(fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await litestar_run(fn, *args, **kwargs)

    async def via_anyio(fn: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(getattr(fn, "__name__", repr(fn)))
        return await anyio_run(fn, *args, **kwargs)

    monkeypatch.setattr(litestar.concurrency, "_run_sync_asyncio", via_litestar)
    monkeypatch.setattr(anyio.to_thread, "run_sync", via_anyio)
    data = jpeg((300, 200), noise=True, seed=49)
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    trips.clear()
    assert tus.patch(http, wang.headers, location, 0, data[:1000]).status_code == 204
    first, trips[:] = list(trips), []
    assert tus.patch(http, wang.headers, location, 1000, data[1000:]).status_code == 204
    assert len(first) == 2 and len(trips) == 2, (first, trips)
    # Still 401 before anything else, and 404 for another user's upload, as before.
    assert tus.patch(http, {}, location, 0, b"x").status_code == 401
    assert tus.patch(http, {"Authorization": "Bearer nope"}, location, 0, b"x").status_code == 401

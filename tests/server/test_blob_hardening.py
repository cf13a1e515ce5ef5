"""Blobs under attack (issue 9, findings 6, 7, 9 and 16): ghost rows, thumbnails that starve the
server, quotas per user, garbage collection, and headers that stop a browser from sniffing."""

from __future__ import annotations

import asyncio
import io
import select
import socket
import struct
import time
import uuid
import zlib

import anyio
import httpx
from PIL import Image

from bench import _tus as tus
from server.settings import Settings
from tests.conftest import server_args
from tests.server.test_uploads import _other_site, blob_of, jpeg, photo, png, sha

# -- finding 6: a photo created deleted still has a creator ---------------------------------------------------


def test_a_ghost_photo_row_is_not_stored_by_another_users_upload(http, wang, zhao, store, site, row_of):
    # Regression (issue 9, finding 6): zhao, who knows the hash of wang's photo but not its bytes,
    # created a photos row deleted and then undeleted it. It had no creator, so wang's upload
    # made it `stored` and zhao read wang's photo.
    data = jpeg((80, 40), seed=61)
    digest = sha(data)
    other = _other_site(store)
    ghost = str(uuid.uuid4())
    fields = {"inspection_id": other, "sha256": digest, "content_type": "image/jpeg", "stage": "evidence"}
    assert zhao.push([zhao.change("photos", ghost, fields, delete=True)]).json()["results"][0]["status"] == "applied"
    assert zhao.push([zhao.change("photos", ghost, {}, delete=False)]).json()["results"][0]["status"] == "applied"
    with store.read() as db:
        creator = db.execute("SELECT u.username FROM row_creators c JOIN users u ON u.id = c.user_id"
                             " WHERE c.row_id = ?", [ghost]).fetchone()
    assert creator == ("zhao",)
    assert tus.upload(http, wang.headers, data).status_code == 204
    assert blob_of(row_of, ghost) == "missing"
    assert http.get(f"/blobs/{digest}", headers=zhao.headers).status_code == 404
    assert http.get(f"/blobs/{digest}/thumbnail", headers=zhao.headers).status_code == 404
    # Only zhao's own upload of the bytes makes his row stored.
    assert tus.upload(http, zhao.headers, data).status_code == 204
    assert blob_of(row_of, ghost) == "stored"


def test_a_row_without_a_recorded_creator_waits_for_nobody(http, wang, store, site, row_of):
    # Regression (issue 9, finding 6): "no creator" meant "the server's row", whose blob any upload stores.
    data = jpeg(seed=62)
    row_id = str(uuid.uuid4())
    assert wang.push([wang.change("photos", row_id, {"inspection_id": site["inspection"], "sha256": sha(data),
                                                     "content_type": "image/jpeg"})]).status_code == 200
    with store.write() as db:  # a row from before creators were recorded, or a ghost in an old database
        db.execute("DELETE FROM row_creators WHERE row_id = ?", [row_id])
    assert tus.upload(http, wang.headers, data).status_code == 204
    assert blob_of(row_of, row_id) == "missing"
    assert http.get(f"/blobs/{sha(data)}", headers=wang.headers).status_code == 404


def test_a_photo_deleted_while_its_upload_lands_is_stored_when_restored(http, wang, site, row_of):
    data = jpeg(seed=63)
    row_id = str(uuid.uuid4())
    fields = {"inspection_id": site["inspection"], "sha256": sha(data), "content_type": "image/jpeg"}
    wang.push([wang.change("photos", row_id, fields, delete=True)])
    assert tus.upload(http, wang.headers, data).status_code == 204
    wang.push([wang.change("photos", row_id, {}, delete=False)])
    assert blob_of(row_of, row_id) == "stored"
    assert http.get(f"/blobs/{sha(data)}", headers=wang.headers).content == data


# -- finding 16: blobs are never sniffed into a page ---------------------------------------------------------


def test_a_polyglot_blob_is_served_nosniff_and_sandboxed(http, wang, site):
    # Regression (issue 9, finding 16): a JPEG with HTML in a comment was served byte for byte,
    # without nosniff, so a browser could sniff it into a page of the server's origin.
    out = io.BytesIO()
    Image.new("RGB", (32, 32), "red").save(out, "JPEG", comment=b"<html><script>alert(document.cookie)</script>")
    data = out.getvalue()
    assert b"<script>" in data
    assert tus.upload(http, wang.headers, data).status_code == 204
    photo(wang, site, data)
    for path in (f"/blobs/{sha(data)}", f"/blobs/{sha(data)}/thumbnail"):
        r = http.get(path, headers=wang.headers)
        assert r.status_code == 200
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["content-security-policy"] == "sandbox"
        assert r.headers["content-type"] == "image/jpeg"



# -- finding 9: blobs nothing references are collected ---------------------------------------------------------


def _stored(store, digest: str) -> bool:
    with store.read() as db:
        row = db.execute("SELECT 1 FROM blobs WHERE sha256 = ?", [digest]).fetchone()
    return row is not None and store.blobs.exists(digest)


def _forget_finished_uploads(store) -> None:
    from server.domains.media.uploads import Uploads

    Uploads(store, store.blobs, store.settings).clean_uploads(store.now_ms() + 10**9)


def test_gc_removes_only_blobs_nothing_references(http, wang, zhao, store, site, capsys):
    # Regression (issue 9, finding 9): blobs nobody referenced were never removed.
    from server.cli import main
    from sync.sheet import sheet_bytes

    live, deleted, orphan, pending = (jpeg(noise=True, seed=s) for s in (91, 92, 93, 94))
    image, sheet = png((60, 20)), sheet_bytes(site["inspection"], {})
    for data, content_type in ((live, "image/jpeg"), (deleted, "image/jpeg"), (orphan, "image/jpeg"),
                               (pending, "image/jpeg"), (image, "image/png"), (sheet, "application/json")):
        assert tus.upload(http, wang.headers, data, content_type).status_code == 204
    photo(wang, site, live)
    gone = photo(wang, site, deleted)
    wang.push([wang.change("photos", gone, {}, delete=True)])
    r = wang.push([wang.change("signatures", str(uuid.uuid4()), {
        "inspection_id": site["inspection"], "signer_name": "Wang", "signer_role": "technician",
        "signed_at": "2026-11-20T03:00:00.000Z", "image_sha256": sha(image), "sheet_sha256": sha(sheet)})])
    assert r.json()["results"][0]["status"] == "applied", r.text
    assert http.get(f"/blobs/{sha(live)}/thumbnail", headers=wang.headers).status_code == 200
    _forget_finished_uploads(store)  # a day later: the finished uploads are no longer on record
    # zhao's unfinished upload of `pending` keeps it (its row may be pushed yet).
    assert tus.create(http, zhao.headers, pending, "image/jpeg").status_code == 201
    # Within the grace period nothing goes.
    assert main(["gc", *server_args(store.settings)]) == 0
    assert "removed 0 blobs" in capsys.readouterr().out
    # Regression (s26-ops3, item 3): no way to see what a run would remove before it did. A dry run names the
    # same blob the run then removes, and removes nothing.
    with store.read() as db:
        before = db.execute("SELECT count(*) FROM blobs").fetchone()[0]
    assert main(["gc", *server_args(store.settings), "--grace-hours", "0", "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        f"would remove {sha(orphan)} ({len(orphan)} bytes)\nwould remove 1 blobs ({len(orphan)} bytes): older than"
        " 0 hours, and no row, upload or signature references them; nothing removed\n")
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM blobs").fetchone()[0] == before
        assert db.execute("SELECT count(*) FROM blobs_doomed").fetchone()[0] == 0
    assert _stored(store, sha(orphan))
    assert main(["gc", *server_args(store.settings), "--grace-hours", "0"]) == 0
    out = capsys.readouterr().out
    assert f"removed {sha(orphan)} ({len(orphan)} bytes)" in out and "removed 1 blobs" in out, out
    assert not _stored(store, sha(orphan))
    for kept in (live, deleted, pending, image, sheet):
        assert _stored(store, sha(kept)), kept[:8]
    assert list((store.settings.data_dir / "thumbs").rglob(f"{sha(live)}-*.jpg"))
    # The deleted photo, restored, still has its bytes; the collected ones can be uploaded again.
    wang.push([wang.change("photos", gone, {}, delete=False)])
    assert http.get(f"/blobs/{sha(deleted)}", headers=wang.headers).content == deleted
    assert tus.create(http, wang.headers, orphan, "image/jpeg").headers["upload-offset"] == "0"
    assert tus.upload(http, wang.headers, orphan).status_code == 204
    assert _stored(store, sha(orphan))


def test_gc_removes_thumbnails_and_owners_of_a_collected_blob(http, wang, store, site):
    from server.domains.media.gc import collect

    data = jpeg(noise=True, seed=95)
    assert tus.upload(http, wang.headers, data).status_code == 204
    row_id = photo(wang, site, data)
    assert http.get(f"/blobs/{sha(data)}/thumbnail?size=160", headers=wang.headers).status_code == 200
    with store.write() as db:  # the photo's tombstone purged long ago
        db.execute("DELETE FROM rows WHERE id = ?", [row_id])
    _forget_finished_uploads(store)
    assert [r.sha256 for r in collect(store, store.blobs, 1, store.now_ms() + 3_600_001)] == [sha(data)]
    assert not list((store.settings.data_dir / "thumbs").rglob(f"{sha(data)}-*"))
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM blob_owners WHERE sha256 = ?", [sha(data)]).fetchone() == (0,)


def test_gc_dry_run_lists_the_bytes_a_failed_run_left_pending_deletion(http, wang, store, capsys):
    # Regression (s27-ops6, item 1): a run that failed at the bytes leaves their hash doomed, and the next
    # run deletes them first; a dry run listed only blobs still on record, so it never named these, and
    # the run itself deleted them without a word.
    from server.cli import main

    data = jpeg(noise=True, seed=98)
    digest = sha(data)
    assert tus.upload(http, wang.headers, data).status_code == 204  # no row names it
    _forget_finished_uploads(store)
    shard = store.blobs.path(digest).parent.parent
    away = shard.with_name("away")
    shard.rename(away)
    shard.write_bytes(b"not a directory")  # the store fails at the bytes
    assert main(["gc", *server_args(store.settings), "--grace-hours", "0"]) == 2
    shard.unlink()
    away.rename(shard)
    capsys.readouterr()
    with store.write() as db:  # the failed run was more than an hour ago
        db.execute("UPDATE blobs_doomed SET since_ms = since_ms - 3600001")
    left = f"{digest} (left by a failed run: its record forgotten, its bytes not)"
    assert main(["gc", *server_args(store.settings), "--dry-run"]) == 0
    assert capsys.readouterr().out == (
        f"would remove {left}\nwould remove 0 blobs (0 bytes): older than 168 hours, and no row, upload or"
        " signature references them; and the bytes of 1 a failed run left; nothing removed\n")
    assert store.blobs.exists(digest)
    assert main(["gc", *server_args(store.settings)]) == 0
    assert f"removed {left}\n" in capsys.readouterr().out
    assert not store.blobs.exists(digest)
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM blobs_doomed").fetchone() == (0,)


def test_the_server_collects_blob_garbage_itself(settings, store, http, wang):
    from dataclasses import replace

    from litestar.testing import TestClient

    from server.app import create_app

    data = jpeg(noise=True, seed=96)
    assert tus.upload(http, wang.headers, data).status_code == 204
    _forget_finished_uploads(store)
    assert _stored(store, sha(data))
    app = create_app(replace(settings, gc_grace_hours=0, gc_interval_seconds=3600), store)
    with TestClient(app):
        collector = app.state.collector
        deadline = time.monotonic() + 60
        while collector.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert collector.runs >= 1
        assert not _stored(store, sha(data))


# -- finding 7: thumbnails are made once, off the request threads ----------------------------------------------


def rgb_png(width: int, height: int, mark: int) -> bytes:
    """A valid 8-bit RGB PNG that decodes to width×height×3 bytes, in a few kilobytes; `mark` sets its hash."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    packer = zlib.compressobj(9)
    first = b"\x00" + bytes([mark]) * (3 * width)
    row = b"\x00" * (1 + 3 * width)
    idat = packer.compress(first) + b"".join(packer.compress(row) for _ in range(height - 1)) + packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def test_a_thumbnail_is_made_once_however_many_ask_at_once(settings, store, http, wang, site):
    # Regression (issue 9, finding 7): every request for a thumbnail not yet cached made it again.
    from server.app import create_app

    pngs = [rgb_png(1500, 1500, mark) for mark in range(3)]
    for data in pngs:
        assert tus.upload(http, wang.headers, data, "image/png").status_code == 204
        photo(wang, site, data, content_type="image/png")
    app = create_app(settings, store)
    media = app.state.media

    async def ask_all() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return await asyncio.gather(*(
                client.get(f"/blobs/{sha(data)}/thumbnail?size=320", headers=wang.headers)
                for data in pngs for _ in range(10)))

    try:
        answers = anyio.run(ask_all)
        assert [r.status_code for r in answers] == [200] * 30
        for i in range(len(pngs)):
            assert len({r.content for r in answers[i * 10:(i + 1) * 10]}) == 1
        assert media.thumbnails_made == 3
        assert anyio.run(ask_all)[0].status_code == 200
        assert media.thumbnails_made == 3  # from the cache now
    finally:
        media.close()


def _raw_get(port: int, path: str, auth: dict[str, str]) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", port))
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: {auth['Authorization']}\r\n"
              "Connection: close\r\n\r\n".encode())
    return s


def _read_all(s: socket.socket) -> bytes:
    out = b""
    while chunk := s.recv(65536):
        out += chunk
    s.close()
    return out


def test_thumbnails_in_flight_do_not_starve_other_requests(tmp_path):
    # Regression (issue 9, finding 7): 40 concurrent thumbnail requests for ten large PNGs held every
    # request thread, and another user's unrelated request waited 16.5 s for one. Now image work has
    # its own bounded executor: the unrelated request is answered while the thumbnails are still being made,
    # no later than the executor's first round.
    from bench._server import ServerProcess
    from sync import hlc
    from tests.reliability.wire import INSPECTION, prepare

    prepare(tmp_path / "data", ["wang", "zhao"], 1)
    pngs = [rgb_png(3900, 3900, mark) for mark in range(10)]  # 15.2 MP each, just under the PNG budget
    server = ServerProcess(tmp_path / "data").start()
    asked: list[socket.socket] = []
    try:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            wire = client.post("/auth/token", json={"username": "wang", "password": "demo"}).json()
            auth = {"Authorization": f"Bearer {wire['token']}"}
            clock = hlc.Clock(wire["client_id"])
            for data in pngs:
                assert tus.upload(client, auth, data, "image/png").status_code == 204
            pushed = client.post("/sync/push", headers=auth, json={
                "protocol": 1, "client_id": wire["client_id"], "client_time": hlc.format_ts(hlc.wall_ms()),
                "changes": [{"seq": i + 1, "collection": "photos", "id": str(uuid.uuid4()), "hlc": clock.now(),
                             "fields": {"inspection_id": INSPECTION, "sha256": sha(data), "content_type": "image/png"}}
                            for i, data in enumerate(pngs)]})
            assert [r["status"] for r in pushed.json()["results"]] == ["applied"] * 10, pushed.text
            other = client.post("/auth/token", json={"username": "zhao", "password": "demo"}).json()
            zhao = {"Authorization": f"Bearer {other['token']}"}
            asked += [_raw_get(server.port, f"/blobs/{sha(data)}/thumbnail?size=320", auth)
                      for data in pngs for _ in range(4)]
            unrelated = client.get("/api/clients", headers=zhao)
            answered, _, _ = select.select(asked, [], [], 0)
            assert unrelated.status_code == 200
            # The condition, not a time: when the unrelated answer arrived, at most the image executor's first
            # round (its workers' PNGs, each asked four times) had been answered; with every request thread
            # held (the bug) the thumbnails were made together and the unrelated request waited for them. CI
            # (session 31) saw one PNG's four answered first on a loaded machine: "none" raced with the first.
            first_round = 4 * Settings(data_dir=tmp_path).image_workers
            assert len(answered) <= first_round, f"{len(answered)} thumbnails were answered before an unrelated request"
            replies = [_read_all(s) for s in asked]
        assert all(r.startswith(b"HTTP/1.1 200") for r in replies), [r[:40] for r in replies]
        made = sorted(p.name for p in (tmp_path / "data" / "thumbs").rglob("*.jpg"))
        assert made == sorted(f"{sha(data)}-320.jpg" for data in pngs)
    finally:
        for s in asked:  # a failed assertion above must not leave 40 sockets to the next test's setup
            s.close()
        server.stop()


def test_a_png_stored_before_the_png_budget_gets_no_thumbnail_and_no_500(http, wang, store, site):
    # A PNG over the new budget, stored by an older server: never decoded again.
    from server.domains.media.images import PNG_MAX_PIXELS
    from sync import hlc
    from tests.server.test_uploads import huge_png

    data = huge_png(4500, 4500)
    assert PNG_MAX_PIXELS < 4500 * 4500
    path = store.blobs.path(sha(data))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    now = hlc.format_ts(store.now_ms())
    with store.write() as db:
        db.execute("INSERT INTO blobs(sha256, content_type, bytes, width, height, created_at)"
                   " VALUES (?, 'image/png', ?, 4500, 4500, ?)", [sha(data), len(data), now])
        db.execute("INSERT INTO blob_owners(sha256, user_id, uploaded_at) SELECT ?, id, ? FROM users"
                   " WHERE username = 'wang'", [sha(data), now])
    photo(wang, site, data, content_type="image/png")
    r = http.get(f"/blobs/{sha(data)}/thumbnail", headers=wang.headers)
    assert (r.status_code, r.json()["code"]) == (422, "image_too_large")
    assert http.get(f"/blobs/{sha(data)}", headers=wang.headers).content == data

"""Blobs under attack (issue 9, findings 6, 7, 9 and 16): ghost rows, thumbnails that starve the
server, quotas per user, garbage collection, and headers that stop a browser from sniffing."""

from __future__ import annotations

import io
import uuid

from PIL import Image

from bench import _tus as tus
from tests.server.test_uploads import _other_site, blob_of, jpeg, photo, sha

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


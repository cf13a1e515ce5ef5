"""The JPEG check that does not decode a scan's entropy-coded bytes gives the whole decode's answer (issue 15).

`images.JpegCheck` hands libjpeg a sequential JPEG's header and markers, not
the bytes between the markers of its scan, and its answer counts only as an
acceptance (anything else is decoded whole). These tests hold it to that:
everything it accepts, the whole decode (`images.decode_image`) accepts with
the same info, over damaged JPEGs of every kind the upload check meets; and
`check_image`, which tries it first, answers exactly as the whole decode.
"""

from __future__ import annotations

import io
import random
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bench import _tus as tus
from server.domains.media import images
from sync import errors as E

PIXELS = 50_000_000


def _saved(rng: random.Random, size: tuple[int, int], kind: str) -> bytes:
    img = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    options: dict[str, Any] = {
        "444": {"subsampling": 0}, "422": {"subsampling": 1}, "restart-every-block": {"restart_marker_blocks": 1},
        "restart-every-3-blocks": {"restart_marker_blocks": 3}, "restart-every-row": {"restart_marker_rows": 1},
        "progressive": {"progressive": True},
    }.get(kind, {})
    if kind == "grey":
        img = img.convert("L")
    elif kind == "cmyk":
        img = img.convert("CMYK")
    out = io.BytesIO()
    img.save(out, "JPEG", quality=rng.choice([50, 90, 98]), **options)
    return out.getvalue()


KINDS = ["420", "444", "422", "grey", "cmyk", "restart-every-block", "restart-every-3-blocks",
         "restart-every-row", "progressive"]


def _damaged(rng: random.Random, data: bytes) -> bytes:
    """One of the ways a JPEG arrives broken: cut, scribbled on, a marker or a stuffed byte put in, bytes lost."""
    d, at = bytearray(data), rng.randrange(len(data))
    how = rng.randrange(12)
    if how == 0:
        return bytes(d[:at])
    if how == 1:
        return bytes(d[:at]) + b"\xff\xd9"  # cut, with an end marker after
    if how == 2:
        for _ in range(rng.randint(1, 20)):
            d[rng.randrange(len(d))] = rng.randrange(256)
        return bytes(d)
    if how == 3:  # any marker, some with a length and bytes after
        marker = bytes([0xFF, rng.randrange(1, 255)])
        if rng.random() < 0.5:
            marker += rng.randrange(40).to_bytes(2, "big") + rng.randbytes(rng.randrange(40))
        return bytes(d[:at] + marker + d[at:])
    if how == 4:
        return bytes(d[:at] + d[at + rng.randrange(1, 300):])
    if how == 5:
        end = min(len(d), at + rng.randrange(1, 300))
        d[at:end] = rng.randbytes(end - at)
        return bytes(d)
    if how == 6:
        return bytes(d[:at] + rng.choice([b"\xff\x00", b"\xff\xff", b"\xff\xff\x00", b"\xff"]) + d[at:])
    if how == 7:  # a piece of the file again elsewhere (a table, a scan header, restart markers)
        start = rng.randrange(len(d))
        return bytes(d[:at] + d[start:start + rng.randrange(2, 200)] + d[at:])
    if how == 8:
        return bytes(d[:-2])  # no end marker
    if how == 9:
        return bytes(d) + rng.randbytes(rng.randrange(1, 100))  # bytes after the end
    if how == 10:  # the end marker another marker
        return bytes(d[:-2]) + bytes([0xFF, rng.randrange(1, 255)]) + rng.randbytes(rng.randrange(30))
    return bytes(d[:at]) + bytes([0xFF, 0xD0 + rng.randrange(8)]) + bytes(d[at:])  # a restart marker


def _answer(check: Any, path: Path) -> Any:
    try:
        return check(path, "image/jpeg", PIXELS)
    except (E.InvalidImage, E.ImageTooLarge) as exc:
        return exc.code


def _fed(data: bytes, piece: int) -> images.JpegCheck:
    check = images.JpegCheck(PIXELS)
    for start in range(0, len(data), piece):
        check.feed(data[start:start + piece])
    return check


@pytest.mark.parametrize("seed", range(4))
def test_what_the_check_accepts_the_whole_decode_accepts_and_check_image_answers_as_it(tmp_path, seed):
    # Issue 15, session 30: libjpeg is not given the scan's entropy-coded bytes. Over damaged JPEGs of
    # every kind (cut, scribbled, markers and stuffed bytes put in, restart intervals, grey, CMYK), the
    # check never accepts what the whole decode refuses, and check_image's answer is the whole decode's.
    rng = random.Random(seed)
    path = tmp_path / "photo.jpg"
    accepted = whole_accepted = 0
    for case in range(150):
        size = rng.choice([(64, 48), (200, 120), (333, 77), (17, 9), (480, 320)])
        data = _saved(rng, size, rng.choice(KINDS))
        if rng.random() < 0.9:
            data = _damaged(rng, data)
            if rng.random() < 0.2:
                data = _damaged(rng, data)
        path.write_bytes(data)
        whole = _answer(images.decode_image, path)
        whole_accepted += not isinstance(whole, str)
        label = f"seed {seed} case {case}"
        assert _answer(images.check_image, path) == whole, label
        for piece in (997, 65536, max(1, len(data))):
            info = _fed(data, piece).result()
            if info is not None:
                accepted += 1
                assert info == whole, f"{label}, pieces of {piece}"
    # Most of what the whole decode accepts is accepted here, without decoding the scan (not: a progressive
    # JPEG, one that ends inside its scan, a dense piece whose last rows libjpeg finished before its end).
    assert accepted > 1.5 * whole_accepted, (accepted, whole_accepted)  # at most 3: three piece sizes


def _noise_jpeg(size: tuple[int, int], **options: Any) -> bytes:
    img = Image.frombytes("RGB", size, random.Random(7).randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92, **options)
    return out.getvalue()


def test_a_photos_scan_is_searched_for_markers_not_decoded(tmp_path):
    # Issue 15, session 30: the decode of every block was two thirds of an upload's server CPU
    # (7 ms/MB); a baseline photo's scan now goes to libjpeg as its markers alone, and the answer is
    # the whole decode's.
    data = _noise_jpeg((1200, 900))
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    for piece in (997, 1 << 20):
        check = _fed(data, piece)
        assert check.result() == images.decode_image(path, "image/jpeg", PIXELS)
        assert check.decoded < 1_000 < len(data) // 1_000  # the header and the end marker


def test_restart_markers_in_every_block_are_decoded_as_they_come(tmp_path):
    # Each restart marker costs the search a step in Python: a piece dense with them goes to libjpeg whole
    # (a crafted file of markers alone must not cost more than its decode), and is answered the same.
    data = _noise_jpeg((640, 480), restart_marker_blocks=1)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    check = _fed(data, 1 << 20)
    assert check.result() == images.decode_image(path, "image/jpeg", PIXELS)
    assert check.decoded == len(data)
    rows = _noise_jpeg((640, 480), restart_marker_rows=1)  # a camera's: one a row of blocks
    check = _fed(rows, 65536)
    assert check.result() is not None and check.decoded < 1_000


@pytest.mark.parametrize(("name", "change"), [
    ("cut-at-the-end-of-the-scan", lambda d: d[:-2]),
    ("a-second-scan-after-the-first", lambda d: d[:-2] + d[d.index(b"\xff\xda"):]),
    ("an-unknown-marker-after-the-scan", lambda d: d[:-2] + b"\xff\xc8\x00\x02\xff\xd9"),
    ("an-end-marker-half-way", lambda d: d[:len(d) // 2] + b"\xff\xd9" + d[len(d) // 2:]),
    ("bytes-after-the-end", lambda d: d + b"\x00\xff\xda" * 50),
    ("the-end-marker-alone-in-the-last-piece", lambda d: d),
])
def test_the_edges_of_a_scan_get_the_whole_decodes_answer(tmp_path, name, change):
    data = change(_noise_jpeg((480, 320)))
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    whole = _answer(images.decode_image, path)
    assert _answer(images.check_image, path) == whole
    for piece in (len(data) - 2, len(data) - 1, 4096):
        info = _fed(data, piece).result()
        assert info is None or info == whole, piece


def test_a_jpeg_the_whole_decode_refuses_is_refused_wherever_its_patches_end(http, wang, tmp_path):
    # Regression (session 30): the check as the bytes arrived called a JPEG done once libjpeg had its
    # last row and the PATCH's bytes were used up, so markers after the scan that came in a later
    # PATCH were never read: a file the whole decode refuses (here an unknown marker after the scan)
    # was stored, answered 204, when a PATCH ended between the scan and that marker.
    photo = _noise_jpeg((200, 120))
    data = photo[:-2] + b"\xff\xdc\x00\x04\x00\x78" + b"\xff\x1d" + photo[-2:]  # a DNL segment, then 0xFF1D
    (tmp_path / "photo.jpg").write_bytes(data)
    with pytest.raises(E.InvalidImage):
        images.decode_image(tmp_path / "photo.jpg", "image/jpeg", PIXELS)
    cut = len(photo) - 2 + 6  # the second PATCH begins with the unknown marker
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    assert tus.patch(http, wang.headers, location, 0, data[:cut]).status_code == 204
    answer = tus.patch(http, wang.headers, location, cut, data[cut:])
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_image"


def test_what_follows_the_end_of_the_image_is_neither_kept_nor_decoded(tmp_path):
    # An Ultra HDR photo's gain map, a motion photo's video: bytes after the end of the image, which neither
    # libjpeg nor the whole decode reads. The check keeps none of them and still answers (not decoded whole).
    data = _noise_jpeg((480, 320)) + _noise_jpeg((300, 200)) + random.Random(9).randbytes(300_000)
    path = tmp_path / "photo.jpg"
    path.write_bytes(data)
    check = _fed(data, 65536)
    assert check.result() == images.decode_image(path, "image/jpeg", PIXELS)
    assert check.decoded < 1_000


def _marker_put_in_scan(data: bytes, at: int) -> tuple[bytes, int]:
    """`data` with a frame marker (SOF0, `FF C0 00 02`) put in its scan at or after `at`, away from any 0xFF;
    where that 0xFF is, for a piece to end right after it."""
    while data[at] == 0xFF or data[at - 1] == 0xFF:
        at += 1
    return data[:at] + b"\xff\xc0\x00\x02" + data[at:], at


@pytest.mark.parametrize("path", ["searched", "dense"])
def test_a_marker_whose_ff_ends_a_patch_is_read_with_its_second_byte(http, wang, tmp_path, path):
    # Review of session 30: a 0xFF that ends a piece is the first byte of a marker or of a stuffed 0xFF; the
    # check carries it over to the next piece, which says which. Nothing tested that: with the carry dropped,
    # a marker inside the scan that the whole decode refuses (here a second frame) was never seen when a PATCH
    # ended between its 0xFF and its second byte, and the upload was stored (204). "searched": a photo's scan,
    # its markers alone given to libjpeg (`_scan`). "dense": a restart marker every block, so the first piece
    # goes to libjpeg whole and its last 0xFF waits (`held` in `_decode_all`); the frame marker sits near the
    # end, so the second piece is searched rather than decoded and only the carried 0xFF makes it a marker.
    if path == "searched":
        photo = _noise_jpeg((480, 320))
        data, at = _marker_put_in_scan(photo, len(photo) // 2)
    else:
        photo = _noise_jpeg((640, 480), restart_marker_blocks=1)
        data, at = _marker_put_in_scan(photo, len(photo) - 2_000)
    (tmp_path / "photo.jpg").write_bytes(data)
    with pytest.raises(E.InvalidImage):
        images.decode_image(tmp_path / "photo.jpg", "image/jpeg", PIXELS)
    cut = at + 1  # the first piece ends with the marker's 0xFF
    check = images.JpegCheck(PIXELS)
    check.feed(data[:cut])
    if path == "dense":
        assert check.decoded > cut // 2  # the first piece went to libjpeg, not to the search
    check.feed(data[cut:])
    assert check.result() is None
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    assert tus.patch(http, wang.headers, location, 0, data[:cut]).status_code == 204
    answer = tus.patch(http, wang.headers, location, cut, data[cut:])
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_image"

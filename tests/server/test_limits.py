"""Every limit (docs/security.md): going over it is a 4xx problem body naming the
limit in `limit`, never a 500 and never a partial write."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from bench import _tus as tus
from server.services import Store
from server.settings import Settings
from tests.conftest import SITE, Session
from tests.servers import serving

LIMITS = {"max_body_bytes": 4096, "max_changes_per_push": 3, "max_pull_limit": 2, "default_pull_limit": 2,
          "max_upload_bytes": 1024, "max_open_uploads_per_client": 2, "max_clients_per_user": 3,
          "max_open_upload_bytes_per_user": 450}


@pytest.fixture
def small(new_settings: Callable[..., Settings]) -> Iterator[tuple[TestClient[Any], Store]]:
    settings = new_settings("small", demo=True, **LIMITS)
    store = Store(settings)
    store.create_user("wang", "Wang", "technician", "demo")
    store.create_user("lin", "Lin", "supervisor", "demo")
    store.add_member(SITE, "wang")
    store.write_server_changes([("sites", SITE, {"name": "Test park"}, False)] + [
        ("devices", f"00000000-0000-4000-8000-00000000000{i}", {"site_id": SITE, "code": f"CAM-{i}"}, False)
        for i in range(5)
    ])
    with serving(settings, store) as client:
        yield client, store
    store.close()


def _everything(store: Store) -> dict[str, Any]:
    with store.read() as db:
        return {table: db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
                for table in ("rows", "receipts", "conflicts", "uploads", "meta")}


def _over(response: Any, status: int, code: str, limit: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert (body["code"], body["limit"]) == (code, limit)


def test_request_body_size(small):
    http, store = small
    wang, lin = Session(http, "wang"), Session(http, "lin")
    before = _everything(store)
    big = "x" * 5000
    _over(wang.push([wang.change("devices", "00000000-0000-4000-8000-000000000001", {"location": big})]),
          413, "body_too_large", 4096)
    _over(http.post("/auth/token", json={"username": "wang", "password": big}), 413, "body_too_large", 4096)
    # A supervisor's route: a technician's body is refused (403) before its size is known.
    _over(http.post(f"/api/sites/{SITE}/members", headers=lin.headers, json={"username": big}),
          413, "body_too_large", 4096)
    assert _everything(store) == before


def test_changes_per_push(small):
    http, store = small
    wang = Session(http, "wang")
    before = _everything(store)
    changes = [wang.change("devices", "00000000-0000-4000-8000-000000000001", {"location": f"l{i}"})
               for i in range(4)]
    _over(wang.push(changes), 413, "too_many_changes", 3)
    assert _everything(store) == before


def test_a_resend_of_changes_the_server_took_is_answered_from_their_receipts_whatever_their_number(small):
    # Regression (s26-desk, item 2): a push over `max_changes_per_push` was 413 before its seqs were read,
    # so a phone resending changes the server had taken (their answer lost, the limit lowered since) was
    # refused instead of told their stored results, as the contract says of a change at or below acked_seq.
    http, store = small
    wang = Session(http, "wang")
    changes = [wang.change("devices", f"00000000-0000-4000-8000-00000000000{i % 5}", {"location": f"l{i}"})
               for i in range(7)]
    first = [r for batch in (changes[:3], changes[3:6]) for r in wang.push(batch).json()["results"]]
    assert [r["status"] for r in first] == ["applied"] * 6
    before = _everything(store)
    again = wang.push(changes[:6])  # six, all taken: no new change
    assert again.status_code == 200, again.text
    assert (again.json()["acked_seq"], again.json()["results"]) == (6, first)
    assert _everything(store)["rows"] == before["rows"]
    # The limit counts the new ones: one new behind six taken is applied; four new are not.
    assert [r["status"] for r in wang.push(changes).json()["results"]] == ["applied"] * 7
    more = [wang.change("devices", "00000000-0000-4000-8000-000000000001", {"location": f"m{i}"}) for i in range(4)]
    before = _everything(store)
    _over(wang.push([*changes[5:], *more]), 413, "too_many_changes", 3)
    assert _everything(store) == before


def test_a_gap_past_the_limit_is_seq_gap_not_too_many_changes(small):
    # Regression (session 26, the final review): with the limit counting the changes above acked_seq, a
    # single change far past it (a server restored behind the phone, the token still valid) counted the
    # gap as new changes: 413 too_many_changes, which the phone halves down to one change and then gives
    # up on, instead of 409 seq_gap telling it to resend from acked_seq + 1.
    http, store = small
    wang = Session(http, "wang")
    wang.seq = 10  # its next change is seq 11; the server has acknowledged none (limit 3)
    before = _everything(store)
    r = wang.push([wang.change("devices", "00000000-0000-4000-8000-000000000001", {"location": "far"})])
    assert (r.status_code, r.json()["code"], r.json()["acked_seq"]) == (409, "seq_gap", 0), r.text
    assert _everything(store) == before


def test_pull_page_size_is_capped_not_refused(small):
    http, _ = small
    wang = Session(http, "wang")
    page = wang.pull(limit=500).json()
    assert len(page["rows"]) == 2 and page["has_more"]
    r = wang.pull(limit=10**9)
    assert (r.status_code, r.json()["code"]) == (400, "invalid_request")


def test_upload_size(small):
    http, store = small
    wang = Session(http, "wang")
    data = b"x" * 1025
    _over(tus.create(http, wang.headers, data, "image/jpeg"), 413, "upload_too_large", 1024)
    assert _everything(store)["uploads"] == []


def test_unfinished_uploads_per_client(small):
    http, store = small
    wang = Session(http, "wang")
    for i in range(2):
        assert tus.create(http, wang.headers, bytes([i]) * 100, "image/jpeg").status_code == 201
    before = _everything(store)
    third = tus.create(http, wang.headers, b"z" * 100, "image/jpeg")
    assert third.status_code == 429
    assert third.json()["limit"] == 2
    assert _everything(store) == before
    # Another client of the same user has its own allowance.
    other = Session(http, "wang")
    assert tus.create(http, other.headers, b"z" * 100, "image/jpeg",
                      sha256=hashlib.sha256(b"z" * 100).hexdigest()).status_code == 201


def test_unfinished_upload_bytes_per_user(small):
    # Regression (issue 9, finding 9): the open-upload limit was per client, and a user may enrol
    # many clients: each new client held another allowance of unfinished uploads.
    http, store = small
    first, second = Session(http, "wang"), Session(http, "wang")
    assert tus.create(http, first.headers, b"a" * 300, "image/jpeg").status_code == 201
    before = _everything(store)
    _over(tus.create(http, second.headers, b"b" * 151, "image/jpeg"), 429, "too_many_requests", 450)
    assert _everything(store) == before
    assert tus.create(http, second.headers, b"b" * 150, "image/jpeg").status_code == 201


def test_enrolled_clients_per_user(small):
    # Regression (issue 9, finding 9): a user could enrol any number of clients.
    http, store = small
    sessions = [Session(http, "wang") for _ in range(3)]
    before = _everything(store)
    with store.read() as db:
        clients = db.execute("SELECT * FROM clients ORDER BY id").fetchall()
    r = http.post("/auth/token", json={"username": "wang", "password": "demo"})
    _over(r, 429, "too_many_clients", 3)
    assert "revoke" in r.json()["detail"]
    with store.read() as db:
        assert db.execute("SELECT * FROM clients ORDER BY id").fetchall() == clients
    assert _everything(store) == before
    # An enrolled client still signs in; a revoked one frees its place.
    again = http.post("/auth/token", json={"username": "wang", "password": "demo",
                                           "client_id": sessions[0].client_id})
    assert again.status_code == 200
    assert http.delete(f"/api/clients/{sessions[1].client_id}", headers=sessions[0].headers).status_code == 204
    assert http.post("/auth/token", json={"username": "wang", "password": "demo"}).status_code == 200


def test_one_client_too_many_is_told_what_to_do_in_the_catalogues_words(small):
    """The docs' curl sign-in enrolled a client each paste, and the eleventh's 429 said "revoke one no longer used":
    nothing of why it filled up nor of signing in again with a client_id; the console's login page said "sign out
    on another first" (请先在其他终端上退出), which no phone can do. Both now tell what to do, from the catalogue."""
    from sync.messages import words
    from tests.server.test_console_site import ORIGIN

    http, _ = small
    for _ in range(3):
        Session(http, "wang")
    r = http.post("/auth/token", json={"username": "wang", "password": "demo"})
    _over(r, 429, "too_many_clients", 3)
    assert r.json()["detail"] == words("problems", "en")["too_many_clients"].format(held=3)
    assert "sign in with the client_id an earlier sign-in answered" in r.json()["detail"]
    csrf = http.get("/console/login").text.split('name="csrf" value="')[1].split('"')[0]
    page = http.post("/console/login", data={"username": "wang", "password": "demo", "csrf": csrf}, headers=ORIGIN)
    assert words("console", "zh")["too_many_clients"] in page.text
    assert "请主管在“登录终端”页吊销不再使用的终端" in page.text and "退出" not in page.text

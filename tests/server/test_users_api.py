"""Accounts through the API (issue 14, the office console's users page): `GET /api/users`, `POST /api/users`."""

from __future__ import annotations

from typing import Any

from tests.conftest import OTHER_SITE, SITE, server_args
from tests.helpers import ok, problem

STRONG = "correct horse battery"


def _users(http: Any, lin: Any) -> dict[str, Any]:
    return {u["username"]: u for u in ok(http.get("/api/users", headers=lin.headers))["users"]}


def _audit(http: Any, lin: Any, kind: str) -> list[dict[str, Any]]:
    return ok(http.get("/api/audit", params={"kind": kind}, headers=lin.headers))["entries"]


def test_a_supervisor_creates_a_technician_who_signs_in_and_sees_their_site(site, http, lin):
    body = {"username": "sun", "name": "孙师傅", "role": "technician", "password": STRONG, "sites": [SITE]}
    r = http.post("/api/users", json=body, headers=lin.headers)
    assert r.status_code == 201, r.text
    assert r.json() == {"username": "sun", "name": "孙师傅", "role": "technician", "disabled": False,
                        "sites": [SITE]}
    assert STRONG not in r.text
    listed = _users(http, lin)
    assert listed["sun"]["sites"] == [SITE] and listed["wang"]["sites"] == [SITE]
    assert listed["lin"] == {"username": "lin", "name": "Lin", "role": "supervisor", "disabled": False, "sites": []}
    token = http.post("/auth/token", json={"username": "sun", "password": STRONG, "client_name": "t"})
    assert token.status_code == 200
    headers = {"Authorization": f"Bearer {token.json()['token']}"}
    assert http.get(f"/api/sites/{SITE}/coverage", params={"period": "2026-Q4"}, headers=headers).status_code == 200
    [entry] = _audit(http, lin, "user_created")
    assert entry["username"] == "lin" and entry["detail"]["member"] == "sun" and entry["detail"]["sites"] == [SITE]
    assert STRONG not in str(entry)


def test_only_supervisors_list_and_create_accounts(http, wang, chen, lin):
    body = {"username": "sun", "name": "S", "role": "technician", "password": STRONG}
    for session in (wang, chen):
        problem(http.get("/api/users", headers=session.headers), 403, "forbidden")
        problem(http.post("/api/users", json=body, headers=session.headers), 403, "forbidden")
    assert "sun" not in _users(http, lin)


def test_the_command_line_makes_a_technician_and_their_sites_at_once(site, settings, store, http, lin):
    from server.cli import main

    store.write_server_changes([("sites", OTHER_SITE, {"name": "Other park"}, False)])
    assert main(["add-user", *server_args(settings), "sun", "--role", "technician",
                 "--password", STRONG, "--site", SITE, "--site", "Other park"]) == 0
    assert _users(http, lin)["sun"]["sites"] == sorted([SITE, OTHER_SITE])
    [entry] = _audit(http, lin, "user_created")
    assert entry["username"] is None and entry["detail"]["member"] == "sun"

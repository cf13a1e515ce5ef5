"""`fieldsync member`: the operator makes a technician a member of a site, or takes him off it, from the shell;
and a technician who left the company, taken off his sites, disabled and his phone revoked (s26-ops3, item 1)."""

from __future__ import annotations

from typing import Any

import pytest

from server.cli import main
from tests.conftest import SITE, Session, server_args
from tests.helpers import ok, problem, pull_all


def _members(http: Any, lin: Session) -> list[str]:
    return ok(http.get(f"/api/sites/{SITE}/members", headers=lin.headers))["members"]


def _audit(http: Any, lin: Session, after: int = 0) -> list[tuple[str, str | None, dict[str, Any]]]:
    """The membership entries of the audit trail after entry `after`."""
    entries = ok(http.get("/api/audit", params={"after": after}, headers=lin.headers))["entries"]
    return [(e["kind"], e["username"], e["detail"]) for e in entries if e["kind"].startswith("member_")]


def _last(http: Any, lin: Session) -> int:
    return max(e["id"] for e in ok(http.get("/api/audit", headers=lin.headers))["entries"])


def test_member_adds_and_removes_by_the_sites_name_or_id_once_audited_as_the_shell(site, settings, http, lin,
                                                                                  capsys):
    # Regression (s26-ops3, item 1): `add-user li --site X` of an existing user answered "there is already a
    # user li", and only a supervisor's token could make him a member.
    start = _last(http, lin)
    assert main(["member", *server_args(settings), "Test park", "zhao"]) == 0
    assert capsys.readouterr().out == "zhao: member of Test park; their phones' next pull brings the site\n"
    assert main(["member", *server_args(settings), SITE, "zhao"]) == 0
    assert capsys.readouterr().out == "zhao: already a member of Test park; nothing changed\n"
    assert _members(http, lin) == ["wang", "zhao"]
    assert main(["member", *server_args(settings), "Test park", "zhao", "--remove"]) == 0
    assert capsys.readouterr().out == ("zhao: no longer a member of Test park; their phones' next pull removes"
                                       " the site\n")
    assert main(["member", *server_args(settings), "Test park", "zhao", "--remove"]) == 0
    assert capsys.readouterr().out == "zhao: not a member of Test park; nothing changed\n"
    assert _members(http, lin) == ["wang"]
    assert _audit(http, lin, start) == [
        ("member_added", None, {"site_id": SITE, "member": "zhao", "via": "fieldsync member"}),
        ("member_removed", None, {"site_id": SITE, "member": "zhao", "via": "fieldsync member --remove"}),
    ]


@pytest.mark.parametrize(("site_ref", "username", "said"), [
    ("Nowhere park", "zhao", "no site named or with id 'Nowhere park'"),
    ("Test park", "nobody", "no user nobody"),
    ("Test park", "lin", "lin is not a technician"),  # a supervisor sees every site already
])
@pytest.mark.parametrize("remove", [False, True])
def test_member_refuses_in_one_line_and_changes_nothing(site, settings, http, lin, capsys, site_ref, username,
                                                        said, remove):
    start = _last(http, lin)
    if remove and username == "lin":
        said = ""  # taking a supervisor off a site he is no member of changes nothing, and is no mistake
    code = main(["member", *server_args(settings), site_ref, username, *(["--remove"] if remove else [])])
    out, err = capsys.readouterr()
    if said:
        assert (code, out, err) == (2, "", f"fieldsync: {said}\n")
    else:
        assert (code, out, err) == (0, "lin: not a member of Test park; nothing changed\n", "")
    assert _members(http, lin) == ["wang"]
    assert _audit(http, lin, start) == []


def test_a_technician_who_left_is_taken_off_disabled_and_his_phone_gets_nothing_more(site, settings, store, http,
                                                                                    lin):
    # The case the command is for, by docs/operations.md's steps: his phone neither pulls nor pushes again.
    phone = Session(http, "wang")
    rows, cursor = pull_all(phone)
    assert {r["id"] for r in rows} >= {SITE, site["cam1"]}
    assert main(["member", *server_args(settings), "Test park", "wang", "--remove"]) == 0
    assert main(["passwd", *server_args(settings), "wang", "--disable"]) == 0
    with store.read() as db:
        before = db.execute("SELECT count(*), max(version) FROM rows").fetchone()
    problem(phone.pull(cursor=cursor), 401, "unauthorized")
    check = phone.change("device_checks", "c" * 8 + "-0000-4000-8000-" + "0" * 12,
                         {"inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "fault",
                          "checked_by": "wang", "checked_at": "2026-12-01T08:00:00.000Z"}, delete=False)
    problem(phone.push([check]), 401, "unauthorized")
    problem(http.post("/auth/token", json={"username": "wang", "password": "demo", "client_name": "t"}), 403,
            "account_disabled")
    with store.read() as db:
        assert db.execute("SELECT count(*), max(version) FROM rows").fetchone() == before
    assert "wang" not in _members(http, lin)
    assert ok(http.get("/api/clients", params={"username": "wang"}, headers=lin.headers))["clients"][0]["revoked_at"]

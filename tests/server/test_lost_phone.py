"""A lost phone is cut off (issue 9, finding 2): refresh credentials instead of a stored
password, and a supervisor's new password or disabled account revokes every client at once."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from typing import Any

import pytest

from bench._server import ROOT
from server.cli import main as server_main
from server.services import Store
from server.settings import Settings
from tests.client_sdk.test_cli_messages import controlling_tty, read_pty
from tests.conftest import Session, server_args
from tests.helpers import problem as _problem

STRONG = "amber-kettle-9-orbit"


def _sign_in(http: Any, username: str, password: str = "demo", **extra: Any) -> Any:
    return http.post("/auth/token", json={"username": username, "password": password, "client_name": "t", **extra})


def _refresh(http: Any, client_id: str, secret: str, enrol: bool = False) -> Any:
    return http.post("/auth/refresh", json={"client_id": client_id, "refresh_token": secret, "enrol": enrol})


def _kinds(store: Store, kind: str) -> list[tuple[Any, ...]]:
    with store.read() as db:
        return db.execute("SELECT username, detail FROM audit WHERE kind = ? ORDER BY id", [kind]).fetchall()


# -- refresh credentials ------------------------------------------------------------------------


def test_a_refresh_credential_signs_its_own_client_in_again(http, store):
    first = _sign_in(http, "wang").json()
    assert first["refresh_token"]
    again = _refresh(http, first["client_id"], first["refresh_token"])
    assert again.status_code == 200, again.text
    assert again.json()["client_id"] == first["client_id"] and again.json()["token"] != first["token"]
    assert "refresh_token" not in again.json()  # the one it holds stays valid
    assert http.get("/sync/pull", headers={"Authorization": f"Bearer {again.json()['token']}"}).status_code == 200
    _problem(_refresh(http, first["client_id"], "x" * 43), 403, "client_unavailable")


def test_enrol_by_refresh_puts_a_new_client_in_the_old_ones_place(http, store):
    first = _sign_in(http, "wang").json()
    new = _refresh(http, first["client_id"], first["refresh_token"], enrol=True).json()
    assert new["client_id"] != first["client_id"] and new["refresh_token"] != first["refresh_token"]
    _problem(http.get("/sync/pull", headers={"Authorization": f"Bearer {first['token']}"}), 401, "unauthorized")
    _problem(_refresh(http, first["client_id"], first["refresh_token"]), 403, "client_unavailable")
    assert _refresh(http, new["client_id"], new["refresh_token"]).status_code == 200


def test_a_revoked_client_cannot_refresh(http, lin):
    first = _sign_in(http, "wang").json()
    assert http.delete(f"/api/clients/{first['client_id']}", headers=lin.headers).status_code == 204
    for enrol in (False, True):
        _problem(_refresh(http, first["client_id"], first["refresh_token"], enrol), 403, "client_unavailable")


def test_a_refresh_credential_dies_unused(http, store, settings):
    first = _sign_in(http, "wang").json()
    with store.write() as db:
        db.execute("UPDATE clients SET refresh_used_ms = refresh_used_ms - ?",
                   [(settings.refresh_idle_seconds + 1) * 1000])
    _problem(_refresh(http, first["client_id"], first["refresh_token"]), 403, "client_unavailable")
    # The password still signs the same client in, with a new credential.
    again = _sign_in(http, "wang", client_id=first["client_id"]).json()
    assert _refresh(http, first["client_id"], again["refresh_token"]).status_code == 200


# -- PATCH /api/users/{username} ----------------------------------------------------------------


def test_a_new_password_revokes_every_client_and_token_of_the_user(http, store, lin):
    phones = [_sign_in(http, "wang").json() for _ in range(2)]
    zhao = Session(http, "zhao")
    r = http.patch("/api/users/wang", headers=lin.headers, json={"password": STRONG})
    assert r.status_code == 200, r.text
    assert r.json() == {"username": "wang", "disabled": False, "revoked_clients": 2}
    for phone in phones:
        _problem(http.get("/sync/pull", headers={"Authorization": f"Bearer {phone['token']}"}), 401, "unauthorized")
        _problem(_refresh(http, phone["client_id"], phone["refresh_token"]), 403, "client_unavailable")
    _problem(_sign_in(http, "wang"), 401, "invalid_credentials")
    assert _sign_in(http, "wang", STRONG).status_code == 200
    assert zhao.pull().status_code == 200  # nobody else is touched
    [(actor, detail)] = _kinds(store, "password_changed")
    assert actor == "lin" and '"member":"wang"' in detail and '"revoked_clients":2' in detail


def test_a_disabled_user_is_cut_off_and_can_be_enabled_again(http, store, lin):
    phone = _sign_in(http, "wang").json()
    r = http.patch("/api/users/wang", headers=lin.headers, json={"disabled": True})
    assert r.json() == {"username": "wang", "disabled": True, "revoked_clients": 1}
    _problem(http.get("/sync/pull", headers={"Authorization": f"Bearer {phone['token']}"}), 401, "unauthorized")
    _problem(_refresh(http, phone["client_id"], phone["refresh_token"]), 403, "client_unavailable")
    _problem(_sign_in(http, "wang"), 403, "account_disabled")
    _problem(_sign_in(http, "wang", "wrong"), 401, "invalid_credentials")  # a guess learns nothing
    r = http.patch("/api/users/wang", headers=lin.headers, json={"disabled": False})
    assert r.json() == {"username": "wang", "disabled": False, "revoked_clients": 0}
    assert _sign_in(http, "wang").status_code == 200
    assert [a for a, _ in _kinds(store, "user_disabled") + _kinds(store, "user_enabled")] == ["lin", "lin"]


@pytest.mark.parametrize(("who", "username", "body", "status", "code"), [
    ("wang", "zhao", {"disabled": True}, 403, "forbidden"),
    ("lin", "nobody", {"disabled": True}, 404, "not_found"),
    ("lin", "wang", {}, 400, "invalid_request"),
    ("lin", "wang", {"role": "supervisor"}, 400, "invalid_request"),  # mass assignment
    ("lin", "wang", {"disabled": "yes"}, 400, "invalid_request"),
    ("lin", "wang", {"password": "demo"}, 400, "weak_password"),
    ("lin", "wang", {"password": "p" * 257}, 400, "invalid_request"),
    ("lin", "lin", {"disabled": True}, 400, "invalid_request"),  # a supervisor never locks themself out
])
def test_refused_user_updates_change_nothing(http, store, who, username, body, status, code):
    caller = Session(http, who)
    wang = Session(http, "wang")
    with store.read() as db:
        before = db.execute("SELECT username, password_hash, disabled_at FROM users ORDER BY 1").fetchall()
    _problem(http.patch(f"/api/users/{username}", headers=caller.headers, json=body), status, code)
    with store.read() as db:
        assert db.execute("SELECT username, password_hash, disabled_at FROM users ORDER BY 1").fetchall() == before
    assert wang.pull().status_code == 200 and caller.pull().status_code == 200


def test_a_sign_in_racing_a_password_change_gets_no_token(http, store, lin):
    """The password is checked on a read snapshot; the token is written only if it is still the password."""
    from sync.wire import TokenRequest

    real_check = store.throttle.succeeded

    def change_password_meanwhile(*args: Any) -> None:
        real_check(*args)
        store.update_user("wang", password=STRONG)

    store.throttle.succeeded = change_password_meanwhile  # type: ignore[method-assign]
    with pytest.raises(Exception) as refused:
        store.login(TokenRequest(username="wang", password="demo", client_name="t"))
    assert getattr(refused.value, "code", None) == "invalid_credentials"
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM tokens t JOIN clients c ON c.id = t.client_id"
                          " JOIN users u ON u.id = c.user_id WHERE u.username = 'wang'").fetchone()[0] == 0


# -- fieldsync passwd ---------------------------------------------------------------------------


def _passwd(settings: Settings, *args: str, typed: list[bytes]) -> tuple[int, str]:
    """`fieldsync passwd` as a process on a terminal of its own (getpass reads /dev/tty)."""
    master, slave = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "server.cli", "passwd", *server_args(settings), *args], cwd=ROOT,
                            env=env, stdin=slave, stdout=slave, stderr=slave, preexec_fn=controlling_tty)
    os.close(slave)
    try:
        seen = ""
        for prompt, line in zip(["new password for", "the same again"], typed, strict=False):
            seen += read_pty(master, proc, until=prompt)
            os.write(master, line + b"\n")
        seen += read_pty(master, proc)
        proc.wait(timeout=60)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, seen


def test_fieldsync_passwd_asks_twice_and_revokes_every_client(http, store, settings, lin):
    phone = Session(http, "wang")
    code, seen = _passwd(settings, "wang", typed=[STRONG.encode(), b"something-else-entirely"])
    assert code == 2 and "differ" in seen
    assert phone.pull().status_code == 200  # nothing changed
    code, seen = _passwd(settings, "wang", typed=[STRONG.encode(), STRONG.encode()])
    assert code == 0, seen
    assert "1 client(s) revoked" in seen
    _problem(phone.pull(), 401, "unauthorized")
    assert _sign_in(http, "wang", STRONG).status_code == 200
    [(actor, detail)] = _kinds(store, "password_changed")
    assert actor is None and '"member":"wang"' in detail


def test_fieldsync_passwd_disables_and_enables(http, settings, tmp_path):
    phone = Session(http, "wang")
    assert server_main(["passwd", *server_args(settings), "wang", "--disable"]) == 0
    _problem(phone.pull(), 401, "unauthorized")
    _problem(_sign_in(http, "wang"), 403, "account_disabled")
    assert server_main(["passwd", *server_args(settings), "wang", "--enable"]) == 0
    assert _sign_in(http, "wang").status_code == 200
    assert server_main(["passwd", *server_args(settings), "nobody", "--disable"]) == 2
    assert server_main(["passwd", "--data", str(tmp_path / "nowhere"), "wang", "--disable"]) == 2
    assert not (tmp_path / "nowhere").exists()


def _passwd_piped(settings: Settings, *args: str, stdin: bytes) -> subprocess.CompletedProcess[str]:
    """`fieldsync passwd` from a script: standard input a pipe, no terminal at all (a session of its own)."""
    return subprocess.run([sys.executable, "-m", "server.cli", "passwd", *server_args(settings), *args], cwd=ROOT,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, input=stdin.decode(), capture_output=True,
                          text=True, timeout=60, start_new_session=True)


def test_fieldsync_passwd_from_a_pipe_reads_one_line_not_an_eoferror_traceback(http, settings):
    """pgops found `echo … | fieldsync passwd` ended in getpass's EOFError traceback after one line."""
    empty = _passwd_piped(settings, "wang", stdin=b"")
    assert empty.returncode == 2 and "Traceback" not in empty.stderr, empty.stderr
    assert empty.stderr.strip() == "fieldsync: no password on standard input; nothing changed"
    assert _sign_in(http, "wang").status_code == 200  # nothing changed
    done = _passwd_piped(settings, "wang", stdin=STRONG.encode() + b"\n")
    assert done.returncode == 0 and "password changed" in done.stdout, done.stderr
    assert _sign_in(http, "wang", STRONG).status_code == 200

"""Site members, assignment, clients and sign-out, token expiry, sign-in throttling,
the password rule, and the audit trail (issue 5)."""

from __future__ import annotations

import threading
import uuid
from typing import Any

import pytest

from server.domains.identity.throttle import LoginThrottle
from server.services import Store
from sync import errors as E
from sync.schema import inspection_id
from sync.wire import TokenRequest
from tests.conftest import OTHER_SITE, SITE, Session
from tests.servers import serving


def _audit(lin: Session, **params: Any) -> list[dict[str, Any]]:
    r = lin.http.get("/api/audit", headers=lin.headers, params=params)
    assert r.status_code == 200
    return r.json()["entries"]


# -- members ---------------------------------------------------------------------------


def test_a_supervisor_adds_lists_and_removes_members(site, lin, zhao):
    url = f"/api/sites/{SITE}/members"
    assert lin.http.get(url, headers=lin.headers).json() == {"site_id": SITE, "members": ["wang"]}
    r = lin.http.post(url, headers=lin.headers, json={"username": "zhao"})
    assert (r.status_code, r.json()["members"]) == (200, ["wang", "zhao"])
    again = lin.http.post(url, headers=lin.headers, json={"username": "zhao"})
    assert (again.status_code, again.json()["members"]) == (200, ["wang", "zhao"])  # idempotent
    # zhao now sees the site, and its members
    assert zhao.http.get(url, headers=zhao.headers).json()["members"] == ["wang", "zhao"]
    assert lin.http.delete(f"{url}/zhao", headers=lin.headers).status_code == 204
    assert lin.http.delete(f"{url}/zhao", headers=lin.headers).status_code == 204  # idempotent
    assert lin.http.get(url, headers=lin.headers).json()["members"] == ["wang"]
    assert zhao.http.get(url, headers=zhao.headers).status_code == 404
    entries = _audit(lin, username="lin")
    assert [(e["kind"], e["detail"]) for e in entries if e["kind"].startswith("member_")] == [
        ("member_added", {"site_id": SITE, "member": "zhao"}),
        ("member_removed", {"site_id": SITE, "member": "zhao"}),
    ]
    assert all(e["client_id"] == lin.client_id for e in entries if e["kind"].startswith("member_"))


def test_members_of_an_unknown_site_or_user_and_of_the_wrong_role(site, lin, wang):
    unknown = str(uuid.uuid4())
    assert lin.http.post(f"/api/sites/{unknown}/members", headers=lin.headers,
                         json={"username": "zhao"}).json()["code"] == "not_found"
    assert lin.http.post(f"/api/sites/{SITE}/members", headers=lin.headers,
                         json={"username": "nobody"}).status_code == 404
    r = lin.http.post(f"/api/sites/{SITE}/members", headers=lin.headers, json={"username": "lin"})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_request")  # supervisors are not members
    r = lin.http.post(f"/api/sites/{SITE}/members", headers=lin.headers, json={"username": "zhao", "role": "x"})
    assert r.status_code == 400  # unknown fields are refused where a client writes
    r = wang.http.post(f"/api/sites/{SITE}/members", headers=wang.headers, json={"username": "wang"})
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = wang.http.post(f"/api/sites/{OTHER_SITE}/members", headers=wang.headers, json={"username": "wang"})
    assert (r.status_code, r.json()["code"]) == (404, "not_found")


def test_an_inspection_is_assigned_to_members_of_its_site_only(site, lin):
    insp = site["inspection"]
    [result] = lin.push([lin.change("inspections", insp, {"assigned_to": "zhao"})]).json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "invalid_field")
    assert "zhao" in result["detail"]
    [result] = lin.push([lin.change("inspections", insp, {"assigned_to": "wang"})]).json()["results"]
    assert result["status"] == "applied"
    # A new inspection for a period, assigned to a non-member, is refused too.
    q1 = inspection_id(SITE, "2027-Q1")
    [result] = lin.push([lin.change("inspections", q1, {"site_id": SITE, "period": "2027-Q1",
                                                         "assigned_to": "zhao"}, delete=False)]).json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "invalid_field")
    # Once zhao is a member, the same assignment goes through.
    lin.http.post(f"/api/sites/{SITE}/members", headers=lin.headers, json={"username": "zhao"})
    [result] = lin.push([lin.change("inspections", insp, {"assigned_to": "zhao"})]).json()["results"]
    assert result["status"] == "applied"


def test_a_plan_names_a_member_of_the_site(site, lin, store):
    url = f"/api/sites/{SITE}/plan"
    r = lin.http.put(url, headers=lin.headers, json={"frequency": "quarterly", "due_day": 20, "technician": "zhao"})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
    assert "zhao" in r.json()["detail"]
    r = lin.http.put(url, headers=lin.headers, json={"frequency": "quarterly", "due_day": 20, "technician": "wang"})
    assert r.status_code == 200
    # wang leaves the site: the plan still schedules, without assigning anyone.
    store.remove_member(SITE, "wang")
    r = lin.http.post("/api/inspections/generate", headers=lin.headers, json={"period": "2027-Q1"})
    assert r.json()["created"] == [inspection_id(SITE, "2027-Q1")]
    sheet = lin.http.get(f"/api/inspections/{inspection_id(SITE, '2027-Q1')}", headers=lin.headers).json()
    assert "assigned_to" not in sheet["inspection"]


# -- clients and sign-out ----------------------------------------------------------------


def test_clients_list_shows_sync_clock_offset_and_app(site, http, lin, wang, zhao):
    wang_phone = http.post("/auth/token", headers={"Fieldsync-App": "fieldsync-android/2.3.1"},
                           json={"username": "wang", "password": "demo", "client_name": "Pixel"}).json()
    phone = Session.__new__(Session)
    phone.http, phone.client_id, phone.seq = http, wang_phone["client_id"], 0
    phone.headers = {"Authorization": f"Bearer {wang_phone['token']}"}
    from sync import hlc

    phone.clock = hlc.Clock(phone.client_id)
    phone.push([], client_time="2026-11-20T10:15:00.000Z")
    everyone = lin.http.get("/api/clients", headers=lin.headers).json()["clients"]
    assert {c["user"] for c in everyone} == {"lin", "wang", "zhao"}
    [listed] = [c for c in everyone if c["id"] == phone.client_id]
    assert listed["name"] == "Pixel" and listed["app"] == "fieldsync-android/2.3.1"
    assert listed["last_sync_at"] is not None and listed["clock_offset_ms"] > 0  # the phone's clock is behind
    assert listed["revoked_at"] is None
    own = wang.http.get("/api/clients", headers=wang.headers).json()["clients"]
    assert {c["id"] for c in own} == {wang.client_id, phone.client_id}
    only = lin.http.get("/api/clients", headers=lin.headers, params={"username": "zhao"}).json()["clients"]
    assert [c["id"] for c in only] == [zhao.client_id]


def test_a_technician_signs_out_their_own_client_and_no_one_elses(site, http, wang, zhao, lin):
    spare = Session(http, "wang")
    r = zhao.http.delete(f"/api/clients/{spare.client_id}", headers=zhao.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert spare.pull().status_code == 200
    assert wang.http.delete(f"/api/clients/{spare.client_id}", headers=wang.headers).status_code == 204
    assert spare.pull().status_code == 401
    again = http.post("/auth/token", json={"username": "wang", "password": "demo", "client_name": "t",
                                           "client_id": spare.client_id})
    assert (again.status_code, again.json()["code"]) == (403, "client_unavailable")
    listed = {c["id"]: c for c in lin.http.get("/api/clients", headers=lin.headers).json()["clients"]}
    assert listed[spare.client_id]["revoked_at"] is not None
    [entry] = _audit(lin, kind="client_revoked")
    assert entry["username"] == "wang" and entry["client_id"] == wang.client_id
    assert entry["detail"] == {"revoked_client": spare.client_id, "owner": "wang"}


def test_an_idle_token_expires_and_the_client_signs_in_again_with_its_outbox(site, http, store, settings, wang):
    check_change = wang.change("devices", site["cam1"], {"location": "gate"})
    with store.write() as db:  # the token was last used longer ago than the idle limit
        db.execute("UPDATE tokens SET last_used_ms = last_used_ms - ?", [(settings.token_idle_seconds + 1) * 1000])
    r = wang.push([check_change])
    assert (r.status_code, r.json()["code"]) == (401, "token_expired")
    body = http.post("/auth/token", json={"username": "wang", "password": "demo", "client_name": "t",
                                          "client_id": wang.client_id}).json()
    assert body["client_id"] == wang.client_id
    wang.headers = {"Authorization": f"Bearer {body['token']}"}
    r = wang.push([check_change])  # the same outbox, the same seq
    assert r.json()["acked_seq"] == check_change["seq"] and r.json()["results"][0]["status"] == "applied"


# -- sign-in throttling -------------------------------------------------------------------


def test_failed_sign_ins_are_throttled_per_username_with_retry_after(site, http, lin):
    for _ in range(5):
        r = http.post("/auth/token", json={"username": "wang", "password": "guess", "client_name": "t"})
        assert r.json()["code"] == "invalid_credentials"
    r = http.post("/auth/token", json={"username": "wang", "password": "demo", "client_name": "t"})
    assert (r.status_code, r.json()["code"]) == (429, "login_throttled")  # even the right password
    assert int(r.headers["Retry-After"]) >= 1 and r.json()["limit"] == 5
    kinds = [e["kind"] for e in _audit(lin, username="wang")]
    assert kinds == ["login_failed"] * 5 + ["login_throttled"]


def _login(store: Store, username: str, password: str, address: str | None) -> str:
    try:
        store.login(TokenRequest(username=username, password=password, client_name="t"), None, address)
    except E.SyncError as exc:
        return exc.code
    return "ok"


def test_one_users_wrong_passwords_do_not_lock_out_the_office(store):
    # Regression (issue 10, item 7): after zhao's failures, lin and wang behind the same office NAT
    # got 429 for 300 s with their right passwords.
    office = "203.0.113.7"
    for _ in range(5):
        assert _login(store, "zhao", "guess", office) == "invalid_credentials"
    assert _login(store, "zhao", "demo", office) == "login_throttled"  # zhao, from the office: throttled
    assert _login(store, "lin", "demo", office) == "ok"
    assert _login(store, "wang", "demo", office) == "ok"
    assert _login(store, "zhao", "demo", "198.51.100.4") == "ok"  # zhao from home: the pair is the office's


def test_the_throttle_limits_each_key_with_its_defaults(store, settings):
    throttle = LoginThrottle(store.database, settings)
    now = 1_800_000_000_000

    def tries(username: str, address: str) -> int:
        return throttle.attempt(username, address, now_ms=now).wait

    # One username from many addresses: 20 failures, then that username is throttled from anywhere.
    for i in range(20):
        assert tries("zhao", f"10.0.1.{i}") == 0
    assert tries("zhao", "10.0.2.1") == 300
    assert tries("wang", "10.0.2.1") == 0
    # One address guessing many usernames: 100 failures, then every sign-in from it.
    for i in range(100):
        assert tries(f"user{i}", "10.0.0.9") == 0
    assert tries("lin", "10.0.0.9") == 300
    refused = throttle.attempt("lin", "10.0.0.9", now_ms=now)
    assert (refused.limit, refused.keys) == (100, ("addr",))
    assert tries("lin", "10.0.0.8") == 0
    # The window passes: the failures no longer count.
    later = now + settings.login_window_seconds * 1000 + 1
    assert throttle.attempt("zhao", "10.0.2.1", now_ms=later).wait == 0
    assert throttle.attempt("lin", "10.0.0.9", now_ms=later).wait == 0


def test_a_right_password_takes_its_attempt_back_and_clears_its_pair(store, settings):
    throttle = LoginThrottle(store.database, settings)
    now = 1_800_000_000_000
    for _ in range(4):
        throttle.attempt("wang", "10.0.0.9", now_ms=now)
    throttle.succeeded("wang", "10.0.0.9", throttle.attempt("wang", "10.0.0.9", now_ms=now))
    for _ in range(5):  # the pair starts afresh: five more before it is throttled
        assert throttle.attempt("wang", "10.0.0.9", now_ms=now).wait == 0
    assert throttle.attempt("wang", "10.0.0.9", now_ms=now).wait == 300
    # The office's successful sign-ins never count towards the address's limit.
    for i in range(200):
        throttle.succeeded(f"u{i}", "10.0.0.5", throttle.attempt(f"u{i}", "10.0.0.5", now_ms=now))
    assert throttle.attempt("lin", "10.0.0.5", now_ms=now).wait == 0


def test_concurrent_guesses_are_counted_before_they_are_checked(store):
    # Regression (issue 9, finding 14): the throttle was check-then-act; 40 concurrent guesses
    # got 6-7 passwords checked against a limit of 5.
    start = threading.Barrier(40)
    answers: list[str] = []

    def guess() -> None:
        start.wait()
        answers.append(_login(store, "wang", "guess", "192.0.2.1"))

    threads = [threading.Thread(target=guess) for _ in range(40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(set(answers)) == ["invalid_credentials", "login_throttled"]
    assert answers.count("invalid_credentials") == 5
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM audit WHERE kind = 'login_failed'").fetchone()[0] == 5


def test_a_throttled_key_is_audited_once_per_window(store):
    # Regression (issue 9, finding 4): every throttled sign-in wrote an audit row, credentials or not.
    for _ in range(5):
        assert _login(store, "wang", "guess", "192.0.2.1") == "invalid_credentials"
    for _ in range(30):
        assert _login(store, "wang", "guess", "192.0.2.1") == "login_throttled"
    with store.read() as db:
        kinds = [k for (k,) in db.execute("SELECT kind FROM audit WHERE kind LIKE 'login%' ORDER BY id")]
    assert kinds == ["login_failed"] * 5 + ["login_throttled"]
    with store.read() as db:
        detail = db.execute("SELECT detail FROM audit WHERE kind = 'login_throttled'").fetchone()[0]
    assert '"keys":["pair"]' in detail  # which limit it was: this username from this address


def test_the_throttle_reports_a_key_again_a_window_later(store, settings):
    throttle = LoginThrottle(store.database, settings)
    now = 1_800_000_000_000
    for _ in range(5):
        throttle.attempt("wang", "192.0.2.1", now_ms=now)
    assert [throttle.attempt("wang", "192.0.2.1", now_ms=now + i).report for i in range(3)] == [True, False, False]
    later = now + settings.login_window_seconds * 1000 + 1
    for _ in range(5):
        assert throttle.attempt("wang", "192.0.2.1", now_ms=later).wait == 0
    assert throttle.attempt("wang", "192.0.2.1", now_ms=later).report is True


def test_a_successful_sign_in_clears_its_usernames_failures(store):
    for _ in range(4):
        assert _login(store, "wang", "guess", "192.0.2.1") == "invalid_credentials"
    assert _login(store, "wang", "demo", "192.0.2.1") == "ok"
    for _ in range(4):
        assert _login(store, "wang", "guess", "192.0.2.1") == "invalid_credentials"
    assert _login(store, "wang", "demo", "192.0.2.1") == "ok"


# -- passwords -------------------------------------------------------------------------------


@pytest.mark.parametrize("password", [
    "short", "aaaaaaaaaaaaaaaa", "password123!", "Password123", "xx-chen-yy-1234", "123456789012",
])
def test_weak_passwords_are_refused_outside_demo_mode(new_settings, password):
    store = Store(new_settings("prod"))
    try:
        with pytest.raises(E.WeakPassword):
            store.create_user("chen", "Chen", "technician", password)
        assert store.create_user("chen", "Chen", "technician", "amber-kettle-9-orbit") is not None
    finally:
        store.close()


def test_demo_mode_accepts_the_published_demo_password(new_settings):
    store = Store(new_settings("demo", demo=True))
    try:
        store.create_user("chen", "Chen", "technician", "demo")
    finally:
        store.close()


# -- audit ------------------------------------------------------------------------------------


def test_sign_ins_are_audited_with_client_address_and_app(site, http, lin):
    http.post("/auth/token", headers={"Fieldsync-App": "fieldsync-ios/1.0"},
              json={"username": "zhao", "password": "demo", "client_name": "iPhone"})
    http.post("/auth/token", json={"username": "zhao", "password": "wrong", "client_name": "iPhone"})
    http.post("/auth/token", json={"username": "nobody", "password": "wrong", "client_name": "iPhone"})
    logins = [e for e in _audit(lin) if e["username"] in ("zhao", "nobody")]
    assert [(e["kind"], e["username"]) for e in logins] == [
        ("login", "zhao"), ("login_failed", "zhao"), ("login_failed", "nobody")]
    assert logins[0]["detail"] == {"enrolled": True, "app": "fieldsync-ios/1.0"}
    assert logins[0]["client_id"] is not None and logins[0]["address"] == "testclient"
    assert logins[1]["detail"] == {"known_user": True} and logins[2]["detail"] == {"known_user": False}


def test_the_audit_trail_is_for_supervisors_and_pages(site, http, lin, wang):
    r = wang.http.get("/api/audit", headers=wang.headers)
    assert (r.status_code, r.json()["code"]) == (403, "forbidden")
    r = lin.http.get("/api/audit", headers=lin.headers, params={"kind": "nonsense"})
    assert r.status_code == 400
    first = lin.http.get("/api/audit", headers=lin.headers, params={"limit": 1}).json()
    assert len(first["entries"]) == 1 and first["next_after"] == first["entries"][0]["id"]
    rest = lin.http.get("/api/audit", headers=lin.headers, params={"after": first["next_after"]}).json()
    assert [e["id"] for e in rest["entries"]] == sorted(e["id"] for e in rest["entries"])
    assert first["entries"][0]["id"] not in [e["id"] for e in rest["entries"]]


def test_an_id_beyond_sqlite_integers_is_a_400_not_a_500(site, lin):
    # Regression: `after=9223372036854775808` reached SQLite and raised OverflowError (a 500).
    for path in ("/api/conflicts", "/api/audit"):
        r = lin.http.get(path, headers=lin.headers, params={"after": 2**63})
        assert (r.status_code, r.json()["code"]) == (400, "invalid_request")


def test_membership_changes_by_the_server_itself_are_audited_without_an_actor(new_settings):
    settings = new_settings("s", demo=True)
    store = Store(settings)
    try:
        store.create_user("lin", "Lin", "supervisor", "demo")
        store.create_user("chen", "Chen", "technician", "demo")
        store.add_member(SITE, "chen")
        with serving(settings, store) as http:
            lin = Session(http, "lin")
            [entry] = _audit(lin, kind="member_added")
        assert (entry["username"], entry["client_id"], entry["detail"]) == (
            None, None, {"site_id": SITE, "member": "chen"})
    finally:
        store.close()

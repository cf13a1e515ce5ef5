"""The demo of `fieldsync init --demo`: the reference site's exact inventory, accounts, inspections."""

import uuid
from collections import Counter
from zoneinfo import ZoneInfo

import msgspec
import pytest

from server.cli import main
from server.domains.service.terms import TermsBook
from server.services import Store
from server.settings import Settings

REFERENCE_INVENTORY = {
    "camera_psu": 117, "poe_switch": 18, "core_switch": 1, "video_recorder": 4, "hard_disk": 20,
    "management_host": 2, "decoder": 2, "encoder": 8, "server": 1, "monitor": 28,
    "door_controller": 94, "magnetic_lock": 94, "card_reader": 118,
}
CAMERAS = {"dome_camera", "bullet_camera", "half_dome_camera"}


def _rows(store: Store, collection: str) -> list[dict]:
    with store.read() as db:
        return [
            {"id": i, "site_id": s, **msgspec.json.decode(f)}
            for i, s, f in db.execute("SELECT id, site_id, fields FROM rows WHERE collection = ?", [collection])
        ]


def test_init_demo_loads_the_reference_site(tmp_path, capsys):
    assert main(["init", "--data", str(tmp_path), "--demo"]) == 0
    store = Store(Settings(data_dir=tmp_path))
    try:
        sites = {s["name"]: s for s in _rows(store, "sites")}
        assert len(sites) == 2
        by_site = Counter((d["site_id"], d["kind"]) for d in _rows(store, "devices"))
        reference = max(sites.values(), key=lambda s: sum(n for (sid, _), n in by_site.items() if sid == s["id"]))
        kinds = {kind: n for (sid, kind), n in by_site.items() if sid == reference["id"]}
        assert sum(kinds.pop(k, 0) for k in CAMERAS) == 117
        assert kinds == REFERENCE_INVENTORY
        devices = _rows(store, "devices")
        assert all(d["code"] and d["location"] and d["serial_no"] for d in devices)
        assert len({d["code"] for d in devices if d["site_id"] == reference["id"]}) == 624
        templates = {t["kind"] for t in _rows(store, "checklist_templates")}
        assert {d["kind"] for d in devices} <= templates
        inspections = _rows(store, "inspections")
        assert len(inspections) == 2 and all(i["sheet_no"].startswith("PM-") for i in inspections)
        assert {i["assigned_to"] for i in inspections} == {"wang", "zhao"}
        with store.read() as db:
            users = dict(db.execute("SELECT username, role FROM users").fetchall())
        assert users == {"lin": "supervisor", "wang": "technician", "zhao": "technician", "chen": "service_desk"}
    finally:
        store.close()
    # A second init keeps what is there.
    assert main(["init", "--data", str(tmp_path), "--demo"]) == 0
    assert "already holds data" in capsys.readouterr().out


def test_add_user_refuses_a_weak_password_and_a_duplicate(tmp_path, capsys):
    assert main(["init", "--data", str(tmp_path)]) == 0
    assert main(["add-user", "--data", str(tmp_path), "li", "--role", "technician", "--password", "demo"]) == 2
    assert "password" in capsys.readouterr().err
    strong = "plant-room-basement-42"
    args = ["add-user", "--data", str(tmp_path), "li", "--name", "李工", "--role", "technician", "--password", strong]
    assert main(args) == 0
    assert main(args) == 2
    assert "already a user li" in capsys.readouterr().err


@pytest.mark.parametrize("username, name", [("Li", None), ("li wei", None), ("", None), ("l" * 65, None),
                                             ("li", "李\n工"), ("li", "工" * 201)])
def test_add_user_refuses_what_the_api_refuses(tmp_path, capsys, username, name):
    # Regression (found reading issue 14's leftovers): `fieldsync add-user` took any username, such
    # as "Li" or "li wei", which the API's POST /api/users refuses.
    assert main(["init", "--data", str(tmp_path)]) == 0
    args = ["add-user", "--data", str(tmp_path), username, "--role", "technician", "--password", "plant-room-basement-42"]
    assert main(args + (["--name", name] if name is not None else [])) == 2
    assert "nothing changed" in capsys.readouterr().err
    assert main(["add-user", "--data", str(tmp_path), "li", "--role", "technician",
                 "--password", "plant-room-basement-42"]) == 0  # nothing half-made blocks the right one


def test_serve_shows_only_the_demo_accounts_still_on_the_published_password(tmp_path):
    """`make run` prints whom to sign in as (issue 10); an account whose password was changed is not shown."""
    from server.cli import _demo_accounts
    from server.domains.identity.passwords import hash_password

    assert main(["init", "--data", str(tmp_path), "--demo"]) == 0
    assert _demo_accounts(Settings(data_dir=tmp_path)) == (
        "demo accounts, password demo: lin (林经理, supervisor), wang (王工, technician), zhao (赵工, technician), chen (陈, service_desk)")
    store = Store(Settings(data_dir=tmp_path))
    try:
        with store.write() as db:
            db.execute("UPDATE users SET password_hash = ? WHERE username = 'wang'",
                       [hash_password("a long private passphrase")])
    finally:
        store.close()
    assert _demo_accounts(Settings(data_dir=tmp_path)) == (
        "demo accounts, password demo: lin (林经理, supervisor), zhao (赵工, technician), chen (陈, service_desk)")


def test_the_demo_has_service_requests_in_every_state_with_live_clocks(tmp_path):
    """Issue 12, item 6: requests at both sites in every state, timed relative to the demo's creation;
    the breached one is breached and the at-risk one at risk by the same clock code the API uses."""
    from sync.clocks import clocks
    from sync.schema import NS

    assert main(["init", "--data", str(tmp_path), "--demo"]) == 0
    store = Store(Settings(data_dir=tmp_path))
    try:
        requests = {r["id"]: r for r in _rows(store, "service_requests")}
        by_key = {key: requests[str(uuid.uuid5(NS, f"demo/request/{key}"))] for key in (
            "received", "dispatched", "breached", "at_risk", "on_hold", "signed", "accepted", "in_service",
            "resolved", "cancelled", "closed")}
        assert {r["status"] for r in requests.values()} >= {
            "received", "dispatched", "accepted", "in_service", "on_hold", "resolved", "cancelled", "closed"}
        assert len({r["site_id"] for r in requests.values()}) == 2
        sites, devices = {s["id"]: s for s in _rows(store, "sites")}, {d["id"]: d for d in _rows(store, "devices")}
        events, visits = _rows(store, "service_events"), _rows(store, "service_visits")
        signatures = _rows(store, "signatures")
        book, now = TermsBook(), store.now_ms()

        def milestones(request: dict) -> dict[str, str]:
            site = sites[request["site_id"]]
            return {c.milestone.name: c.milestone.status for c in clocks(
                request, [e for e in events if e["request_id"] == request["id"]], {}, [],
                book.terms(site.get("contract")), site, devices.get(request.get("device_id")), now)}

        assert milestones(by_key["breached"])["on_site"] == "breached"
        assert milestones(by_key["at_risk"])["on_site"] == "at_risk"
        assert milestones(by_key["received"])["on_site"] == "pending"
        assert by_key["on_hold"]["status"] == "on_hold"
        assert [e["reason"] for e in events if e["request_id"] == by_key["on_hold"]["id"] and e["kind"] == "paused"] == [
            "customer_unavailable"]
        # Signed, awaiting its call-back: a resolved visit with the customer's signature on it, and
        # no call-back yet: the seal takes the status to `signed`.
        signed = by_key["signed"]
        (visit,) = [v for v in visits if v["request_id"] == signed["id"]]
        assert visit["outcome"] == "resolved" and visit["sheet_no"] == f"{signed['number']}-1"
        assert [(s["signer_role"], s["signer_name"]) for s in signatures if s.get("visit_id") == visit["id"]] == [
            ("customer", "黄工")]
        assert signed["status"] == "signed"
        # Created as the desk and the technicians would: events by the assigned technician, cancel and close by the desk.
        for e in events:
            request = requests[e["request_id"]]
            assert e["by"] == ("chen" if e["kind"] in ("cancelled", "closed") else request["assigned_to"])
            assert e["clock"] == "as_sent" and request["reported_at"] <= e["effective_at"] == e["at"]
        assigned = {(sites[r["site_id"]]["name"], r.get("assigned_to")) for r in requests.values()}
        assert assigned == {("科峰科技园", None), ("科峰科技园", "wang"), ("明德实验小学", "zhao")}
    finally:
        store.close()


def test_the_demo_has_charges_call_backs_and_a_duty_log(new_settings):
    """Issue 13, item 8: a few visits with charge lines (labour, a diagnosis, a consented part, a
    declined part), priced by the server; the signed visit's signature still verifies over its
    lines; a reached call-back and an unanswered attempt (the signed request still awaits its
    call-back); this month's duty roster and yesterday's calls, one `follow_up` still unresolved."""
    from datetime import datetime

    from sync import hlc
    from sync.periods import period_of
    from sync.schema import NS
    from tests.conftest import Session, server_args
    from tests.servers import serving

    settings = new_settings("demo")
    assert main(["init", *server_args(settings), "--demo"]) == 0
    store = Store(settings)

    def demo(*parts: str) -> str:
        return str(uuid.uuid5(NS, "/".join(("demo", *parts))))

    try:
        lines, callbacks = _rows(store, "charge_lines"), _rows(store, "callbacks")
        signatures = {s["id"]: s for s in _rows(store, "signatures")}
        assert {(line["item"], line.get("decision")) for line in lines} >= {
            ("labour", None), ("diagnosis", None), ("part", "agreed"), ("part", "declined")}
        # The signed visit: its customer's signature covers its lines, so it verifies and seals them.
        signed_visit, signature = demo("visit", "signed"), demo("signature", "signed")
        assert signatures[signature]["verification"] == "valid"
        assert {line["sealed_by"] for line in lines if line["visit_id"] == signed_visit} == {signature}
        with serving(settings, store) as http:
            lin = Session(http, "lin")

            def get(path: str, **params: str) -> dict:
                answer = http.get(path, headers=lin.headers, params=params)
                assert answer.status_code == 200, answer.text
                return answer.json()

            # The reference site's annual contract pays labour and the cheap connector; the declined
            # camera stays on the bill unbilled: the customer pays nothing.
            bill = get(f"/api/visits/{signed_visit}/bill")
            assert [(b["item"], b["covered"], b["billed"]) for b in bill["lines"]] == [
                ("labour", True, False), ("part", True, False), ("part", False, False)]
            assert bill["total_fen"] == 0
            # The school pays per visit, at the suburban price: 600 + 100 + 90 min of labour at 200 an
            # hour + the agreed 280 part = 1,280 yuan, and 6 % tax.
            bill = get(f"/api/visits/{demo('visit', 'resolved')}/bill")
            assert [(b["item"], b["amount_fen"], b["billed"]) for b in bill["lines"]] == [
                ("visit", 60000, True), ("diagnosis", 10000, True), ("labour", 30000, True), ("part", 28000, True)]
            assert (bill["subtotal_fen"], bill["tax_fen"], bill["total_fen"]) == (128000, 7680, 135680)

            # Call-backs: the closed visit's reached and satisfied (3 points, in its month's report);
            # the signed visit's only attempt went unanswered, so it still awaits its call-back.
            (reached,) = [c for c in callbacks if c["reached"]]
            assert (reached["visit_id"], reached["rating"], reached["points"]) == (demo("visit", "closed"), "satisfied", 3)
            (attempt,) = [c for c in callbacks if not c["reached"]]
            assert attempt["visit_id"] == signed_visit and attempt.get("points") is None
            assert {c["called_by"] for c in callbacks} == {"chen"}
            request = get(f"/api/service-requests/{demo('request', 'signed')}")
            (callback,) = [m for m in request["milestones"] if m["name"] == "callback"]
            assert request["status"] == "signed" and callback["done_at"] is None and callback["status"] != "met"
            called = datetime.fromtimestamp(hlc.parse_ts(reached["called_at"]) / 1000, ZoneInfo("Asia/Shanghai"))
            report = get("/api/reports/technicians", month=period_of(called.date(), "monthly"))
            (zhao,) = [t for t in report["technicians"] if t["username"] == "zhao"]
            assert (zhao["callbacks_reached"], zhao["points"], zhao["distribution"]["satisfied"]) == (1, 3, 1)

            # Duty: wang on the roster of this month (and the last, for yesterday's calls on the 1st);
            # both calls had him on duty, and the follow-up is still unresolved in its month's log.
            this_month = period_of(datetime.now(ZoneInfo("Asia/Shanghai")).date(), "monthly")
            rosters = {r["month"]: r["technician"] for r in _rows(store, "duty_roster")}
            assert rosters[this_month] == "wang" and set(rosters.values()) == {"wang"} and len(rosters) == 2
            calls = _rows(store, "duty_calls")
            assert [(c["on_duty"], c["logged_by"]) for c in calls] == [("wang", "wang")] * 2
            (follow_up,) = [c for c in calls if c["outcome"] == "follow_up"]
            received = datetime.fromtimestamp(hlc.parse_ts(follow_up["received_at"]) / 1000, ZoneInfo("Asia/Shanghai"))
            log = get("/api/duty/log", month=period_of(received.date(), "monthly"))
            assert [c["id"] for c in log["unresolved"]] == [follow_up["id"]]
            assert {c["id"] for c in log["calls"]} == {c["id"] for c in calls}
    finally:
        store.close()


def _has_latin_words(text: object) -> bool:
    """Whether `text` reads as English: two Latin words in a row (a model number such as DS-2DC4220IW-D,
    or 12V, is not)."""
    import re
    return isinstance(text, str) and re.search(r"[A-Za-z]{2,} [A-Za-z]{2,}", text) is not None


def test_the_demo_speaks_chinese_where_its_users_read(tmp_path):
    # Regression (s26-desk3 item 5): the demo's requests, events, visits, charge lines, call-backs and duty
    # calls were written in English ("Lobby dome camera shows no image since this morning", "No answer;
    # the desk tries again later") on the Chinese pages and sheets a customer is shown.
    settings = Settings(data_dir=tmp_path)
    assert main(["init", "--data", str(tmp_path), "--demo"]) == 0
    store = Store(settings)
    try:
        shown = {"service_requests": ("description",), "service_events": ("note",),
                 "service_visits": ("work_done", "fault_cause"), "charge_lines": ("description",),
                 "callbacks": ("comment",), "duty_calls": ("summary",)}
        for collection, names in shown.items():
            rows = _rows(store, collection)
            texts = [row[name] for row in rows for name in names if row.get(name)]
            assert texts, collection  # the demo writes some, so the check reads something
            assert [t for t in texts if _has_latin_words(t)] == [], collection
    finally:
        store.close()

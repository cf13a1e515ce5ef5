"""The demo of `fieldsync init --demo`: the reference site's exact inventory, accounts, inspections."""

import uuid
from collections import Counter

import msgspec

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


def test_serve_shows_only_the_demo_accounts_still_on_the_published_password(tmp_path):
    """`make run` prints whom to sign in as (issue 10); an account whose password was changed is not shown."""
    from server.cli import _demo_accounts
    from server.domains.identity.passwords import hash_password

    assert main(["init", "--data", str(tmp_path), "--demo"]) == 0
    assert _demo_accounts(tmp_path / "fieldsync.db") == (
        "demo accounts, password demo: lin (林经理, supervisor), wang (王工, technician), zhao (赵工, technician), chen (陈, service_desk)")
    store = Store(Settings(data_dir=tmp_path))
    try:
        with store.write() as db:
            db.execute("UPDATE users SET password_hash = ? WHERE username = 'wang'",
                       [hash_password("a long private passphrase")])
    finally:
        store.close()
    assert _demo_accounts(tmp_path / "fieldsync.db") == (
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

"""The demo of `fieldsync init --demo`: the reference site's exact inventory, accounts, inspections."""

from collections import Counter

import msgspec

from server.cli import main
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

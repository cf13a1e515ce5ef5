"""A technician removed from a site with changes still offline, then added again (issue 5)."""

from __future__ import annotations

from sync.schema import device_check_id
from tests.client_sdk.support import supervisor_rows


def _conflicts(http, lin, row_id):
    return http.get("/api/conflicts", headers=lin.headers, params={"row_id": row_id}).json()["conflicts"]


def test_removed_with_pending_changes_then_added_again(http, site, store, new_client, lin):
    phone = new_client(http, "phone")
    phone.sync()
    insp, cam1 = site["inspection"], site["cam1"]
    check = device_check_id(insp, cam1)
    assert phone.get("devices", cam1) is not None

    # Offline in the basement: a check is recorded. Meanwhile the office removes wang from the site.
    phone.record_check(insp, cam1, "fault", note="lens cracked")
    store.remove_member(site["site"], "wang")

    phone.sync()
    # The pending changes went first; the server kept them, rejected as forbidden.
    assert phone.pending() == []
    problems = {p["id"]: p for p in phone.problems()}
    assert problems[check]["status"] == "rejected" and problems[check]["reason"] == "forbidden"
    assert [(c["kind"], c["reason"], c["new_value"]["note"]) for c in _conflicts(http, lin, check)] == [
        ("rejected", "forbidden", "lens cracked")]
    # Then every row of the site left the phone; the templates stay.
    held = {(r["collection"], r["id"]) for r in phone.server_rows()}
    assert not {("sites", site["site"]), ("devices", cam1), ("inspections", insp)} & held
    assert phone.get("devices", cam1) is None and phone.get("device_checks", check) is None

    # Added again: the next sync brings the whole site back, rows older than the cursor included.
    store.add_member(site["site"], "wang")
    phone.sync()
    held = {(r["collection"], r["id"]) for r in phone.server_rows()}
    assert {("sites", site["site"]), ("devices", cam1), ("devices", site["cam2"]), ("inspections", insp)} <= held
    # The technician records the check again, now as a member: it counts.
    phone.record_check(insp, cam1, "fault", note="lens cracked")
    phone.sync()
    assert phone.get("device_checks", check)["fields"]["outcome"] == "fault"
    # The site holds nothing else, so the phone now holds exactly what a supervisor sees.
    assert phone.server_rows() == supervisor_rows(http)

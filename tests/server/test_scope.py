"""Scope changes travel through the pull cursor: a lost site's rows leave as `removed`,
a gained site's older rows arrive whole, and the version stream goes on after."""

from __future__ import annotations

import uuid

from sync.schema import device_check_id
from tests.helpers import pull_all as _pull_all

SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-site"))  # as in tests/conftest.py
OTHER_SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-other-site"))


def _other_site(store) -> list[str]:
    cams = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"other-cam{i}")) for i in range(4)]
    store.write_server_changes([
        ("sites", OTHER_SITE, {"name": "Other park"}, False),
        *[("devices", cam, {"site_id": OTHER_SITE, "kind": "dome_camera", "code": f"CAM-{i:03d}"}, False)
          for i, cam in enumerate(cams)],
    ])
    return [OTHER_SITE, *cams]


def test_removed_member_receives_every_row_of_the_site_once_as_removed(site, store, wang):
    held, cursor = _pull_all(wang, "0")
    site_rows = {r["id"] for r in held if r["collection"] != "checklist_templates"}
    assert site["cam1"] in site_rows
    assert store.remove_member(SITE, "wang")
    rows, cursor = _pull_all(wang, cursor)
    assert all(r["removed"] for r in rows)
    assert sorted(r["id"] for r in rows) == sorted(site_rows)  # each exactly once
    again, _ = _pull_all(wang, cursor)
    assert again == []


def test_a_new_member_receives_the_whole_site_even_rows_older_than_the_cursor(site, store, zhao, lin):
    other = _other_site(store)
    store.remove_member(OTHER_SITE, "zhao")
    _, cursor = _pull_all(zhao, "0")
    # Rows of wang's site were written before zhao's cursor.
    store.add_member(SITE, "zhao")
    rows, cursor = _pull_all(zhao, cursor, limit=2)
    assert {r["id"] for r in rows} >= {site["site"], site["cam1"], site["cam2"], site["inspection"]}
    assert not any(r["removed"] for r in rows)
    assert not set(other) & {r["id"] for r in rows}
    # Later writes to the site keep coming through the stream.
    lin.push([lin.change("devices", site["cam1"], {"location": "gate"})])
    later, _ = _pull_all(zhao, cursor)
    assert [(r["id"], r["fields"]["location"]) for r in later] == [(site["cam1"], "gate")]


def test_removed_then_readded_before_the_next_pull_changes_nothing_for_the_client(site, store, wang, lin):
    _, cursor = _pull_all(wang, "0")
    store.remove_member(SITE, "wang")
    lin.push([lin.change("devices", site["cam2"], {"location": "roof"})])
    store.add_member(SITE, "wang")
    rows, _ = _pull_all(wang, cursor)
    assert [(r["id"], r["removed"]) for r in rows] == [(site["cam2"], False)]


def test_pending_changes_of_a_removed_member_are_rejected_but_kept(site, store, wang, lin):
    check = device_check_id(site["inspection"], site["cam1"])
    change = wang.change("device_checks", check, {
        "inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "serviced",
        "checked_by": "wang", "checked_at": "2026-11-20T10:15:00.000Z"}, delete=False)
    store.remove_member(SITE, "wang")
    [result] = wang.push([change]).json()["results"]
    assert (result["status"], result["reason"]) == ("rejected", "forbidden")
    logged = lin.http.get("/api/conflicts", headers=lin.headers, params={"row_id": check}).json()["conflicts"]
    assert [(c["kind"], c["reason"], c["new_value"]["outcome"]) for c in logged] == [
        ("rejected", "forbidden", "serviced")]


def test_a_technician_pages_through_a_catch_up_without_repeats(site, store, zhao):
    store.remove_member(OTHER_SITE, "zhao")
    _, cursor = _pull_all(zhao, "0")
    store.add_member(SITE, "zhao")
    _other_site(store)
    store.add_member(OTHER_SITE, "zhao")
    rows, cursor = _pull_all(zhao, cursor, limit=1)
    ids = [r["id"] for r in rows]
    assert len(ids) == len(set(ids))
    assert {site["site"], site["cam1"], OTHER_SITE} <= set(ids)
    assert _pull_all(zhao, cursor)[0] == []


def test_a_row_without_a_site_reaches_technicians_only_when_its_collection_is_global(site, store, wang, lin):
    """Regression (issue 11): the pull filter read `site_id IS NULL` as "everybody's", so a row whose
    site could not be found (a device-parented collection stored with no site) went to every
    technician of every site. Now only a collection declared global is everybody's."""
    with store.write() as db:
        version = db.execute("SELECT CAST(value AS INTEGER) + 1 FROM meta WHERE key = 'version'").fetchone()[0]
        db.execute(
            "INSERT INTO rows(collection, id, site_id, fields, clocks, deleted, version, updated_ms)"
            " VALUES ('device_checks', 'siteless', NULL, '{\"note\": \"gate code 4711\"}', '{}', 0, ?, 0)",
            [version],
        )
        db.execute("UPDATE meta SET value = ? WHERE key = 'version'", [str(version)])
    rows, _ = _pull_all(wang, "0")
    assert "siteless" not in {r["id"] for r in rows}
    supervisor_rows, _ = _pull_all(lin, "0")
    assert "siteless" in {r["id"] for r in supervisor_rows}  # supervisors see every site, and rows of none

"""Rules found while reviewing the merge tests: strict wire types, deterministic inspection ids,
and the site of a rejected creation in the conflict log."""

import uuid

from sync.schema import device_check_id, inspection_id


def test_numeric_strings_are_not_coerced_into_seq(wang, store):
    """Bug: Litestar's lenient conversion accepted "seq": "1" as 1."""
    change = wang.change("device_checks", str(uuid.uuid4()), {})
    change["seq"] = "1"
    r = wang.push([change])
    assert r.status_code == 400 and r.json()["code"] == "invalid_request"
    with store.read() as db:
        assert db.execute("SELECT acked_seq FROM clients WHERE id = ?", [wang.client_id]).fetchone()[0] == 0


def test_string_boolean_is_not_coerced_into_delete(wang):
    change = wang.change("device_checks", str(uuid.uuid4()), {})
    change["delete"] = "true"
    assert wang.push([change]).status_code == 400


def test_inspection_id_must_be_the_uuid5_of_site_and_period(site, wang):
    """Two clients creating the same site's period offline must write one row, never two."""
    good = inspection_id(site["site"], "2026-Q3")
    r = wang.push([
        wang.change("inspections", str(uuid.uuid4()), {"site_id": site["site"], "period": "2026-Q3"}, delete=False),
        wang.change("inspections", good, {"site_id": site["site"], "period": "2026-Q3"}, delete=False),
    ])
    first, second = r.json()["results"]
    assert first["status"] == "rejected" and first["reason"] == "invalid_field"
    assert "uuid5" in first["detail"]
    assert second["status"] == "applied"


def test_rejected_creation_is_logged_under_its_site(site, wang, lin):
    """Bug: a rejected new check had no site in the conflict log, so the site filter missed it."""
    check = device_check_id(site["inspection"], site["cam1"])
    r = wang.push([wang.change("device_checks", check, {
        "inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "fault",
        "checked_by": "wang", "checked_at": "2026-11-20T10:15:00.000Z"}, delete=False)])
    assert r.json()["results"][0]["reason"] == "invalid_field"
    logged = lin.http.get("/api/conflicts", headers=lin.headers, params={"site_id": site["site"]}).json()
    assert [(c["row_id"], c["kind"]) for c in logged["conflicts"]] == [(check, "rejected")]


def test_epoch_header_follows_each_apps_own_store(new_settings):
    """Bug: a static response header was fixed on the shared handlers by the first app built."""
    from server.services import Store
    from tests.servers import serving

    epochs = []
    for name in ("one", "two"):
        settings = new_settings(name)
        store = Store(settings)
        with serving(settings, store) as http:
            for response in (http.get("/schema/openapi.json"), http.get("/sync/pull")):
                assert response.headers["fieldsync-server-epoch"] == store.server_epoch
        epochs.append(store.server_epoch)
        store.close()
    assert epochs[0] != epochs[1]


def test_a_snapshot_completes_after_tombstones_were_purged(site, store, lin):
    """Bug: every snapshot page after the first was below the horizon and got 410, forever."""
    doomed = str(uuid.uuid4())
    store.write_server_changes([("sites", doomed, {"name": "closed site"}, False)])
    old_cursor = lin.pull().json()["cursor"]
    store.write_server_changes([("sites", doomed, {}, True)])
    assert store.purge_tombstones(now_ms=10**13) == 1
    assert lin.pull(cursor=old_cursor).status_code == 410
    cursor, seen = "0", []
    while True:
        page = lin.pull(cursor=cursor, limit=1)
        assert page.status_code == 200, page.text
        body = page.json()
        seen += [row["id"] for row in body["rows"]]
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    assert doomed not in seen and len(seen) == len(set(seen)) == 4
    # The finished snapshot's cursor is an ordinary one again.
    assert lin.pull(cursor=cursor).status_code == 200 and not cursor.endswith(".s")

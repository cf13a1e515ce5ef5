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

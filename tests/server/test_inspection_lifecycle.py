"""Inspection status against the scheduler and retired devices."""

from server.domains.inspections.schemas import Plan
from server.domains.inspections.service import Inspections
from sync.schema import device_check_id, inspection_id


def _status(store, insp):
    import msgspec

    with store.read() as db:
        return msgspec.json.decode(
            db.execute("SELECT fields FROM rows WHERE collection = 'inspections' AND id = ?", [insp]).fetchone()[0])


def test_offline_in_progress_survives_a_later_generate(site, store, wang):
    """Bug: the scheduler's `scheduled` (newer clock) beat a technician's earlier offline `in_progress`."""
    insp = inspection_id(site["site"], "2027-Q1")
    offline = wang.change("inspections", insp, {"site_id": site["site"], "period": "2027-Q1",
                                                "status": "in_progress", "started_at": "2027-01-05T01:00:00.000Z"},
                          delete=False)
    inspections = Inspections(store)
    inspections.set_plan(site["site"], Plan(technician="wang"))
    assert inspections.generate("2027-Q1").created == [insp]
    assert _status(store, insp)["status"] == "scheduled"
    assert wang.push([offline]).json()["results"][0]["status"] == "applied"
    fields = _status(store, insp)
    assert fields["status"] == "in_progress" and fields["assigned_to"] == "wang" and fields["sheet_no"]


def test_generate_keeps_a_status_a_technician_already_pushed(site, store, wang):
    insp = inspection_id(site["site"], "2027-Q1")
    wang.push([wang.change("inspections", insp, {"site_id": site["site"], "period": "2027-Q1",
                                                 "status": "in_progress"}, delete=False)])
    inspections = Inspections(store)
    inspections.set_plan(site["site"], Plan())
    assert inspections.generate("2027-Q1").existing == [insp]
    assert _status(store, insp)["status"] == "in_progress"


def test_retiring_the_last_unchecked_device_completes_the_inspection(site, store, wang, lin):
    """Completion follows "every active device has an outcome", whichever side changes."""
    check = device_check_id(site["inspection"], site["cam1"])
    wang.push([wang.change("device_checks", check, {
        "inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "serviced",
        "checked_by": "wang", "checked_at": "2026-11-20T10:15:00.000Z"}, delete=False)])
    assert _status(store, site["inspection"])["status"] == "scheduled"
    r = lin.push([lin.change("devices", site["cam2"], {"status": "retired"})])
    assert r.json()["results"][0]["status"] == "applied"
    fields = _status(store, site["inspection"])
    assert fields["status"] == "completed" and fields["completed_at"]


def test_an_inspection_pushed_new_as_completed_with_devices_unchecked_is_refused(site, store, wang):
    # Regression (domain.md "Periodic maintenance sheet" / sync-protocol.md "Inspection status"; 规程
    # 定期维护单): a technician's `completed` is refused while an active device has no outcome. Created
    # new in that state it was applied: a quarter's inspection completed, with a sheet number, none checked.
    insp = inspection_id(site["site"], "2027-Q1")
    r = wang.push([wang.change("inspections", insp, {"site_id": site["site"], "period": "2027-Q1",
                                                     "status": "completed"}, delete=False)])
    result = r.json()["results"][0]
    assert result["status"] == "rejected" and result["reason"] == "incomplete", result
    assert "2 active devices" in result["detail"]
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM rows WHERE collection = 'inspections' AND id = ?",
                          [insp]).fetchone()[0] == 0


def test_an_inspection_pushed_new_as_completed_at_a_site_with_every_device_retired_is_completed(site, store,
                                                                                                 wang, lin):
    lin.push([lin.change("devices", site[cam], {"status": "retired"}) for cam in ("cam1", "cam2")])
    insp = inspection_id(site["site"], "2027-Q1")
    r = wang.push([wang.change("inspections", insp, {"site_id": site["site"], "period": "2027-Q1",
                                                     "status": "completed"}, delete=False)])
    assert r.json()["results"][0]["status"] == "applied"
    assert _status(store, insp)["status"] == "completed"


def _check_all(site, wang):
    return wang.push([wang.change("device_checks", device_check_id(site["inspection"], site[cam]), {
        "inspection_id": site["inspection"], "device_id": site[cam], "outcome": "serviced",
        "checked_by": "wang", "checked_at": "2026-11-20T10:15:00.000Z"}, delete=False) for cam in ("cam1", "cam2")])


def _codes(coverage):
    return {d["code"]: d["outcome"] for d in coverage["devices"]}


def test_a_device_serviced_then_retired_still_counts_as_serviced_that_quarter(site, store, http, wang, lin):
    # Regression (domain.md "Preventive maintenance", 规程 每季度维护保养一次 / 定期维护单): coverage and
    # the periodic maintenance sheet listed only the devices active now, so a camera serviced in November
    # and retired (replaced) in December vanished from the quarter's coverage and its signed sheet.
    _check_all(site, wang)
    assert _status(store, site["inspection"])["status"] == "completed"
    assert lin.push([lin.change("devices", site["cam1"], {"status": "retired"})]).json()["results"][0][
        "status"] == "applied"
    got = http.get(f"/api/sites/{site['site']}/coverage", params={"period": "2026-Q4"}, headers=lin.headers).json()
    assert (got["total"], got["serviced"], got["not_checked"]) == (2, 2, 0)
    assert _codes(got) == {"CAM-001": "serviced", "CAM-002": "serviced"}
    sheet = http.get(f"/api/inspections/{site['inspection']}", headers=lin.headers).json()
    assert _codes(sheet["coverage"]) == {"CAM-001": "serviced", "CAM-002": "serviced"}


def test_a_device_added_after_the_inspection_was_completed_is_not_on_its_sheet(site, store, http, wang, lin):
    # Regression (domain.md "Records": one periodic maintenance sheet per quarterly visit, signed by the
    # customer): a camera installed after the quarter's visit was done was printed on that visit's sheet
    # as "not checked", under the customer's seal; it is the next period's, and the open ones list it.
    _check_all(site, wang)
    cam3 = "1b2d6a52-6f0e-5a43-9d1c-3c8a3f2e0c03"
    lin.push([lin.change("devices", cam3, {"site_id": site["site"], "system": "video", "kind": "dome_camera",
                                           "code": "CAM-003", "status": "active"}, delete=False)])
    got = http.get(f"/api/sites/{site['site']}/coverage", params={"period": "2026-Q4"}, headers=lin.headers).json()
    assert (got["total"], got["serviced"], got["not_checked"]) == (2, 2, 0)
    assert _codes(got) == {"CAM-001": "serviced", "CAM-002": "serviced"}
    later = http.get(f"/api/sites/{site['site']}/coverage", params={"period": "2027-Q1"}, headers=lin.headers).json()
    assert _codes(later) == {"CAM-001": None, "CAM-002": None, "CAM-003": None}

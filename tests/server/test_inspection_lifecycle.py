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

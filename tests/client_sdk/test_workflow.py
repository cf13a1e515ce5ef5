"""The technician's workflow on the demo: list, walk the devices, check many at once, complete.

Everything between the first and the last sync runs with a transport that
fails every request, and the test proves no request was even attempted.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from client_sdk import Client
from client_sdk.cli import main
from server.demo import FIXTURES, load_demo
from server.services import Store
from server.settings import Settings
from sync import errors as E
from tests.client_sdk.support import switch_client
from tests.conftest import Session
from tests.servers import serving

REFERENCE = json.loads((FIXTURES / "reference_site.json").read_text(encoding="utf-8"))
SMALL = json.loads((FIXTURES / "small_site.json").read_text(encoding="utf-8"))
REF_SITE, SMALL_SITE = REFERENCE["site"]["id"], SMALL["site"]["id"]


def code_ids(data: dict[str, Any]) -> dict[str, str]:
    return {d["code"]: d["id"] for d in data["devices"]}


@pytest.fixture
def demo(new_settings: Callable[..., Settings]) -> Iterator[TestClient[Any]]:
    """The real app over `fieldsync init --demo`: the reference site (wang) and the small school (zhao)."""
    settings = new_settings("demo-server")
    store = Store(settings)
    load_demo(store)
    with serving(settings, store) as http:
        yield http
    store.close()


def phone_of(http: httpx.Client, tmp_path: Path, user: str) -> Client:
    phone = Client(tmp_path / f"{user}-phone.db", http)
    phone.login(user, "demo")
    phone.sync()
    return phone


def coverage(http: TestClient[Any], site_id: str, period: str, **params: str) -> dict[str, Any]:
    lin = Session(http, "lin")
    resp = http.get(f"/api/sites/{site_id}/coverage", params={"period": period, **params}, headers=lin.headers)
    assert resp.status_code == 200, resp.text
    return resp.json()  # type: ignore[no-any-return]


def test_forty_cameras_at_once_then_the_exceptions_offline_then_synced(demo, tmp_path):
    wire, transport = switch_client(demo)
    phone = phone_of(wire, tmp_path, "wang")
    [mine] = phone.my_inspections()
    period, insp = mine.period, mine.id
    assert mine.sheet_no == f"PM-{period.replace('-', '')}-0001" and mine.site_name == "科峰科技园"
    assert (mine.status, mine.checked, mine.total, mine.started_at) == ("scheduled", 0, 624, None)
    codes = code_ids(REFERENCE)
    cameras = [codes[f"CAM-{n:03d}"] for n in range(1, 41)]

    transport.online = False  # the basement: no signal from here on
    checks = phone.record_checks(insp, cameras, "serviced", items={"lens_cleaned": True, "focus_adjusted": True})
    assert len(checks) == len(set(checks)) == 40
    pending = phone.pending()
    # One change per device, after the one change that starts the inspection.
    assert len(pending) == 41 and [p["collection"] for p in pending[1:]] == ["device_checks"] * 40
    assert pending[0]["id"] == insp and pending[0]["fields"]["status"] == "in_progress"
    assert pending[0]["fields"]["started_at"]
    # The exceptions: two faults, one camera behind a locked ramp.
    phone.record_check(insp, codes["CAM-007"], "fault", note="IR LEDs dead, image black at night")
    phone.record_check(insp, codes["CAM-023"], "fault", note="dome cover cracked")
    phone.record_check(insp, codes["CAM-019"], "not_accessible", note="ramp closed for resurfacing")
    assert len(phone.pending()) == 44  # no second start: the inspection is in progress now

    [mine] = phone.my_inspections()
    assert (mine.status, mine.checked, mine.total) == ("in_progress", 40, 624)
    by_code = {
        d.code: d for g in phone.inspection_devices(insp) for loc in g.locations for d in loc.devices
    }
    fault = by_code["CAM-007"].check
    assert fault.outcome == "fault" and fault.note.startswith("IR LEDs")
    # The exception rewrote the result, not the items the bulk action ticked.
    assert fault.items == {"focus_adjusted": True, "lens_cleaned": True}
    assert by_code["CAM-007"].pending and by_code["CAM-041"].check is None
    assert len(phone.remaining(insp)) == 584
    with pytest.raises(E.InvalidRequest) as refused:
        phone.complete(insp)
    assert refused.value.extra["reason"] == "incomplete"
    assert refused.value.detail == "584 active devices of the site have no outcome yet"
    assert transport.refused == 0  # not one request was attempted offline
    with pytest.raises(httpx.ConnectError):
        phone.sync()
    assert transport.refused == 1 and len(phone.pending()) == 44

    transport.online = True  # back at the office
    report = phone.sync()
    assert report.pushed == 44 and {r.status for r in report.results} == {"applied"}
    assert phone.pending() == [] and phone.problems() == []
    got = coverage(demo, REF_SITE, period)
    counts = {k: got[k] for k in ("total", "serviced", "fault", "not_accessible", "skipped", "not_checked")}
    assert counts == {"total": 624, "serviced": 37, "fault": 2, "not_accessible": 1, "skipped": 0,
                      "not_checked": 584}
    rows = {d["code"]: d for d in got["devices"]}
    assert {c for c, d in rows.items() if d["outcome"] == "fault"} == {"CAM-007", "CAM-023"}
    assert rows["CAM-019"]["note"] == "ramp closed for resurfacing" and rows["CAM-019"]["checked_by"] == "wang"
    assert {c for c, d in rows.items() if d["outcome"]} == {f"CAM-{n:03d}" for n in range(1, 41)}
    cams = coverage(demo, REF_SITE, period, kind="dome_camera,bullet_camera,half_dome_camera")
    assert (cams["total"], cams["serviced"], cams["not_checked"]) == (117, 37, 77)
    # After the pull the client shows exactly the server's inspection.
    [mine] = phone.my_inspections()
    assert (mine.status, mine.checked) == ("in_progress", 40) and mine.started_at
    assert phone.get("inspections", insp) == next(
        r for r in phone.server_rows() if r["collection"] == "inspections" and r["id"] == insp)


def test_an_inspection_created_completed_is_refused_on_the_phone_as_at_the_server(demo, tmp_path):
    # Regression (domain.md "Periodic maintenance sheet" / sync-protocol.md "Inspection status"):
    # an inspection created already `completed` skipped the completeness rule on both ends.
    from sync.schema import inspection_id

    wire, _ = switch_client(demo)
    phone = phone_of(wire, tmp_path, "zhao")
    insp = inspection_id(SMALL_SITE, "2030-Q1")
    fields = {"site_id": SMALL_SITE, "period": "2030-Q1", "status": "completed"}
    with pytest.raises(E.InvalidRequest) as refused:
        phone.create("inspections", insp, fields)
    assert refused.value.extra["reason"] == "incomplete" and phone.pending() == []
    assert refused.value.detail == f"{len(SMALL['devices'])} active devices of the site have no outcome yet"
    zhao = Session(demo, "zhao")
    [result] = zhao.push([zhao.change("inspections", insp, fields, delete=False)]).json()["results"]
    assert (result["status"], result["reason"], result["detail"]) == ("rejected", "incomplete",
                                                                      refused.value.detail)


def test_remaining_and_completion_refused_then_done(demo, tmp_path):
    wire, transport = switch_client(demo)
    phone = phone_of(wire, tmp_path, "zhao")
    [mine] = phone.my_inspections()
    insp, period = mine.id, mine.period
    assert mine.total == 43
    order = [d.id for d in phone.remaining(insp)]
    assert sorted(order) == sorted(d["id"] for d in SMALL["devices"])

    transport.online = False
    phone.record_checks(insp, order[:40], "serviced")
    left = phone.remaining(insp)
    assert [d.id for d in left] == order[40:]
    with pytest.raises(E.InvalidRequest) as refused:
        phone.complete(insp)
    local = refused.value
    assert local.extra["reason"] == "incomplete" and len(phone.pending()) == 41
    assert transport.refused == 0

    # The server gives the same refusal to a client that pushes `completed` now.
    transport.online = True
    phone.sync()
    zhao = Session(demo, "zhao")
    [result] = zhao.push([zhao.change("inspections", insp, {"status": "completed"})]).json()["results"]
    assert (result["status"], result["reason"], result["detail"]) == ("rejected", "incomplete", local.detail)

    transport.online = False
    phone.record_checks(insp, [d.id for d in left], "skipped")
    assert phone.remaining(insp) == []
    seq = phone.complete(insp)
    assert seq == phone.pending()[-1]["seq"]
    assert phone.my_inspections()[0].status == "completed"
    assert phone.complete(insp) is None  # already completed here: nothing more to write
    with pytest.raises(E.InvalidRequest, match="already completed"):
        phone.start(insp)
    assert transport.refused == 0

    transport.online = True
    report = phone.sync()
    # The server completes the inspection itself with the last outcome, so the
    # client's own `completed` may lose to that equal value: it is never rejected.
    assert all(r.status in ("applied", "superseded") for r in report.results)
    assert [r.status for r in report.results[:-1]] == ["applied"] * 3
    got = coverage(demo, SMALL_SITE, period)
    assert (got["serviced"], got["skipped"], got["not_checked"]) == (40, 3, 0)
    [mine] = phone.my_inspections()
    assert (mine.status, mine.checked, mine.total) == ("completed", 43, 43) and mine.completed_at


def test_devices_are_grouped_by_system_then_location_with_their_checklists(demo, tmp_path):
    phone = phone_of(demo, tmp_path, "zhao")
    [mine] = phone.my_inspections()
    groups = phone.inspection_devices(mine.id)
    assert [g.system for g in groups] == ["video", "access", "network"]  # the protocol's order
    video = [loc.location for loc in groups[0].locations]
    assert len(video) == len(set(video)) and video[0] == "周界 东围墙"
    teaching = [v for v in video if v.startswith("教学楼 ")]
    assert teaching == ["教学楼 1 楼 走廊", "教学楼 1 楼 门厅", "教学楼 2 楼 走廊", "教学楼 3 楼 走廊"]
    gate = next(loc for loc in groups[0].locations if loc.location == "校门 车道")
    assert [d.code for d in gate.devices] == ["CAM-001", "PSU-001"]
    psu = gate.devices[1]
    assert psu.kind == "camera_psu" and psu.check is None and not psu.pending
    assert psu.items[0] == {"key": "output_mv", "label": "Output voltage (mV)", "label_zh": "输出电压（毫伏）",
                               "type": "int"}
    templates = {t["kind"]: t for t in json.loads((FIXTURES / "checklist_templates.json").read_text("utf-8"))}
    for group in groups:
        for location in group.locations:
            for device in location.devices:
                assert [i["key"] for i in device.items] == [i["key"] for i in templates[device.kind]["items"]]
    # Natural order of locations: pillar 3 before pillar 12 at the reference site.
    wang = phone_of(demo, tmp_path, "wang")
    [ref] = wang.my_inspections()
    pillars = [loc.location for loc in wang.inspection_devices(ref.id)[0].locations
               if loc.location.startswith("A座 B2 停车场") and loc.location.endswith(" 号柱")]
    assert [int(p.split()[-2]) for p in pillars] == [3, 6, 9, 12, 15, 18, 21, 24]


def test_a_bulk_check_the_server_would_refuse_records_nothing(demo, tmp_path):
    phone = phone_of(demo, tmp_path, "zhao")
    [mine] = phone.my_inspections()
    codes = code_ids(SMALL)
    cams = [codes[f"CAM-{n:03d}"] for n in range(1, 13)]
    with pytest.raises(E.InvalidRequest) as refused:
        phone.record_checks(mine.id, cams, "serviced", items={"ptz_ok": True})  # dome cameras only
    assert "nothing recorded" in refused.value.detail and "item.ptz_ok (unknown_item)" in refused.value.detail
    assert "CAM-001" in refused.value.detail and "CAM-003" not in refused.value.detail
    assert len(refused.value.extra["devices"]) == 9
    with pytest.raises(E.InvalidRequest, match="invalid_value"):
        phone.record_checks(mine.id, cams, "serviced", items={"lens_cleaned": "yes"})
    with pytest.raises(E.InvalidRequest, match="note is required when the outcome is fault"):
        phone.record_checks(mine.id, cams, "fault", note=" ")
    with pytest.raises(E.InvalidRequest, match="outcome"):
        phone.record_checks(mine.id, cams, "broken")
    with pytest.raises(E.InvalidRequest, match="at least one device"):
        phone.record_checks(mine.id, [], "serviced")
    assert phone.pending() == []
    assert phone.my_inspections()[0].status == "scheduled"  # not even started


def test_start_is_written_once(demo, tmp_path):
    phone = phone_of(demo, tmp_path, "wang")
    [mine] = phone.my_inspections()
    seq = phone.start(mine.id)
    [change] = phone.pending()
    assert change["seq"] == seq and change["fields"]["status"] == "in_progress" and change["fields"]["started_at"]
    assert phone.start(mine.id) is None
    phone.record_check(mine.id, code_ids(REFERENCE)["CAM-001"], "serviced")
    assert [p["collection"] for p in phone.pending()] == ["inspections", "device_checks"]
    assert [r.status for r in phone.sync().results] == ["applied", "applied"]
    assert phone.my_inspections()[0].started_at == change["fields"]["started_at"]
    with pytest.raises(E.NotFound):
        phone.start("00000000-0000-4000-8000-000000000000")


# -- the CLI -------------------------------------------------------------------


def run(http: httpx.Client, db: str, *argv: str) -> int:
    return main(["--db", db, *argv], http=http)


def test_cli_range_check_devices_left_and_complete(demo, tmp_path, capsys):
    db = str(tmp_path / "zhao-cli.db")
    assert run(demo, db, "login", "zhao", "--password", "demo") == 0
    assert run(demo, db, "sync") == 0
    capsys.readouterr()
    assert run(demo, db, "inspections") == 0
    sheet = capsys.readouterr().out.split()[0]
    assert sheet.startswith("PM-") and sheet.endswith("-0002")

    assert run(demo, db, "check", sheet, "CAM-001..CAM-012", "--outcome", "serviced",
               "--item", "lens_cleaned=true") == 0
    out = capsys.readouterr().out
    assert f"Started {sheet}: in progress." in out
    assert "Recorded 12 devices (CAM-001 … CAM-012): serviced (pending, seq 2–13)" in out
    # A range with the short right side, an int item typed by the template.
    assert run(demo, db, "check", sheet, "psu-001..012", "--outcome", "serviced", "--item", "output_mv=12100") == 0
    assert "Recorded 12 devices (PSU-001 … PSU-012)" in capsys.readouterr().out
    assert run(demo, db, "check", sheet, "CAM-003", "--outcome", "fault", "--note", "PTZ stuck") == 0
    capsys.readouterr()

    assert run(demo, db, "devices", sheet) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].endswith("in_progress  24/43 checked")
    lines = out.splitlines()
    assert lines[1] == "video" and lines[2] == "  周界 东围墙"
    assert "    CAM-003    dome_camera        fault: PTZ stuck  (not synced)" in lines
    assert "    HDD-01     hard_disk          -" in lines
    assert lines.index("access") < lines.index("network")

    assert run(demo, db, "devices", sheet, "--left", "--checklist") == 0
    out = capsys.readouterr().out
    assert "19 of 43 left to check" in out.splitlines()[0]
    assert "CAM-" not in out and "PSU-" not in out and "    SW-01      poe_switch         -" in out
    assert "Checklists:" in out and "  card_reader: Card reader quarterly check" in out
    assert "    reads_test_card        yes/no Reads test card / 测试卡读卡正常" in out.splitlines()

    assert run(demo, db, "complete", sheet) == 1
    assert f"Cannot complete {sheet}: 19 device(s) have no outcome yet" in capsys.readouterr().err

    assert run(demo, db, "check", sheet, "CAM-005..CAM-001", "--outcome", "serviced") == 2
    assert "lowest first" in capsys.readouterr().err
    assert run(demo, db, "check", sheet, "XYZ-001..XYZ-009", "--outcome", "serviced") == 2
    assert "No device" in capsys.readouterr().err
    assert run(demo, db, "check", sheet, "SW-01", "NVR-01", "HDD-01..HDD-02", "MON-01", "DC-001..DC-004",
               "LOCK-001..LOCK-004", "CR-001..CR-006", "--outcome", "serviced") == 0
    assert "Recorded 19 devices (SW-01 … CR-006)" in capsys.readouterr().out
    assert run(demo, db, "devices", sheet, "--left") == 0
    out = capsys.readouterr().out
    assert "0 of 43 left to check" in out and f"fieldsync-client complete {sheet}" in out

    assert run(demo, db, "complete", sheet) == 0
    assert f"Completed {sheet}: 43/43 devices have an outcome" in capsys.readouterr().out
    assert run(demo, db, "complete", sheet) == 0
    assert f"{sheet} is already completed." in capsys.readouterr().out
    assert run(demo, db, "sync") == 0
    assert "46 change(s) pushed" in capsys.readouterr().out
    assert run(demo, db, "inspections") == 0
    out = capsys.readouterr().out
    assert "completed" in out and "43/43" in out

"""GET /api/conflicts: every value that lost or was overwritten, and every rejection, is kept."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sync import hlc
from sync.hlc import Hlc
from sync.schema import device_check_id
from tests.helpers import ok as _ok
from tests.server.conftest import field

OTHER_SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-other-site"))
TS = "2026-11-20T10:15:00.000Z"


def _conflicts(session: Any, **params: Any) -> list[dict[str, Any]]:
    return _ok(session.http.get("/api/conflicts", headers=session.headers, params=params))["conflicts"]


def _at(session: Any, ago_ms: int) -> str:
    return str(Hlc(hlc.wall_ms() - ago_ms, 0, session.client_id))


@pytest.fixture
def story(site, wang, zhao, lin) -> dict[str, Any]:
    """Wang loses one value and has one overwritten; zhao and lin clash at the other site."""
    s: dict[str, Any] = {}
    s["lin_gate"] = _at(lin, 1_000)
    _ok(lin.push([lin.change("devices", site["cam1"], {"location": "gate"}, hlc_=s["lin_gate"])]))
    s["wang_lobby"] = _at(wang, 2_000)
    s["wang_s1"] = _at(wang, 3_000)
    check = device_check_id(site["inspection"], site["cam2"])
    s["check"] = check
    s["wang_result"] = _at(wang, 4_000)
    body = _ok(wang.push([
        wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=s["wang_lobby"]),  # loses to lin's
        wang.change("devices", site["cam1"], {"serial_no": "S1"}, hlc_=s["wang_s1"]),
        wang.change("device_checks", check, {"inspection_id": site["inspection"], "device_id": site["cam2"],
                                             "outcome": "fault", "note": "no power", "checked_by": "wang",
                                             "checked_at": TS}, delete=False, hlc_=s["wang_result"]),
        wang.change("sites", site["site"], {"name": "Wang's park"}),  # rejected: forbidden
        wang.change("devices", site["cam2"], {"location": "roof", "colour": "red"}),  # a rejected field
    ]))
    assert [r["status"] for r in body["results"]] == ["superseded", "applied", "applied", "rejected", "applied"]
    s["lin_s2"] = lin.clock.now()
    s["lin_result"] = lin.clock.now()
    _ok(lin.push([
        lin.change("devices", site["cam1"], {"serial_no": "S2"}, hlc_=s["lin_s2"]),  # overwrites wang's
        lin.change("device_checks", check, {"outcome": "serviced"}, hlc_=s["lin_result"]),
    ]))
    # The other site: zhao's value is overwritten by lin; wang has no part in it.
    s["other_cam"] = str(uuid.uuid4())
    _ok(lin.push([
        lin.change("sites", OTHER_SITE, {"name": "Plant"}, delete=False),
        lin.change("devices", s["other_cam"], {"site_id": OTHER_SITE, "code": "C-9"}, delete=False),
    ]))
    _ok(zhao.push([zhao.change("devices", s["other_cam"], {"location": "pit"})]))
    _ok(lin.push([lin.change("devices", s["other_cam"], {"location": "roof"})]))
    return s


def _one(entries: list[dict[str, Any]], **match: Any) -> dict[str, Any]:
    found = [e for e in entries if all(e.get(k) == v for k, v in match.items())]
    assert len(found) == 1, (match, entries)
    return found[0]


def test_supervisor_sees_lost_values_with_both_sides(site, story, lin, wang):
    entries = _conflicts(lin)
    lost = _one(entries, kind="lost", register="location")
    assert lost["collection"] == "devices" and lost["row_id"] == site["cam1"] and lost["site_id"] == site["site"]
    assert (lost["client_id"], lost["user"], lost["hlc"], lost["seq"]) == (wang.client_id, "wang", story["wang_lobby"], 1)
    assert (lost["old_value"], lost["new_value"]) == ("gate", "lobby")
    assert (lost["other_client_id"], lost["other_user"], lost["other_hlc"]) == (lin.client_id, "lin", story["lin_gate"])
    assert hlc.parse_ts(lost["at"]) > 0


def test_supervisor_sees_overwritten_values_with_both_sides(site, story, lin, wang):
    entries = _conflicts(lin)
    over = _one(entries, kind="overwritten", register="serial_no")
    assert (over["client_id"], over["user"], over["hlc"]) == (lin.client_id, "lin", story["lin_s2"])
    assert (over["old_value"], over["new_value"]) == ("S1", "S2")
    assert (over["other_client_id"], over["other_user"], over["other_hlc"]) == (wang.client_id, "wang", story["wang_s1"])


def test_group_values_are_logged_whole(site, story, lin, wang):
    over = _one(_conflicts(lin), kind="overwritten", register="result")
    assert over["row_id"] == story["check"]
    assert over["old_value"] == {"outcome": "fault", "note": "no power", "checked_by": "wang", "checked_at": TS}
    assert over["new_value"] == {"outcome": "serviced", "note": None, "checked_by": None, "checked_at": None}
    assert (over["other_user"], over["other_hlc"]) == ("wang", story["wang_result"])


def test_rejected_changes_and_fields_are_kept(site, story, lin, wang):
    entries = _conflicts(lin)
    rejected = _one(entries, kind="rejected")
    assert (rejected["collection"], rejected["row_id"], rejected["reason"]) == ("sites", site["site"], "forbidden")
    assert (rejected["user"], rejected["seq"]) == ("wang", 4)
    assert rejected["new_value"] == {"name": "Wang's park"}
    assert rejected["detail"]
    field = _one(entries, kind="rejected_field")
    assert (field["row_id"], field["register"], field["reason"], field["new_value"]) == (
        site["cam2"], "colour", "unknown_field", "red")
    assert (field["user"], field["seq"]) == ("wang", 5)


def test_nothing_else_is_logged(story, lin):
    kinds = sorted((e["kind"], e.get("register", "")) for e in _conflicts(lin))
    assert kinds == [("lost", "location"), ("overwritten", "location"), ("overwritten", "result"),
                     ("overwritten", "serial_no"), ("rejected", ""), ("rejected_field", "colour")]


def test_filters(site, story, lin):
    every = _conflicts(lin)
    by_row = _conflicts(lin, row_id=site["cam1"])
    assert {e["row_id"] for e in by_row} == {site["cam1"]} and len(by_row) == 2
    by_collection = _conflicts(lin, collection="device_checks")
    assert [e["register"] for e in by_collection] == ["result"]
    by_site = _conflicts(lin, site_id=OTHER_SITE)
    assert [(e["row_id"], e.get("user"), e.get("other_user")) for e in by_site] == [(story["other_cam"], "lin", "zhao")]
    assert len(_conflicts(lin, site_id=site["site"])) == len(every) - 1
    assert _conflicts(lin, collection="devices", row_id=site["cam1"], site_id=OTHER_SITE) == []


def test_technician_sees_only_entries_that_concern_them(site, story, lin, wang, zhao):
    mine = _conflicts(wang)
    assert mine and all("wang" in (e.get("user"), e.get("other_user")) for e in mine)
    assert story["other_cam"] not in {e["row_id"] for e in mine}
    assert len(mine) == len(_conflicts(lin)) - 1
    theirs = _conflicts(zhao)
    assert [(e["row_id"], e["kind"], e["old_value"], e["new_value"]) for e in theirs] == [
        (story["other_cam"], "overwritten", "pit", "roof")]
    # Filters narrow a technician's view too; they never widen it.
    assert _conflicts(zhao, site_id=site["site"]) == []


def test_paging(story, lin):
    every = _conflicts(lin)
    seen, after = [], 0
    while True:
        page = _ok(lin.http.get("/api/conflicts", headers=lin.headers, params={"after": after, "limit": 2}))
        seen += page["conflicts"]
        if page.get("next_after") is None:
            break
        after = page["next_after"]
    assert seen == every
    assert [e["id"] for e in every] == sorted(e["id"] for e in every)


def test_retry_logs_nothing_twice(site, story, lin, wang):
    before = _conflicts(lin)
    wang.seq = 0
    # Rebuild wang's first change exactly as sent: a replay is answered from receipts.
    replay = wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=story["wang_lobby"])
    assert _ok(wang.push([replay]))["results"][0]["status"] == "superseded"
    assert _conflicts(lin) == before


# -- a log a person can read (issue 10, finding 13) --------------------------------------------------


def test_entries_where_both_wrote_the_same_value_are_flagged_and_can_be_hidden(site, wang, lin):
    # Regression (issue 10, finding 13): `False → False` entries looked like lost work.
    check = device_check_id(site["inspection"], site["cam2"])
    _ok(lin.push([lin.change("device_checks", check, {"inspection_id": site["inspection"], "device_id": site["cam2"],
                                                      "item.lens_cleaned": False, "item.spare": 0}, delete=False)]))
    _ok(wang.push([wang.change("device_checks", check, {"item.lens_cleaned": False, "item.spare": False},
                               hlc_=_at(wang, 60_000)),
                   wang.change("devices", site["cam1"], {"location": "gate"}, hlc_=_at(wang, 60_000))]))
    _ok(lin.push([lin.change("devices", site["cam1"], {"location": "gate"})]))  # the same value, later
    _ok(wang.push([wang.change("sites", site["site"], {"name": "Wang's park"})]))  # rejected: forbidden
    every = _conflicts(lin)
    flags = sorted((e["kind"], e.get("register"), e.get("no_op", False)) for e in every)
    assert flags == [
        ("lost", "item.lens_cleaned", True),
        ("lost", "item.spare", False),  # `false` is not `0`
        ("overwritten", "location", True),
        ("rejected", None, False),
    ]
    real = _conflicts(lin, no_op=False)
    assert [e["id"] for e in real] == [e["id"] for e in every if not e.get("no_op")]
    assert [e["id"] for e in _conflicts(lin, no_op=True)] == [e["id"] for e in every if e.get("no_op")]
    # A hidden entry takes no place in a page: a page of one is the first real entry, not an empty one.
    page = _ok(lin.http.get("/api/conflicts", headers=lin.headers, params={"no_op": "false", "limit": 1}))
    assert [e["id"] for e in page["conflicts"]] == [real[0]["id"]]
    assert page["next_after"] == real[0]["id"]


def test_entries_name_rows_as_people_know_them(site, story, lin, store):
    with store.read() as db:
        [sheet_no] = db.execute(f"SELECT {field('sheet_no')} FROM rows WHERE id = ?",
                                [site["inspection"]]).fetchone()
    _ok(lin.push([lin.change("inspections", site["inspection"], {"due_on": "2026-12-21"}, hlc_=_at(lin, 600_000))]))
    labels = sorted((e["collection"], e["kind"], e.get("label")) for e in _conflicts(lin))
    assert labels == [
        ("device_checks", "overwritten", "CAM-002"),  # a check is named by its device
        ("devices", "lost", "CAM-001"),
        ("devices", "overwritten", "C-9"),  # zhao's, at the other site
        ("devices", "overwritten", "CAM-001"),
        ("devices", "rejected_field", "CAM-002"),
        ("inspections", "lost", sheet_no),
        ("sites", "rejected", "Test park"),
    ]
    assert sheet_no and sheet_no.startswith("PM-2026Q4-")


def test_a_label_names_nothing_outside_the_technicians_scope(site, story, wang, zhao):
    # A change to another site's row is logged as for a row that does not exist: so is its label.
    _ok(wang.push([wang.change("devices", story["other_cam"], {"location": "peek"})]))
    mine = [e for e in _conflicts(wang) if e["row_id"] == story["other_cam"]]
    assert mine and all(e.get("site_id") is None and e.get("label") is None for e in mine)
    assert "C-9" not in str(_conflicts(wang))
    assert _conflicts(zhao)[0]["label"] == "C-9"  # zhao is a member there


def test_a_refused_creation_is_named_from_what_it_sent(site, wang, lin):
    # Regression (noticed in issue 14): a rejected creation has no row, so its entry had no label
    # and the console showed the collection's name.
    new_cam = str(uuid.uuid4())
    wrong_check = str(uuid.uuid4())  # not the id the rule gives a check of this device
    _ok(wang.push([
        wang.change("devices", new_cam, {"site_id": site["site"], "system": "video", "kind": "dome_camera",
                                         "code": "CAM-NEW"}, delete=False),
        wang.change("device_checks", wrong_check, {"inspection_id": site["inspection"], "device_id": site["cam1"],
                                                    "outcome": "ok", "checked_by": "wang",
                                                    "checked_at": hlc.format_ts(hlc.wall_ms())}, delete=False),
    ]))
    found = {e["row_id"]: e for e in _conflicts(lin) if e["row_id"] in (new_cam, wrong_check)}
    assert {row: (e["kind"], e.get("label")) for row, e in found.items()} == {
        new_cam: ("rejected", "CAM-NEW"), wrong_check: ("rejected", "CAM-001")}

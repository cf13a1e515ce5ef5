"""Quarterly inspections (issue 3): plans, scheduling, checklist validation, completion, the supervisor's API.

Everything runs on the demo of `fieldsync init --demo`: the reference site
(624 devices, 117 of them cameras, technician wang) and the small school site
(43 devices, technician zhao), each with a quarterly plan and the current
quarter's inspection.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from server.demo import FIXTURES, load_demo
from server.domains.inspections.service import Inspections
from server.services import Caller, Store
from server.settings import Settings
from sync import hlc
from sync.hlc import Hlc
from sync.schema import device_check_id, inspection_id, is_timestamp
from tests.conftest import Session
from tests.helpers import copy_seeded, seeded_sqlite
from tests.helpers import ok as _ok
from tests.helpers import problem as _problem

REF = json.loads((FIXTURES / "reference_site.json").read_text(encoding="utf-8"))["site"]["id"]
SCHOOL = json.loads((FIXTURES / "small_site.json").read_text(encoding="utf-8"))["site"]["id"]
CAMERAS = ("dome_camera", "bullet_camera", "half_dome_camera")
TS = "2026-11-20T10:15:00.000Z"
# A period of its own, far from the demo's current quarter, for tests that schedule.
FUTURE = "2030-Q1"


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo on SQLite, built once for the module's tests in one process (a second a test)."""
    return seeded_sqlite(tmp_path_factory.mktemp("demo") / "server", load_demo)


@pytest.fixture
def store(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Store]:
    """The demo (which creates lin, wang and zhao), in place of the bare store of tests/conftest.py:
    on SQLite a copy of `demo_file`, a server of its own (epoch, cursor secret)."""
    if settings.database is None:
        copy_seeded(request.getfixturevalue("demo_file"), settings.db_path)
        store = Store(settings)
    else:
        store = Store(settings)
        load_demo(store)
    yield store
    store.close()


# -- helpers ---------------------------------------------------------------------------------


def _devices(store: Store, site_id: str, kinds: tuple[str, ...] | None = None) -> list[str]:
    """The site's device ids in code order."""
    with store.read() as db:
        found = [
            (msgspec.json.decode(f), i)
            for i, f in db.execute(
                "SELECT id, fields FROM rows WHERE collection = 'devices' AND site_id = ?", [site_id]
            )
        ]
    return [i for f, i in sorted(found, key=lambda x: x[0]["code"]) if kinds is None or f["kind"] in kinds]


def _row(store: Store, collection: str, row_id: str) -> dict[str, Any] | None:
    with store.read() as db:
        found = db.execute("SELECT fields FROM rows WHERE collection = ? AND id = ?", [collection, row_id]).fetchone()
    return None if found is None else msgspec.json.decode(found[0])


def _inspection_rows(store: Store, period: str) -> list[dict[str, Any]]:
    with store.read() as db:
        return [
            {"id": i, **msgspec.json.decode(f)}
            for i, f in db.execute("SELECT id, fields FROM rows WHERE collection = 'inspections'")
            if msgspec.json.decode(f)["period"] == period
        ]


def _check(session: Any, insp: str, device: str, outcome: str | None = "serviced", note: str | None = None,
           checked_at: str = TS, hlc_: str | None = None, **items: Any) -> dict[str, Any]:
    """One device_checks change as a technician's client sends it (creating the row)."""
    fields: dict[str, Any] = {"inspection_id": insp, "device_id": device, "outcome": outcome, "note": note,
                              "checked_by": session.username, "checked_at": checked_at}
    fields.update({f"item.{k}": v for k, v in items.items()})
    return session.change("device_checks", device_check_id(insp, device), fields, delete=False, hlc_=hlc_)


def _results(session: Any, changes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return _ok(session.push(changes))["results"]  # type: ignore[no-any-return]


def _conflicts(session: Any, **params: Any) -> list[dict[str, Any]]:
    return _ok(session.http.get("/api/conflicts", headers=session.headers, params=params))["conflicts"]  # type: ignore[no-any-return]


class User(Session):
    """A signed-in client that knows its user's name (checks are recorded under it)."""

    def __init__(self, http: Any, username: str) -> None:
        super().__init__(http, username)
        self.username = username


@pytest.fixture
def lin(http: Any) -> User:
    return User(http, "lin")


@pytest.fixture
def wang(http: Any) -> User:
    return User(http, "wang")


@pytest.fixture
def zhao(http: Any) -> User:
    return User(http, "zhao")


def _generate(session: Any, period: str) -> Any:
    return session.http.post("/api/inspections/generate", headers=session.headers, json={"period": period})


def _get(session: Any, path: str, **params: Any) -> Any:
    return session.http.get(path, headers=session.headers, params=params)


# -- scheduling ------------------------------------------------------------------------------


def test_generate_creates_one_inspection_per_planned_site_with_sheet_numbers(lin, store):
    body = _ok(_generate(lin, FUTURE))
    assert sorted(body["created"]) == sorted([inspection_id(REF, FUTURE), inspection_id(SCHOOL, FUTURE)])
    assert body["existing"] == []
    rows = {r["site_id"]: r for r in _inspection_rows(store, FUTURE)}
    assert set(rows) == {REF, SCHOOL}
    assert sorted(r["sheet_no"] for r in rows.values()) == ["PM-2030Q1-0001", "PM-2030Q1-0002"]
    assert rows[REF]["assigned_to"] == "wang" and rows[SCHOOL]["assigned_to"] == "zhao"
    assert {r["due_on"] for r in rows.values()} == {"2030-03-20"}
    assert {r["status"] for r in rows.values()} == {"scheduled"}


def test_generate_twice_creates_nothing_new(lin, store):
    first = _ok(_generate(lin, FUTURE))
    with store.read() as db:
        before = db.execute("SELECT collection, id, fields, clocks, version FROM rows ORDER BY version").fetchall()
        meta = db.execute("SELECT key, value FROM meta WHERE key <> 'hlc' ORDER BY key").fetchall()
    second = _ok(_generate(lin, FUTURE))
    assert second["created"] == []
    assert sorted(second["existing"]) == sorted(first["created"])
    with store.read() as db:
        assert db.execute(
            "SELECT collection, id, fields, clocks, version FROM rows ORDER BY version"
        ).fetchall() == before
        assert db.execute("SELECT key, value FROM meta WHERE key <> 'hlc' ORDER BY key").fetchall() == meta


def test_sheet_numbers_are_per_period(lin, store):
    _ok(_generate(lin, FUTURE))
    _ok(_generate(lin, "2030-Q2"))
    numbers = sorted(r["sheet_no"] for r in _inspection_rows(store, "2030-Q2"))
    assert numbers == ["PM-2030Q2-0001", "PM-2030Q2-0002"]
    # The demo's own quarter was numbered from 1 as well.
    current = sorted(r["sheet_no"] for r in _inspection_rows(store, "2026-Q4"))
    assert current == ["PM-2026Q4-0001", "PM-2026Q4-0002"]


def test_inspection_created_offline_then_generated_is_one_row_with_one_sheet_number(lin, wang, store):
    insp = inspection_id(REF, FUTURE)
    results = _results(wang, [wang.change("inspections", insp, {"site_id": REF, "period": FUTURE,
                                                                 "status": "in_progress", "started_at": TS},
                                          delete=False)])
    assert results[0]["status"] == "applied"
    made_offline = _row(store, "inspections", insp)
    assert made_offline["sheet_no"] == "PM-2030Q1-0001"  # given by the server as the row first appeared
    body = _ok(_generate(lin, FUTURE))
    assert body["existing"] == [insp]
    assert body["created"] == [inspection_id(SCHOOL, FUTURE)]
    rows = _inspection_rows(store, FUTURE)
    assert len([r for r in rows if r["site_id"] == REF]) == 1
    assert _row(store, "inspections", insp)["sheet_no"] == "PM-2030Q1-0001"
    assert _row(store, "inspections", insp)["status"] == "in_progress"
    assert _row(store, "inspections", inspection_id(SCHOOL, FUTURE))["sheet_no"] == "PM-2030Q1-0002"


def test_inspection_generated_then_created_offline_converges_on_the_generated_row(lin, wang, store):
    insp = inspection_id(REF, FUTURE)
    # The technician's phone made the inspection offline a minute before the scheduler ran.
    offline = str(Hlc(hlc.wall_ms() - 60_000, 0, wang.client_id))
    _ok(_generate(lin, FUTURE))
    generated = _row(store, "inspections", insp)
    results = _results(wang, [wang.change("inspections", insp, {"site_id": REF, "period": FUTURE, "started_at": TS},
                                          delete=False, hlc_=offline)])
    assert results[0]["status"] == "applied"
    row = _row(store, "inspections", insp)
    assert row["sheet_no"] == generated["sheet_no"]
    assert row["started_at"] == TS and row["due_on"] == "2030-03-20" and row["assigned_to"] == "wang"
    assert len([r for r in _inspection_rows(store, FUTURE) if r["site_id"] == REF]) == 1
    # A third party creating it yet again gets the same row, and no new number.
    _ok(_generate(lin, FUTURE))
    assert sorted(r["sheet_no"] for r in _inspection_rows(store, FUTURE)) == ["PM-2030Q1-0001", "PM-2030Q1-0002"]


def test_offline_inspections_of_two_sites_take_consecutive_sheet_numbers(wang, zhao, store):
    for session, site in ((zhao, SCHOOL), (wang, REF)):
        insp = inspection_id(site, FUTURE)
        _results(session, [session.change("inspections", insp, {"site_id": site, "period": FUTURE},
                                          delete=False)])
    assert _row(store, "inspections", inspection_id(SCHOOL, FUTURE))["sheet_no"] == "PM-2030Q1-0001"
    assert _row(store, "inspections", inspection_id(REF, FUTURE))["sheet_no"] == "PM-2030Q1-0002"


def test_generate_is_for_supervisors_and_checks_the_period(lin, wang):
    _problem(_generate(wang, FUTURE), 403, "forbidden")
    _problem(_generate(lin, "2030-Q5"), 400, "invalid_request")
    _problem(_generate(lin, "2030-M01"), 400, "invalid_request")


# -- plans ----------------------------------------------------------------------------------


def test_plan_put_and_get(lin, store):
    assert _ok(_get(lin, f"/api/sites/{REF}/plan")) == {"frequency": "quarterly", "due_day": 20, "technician": "wang"}
    plan = {"frequency": "monthly", "due_day": 31, "technician": "zhao"}
    store.add_member(REF, "zhao")  # a plan names a member of the site (issue 5)
    assert _ok(lin.http.put(f"/api/sites/{REF}/plan", headers=lin.headers, json=plan)) == plan
    assert _ok(_get(lin, f"/api/sites/{REF}/plan")) == plan


def test_a_plan_cannot_name_a_disabled_technician(lin, store):
    # Regression (s26-office3, item 3): the plan's membership check was a copy of the desk's that let
    # a disabled account through, so every generated inspection was assigned to someone who signs in
    # nowhere. Now the one check (storage/settle.py `is_member`) serves both; nothing is written.
    store.add_member(REF, "zhao")
    store.update_user("zhao", disabled=True)
    plan = {"frequency": "monthly", "due_day": 31, "technician": "zhao"}
    body = _problem(lin.http.put(f"/api/sites/{REF}/plan", headers=lin.headers, json=plan), 400, "invalid_request")
    assert "enabled" in body["detail"]
    assert _ok(_get(lin, f"/api/sites/{REF}/plan"))["technician"] == "wang"
    store.update_user("zhao", disabled=False)  # enabled again: the same plan is taken
    assert _ok(lin.http.put(f"/api/sites/{REF}/plan", headers=lin.headers, json=plan)) == plan


def test_plans_decide_which_sites_a_period_schedules(lin, store):
    store.add_member(SCHOOL, "wang")  # a plan names a member of the site (issue 5)
    _ok(lin.http.put(f"/api/sites/{SCHOOL}/plan", headers=lin.headers,
                     json={"frequency": "monthly", "due_day": 31, "technician": "wang"}))
    body = _ok(_generate(lin, "2030-M2"))
    assert body["created"] == [inspection_id(SCHOOL, "2030-M2")]
    row = _row(store, "inspections", inspection_id(SCHOOL, "2030-M2"))
    assert row["due_on"] == "2030-02-28"  # day 31 clamped to the month
    assert row["assigned_to"] == "wang" and row["sheet_no"] == "PM-2030M2-0001"
    body = _ok(_generate(lin, FUTURE))
    assert body["created"] == [inspection_id(REF, FUTURE)]  # the school is monthly now
    _ok(lin.http.put(f"/api/sites/{SCHOOL}/plan", headers=lin.headers, json={"frequency": "half_yearly"}))
    assert _ok(_generate(lin, "2030-H1"))["created"] == [inspection_id(SCHOOL, "2030-H1")]
    assert _row(store, "inspections", inspection_id(SCHOOL, "2030-H1"))["due_on"] == "2030-06-20"


def test_plans_are_for_supervisors_only(wang):
    _problem(wang.http.put(f"/api/sites/{REF}/plan", headers=wang.headers, json={"frequency": "monthly"}),
             403, "forbidden")
    _problem(_get(wang, f"/api/sites/{REF}/plan"), 403, "forbidden")


def test_plan_rejects_bad_values_and_unknown_sites(lin):
    put = lambda site, plan: lin.http.put(f"/api/sites/{site}/plan", headers=lin.headers, json=plan)  # noqa: E731
    _problem(put(REF, {"frequency": "weekly"}), 400, "invalid_request")
    _problem(put(REF, {"due_day": 0}), 400, "invalid_request")
    _problem(put(REF, {"technician": "lin"}), 400, "invalid_request")  # a supervisor, not a technician
    _problem(put(REF, {"technician": "nobody"}), 400, "invalid_request")
    unknown = str(uuid.uuid4())
    _problem(put(unknown, {"frequency": "quarterly"}), 404, "not_found")
    _problem(_get(lin, f"/api/sites/{unknown}/plan"), 404, "not_found")


# -- checklist validation -------------------------------------------------------------------------


@pytest.fixture
def school() -> dict[str, str]:
    return {"inspection": inspection_id(SCHOOL, "2026-Q4")}


def _school_camera(store: Store, kind: str = "dome_camera") -> str:
    return _devices(store, SCHOOL, (kind,))[0]


def test_outcome_outside_the_four_values_is_invalid_field(zhao, lin, store, school):
    cam = _school_camera(store)
    [result] = _results(zhao, [_check(zhao, school["inspection"], cam, outcome="ok")])
    assert result["status"] == "rejected" and result["reason"] == "invalid_field"
    assert "outcome" in result["detail"]
    assert _row(store, "device_checks", device_check_id(school["inspection"], cam)) is None
    [logged] = _conflicts(lin, row_id=device_check_id(school["inspection"], cam))
    assert (logged["kind"], logged["reason"], logged["user"]) == ("rejected", "invalid_field", "zhao")
    assert logged["new_value"]["outcome"] == "ok"


@pytest.mark.parametrize("outcome", ["fault", "not_accessible"])
@pytest.mark.parametrize("note", [None, "", "   "])
def test_fault_or_not_accessible_without_a_note_is_invalid_field(zhao, lin, store, school, outcome, note):
    cam = _school_camera(store)
    [result] = _results(zhao, [_check(zhao, school["inspection"], cam, outcome=outcome, note=note)])
    assert (result["status"], result["reason"]) == ("rejected", "invalid_field")
    assert "note" in result["detail"] and outcome in result["detail"]
    assert _row(store, "device_checks", device_check_id(school["inspection"], cam)) is None
    [logged] = _conflicts(lin, row_id=device_check_id(school["inspection"], cam))
    assert (logged["kind"], logged["reason"]) == ("rejected", "invalid_field")
    assert "note" in logged["detail"]


@pytest.mark.parametrize("outcome", ["fault", "not_accessible"])
def test_a_later_change_that_clears_the_note_is_rejected_and_the_note_stays(zhao, lin, store, school, outcome):
    cam = _school_camera(store)
    check = device_check_id(school["inspection"], cam)
    first = _check(zhao, school["inspection"], cam, outcome=outcome, note="lens cracked")
    assert _results(zhao, [first])[0]["status"] == "applied"
    # The same outcome again, the note now empty: on the merged row the note would be gone.
    cleared = zhao.change("device_checks", check, {"outcome": outcome, "note": "", "checked_by": "zhao",
                                                   "checked_at": TS})
    # Or the note left out of the group, which writes it as null.
    left_out = zhao.change("device_checks", check, {"outcome": outcome, "checked_by": "zhao", "checked_at": TS})
    results = _results(zhao, [cleared, left_out])
    assert [(r["status"], r["reason"]) for r in results] == [("rejected", "invalid_field")] * 2
    assert all("note" in r["detail"] for r in results)
    assert _row(store, "device_checks", check)["note"] == "lens cracked"
    logged = [c for c in _conflicts(lin, row_id=check) if c["kind"] == "rejected"]
    assert [c["reason"] for c in logged] == ["invalid_field", "invalid_field"]
    # An item ticked later, with no result group, leaves the note alone and stands.
    [later] = _results(zhao, [zhao.change("device_checks", check, {"item.lens_cleaned": False})])
    assert later["status"] == "applied"


def test_unknown_item_is_rejected_alone_and_the_rest_stands(zhao, lin, store, school):
    cam = _school_camera(store)
    check = device_check_id(school["inspection"], cam)
    [result] = _results(zhao, [_check(zhao, school["inspection"], cam, lens_cleaned=True, wiper_ok=True)])
    assert result["status"] == "applied"
    assert result["rejected_fields"] == {"item.wiper_ok": "unknown_item"}
    row = _row(store, "device_checks", check)
    assert row["outcome"] == "serviced" and row["item.lens_cleaned"] is True
    assert "item.wiper_ok" not in row
    [logged] = _conflicts(lin, row_id=check)
    assert (logged["kind"], logged["register"], logged["reason"], logged["new_value"]) == (
        "rejected_field", "item.wiper_ok", "unknown_item", True)


@pytest.mark.parametrize(("kind", "item", "value"), [
    ("dome_camera", "lens_cleaned", "yes"),  # bool item, text value
    ("dome_camera", "lens_cleaned", 1),  # bool item, int value
    ("camera_psu", "output_mv", True),  # int item, bool value
    ("camera_psu", "output_mv", "12100"),  # int item, text value
])
def test_wrongly_typed_item_is_rejected_alone_and_the_rest_stands(zhao, lin, store, school, kind, item, value):
    device = _school_camera(store, kind)
    check = device_check_id(school["inspection"], device)
    good = {"dome_camera": {"focus_adjusted": True}, "camera_psu": {"output_ok": True}}[kind]
    [result] = _results(zhao, [_check(zhao, school["inspection"], device, **{item: value}, **good)])
    assert result["status"] == "applied"
    assert result["rejected_fields"] == {f"item.{item}": "invalid_value"}
    row = _row(store, "device_checks", check)
    assert row["outcome"] == "serviced" and f"item.{item}" not in row
    assert all(row[f"item.{k}"] == v for k, v in good.items())
    [logged] = _conflicts(lin, row_id=check)
    assert (logged["kind"], logged["register"], logged["reason"], logged["new_value"]) == (
        "rejected_field", f"item.{item}", "invalid_value", value)


def test_well_typed_items_of_every_type_are_kept(zhao, store, school):
    psu = _school_camera(store, "camera_psu")
    [result] = _results(zhao, [_check(zhao, school["inspection"], psu, output_mv=12100, output_ok=True)])
    assert result == {"seq": 1, "status": "applied"}
    row = _row(store, "device_checks", device_check_id(school["inspection"], psu))
    assert (row["item.output_mv"], row["item.output_ok"]) == (12100, True)


def test_a_rejection_and_a_rejected_field_are_both_in_the_conflict_log(zhao, lin, store, school):
    cams = _devices(store, SCHOOL, CAMERAS)
    changes = [
        _check(zhao, school["inspection"], cams[0], outcome="broken"),
        _check(zhao, school["inspection"], cams[1], outcome="fault"),
        _check(zhao, school["inspection"], cams[2], wiper_ok=True),
        _check(zhao, school["inspection"], cams[3], lens_cleaned="yes"),
    ]
    results = _results(zhao, changes)
    assert [r["status"] for r in results] == ["rejected", "rejected", "applied", "applied"]
    logged = {(c["row_id"], c["kind"], c["reason"]) for c in _conflicts(lin)}
    assert logged == {
        (device_check_id(school["inspection"], cams[0]), "rejected", "invalid_field"),
        (device_check_id(school["inspection"], cams[1]), "rejected", "invalid_field"),
        (device_check_id(school["inspection"], cams[2]), "rejected_field", "unknown_item"),
        (device_check_id(school["inspection"], cams[3]), "rejected_field", "invalid_value"),
    }
    # The technician sees their own entries too.
    assert len(_conflicts(zhao)) == 4


# -- completion -------------------------------------------------------------------------------


def _status(store: Store, insp: str) -> dict[str, Any]:
    return _row(store, "inspections", insp)  # type: ignore[return-value]


def test_completed_is_refused_as_incomplete_with_the_count(zhao, store, school):
    insp = school["inspection"]
    devices = _devices(store, SCHOOL)
    assert len(devices) == 43
    [result] = _results(zhao, [zhao.change("inspections", insp, {"status": "completed"})])
    assert (result["status"], result["reason"]) == ("rejected", "incomplete")
    assert result["detail"].startswith("43 ")
    _results(zhao, [_check(zhao, insp, d) for d in devices[:40]])
    [result] = _results(zhao, [zhao.change("inspections", insp, {"status": "completed"})])
    assert (result["reason"], result["detail"][:2]) == ("incomplete", "3 ")
    # Earlier changes of the same batch count.
    results = _results(zhao, [_check(zhao, insp, devices[40]), _check(zhao, insp, devices[41]),
                              zhao.change("inspections", insp, {"status": "completed"})])
    assert (results[2]["reason"], results[2]["detail"][:2]) == ("incomplete", "1 ")
    assert _status(store, insp)["status"] == "scheduled"
    assert "completed_at" not in _status(store, insp)


def test_a_check_without_an_outcome_does_not_count(zhao, store, school):
    insp = school["inspection"]
    devices = _devices(store, SCHOOL)
    _results(zhao, [_check(zhao, insp, d) for d in devices[:42]])
    # Items ticked on the last device, but no outcome yet.
    [result] = _results(zhao, [_check(zhao, insp, devices[42], outcome=None, lens_cleaned=True)])
    assert result["status"] == "applied"
    assert _status(store, insp)["status"] == "scheduled"
    [result] = _results(zhao, [zhao.change("inspections", insp, {"status": "completed"})])
    assert (result["reason"], result["detail"][:2]) == ("incomplete", "1 ")


def test_the_server_completes_the_inspection_with_the_last_outcome(zhao, store, school):
    insp = school["inspection"]
    devices = _devices(store, SCHOOL)
    _results(zhao, [_check(zhao, insp, d) for d in devices[:42]])
    assert _status(store, insp)["status"] == "scheduled"
    _results(zhao, [_check(zhao, insp, devices[42], outcome="fault", note="no power")])
    row = _status(store, insp)
    assert row["status"] == "completed"
    assert is_timestamp(row["completed_at"])
    # A technician's own `completed` is now accepted and changes nothing.
    [result] = _results(zhao, [zhao.change("inspections", insp, {"status": "completed"})])
    assert result["status"] == "applied"
    assert _status(store, insp)["completed_at"] == row["completed_at"]


def test_the_server_completes_within_one_batch_of_every_check(zhao, store, school):
    insp = school["inspection"]
    results = _results(zhao, [_check(zhao, insp, d) for d in _devices(store, SCHOOL)])
    assert {r["status"] for r in results} == {"applied"}
    assert _status(store, insp)["status"] == "completed"


@pytest.mark.parametrize("order", list(itertools.permutations(["wang", "zhao"])))
def test_completion_in_either_arrival_order_of_two_technicians_last_checks(http, store, school, order):
    store.add_member(SCHOOL, "wang")
    sessions = {name: User(http, name) for name in ("wang", "zhao")}
    insp = school["inspection"]
    devices = _devices(store, SCHOOL)
    zhao = sessions["zhao"]
    _results(zhao, [_check(zhao, insp, d) for d in devices[:41]])
    # Each technician checks one of the last two devices offline, then they sync in this order.
    last = {"wang": devices[41], "zhao": devices[42]}
    pending = {name: [_check(s, insp, last[name])] for name, s in sessions.items()}
    first, second = order
    assert _results(sessions[first], pending[first])[0]["status"] == "applied"
    row = _status(store, insp)
    assert row["status"] == "scheduled" and "completed_at" not in row
    assert _results(sessions[second], pending[second])[0]["status"] == "applied"
    row = _status(store, insp)
    assert row["status"] == "completed" and is_timestamp(row["completed_at"])


@pytest.mark.parametrize("order", list(itertools.permutations(["wang", "zhao"])))
def test_completion_when_both_technicians_check_the_same_last_device(http, store, school, order):
    store.add_member(SCHOOL, "wang")
    sessions = {name: User(http, name) for name in ("wang", "zhao")}
    insp = school["inspection"]
    devices = _devices(store, SCHOOL)
    _results(sessions["zhao"], [_check(sessions["zhao"], insp, d) for d in devices[:42]])
    pending = {name: [_check(s, insp, devices[42])] for name, s in sessions.items()}
    first, second = order
    _results(sessions[first], pending[first])
    assert _status(store, insp)["status"] == "completed"
    completed_at = _status(store, insp)["completed_at"]
    _results(sessions[second], pending[second])
    assert _status(store, insp)["status"] == "completed"
    assert _status(store, insp)["completed_at"] == completed_at


def test_a_technicians_completed_is_accepted_with_the_last_check_of_the_batch(zhao, store, school):
    insp = school["inspection"]
    devices = _devices(store, SCHOOL)
    results = _results(zhao, [*[_check(zhao, insp, d) for d in devices],
                              zhao.change("inspections", insp, {"status": "completed"})])
    assert {r["status"] for r in results[:-1]} == {"applied"}
    # The server completed it with the last check, at a later HLC: the same value, so nothing is lost.
    assert results[-1]["status"] in ("applied", "superseded")
    assert _status(store, insp)["status"] == "completed"
    assert [c for c in _conflicts(zhao) if c["collection"] == "inspections"] == []


def test_a_check_of_another_sites_device_is_rejected_and_does_not_complete_the_inspection(zhao, store, school):
    """Bug: the batch's running count of unchecked devices counted any active device, whatever its site,
    so a check naming another site's device completed an inspection with a device still unchecked."""
    store.add_member(REF, "zhao")
    insp = school["inspection"]
    devices = _devices(store, SCHOOL)
    ref_camera = _devices(store, REF, CAMERAS)[0]
    results = _results(zhao, [*[_check(zhao, insp, d) for d in devices[:42]], _check(zhao, insp, ref_camera)])
    assert (results[-1]["status"], results[-1]["reason"]) == ("rejected", "invalid_field")
    assert _status(store, insp)["status"] == "scheduled"
    [result] = _results(zhao, [zhao.change("inspections", insp, {"status": "completed"})])
    assert (result["reason"], result["detail"][:2]) == ("incomplete", "1 ")


def test_retired_devices_need_no_outcome(zhao, lin, store, school):
    insp = school["inspection"]
    devices = _devices(store, SCHOOL)
    _ok(lin.push([lin.change("devices", devices[42], {"status": "retired"})]))
    _results(zhao, [_check(zhao, insp, d) for d in devices[:42]])
    assert _status(store, insp)["status"] == "completed"


# -- coverage -----------------------------------------------------------------------------------


def _coverage(session: Any, site_id: str, period: str, **params: Any) -> Any:
    return _get(session, f"/api/sites/{site_id}/coverage", period=period, **params)


def test_coverage_of_the_reference_sites_cameras(wang, lin, store):
    """Which of the 117 cameras were serviced this quarter, and what is wrong with the rest?"""
    insp = inspection_id(REF, "2026-Q4")
    cameras = _devices(store, REF, CAMERAS)
    assert len(cameras) == 117
    psus = _devices(store, REF, ("camera_psu",))
    readers = _devices(store, REF, ("card_reader",))
    changes = (
        [_check(wang, insp, d, lens_cleaned=True) for d in cameras[:40]]
        + [_check(wang, insp, d, outcome="fault", note=f"no image {i}") for i, d in enumerate(cameras[40:43])]
        + [_check(wang, insp, d, outcome="not_accessible", note="locked room") for d in cameras[43:45]]
        # Items ticked, no outcome yet: still "not checked".
        + [_check(wang, insp, cameras[45], outcome=None, lens_cleaned=True)]
        # Other kinds, not cameras: 10 power supplies (video) and 5 card readers (access).
        + [_check(wang, insp, d) for d in psus[:9]]
        + [_check(wang, insp, psus[9], outcome="skipped")]
        + [_check(wang, insp, d) for d in readers[:5]]
    )
    assert {r["status"] for r in _results(wang, changes)} == {"applied"}

    body = _ok(_coverage(lin, REF, "2026-Q4", kind="dome_camera,bullet_camera,half_dome_camera"))
    counts = {k: body[k] for k in ("total", "serviced", "fault", "not_accessible", "skipped", "not_checked")}
    assert counts == {"total": 117, "serviced": 40, "fault": 3, "not_accessible": 2, "skipped": 0,
                      "not_checked": 72}
    assert (body["site_id"], body["period"], body["inspection_id"]) == (REF, "2026-Q4", insp)
    assert len(body["devices"]) == 117
    assert [d["code"] for d in body["devices"]] == sorted(d["code"] for d in body["devices"])
    by_id = {d["device_id"]: d for d in body["devices"]}
    faulty = by_id[cameras[41]]
    assert (faulty["outcome"], faulty["note"], faulty["checked_by"], faulty["checked_at"]) == (
        "fault", "no image 1", "wang", TS)
    assert faulty["kind"] in CAMERAS and faulty["location"] and faulty["code"].startswith("CAM-")
    unchecked = by_id[cameras[100]]
    assert (unchecked["outcome"], unchecked["checked_by"], unchecked["checked_at"], unchecked["note"]) == (
        None, None, None, None)
    assert by_id[cameras[45]]["outcome"] is None

    # One kind only.
    dome = _ok(_coverage(lin, REF, "2026-Q4", kind="dome_camera"))
    assert dome["total"] == 61 and dome["total"] == sum(
        dome[k] for k in ("serviced", "fault", "not_accessible", "skipped", "not_checked"))

    # The whole video system: the cameras, plus 117 power supplies and the rest of the video kinds.
    video = _ok(_coverage(lin, REF, "2026-Q4", system="video"))
    assert {k: video[k] for k in counts} == {"total": 298, "serviced": 49, "fault": 3, "not_accessible": 2,
                                             "skipped": 1, "not_checked": 243}
    both = _ok(_coverage(lin, REF, "2026-Q4", system="access", kind="dome_camera,card_reader"))
    assert (both["total"], both["serviced"]) == (118, 5)

    # The whole site.
    everything = _ok(_coverage(lin, REF, "2026-Q4"))
    assert (everything["total"], everything["serviced"], everything["not_checked"]) == (624, 54, 564)

    # The technician of the site asks the same question and gets the same answer.
    assert _ok(_coverage(wang, REF, "2026-Q4", kind="dome_camera,bullet_camera,half_dome_camera")) == body


def test_coverage_leaves_out_deleted_devices_deleted_checks_and_unchecked_retired_devices(wang, lin, store):
    insp = inspection_id(REF, "2026-Q4")
    cameras = _devices(store, REF, CAMERAS)
    _results(wang, [_check(wang, insp, d) for d in cameras[:3]])
    _ok(lin.push([lin.change("devices", cameras[0], {"status": "retired"}),
                  lin.change("devices", cameras[1], {}, delete=True),
                  lin.change("device_checks", device_check_id(insp, cameras[2]), {}, delete=True),
                  lin.change("devices", cameras[3], {"status": "retired"})]))
    body = _ok(_coverage(lin, REF, "2026-Q4", kind=",".join(CAMERAS)))
    # The camera retired after its check was serviced this quarter all the same (domain.md
    # "Preventive maintenance"): it stays, with its outcome; the unchecked retired one is not due.
    assert (body["total"], body["serviced"], body["not_checked"]) == (115, 1, 114)
    assert {cameras[1], cameras[3]}.isdisjoint(d["device_id"] for d in body["devices"])
    assert [d["outcome"] for d in body["devices"] if d["device_id"] == cameras[0]] == ["serviced"]


def test_coverage_of_a_period_without_an_inspection_is_all_not_checked(lin):
    body = _ok(_coverage(lin, SCHOOL, "2019-Q1"))
    assert (body["total"], body["not_checked"], body["serviced"]) == (43, 43, 0)


def test_coverage_refuses_a_bad_period(lin):
    _problem(_coverage(lin, REF, "2026-Q0"), 400, "invalid_request")
    _problem(_get(lin, f"/api/sites/{REF}/coverage"), 400, "invalid_request")


# -- device history -------------------------------------------------------------------------------


def test_device_history_is_newest_first_across_periods(lin, wang, store):
    for period in ("2025-Q4", "2026-Q1", "2026-Q2"):
        _ok(_generate(lin, period))
    cam = _devices(store, REF, ("dome_camera",))[0]
    other = _devices(store, REF, ("dome_camera",))[1]
    checks = [  # pushed out of order
        ("2026-Q1", "serviced", None, "2026-02-11T03:00:00.000Z"),
        ("2026-Q4", "fault", "IR LEDs dead", "2026-11-20T10:15:00.000Z"),
        ("2025-Q4", "not_accessible", "ceiling closed for works", "2025-12-01T08:00:00.000Z"),
        ("2026-Q2", "serviced", None, "2026-05-30T09:30:00.000Z"),
    ]
    changes = [_check(wang, inspection_id(REF, p), cam, outcome=o, note=n, checked_at=at, lens_cleaned=True)
               for p, o, n, at in checks]
    changes.append(_check(wang, inspection_id(REF, "2026-Q2"), other))
    assert {r["status"] for r in _results(wang, changes)} == {"applied"}
    body = _ok(_get(lin, f"/api/devices/{cam}/history"))
    assert (body["device_id"], body["site_id"], body["kind"]) == (cam, REF, "dome_camera")
    assert body["code"].startswith("CAM-")
    assert [c["period"] for c in body["checks"]] == ["2026-Q4", "2026-Q2", "2026-Q1", "2025-Q4"]
    assert [c["checked_at"] for c in body["checks"]] == sorted((c[3] for c in checks), reverse=True)
    newest = body["checks"][0]
    assert newest == {"inspection_id": inspection_id(REF, "2026-Q4"), "period": "2026-Q4",
                      "sheet_no": _row(store, "inspections", inspection_id(REF, "2026-Q4"))["sheet_no"],
                      "outcome": "fault", "note": "IR LEDs dead", "checked_by": "wang",
                      "checked_at": "2026-11-20T10:15:00.000Z", "items": {"lens_cleaned": True}, "photos": []}
    assert all(c["sheet_no"].startswith("PM-") for c in body["checks"])
    # The technician of the site sees it; deleted checks leave it.
    assert _ok(_get(wang, f"/api/devices/{cam}/history")) == body
    _ok(lin.push([lin.change("device_checks", device_check_id(inspection_id(REF, "2026-Q1"), cam), {},
                             delete=True)]))
    body = _ok(_get(lin, f"/api/devices/{cam}/history"))
    assert [c["period"] for c in body["checks"]] == ["2026-Q4", "2026-Q2", "2025-Q4"]


def test_history_of_a_device_never_checked_is_empty(lin, store):
    body = _ok(_get(lin, f"/api/devices/{_devices(store, SCHOOL)[0]}/history"))
    assert body["checks"] == []


# -- the list of inspections and the sheet --------------------------------------------------------------


def test_list_inspections_with_filters_progress_and_overdue(lin, wang, zhao, store):
    for period in ("2025-Q1", FUTURE):  # one long overdue, one not yet due
        _ok(_generate(lin, period))
    ref_q4, school_q4 = inspection_id(REF, "2026-Q4"), inspection_id(SCHOOL, "2026-Q4")
    _results(wang, [_check(wang, ref_q4, d) for d in _devices(store, REF)[:30]])
    _results(zhao, [_check(zhao, school_q4, d) for d in _devices(store, SCHOOL)])  # completes it
    _results(zhao, [_check(zhao, inspection_id(SCHOOL, "2025-Q1"), d) for d in _devices(store, SCHOOL)[:5]])

    everything = _ok(_get(lin, "/api/inspections"))["inspections"]
    assert len(everything) == 6
    assert [i["due_on"] for i in everything] == sorted(i["due_on"] for i in everything)  # due first
    by_id = {i["id"]: i for i in everything}
    assert (by_id[ref_q4]["checked"], by_id[ref_q4]["total"], by_id[ref_q4]["status"]) == (30, 624, "scheduled")
    assert (by_id[school_q4]["checked"], by_id[school_q4]["total"], by_id[school_q4]["status"]) == (
        43, 43, "completed")
    old = by_id[inspection_id(SCHOOL, "2025-Q1")]
    assert (old["checked"], old["total"], old["overdue"], old["period"]) == (5, 43, True, "2025-Q1")
    assert old["site_name"] and old["sheet_no"].startswith("PM-2025Q1-")
    assert by_id[inspection_id(REF, FUTURE)]["overdue"] is False

    def ids(**params: Any) -> set[str]:
        return {i["id"] for i in _ok(_get(lin, "/api/inspections", **params))["inspections"]}

    assert ids(period="2026-Q4") == {ref_q4, school_q4}
    assert ids(site_id=SCHOOL) == {school_q4, inspection_id(SCHOOL, "2025-Q1"), inspection_id(SCHOOL, FUTURE)}
    assert ids(status="completed") == {school_q4}
    assert ids(status="scheduled", period="2026-Q4") == {ref_q4}
    # Overdue: due date passed (the demo's quarter was due on 2026-12-20, still ahead), not completed.
    assert ids(overdue="true") == {inspection_id(REF, "2025-Q1"), inspection_id(SCHOOL, "2025-Q1")}
    assert ids(overdue="false") == {ref_q4, school_q4, inspection_id(REF, FUTURE), inspection_id(SCHOOL, FUTURE)}
    assert ids(period="2025-Q1", site_id=REF, overdue="true") == {inspection_id(REF, "2025-Q1")}
    assert ids(period="2031-Q1") == set()

    # A technician lists the inspections of their own sites only.
    mine = {i["id"] for i in _ok(_get(wang, "/api/inspections"))["inspections"]}
    assert mine == {ref_q4, inspection_id(REF, "2025-Q1"), inspection_id(REF, FUTURE)}
    assert _ok(_get(wang, "/api/inspections", site_id=SCHOOL))["inspections"] == []


def test_status_filter_finds_an_inspection_created_without_a_status(lin, wang, store):
    """Bug: a row with no `status` is listed as scheduled but `status=scheduled` did not find it."""
    insp = inspection_id(REF, FUTURE)
    _results(wang, [wang.change("inspections", insp, {"site_id": REF, "period": FUTURE}, delete=False)])
    [listed] = _ok(_get(lin, "/api/inspections", period=FUTURE))["inspections"]
    assert listed["status"] == "scheduled"
    assert [i["id"] for i in _ok(_get(lin, "/api/inspections", period=FUTURE, status="scheduled"))["inspections"]] == [
        insp]


def test_the_sheet_of_an_inspection(lin, zhao, store, school):
    insp = school["inspection"]
    devices = _devices(store, SCHOOL)
    _results(zhao, [_check(zhao, insp, d) for d in devices[:40]]
             + [_check(zhao, insp, devices[40], outcome="fault", note="no image")])
    body = _ok(_get(lin, f"/api/inspections/{insp}"))
    inspection = body["inspection"]
    assert inspection["id"] == insp and inspection["site_id"] == SCHOOL and inspection["period"] == "2026-Q4"
    assert inspection["sheet_no"].startswith("PM-2026Q4-") and inspection["assigned_to"] == "zhao"
    assert inspection["due_on"] == "2026-12-20" and inspection["status"] == "scheduled"
    assert body["site"]["id"] == SCHOOL and body["site"]["name"]
    cov = body["coverage"]
    assert (cov["total"], cov["serviced"], cov["fault"], cov["not_checked"]) == (43, 40, 1, 2)
    assert len(cov["devices"]) == 43
    assert {d["device_id"]: d["note"] for d in cov["devices"] if d["outcome"] == "fault"} == {devices[40]: "no image"}
    assert _ok(_get(zhao, f"/api/inspections/{insp}")) == body


# -- not found ----------------------------------------------------------------------------------------


def test_unknown_site_device_and_inspection_are_404(lin):
    unknown = str(uuid.uuid4())
    _problem(_coverage(lin, unknown, "2026-Q4"), 404, "not_found")
    _problem(_get(lin, f"/api/devices/{unknown}/history"), 404, "not_found")
    _problem(_get(lin, f"/api/inspections/{unknown}"), 404, "not_found")
    _problem(_get(lin, "/api/devices/not-a-uuid/history"), 404, "not_found")


def test_a_technician_asking_about_a_site_they_are_not_a_member_of_gets_404(zhao, store):
    ref_device = _devices(store, REF)[0]
    _problem(_coverage(zhao, REF, "2026-Q4"), 404, "not_found")
    _problem(_get(zhao, f"/api/devices/{ref_device}/history"), 404, "not_found")
    _problem(_get(zhao, f"/api/inspections/{inspection_id(REF, '2026-Q4')}"), 404, "not_found")
    # Their own site answers.
    _ok(_coverage(zhao, SCHOOL, "2026-Q4"))


def test_the_same_answers_in_process(store):
    """The Inspections service answers without HTTP too (the benchmark measures both)."""
    caller = Caller("u", "lin", "Lin", "supervisor", "c", None)
    service = Inspections(store)
    assert service.coverage(caller, REF, "2026-Q4").total == 624
    assert len(service.summaries(caller, period="2026-Q4").inspections) == 2

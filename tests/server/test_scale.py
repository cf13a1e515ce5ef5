"""The company-sized demo (`fieldsync init --demo --scale N`), at a small N."""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import msgspec
import pytest

from server.cli import main
from server.demo import load_demo
from server.domains.inspections.hooks import unchecked
from server.domains.inspections.service import Inspections
from server.engine.batch import _Batch
from server.scale import load_scale
from server.services import Caller, Store
from server.settings import Settings
from sync.periods import period_bounds
from sync.schema import device_check_id, inspection_id
from tests.conftest import Session

TODAY = date(2026, 11, 27)
PAST = ["2024-Q4", "2025-Q1", "2025-Q2", "2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3"]
SUPERVISOR = Caller("u", "lin", "Lin", "supervisor", "c", None)


@pytest.fixture
def store(settings: Settings) -> Iterator[Store]:
    """The demo with three generated sites, in place of the bare store of tests/conftest.py."""
    store = Store(settings)
    load_demo(store)
    load_scale(store, 3, seed=7, today=TODAY)
    yield store
    store.close()


def _rows(store: Store, collection: str) -> list[dict[str, Any]]:
    with store.read() as db:
        return [
            {"id": i, "_site": s, "_version": v, **msgspec.json.decode(f)}
            for i, s, f, v in db.execute(
                "SELECT id, site_id, fields, version FROM rows WHERE collection = ? AND deleted = 0", [collection]
            )
        ]


def _scale_sites(store: Store) -> list[str]:
    with store.read() as db:
        return [s for (s,) in db.execute(
            "SELECT site_id FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.username LIKE 'tech%'"
        )]


def test_scale_adds_sites_technicians_devices_and_eight_completed_quarters(store):
    sites = _scale_sites(store)
    assert len(sites) == 3
    assert len(_rows(store, "sites")) == 5  # the demo's two and three generated
    with store.read() as db:
        users = dict(db.execute("SELECT username, role FROM users").fetchall())
        plans = db.execute("SELECT site_id, frequency, due_day, technician FROM plans").fetchall()
    assert users == {"lin": "supervisor", "wang": "technician", "zhao": "technician", "chen": "service_desk",
                     "tech001": "technician"}
    assert {p[0]: p[1:] for p in plans if p[0] in sites} == {s: ("quarterly", 20, "tech001") for s in sites}

    templates = {t["kind"] for t in _rows(store, "checklist_templates")}
    devices = [d for d in _rows(store, "devices") if d["site_id"] in sites]
    per_site = Counter(d["site_id"] for d in devices)
    assert all(50 <= per_site[s] <= 400 for s in sites)
    assert {d["kind"] for d in devices} <= templates
    assert all(d["code"] and d["location"] and d["serial_no"] and d["model"] and d["name"] for d in devices)
    for s in sites:
        codes = [d["code"] for d in devices if d["site_id"] == s]
        assert len(codes) == len(set(codes))
        kinds = Counter(d["kind"] for d in devices if d["site_id"] == s)
        cameras = kinds["dome_camera"] + kinds["bullet_camera"] + kinds["half_dome_camera"]
        assert cameras == kinds["camera_psu"] > 0
        assert kinds["door_controller"] == kinds["magnetic_lock"] <= kinds["card_reader"]

    inspections = [i for i in _rows(store, "inspections") if i["site_id"] in sites]
    assert sorted((i["site_id"], i["period"]) for i in inspections) == sorted((s, p) for s in sites for p in PAST)
    assert all(i["id"] == inspection_id(i["site_id"], i["period"]) for i in inspections)
    for i in inspections:
        first, last = period_bounds(i["period"])
        assert i["status"] == "completed" and i["assigned_to"] == "tech001"
        assert first.isoformat() <= i["started_at"][:10] <= i["completed_at"][:10] <= last.isoformat()
        assert i["due_on"] == last.replace(day=20).isoformat()
    for period in PAST:
        numbers = sorted(i["sheet_no"] for i in inspections if i["period"] == period)
        assert numbers == [f"PM-{period.replace('-', '')}-{k:04d}" for k in (1, 2, 3)]


def test_every_scale_inspection_has_one_check_per_active_device(store):
    sites = _scale_sites(store)
    active = defaultdict(set)
    for d in _rows(store, "devices"):
        if d["site_id"] in sites and d["status"] == "active":
            active[d["site_id"]].add(d["id"])
    inspections = {i["id"]: i for i in _rows(store, "inspections") if i["site_id"] in sites}
    checks = [c for c in _rows(store, "device_checks") if c["inspection_id"] in inspections]
    by_inspection = defaultdict(list)
    for c in checks:
        by_inspection[c["inspection_id"]].append(c)
    assert set(by_inspection) == set(inspections)
    for insp, found in by_inspection.items():
        inspection = inspections[insp]
        assert sorted(c["device_id"] for c in found) == sorted(active[inspection["site_id"]])
        first, last = period_bounds(inspection["period"])
        for c in found:
            assert c["id"] == device_check_id(insp, c["device_id"])
            assert c["_site"] == inspection["site_id"]
            assert c["checked_by"] == "tech001"
            assert first.isoformat() <= c["checked_at"][:10] <= last.isoformat()
            assert c["outcome"] in ("serviced", "fault", "not_accessible")
            assert (c["outcome"] == "serviced") == ("note" not in c)
    outcomes = Counter(c["outcome"] for c in checks)
    assert outcomes["serviced"] > 0.9 * len(checks)
    assert outcomes["fault"] > 0 and outcomes["not_accessible"] > 0
    # The server finds nothing left to check.
    with store.write() as db:
        batch = _Batch(db, store, store.now_ms())
        assert {unchecked(batch, i) for i in inspections} == {0}


def test_versions_sheet_counters_and_clock_are_advanced(store):
    with store.read() as db:
        meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
        count, top = db.execute("SELECT count(*), max(version) FROM rows").fetchone()
        events = db.execute("SELECT count(*) FROM scope_events WHERE version > 0").fetchone()[0]
    # One version per row or membership change: no gaps, none repeated.
    assert int(meta["version"]) == count + events and top <= int(meta["version"])
    for period in PAST:
        assert meta[f"sheet_seq/{period}"] == "3"
    assert meta["hlc"] == store.clock.last


def test_the_same_seed_gives_the_same_data(new_settings):
    def build(name: str, seed: int) -> set[tuple[str, str, str]]:
        store = Store(new_settings(name))
        # The demo's service requests are timed from now (issue 12): the same moment, the same data.
        store.now_ms = lambda: 1_796_000_000_000  # type: ignore[method-assign]
        try:
            load_demo(store)
            load_scale(store, 2, seed=seed, today=TODAY)
            with store.read() as db:
                return set(db.execute(
                    "SELECT collection, id, fields FROM rows WHERE collection <> 'checklist_templates'"
                ).fetchall())
        finally:
            store.close()

    first = build("a", 5)
    assert build("b", 5) == first
    assert build("c", 6) != first


def test_scale_refuses_to_load_twice(store):
    with pytest.raises(ValueError, match="already holds a scale demo"):
        load_scale(store, 1, seed=8, today=TODAY)


def test_coverage_history_and_list_work_on_the_scale_data(store):
    service = Inspections(store)
    site = _scale_sites(store)[0]
    active = [d for d in _rows(store, "devices") if d["site_id"] == site and d["status"] == "active"]
    coverage = service.coverage(SUPERVISOR, site, "2026-Q2")
    assert coverage.total == len(active) and coverage.not_checked == 0
    assert coverage.serviced + coverage.fault + coverage.not_accessible == len(active)
    history = service.device_history(SUPERVISOR, active[0]["id"])
    assert [c.period for c in history.checks] == PAST[::-1]
    assert all(c.checked_by == "tech001" and c.sheet_no for c in history.checks)
    listed = service.summaries(SUPERVISOR, site_id=site).inspections
    assert len(listed) == 8 and all(i.checked == i.total == len(active) and not i.overdue for i in listed)


def test_scheduling_after_the_scale_demo_continues_the_sheet_numbers(store):
    service = Inspections(store)
    # A past quarter: the generated sites have theirs, the demo's two get the next numbers.
    result = service.generate("2026-Q3")
    assert len(result.created) == 2 and len(result.existing) == 3
    numbers = sorted(i["sheet_no"] for i in _rows(store, "inspections") if i["period"] == "2026-Q3")
    assert numbers == [f"PM-2026Q3-{k:04d}" for k in range(1, 6)]
    # The current quarter: the demo made the first two, the generated sites follow.
    result = service.generate("2026-Q4")
    assert len(result.created) == 3
    numbers = sorted(i["sheet_no"] for i in _rows(store, "inspections") if i["period"] == "2026-Q4")
    assert numbers == [f"PM-2026Q4-{k:04d}" for k in range(1, 6)]


def test_a_generated_technician_signs_in_pulls_their_sites_and_edits_a_check(http, store):
    tech = Session(http, "tech001")
    rows: list[dict[str, Any]] = []
    cursor = "0"
    while True:
        body = tech.pull(cursor).json()
        rows += body["rows"]
        cursor = body["cursor"]
        if not body["has_more"]:
            break
    sites = set(_scale_sites(store))
    by_collection = Counter(r["collection"] for r in rows)
    assert {r["id"] for r in rows if r["collection"] == "sites"} == sites
    assert by_collection["devices"] == len([d for d in _rows(store, "devices") if d["site_id"] in sites])
    # Only the inspections of the sync window, and their checks (the window moves with the real date).
    window = set(store.window_periods())
    inspections = {i["id"] for i in _rows(store, "inspections") if i["site_id"] in sites and i["period"] in window}
    assert {r["id"] for r in rows if r["collection"] == "inspections"} == inspections
    assert by_collection["device_checks"] == len(
        [c for c in _rows(store, "device_checks") if c["inspection_id"] in inspections])
    assert by_collection["checklist_templates"] == 16
    assert len(rows) == len({(r["collection"], r["id"]) for r in rows})
    # A stored check merges like any other: the technician corrects a note.
    check = next(r for r in rows if r["collection"] == "device_checks" and r["fields"]["outcome"] == "fault")
    fields = {k: check["fields"][k] for k in ("outcome", "checked_by", "checked_at")}
    result = tech.push([tech.change("device_checks", check["id"], {**fields, "note": "replaced on the spot"})]).json()
    assert result["results"][0]["status"] == "applied", result
    history = Inspections(store).device_history(SUPERVISOR, check["fields"]["device_id"]).checks
    [edited] = [c for c in history if c.inspection_id == check["fields"]["inspection_id"]]
    assert edited.note == "replaced on the spot"


def test_generated_rows_carry_the_period_a_push_would_give_them(store):
    """Regression (issue 11): the generator wrote inspections and checks with `period` NULL, so a
    generated technician pulled every past quarter, outside the sync window."""
    with store.read() as db:
        stored = {(c, i): (p, msgspec.json.decode(f)) for c, i, p, f in db.execute(
            "SELECT collection, id, period, fields FROM rows WHERE collection IN ('inspections', 'device_checks')")}
    assert len(stored) > 24
    # What a push derives for the same rows, on either backend: an inspection's own period, a
    # check's its inspection's. (This test once ran SQLite's backfill_periods, which PostgreSQL lacks.)
    inspections = {i: fields["period"] for (c, i), (_, fields) in stored.items() if c == "inspections"}
    derived = {(c, i): fields["period"] if c == "inspections" else inspections[fields["inspection_id"]]
               for (c, i), (_, fields) in stored.items()}
    assert {key: period for key, (period, _) in stored.items()} == derived
    assert None not in derived.values()
    assert set(inspections.values()) >= set(PAST)


def test_cli_init_with_scale(tmp_path: Path, capsys):
    assert main(["init", "--data", str(tmp_path / "a"), "--scale", "2"]) == 2
    assert "--demo" in capsys.readouterr().err
    assert main(["init", "--data", str(tmp_path / "b"), "--demo", "--scale", "2", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "scale demo added: 2 scale sites, 1 technicians" in out
    store = Store(Settings(data_dir=tmp_path / "b"))
    try:
        assert len(_rows(store, "sites")) == 4
        assert len(_rows(store, "inspections")) == 2 + 16
    finally:
        store.close()
    assert main(["init", "--data", str(tmp_path / "b"), "--demo", "--scale", "2"]) == 0
    assert "already holds data" in capsys.readouterr().out


def test_generated_devices_and_notes_read_in_chinese_as_the_demos_do(store):
    # Regression (s27-office5, item 4): the benches' company-scale sites named devices "Dome camera CAM-001
    # (球机)" at "Building A, F3, east corridor", and technicians' notes were English, unlike the demo
    # (fixtures/: 球机 CAM-023 at A座 6 楼 东走廊): what supervisors read on the scaled console was not
    # what they read on a real one. Only codes, models and units stay Latin.
    english = re.compile(r"[a-z]{3,}")  # a word; CAM-001, HOST-V01, HDMI, SMART and B2 are codes
    scale = set(_scale_sites(store))
    devices = [d for d in _rows(store, "devices") if d["_site"] in scale]
    assert devices
    for d in devices:
        assert not english.search(d["name"]) and not english.search(d["location"]), (d["name"], d["location"])
    bullet = next(d for d in devices if d["kind"] == "bullet_camera")
    assert bullet["name"] == f"枪机 {bullet['code']}"
    notes = [c["note"] for c in _rows(store, "device_checks") if c.get("note") and c["_site"] in scale]
    assert notes and not [n for n in notes if english.search(n)]

"""The service office (issue 12): a site's response-time terms (API and CLI), a visit with its
contact sheet, the device's repair archive, the faults report. The real app, real pushes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sync.clocks import terms_from_raw
from tests.conftest import OTHER_SITE, SITE
from tests.helpers import ok, problem

ROOT = Path(__file__).resolve().parents[2]

# -- terms ------------------------------------------------------------------------------------------


def _terms_url(site_id: str = SITE) -> str:
    return f"/api/sites/{site_id}/service-terms"


def test_every_role_in_scope_reads_the_terms_a_phone_can_count_with(site, store, wang, chen, lin):
    store.write_server_changes([("sites", SITE, {"contract": "annual"}, False)])
    for session in (wang, chen, lin):
        body = ok(session.http.get(_terms_url(), headers=session.headers))
        assert (body["site_id"], body["contract"], body["override"], body["set_by"], body["set_at"]) == (
            SITE, "annual", None, None, None)
        assert body["terms"]["restore_hours"] == 12  # annual promises restore
        terms = terms_from_raw(body["contract"], body["terms"])  # what the phone does offline
        assert terms.on_site_urban == 4 * 3_600_000


def test_a_site_without_a_contract_reads_per_visit_terms(site, wang):
    body = ok(wang.http.get(_terms_url(), headers=wang.headers))
    assert body["contract"] == "per_visit"
    assert body["terms"]["restore_hours"] is None


def test_a_supervisor_sets_and_clears_an_override_audited(site, lin, wang):
    body = ok(lin.http.put(_terms_url(), json={"override": {"on_site_hours": {"urban": 2}}}, headers=lin.headers))
    assert body["override"] == {"on_site_hours": {"urban": 2}}
    assert body["terms"]["on_site_hours"] == {"urban": 2, "suburban": 8}  # merged by key
    assert body["set_by"] == "lin" and body["set_at"]
    # The technician's phone reads the same merged terms.
    seen = ok(wang.http.get(_terms_url(), headers=wang.headers))
    assert seen == body
    assert terms_from_raw(seen["contract"], seen["terms"]).on_site_urban == 2 * 3_600_000
    cleared = ok(lin.http.put(_terms_url(), json={"override": None}, headers=lin.headers))
    assert cleared["override"] is None and cleared["terms"]["on_site_hours"] == {"urban": 4, "suburban": 8}
    entries = ok(lin.http.get("/api/audit", params={"kind": "service_terms_changed"}, headers=lin.headers))["entries"]
    assert [(e["username"], e["detail"]) for e in entries] == [
        ("lin", {"site_id": SITE, "keys": ["on_site_hours"]}), ("lin", {"site_id": SITE, "keys": []})]


def test_an_override_with_a_calendar_of_its_own_is_inlined_for_the_phone(site, lin):
    calendar = {"week": {d: ["09:00-18:00"] for d in ("mon", "tue", "wed", "thu", "fri")} | {"sat": [], "sun": []},
                "holidays": ["2026-12-25"]}
    body = ok(lin.http.put(_terms_url(), json={"override": {"calendar": calendar}}, headers=lin.headers))
    assert body["terms"]["calendar"] == calendar
    assert terms_from_raw(body["contract"], body["terms"]).calendar is not None
    named = ok(lin.http.put(_terms_url(), json={"override": {"calendar": "cn-2026-office"}}, headers=lin.headers))
    assert named["override"] == {"calendar": "cn-2026-office"}
    assert "2026-10-01" in named["terms"]["calendar"]["holidays"]  # the named calendar, inlined


def test_terms_are_refused_outside_scope_and_to_other_roles(site, store, wang, zhao, chen, lin):
    store.write_server_changes([("sites", OTHER_SITE, {"name": "School"}, False)])
    problem(zhao.http.get(_terms_url(), headers=zhao.headers), 404, "not_found")
    problem(zhao.http.put(_terms_url(), json={"override": None}, headers=zhao.headers), 404, "not_found")
    for session in (wang, chen):
        problem(session.http.put(_terms_url(), json={"override": {"callback": False}}, headers=session.headers),
                403, "forbidden")
    problem(lin.http.get(_terms_url("6b1f0c1e-0000-4000-8000-000000000000"), headers=lin.headers), 404, "not_found")
    assert ok(lin.http.get(_terms_url(), headers=lin.headers))["override"] is None


def _fieldsync(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "LANG": "C.UTF-8"}
    return subprocess.run([sys.executable, "-m", "server.cli", *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=120)


def test_the_terms_command_shows_sets_and_clears_on_the_local_database(tmp_path):
    data = str(tmp_path / "data")
    assert _fieldsync("init", "--data", data, "--demo").returncode == 0
    school = "明德实验小学"  # fixtures/small_site.json, a per_visit site
    shown = _fieldsync("terms", "--data", data, school)
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout)["contract"] == "per_visit"
    set_ = _fieldsync("terms", "--data", data, school, "--set", '{"fix_hours": {"complex": 48}}')
    assert set_.returncode == 0, set_.stderr
    body = json.loads(set_.stdout)
    assert body["terms"]["fix_hours"] == {"ordinary": 24, "complex": 48}
    assert body["set_by"] == "(fieldsync terms)"
    bad = _fieldsync("terms", "--data", data, school, "--set", '{"fix_hours": {"complex": 0}}')
    assert bad.returncode == 2 and "fix_hours.complex" in bad.stderr and "Traceback" not in bad.stderr
    assert json.loads(_fieldsync("terms", "--data", data, school).stdout)["override"] == {
        "fix_hours": {"complex": 48}}  # the refused one changed nothing
    not_json = _fieldsync("terms", "--data", data, school, "--set", "{fix")
    assert not_json.returncode == 2 and "JSON" in not_json.stderr
    cleared = _fieldsync("terms", "--data", data, school, "--clear")
    assert cleared.returncode == 0 and json.loads(cleared.stdout)["override"] is None

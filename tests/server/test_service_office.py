"""The service office (issue 12): a site's response-time terms (API and CLI), a visit with its
contact sheet, the device's repair archive, the faults report. The real app, real pushes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

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


def test_a_new_override_moves_the_breach_list_at_once(site, lin, chen):
    # Regression (issue 12, merge of svc-api and svc-more): the stored clock columns the list reads
    # follow a terms change made through the API, without waiting for the request's next event.
    from sync import hlc

    called = hlc.format_ts(hlc.wall_ms() - 3 * 3_600_000)  # 3 h ago: within 4 h, past 2 h
    request_id = _request(chen, SITE, None, called, "gate camera dark")

    def breached() -> list[str]:
        page = ok(lin.http.get("/api/service-requests", params={"breached": "true"}, headers=lin.headers))
        return [r["id"] for r in page["requests"]]

    assert request_id not in breached()
    ok(lin.http.put(_terms_url(), json={"override": {"on_site_hours": {"urban": 2}}}, headers=lin.headers))
    assert request_id in breached()
    ok(lin.http.put(_terms_url(), json={"override": None}, headers=lin.headers))
    assert request_id not in breached()


def test_a_terms_change_whose_clocks_fail_to_refresh_stores_no_terms(site, store, lin, chen):
    # Regression (phone30, item 2): `set_terms` committed the override and its audit entry, then recomputed
    # the site's stored clocks in a second transaction: a failure (or a crash) between the two left the new
    # terms stored, the list's breach flags still the old terms'. Now one transaction: the refresh failing
    # (here on a request row that cannot be read) stores nothing of the change.
    from server.domains.service.office import ServiceOffice

    _request(chen, SITE, None, "2026-11-20T01:00:00.000Z", "gate camera dark")
    with store.write(versions=True) as db:
        db.execute("INSERT INTO rows(collection, id, site_id, fields, clocks, version, updated_ms)"
                   " SELECT 'service_requests', ?, ?, '[]', '{}', max(version) + 1, 0 FROM rows",
                   [str(uuid.uuid4()), SITE])
    with pytest.raises(AttributeError):  # the broken row's fields are a list
        ServiceOffice(store).set_terms(None, SITE, {"on_site_hours": {"urban": 2}})
    body = ok(lin.http.get(_terms_url(), headers=lin.headers))
    assert (body["override"], body["set_by"]) == (None, None)
    entries = ok(lin.http.get("/api/audit", params={"kind": "service_terms_changed"}, headers=lin.headers))["entries"]
    assert entries == []


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


# -- a visit, the device's repair archive, the faults report: real pushes ------------------------------

def _applied(session, *changes):
    results = session.push(list(changes)).json()["results"]
    assert [r["status"] for r in results] == ["applied"] * len(changes), results
    return results


def _request(chen, site_id: str, device_id: str | None, reported_at: str, description: str) -> str:
    request_id = str(uuid.uuid4())
    fields = {"site_id": site_id, "reported_at": reported_at, "channel": "hotline", "kind": "repair",
              "description": description}
    if device_id:
        fields["device_id"] = device_id
    _applied(chen, chen.change("service_requests", request_id, fields))
    return request_id


def _visit(wang, request_id: str, recorded_at: str | None = None, cause: str | None = None,
           outcome: str = "resolved") -> str:
    visit_id = str(uuid.uuid4())
    fields = {"request_id": request_id, "technician": "wang", "planned_at": "2026-11-20T06:00:00.000Z"}
    if recorded_at:
        fields |= {"outcome": outcome, "work_done": "replaced the PSU", "fault_cause": cause,
                   "recorded_by": "wang", "recorded_at": recorded_at}
    _applied(wang, wang.change("service_visits", visit_id, fields))
    return visit_id


def test_a_visit_reads_whole_with_its_request_and_signatures(site, store, chen, wang, zhao, lin):
    request_id = _request(chen, SITE, site["cam1"], "2026-11-20T01:00:00.000Z", "black at night")
    _visit(wang, request_id)
    visit_id = _visit(wang, request_id, "2026-11-20T08:00:00.000Z", "power supply failed")
    signature = str(uuid.uuid4())
    _applied(wang, wang.change("signatures", signature, {
        "visit_id": visit_id, "signer_name": "Wang", "signer_role": "technician",
        "signed_at": "2026-11-20T08:05:00.000Z", "sheet_sha256": "cd" * 32}))
    for session in (wang, chen, lin):
        body = ok(session.http.get(f"/api/visits/{visit_id}", headers=session.headers))
        assert body["request_id"] == request_id and body["sheet_no"].startswith("SR-2026-")
        assert (body["visit_no"], body["sheet_no"][-2:]) == (2, "-2")
        assert {k: body[k] for k in ("outcome", "work_done", "fault_cause", "recorded_by", "recorded_at")} == {
            "outcome": "resolved", "work_done": "replaced the PSU", "fault_cause": "power supply failed",
            "recorded_by": "wang", "recorded_at": "2026-11-20T08:00:00.000Z"}
        assert (body["technician"], body["warranty_void"], body["lines"]) == ("wang", None, [])
        [signed] = body["signatures"]
        assert signed["id"] == signature and signed["sheet_sha256"] == "cd" * 32
        assert signed["retracted_at"] is None
    # Retracted by a supervisor: kept, and marked.
    ok(lin.http.post(f"/api/signatures/{signature}/retract", headers=lin.headers))
    [signed] = ok(lin.http.get(f"/api/visits/{visit_id}", headers=lin.headers))["signatures"]
    assert signed["retracted_by"] == "lin" and signed["retracted_at"] is not None
    # Outside the caller's sites, as for an id that does not exist: 404.
    problem(zhao.http.get(f"/api/visits/{visit_id}", headers=zhao.headers), 404, "not_found")
    problem(lin.http.get(f"/api/visits/{uuid.uuid4()}", headers=lin.headers), 404, "not_found")


def test_the_device_history_is_its_repair_archive(site, chen, wang, zhao, lin):
    older = _request(chen, SITE, site["cam1"], "2026-10-02T01:00:00.000Z", "no picture")
    newer = _request(chen, SITE, site["cam1"], "2026-11-20T01:00:00.000Z", "black at night")
    _request(chen, SITE, site["cam2"], "2026-11-21T01:00:00.000Z", "another camera")
    _request(chen, SITE, None, "2026-11-22T01:00:00.000Z", "no device named")
    first = _visit(wang, newer, "2026-11-20T08:00:00.000Z", "IR LEDs dead", outcome="revisit_needed")
    second = _visit(wang, newer, "2026-11-21T08:00:00.000Z", "IR board replaced")
    history = ok(wang.http.get(f"/api/devices/{site['cam1']}/history", headers=wang.headers))
    assert [r["id"] for r in history["requests"]] == [newer, older]
    latest = history["requests"][0]
    assert (latest["status"], latest["reported_at"], latest["description"]) == (
        "received", "2026-11-20T01:00:00.000Z", "black at night")
    assert latest["number"].startswith("SR-2026-")
    assert [(v["id"], v["sheet_no"], v["technician"], v["outcome"], v["fault_cause"], v["recorded_at"])
            for v in latest["visits"]] == [
        (first, f"{latest['number']}-1", "wang", "revisit_needed", "IR LEDs dead", "2026-11-20T08:00:00.000Z"),
        (second, f"{latest['number']}-2", "wang", "resolved", "IR board replaced", "2026-11-21T08:00:00.000Z")]
    assert history["requests"][1]["visits"] == []
    # A deleted request leaves the archive (a supervisor's delete; requests are not erased otherwise).
    _applied(lin, lin.change("service_requests", older, {}, delete=True))
    assert [r["id"] for r in ok(lin.http.get(f"/api/devices/{site['cam1']}/history",
                                              headers=lin.headers))["requests"]] == [newer]
    problem(zhao.http.get(f"/api/devices/{site['cam1']}/history", headers=zhao.headers), 404, "not_found")


def test_the_faults_report_counts_causes_by_kind_and_model_in_local_days(site, store, chen, wang, lin):
    store.write_server_changes([("devices", site["cam1"], {"model": "DS-2CD2143"}, False)])
    cam1 = _request(chen, SITE, site["cam1"], "2026-11-01T01:00:00.000Z", "black")
    cam2 = _request(chen, SITE, site["cam2"], "2026-11-01T01:00:00.000Z", "blurred")
    no_device = _request(chen, SITE, None, "2026-11-01T01:00:00.000Z", "the NVR beeps")
    # Shanghai is UTC+8: 2026-10-31T16:00Z is 1 November there, 2026-11-30T16:00Z is 1 December.
    _visit(wang, cam1, "2026-10-31T16:00:00.000Z", "power supply failed")
    _visit(wang, cam1, "2026-11-10T08:00:00.000Z", " power supply failed ")
    _visit(wang, cam1, "2026-11-12T08:00:00.000Z", "lens fogged")
    _visit(wang, cam2, "2026-11-12T08:00:00.000Z", "power supply failed")
    _visit(wang, no_device, "2026-11-13T08:00:00.000Z", "disk full")
    _visit(wang, cam1, "2026-10-31T15:59:59.999Z", "before the range")  # 31 October, local
    _visit(wang, cam1, "2026-11-30T16:00:00.000Z", "after the range")  # 1 December, local
    _visit(wang, cam2)  # no result recorded yet
    for session in (chen, lin):
        body = ok(session.http.get("/api/reports/faults", params={"from": "2026-11-01", "to": "2026-12-01"},
                                   headers=session.headers))
        assert (body["from"], body["to"], body["total"]) == ("2026-11-01", "2026-12-01", 5)
        assert body["faults"] == [
            {"kind": "dome_camera", "model": "DS-2CD2143", "fault_cause": "power supply failed", "visits": 2},
            {"kind": None, "model": None, "fault_cause": "disk full", "visits": 1},
            {"kind": "bullet_camera", "model": None, "fault_cause": "power supply failed", "visits": 1},
            {"kind": "dome_camera", "model": "DS-2CD2143", "fault_cause": "lens fogged", "visits": 1},
        ]
    problem(wang.http.get("/api/reports/faults", params={"from": "2026-11-01", "to": "2026-12-01"},
                          headers=wang.headers), 403, "forbidden")
    # Regression (noticed in issue 13/14): causes are free text, so a year's report listed every group,
    # thousands of them. Now the first `limit` (default 100), most visits first, and how many are left out.
    assert body["groups_left_out"] == 0
    cut = ok(lin.http.get("/api/reports/faults", params={"from": "2026-11-01", "to": "2026-12-01", "limit": 2},
                          headers=lin.headers))
    assert (cut["faults"], cut["total"], cut["groups_left_out"]) == (body["faults"][:2], 5, 2)

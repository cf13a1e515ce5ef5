"""The service desk role (issue 12, item 1): customer service reads every site like a supervisor,
and writes only what the service contract lets it (never sites, devices, plans or inspections)."""

from __future__ import annotations

import uuid

from tests.conftest import OTHER_SITE, SITE
from tests.helpers import problem


def test_the_service_desk_pulls_every_site_without_being_a_member(site, store, chen):
    store.write_server_changes([("sites", OTHER_SITE, {"name": "School", "tz": "Asia/Shanghai"}, False)])
    rows = chen.pull().json()["rows"]
    assert {r["id"] for r in rows if r["collection"] == "sites"} == {SITE, OTHER_SITE}
    assert site["cam1"] in {r["id"] for r in rows if r["collection"] == "devices"}


def test_the_service_desk_cannot_change_sites_devices_or_inspections(site, chen):
    new_device = str(uuid.uuid4())
    results = chen.push([
        chen.change("sites", SITE, {"name": "Renamed"}),
        chen.change("devices", site["cam1"], {"location": "Lobby"}),
        chen.change("devices", new_device, {"site_id": SITE, "system": "video", "kind": "dome_camera"}),
        chen.change("inspections", site["inspection"], {"status": "in_progress"}),
    ]).json()["results"]
    assert [r["status"] for r in results] == ["rejected"] * 4
    rows = {(r["collection"], r["id"]): r["fields"] for r in chen.pull().json()["rows"]}
    assert rows[("sites", SITE)]["name"] == "Test park"
    assert ("devices", new_device) not in rows
    assert rows[("inspections", site["inspection"])]["status"] == "scheduled"


def test_the_service_desk_is_refused_what_only_supervisors_may_do(site, chen):
    problem(chen.http.put(f"/api/sites/{SITE}/plan", headers=chen.headers,
                          json={"frequency": "quarterly", "due_day": 20, "technician": "wang"}), 403, "forbidden")
    problem(chen.http.patch("/api/users/wang", headers=chen.headers, json={"disabled": True}), 403, "forbidden")

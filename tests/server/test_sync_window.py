"""The sync window: clients receive the current and previous period's inspections (with
their checks); when a period leaves the window its rows leave like a lost site's."""

from __future__ import annotations

from datetime import date
from typing import Any

from sync.schema import device_check_id, inspection_id
from tests.helpers import pull_all as _pull_all


def _with_old_inspection(site: dict[str, str], store: Any, lin: Any) -> tuple[str, str]:
    old = inspection_id(site["site"], "2026-Q2")
    store.write_server_changes([("inspections", old, {"site_id": site["site"], "period": "2026-Q2"}, False)])
    check = device_check_id(old, site["cam1"])
    store.write_server_changes([("device_checks", check, {
        "inspection_id": old, "device_id": site["cam1"], "outcome": "serviced",
        "checked_by": "wang", "checked_at": "2026-05-20T10:15:00.000Z"}, False)])
    return old, check


def test_old_periods_are_outside_the_window(site, store, wang, lin):
    store.today = lambda: date(2026, 11, 27)
    old, check = _with_old_inspection(site, store, lin)
    rows, _ = _pull_all(wang)
    ids = {r["id"] for r in rows}
    assert site["inspection"] in ids and site["cam1"] in ids
    assert old not in ids and check not in ids
    # Older history is read through /api.
    history = lin.http.get(f"/api/devices/{site['cam1']}/history", headers=lin.headers).json()
    assert [c["period"] for c in history["checks"]] == ["2026-Q2"]


def test_a_period_leaving_the_window_arrives_once_as_removed(site, store, wang):
    store.today = lambda: date(2026, 11, 27)
    check = device_check_id(site["inspection"], site["cam1"])
    wang.push([wang.change("device_checks", check, {
        "inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "serviced",
        "checked_by": "wang", "checked_at": "2026-11-20T10:15:00.000Z"}, delete=False)])
    rows, cursor = _pull_all(wang)
    assert check in {r["id"] for r in rows}
    store.today = lambda: date(2027, 4, 2)  # 2026-Q4 is now two quarters back
    rows, cursor = _pull_all(wang, cursor)
    assert sorted((r["id"], r["removed"]) for r in rows) == sorted(
        [(site["inspection"], True), (check, True)])
    assert _pull_all(wang, cursor)[0] == []


def test_a_supervisors_client_is_windowed_too(site, store, lin):
    store.today = lambda: date(2026, 11, 27)
    old, check = _with_old_inspection(site, store, lin)
    ids = {r["id"] for r in _pull_all(lin)[0]}
    assert site["inspection"] in ids and old not in ids and check not in ids

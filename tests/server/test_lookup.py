"""The look-ups people use (issue 14, item 4): a sheet, a request, a device, by the number they know."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import OTHER_SITE, SITE


def lookup(session: Any, **params: str) -> Any:
    return session.http.get("/api/lookup", headers=session.headers, params=params)


def test_an_inspection_by_its_sheet_number_in_scope_only(site, lin, wang, zhao):
    found = lookup(wang, sheet_no="PM-2026Q4-0001")
    assert found.status_code == 200, found.text
    assert found.json() == {"collection": "inspections", "id": site["inspection"], "site_id": SITE,
                            "href": f"/api/inspections/{site['inspection']}"}
    assert lin.http.get(found.json()["href"], headers=lin.headers).status_code == 200
    assert lookup(zhao, sheet_no="PM-2026Q4-0001").status_code == 404  # another site's: not there
    assert lookup(lin, sheet_no="PM-2026Q4-0002").status_code == 404


def test_a_request_and_its_visit_by_their_numbers(site, chen, wang, zhao, store):
    opened = chen.http.post("/api/service-requests", headers=chen.headers,
                            json={"site_id": SITE, "channel": "hotline", "kind": "repair"}).json()
    found = lookup(wang, number=opened["number"]).json()
    assert (found["collection"], found["id"], found["href"]) == (
        "service_requests", opened["id"], f"/api/service-requests/{opened['id']}")
    assert lookup(zhao, number=opened["number"]).status_code == 404
    visit = "9c4a5162-7d8e-4f90-8b12-c3d4e5f60718"
    store.write_server_changes([("service_visits", visit, {"request_id": opened["id"], "technician": "wang"}, False)])
    sheet = f"{opened['number']}-1"
    assert lookup(chen, sheet_no=sheet).json()["href"] == f"/api/visits/{visit}"
    assert lookup(zhao, sheet_no=sheet).status_code == 404


def test_a_device_by_site_and_code(site, wang, zhao, lin):
    found = lookup(wang, site_id=SITE, code="CAM-002").json()
    assert found["id"] == site["cam2"] and found["href"] == f"/api/devices/{site['cam2']}/history"
    assert lookup(zhao, site_id=SITE, code="CAM-002").status_code == 404
    assert lookup(lin, site_id=OTHER_SITE, code="CAM-002").status_code == 404
    assert lookup(lin, site_id=SITE, code="CAM-404").status_code == 404


@pytest.mark.one_sqlite_server("reads SQLite's query plan through its trace callback")
def test_the_look_ups_use_their_indexes(site, store):
    """Each number is one index probe (m021), not a scan of every row."""
    from server.storage import archive as q

    with store.read() as db:
        statements: list[str] = []
        db.set_trace_callback(statements.append)
        q.by_sheet_no(db, "PM-2026Q4-0001")
        q.by_request_number(db, "SR-2026-00001")
        db.set_trace_callback(None)
        plans = [" ".join(r[3] for r in db.execute(f"EXPLAIN QUERY PLAN {sql}")) for sql in statements]
    assert "rows_sheet_no" in plans[0] and "rows_request_number" in plans[1]

"""The supervisor's "this quarter" (session 25, office): the period each site is in today, in its own
time zone and by its own plan, on the dashboard and a site's page; and pages that show a time stored
before times were bounded (1970 to 2100) show it as stored, never a 500.

In-process on the real app (`http`), the server's clock set through `store.now_ms` (the others follow it).
"""

from __future__ import annotations

import subprocess
import uuid
from typing import Any

import msgspec
import pytest

from server.domains.console.pages import local_time
from server.services import Store
from sync import hlc
from sync.schema import device_check_id, inspection_id
from tests.conftest import SITE
from tests.server.test_console_office import _at
from tests.server.test_console_site import sign_in
from tests.server.test_sealing import _check, _sheet, _signature

ABROAD = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-site-abroad"))
ABROAD_CAM = str(uuid.uuid5(uuid.NAMESPACE_URL, "abroad-cam"))
# The last evening of 2030's first quarter in Los Angeles (20:00 PDT), already 11:00 on 1 April in Shanghai.
QUARTER_EVENING = hlc.parse_ts("2030-04-01T03:00:00.000Z")


def _inspections_table(text: str) -> str:
    return text.split('id="inspections"')[1].split("</table>")[0]


def _coverage_heading(text: str) -> str:
    return text.split("本期覆盖（")[1].split("）")[0]


def test_this_quarter_is_each_sites_own_on_its_last_evening(http, store, site, lin, monkeypatch):
    # Regression (session 25, office, item 1): the dashboard worked "this quarter" out in Asia/Shanghai for
    # every site: on the last evening of a quarter in Los Angeles it listed that site's next quarter (none)
    # and not the one its technician was finishing that evening.
    # (Shanghai's first quarter is done: the quarter before, when still not done, is listed too, overdue;
    # test_yearend.py.)
    store.write_server_changes([
        ("sites", ABROAD, {"name": "LA office", "customer": "ACME", "tz": "America/Los_Angeles"}, False),
        ("devices", ABROAD_CAM, {"site_id": ABROAD, "system": "video", "kind": "dome_camera", "code": "CAM-001",
                                 "status": "active"}, False),
        *[("inspections", inspection_id(s, p), {"site_id": s, "period": p, "status": "scheduled",
                                                "due_on": due}, False)
          for s, p, due in [(ABROAD, "2030-Q1", "2030-03-31"), (ABROAD, "2030-Q2", "2030-06-20"),
                            (SITE, "2030-Q1", "2030-03-20"), (SITE, "2030-Q2", "2030-06-20")]],
        ("inspections", inspection_id(SITE, "2030-Q1"), {"status": "completed"}, False),
    ])
    monkeypatch.setattr(store, "now_ms", lambda: QUARTER_EVENING)
    console = sign_in(http, "lin")
    listed = _inspections_table(console.get("/console/").text)
    assert f'/console/inspections/{inspection_id(ABROAD, "2030-Q1")}"' in listed  # still Q1 in Los Angeles
    assert f'/console/inspections/{inspection_id(SITE, "2030-Q2")}"' in listed  # already Q2 in Shanghai
    assert inspection_id(ABROAD, "2030-Q2") not in listed and inspection_id(SITE, "2030-Q1") not in listed
    assert "2030-03-31 <span" not in listed  # due today in Los Angeles, not overdue (it is in Shanghai)
    # The site's page: the quarter the technician is finishing there, its camera in it.
    page = console.get(f"/console/sites/{ABROAD}").text
    assert _coverage_heading(page) == "2030-Q1" and "CAM-001" in page


@pytest.mark.parametrize(("frequency", "period", "now"), [
    ("monthly", "2030-M5", "2030-05-15T04:00:00.000Z"),
    ("half_yearly", "2030-H1", "2030-05-15T04:00:00.000Z"),
])
def test_a_site_on_another_plan_shows_its_own_periods_inspection(http, store, site, lin, monkeypatch,
                                                                   frequency, period, now):
    # Regression (session 25, office, item 1): the dashboard listed only quarterly inspections and a site's
    # page showed the quarter's coverage: a site on a monthly or half-yearly plan showed no inspection on
    # the dashboard, and on its page every device "not checked" though the month's visit had checked it.
    plan = {"frequency": frequency, "due_day": 20, "technician": "wang"}
    assert lin.http.put(f"/api/sites/{SITE}/plan", headers=lin.headers, json=plan).status_code == 200
    generated = lin.http.post("/api/inspections/generate", headers=lin.headers, json={"period": period}).json()
    insp = inspection_id(SITE, period)
    assert generated["created"] == [insp]
    store.write_server_changes([("device_checks", device_check_id(insp, site["cam1"]), {
        "inspection_id": insp, "device_id": site["cam1"], "outcome": "serviced", "checked_by": "wang",
        "checked_at": now}, False)])
    monkeypatch.setattr(store, "now_ms", lambda: hlc.parse_ts(now))
    console = sign_in(http, "lin")
    listed = _inspections_table(console.get("/console/").text)
    assert f'/console/inspections/{insp}"' in listed and f"<td>{period}</td>" in listed and "1/2" in listed
    page = console.get(f"/console/sites/{SITE}").text
    assert _coverage_heading(page) == period
    assert '<b data-count="serviced">1</b>' in page and '<b data-count="not_checked">1</b>' in page


def test_the_dashboards_conflicts_are_in_their_sites_zone(http, store, site, lin, wang):
    # Regression (session 25, office): the dashboard showed the latest conflicts' times in Asia/Shanghai for
    # every site, while the conflicts page shows each in its site's zone.
    store.write_server_changes([("sites", SITE, {"tz": "America/Los_Angeles"}, False)])
    assert lin.push([lin.change("devices", site["cam1"], {"location": "gate"}, hlc_=_at(lin, 1_000))]).status_code == 200
    assert wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=_at(wang, 5_000))]
                     ).status_code == 200
    [entry] = lin.http.get("/api/conflicts", headers=lin.headers, params={"no_op": "false"}).json()["conflicts"]
    console = sign_in(http, "lin")
    dashboard = console.get("/console/").text.split('id="conflicts"')[1].split("</table>")[0]
    listed = console.get("/console/conflicts").text.split('id="conflicts"')[1].split("</table>")[0]
    there, shanghai = local_time(entry["at"], "America/Los_Angeles"), local_time(entry["at"], "Asia/Shanghai")
    assert there in listed and there in dashboard and shanghai not in dashboard


# -- times stored before they were bounded -------------------------------------------------------------

FAR = "9999-12-31T23:59:59.999Z"  # no local time east of UTC
EARLY = "0001-01-01T00:00:00.000Z"  # no local time west of UTC


def _store_raw(store: Store, collection: str, row_id: str, **fields: Any) -> None:
    """Set fields of a stored row straight in the database, as a row stored before a bound was."""
    with store.write() as db:
        [stored] = db.execute("SELECT fields FROM rows WHERE collection = ? AND id = ?",
                              [collection, row_id]).fetchall()
        value = stored[0] if isinstance(stored[0], str | bytes) else msgspec.json.encode(stored[0])
        db.execute("UPDATE rows SET fields = ? WHERE collection = ? AND id = ?",
                   [msgspec.json.encode({**msgspec.json.decode(value), **fields}).decode(), collection, row_id])


@pytest.mark.parametrize(("tz", "stamp"), [("Asia/Shanghai", FAR), ("America/Los_Angeles", EARLY)])
def test_a_time_stored_outside_the_years_shows_as_stored_on_every_page(http, store, site, wang, lin, tz, stamp):
    # Regression (session 25, office, item 2): a check's or a signature's time stored before times were
    # bounded to 1970-2100 has no local time in the site's zone: the site page, the device's history, the
    # sheet and its PDF were a 500. They show the stored text. (A request's `reported_at` out there:
    # test_service_api.py, test_a_reported_at_stored_outside_the_years_is_no_500_on_any_page.)
    insp = site["inspection"]
    check = _check(wang, insp, site["cam1"], "wang")
    signature, signed = _signature(wang, insp, _sheet(insp, check))
    assert {r["status"] for r in wang.push([check, signed]).json()["results"]} == {"applied"}
    _store_raw(store, "sites", SITE, tz=tz)
    _store_raw(store, "device_checks", device_check_id(insp, site["cam1"]), checked_at=stamp)
    _store_raw(store, "signatures", signature, signed_at=stamp)
    console = sign_in(http, "lin")
    for path in (f"/console/sites/{SITE}/devices/{site['cam1']}", f"/console/inspections/{insp}"):
        page = console.get(path)
        assert page.status_code == 200 and stamp in page.text, path
    assert console.get(f"/console/sites/{SITE}").status_code == 200  # it works the times out, shows none
    for path in (f"/console/inspections/{insp}/sheet.pdf", f"/api/inspections/{insp}/sheet.pdf"):
        pdf = http.get(path, headers=lin.headers)
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF"), path


# Walked (session 26, office2, items 1 and 2): a site in Urumqi (UTC+6) whose Q3 sheet was checked and signed
# at 23:30 on 30 September, already 1 October in Shanghai. In January the supervisor finds it by its number
# and from the device's history, and every time shown or printed is Urumqi's, the seal the customer's hash.
# Nothing was wrong; this holds it (no sheet test had a site outside Shanghai).
def test_a_closed_quarters_signed_sheet_of_a_site_abroad_is_found_and_printed_in_its_zone(
        http, store, site, wang, monkeypatch, tmp_path):
    late = "2026-09-30T17:30:00.000Z"
    store.write_server_changes([("sites", SITE, {"tz": "Asia/Urumqi"}, False)])
    insp = inspection_id(SITE, "2026-Q3")
    store.write_server_changes([("inspections", insp, {"site_id": SITE, "period": "2026-Q3", "status": "scheduled",
                                                      "due_on": "2026-09-20", "assigned_to": "wang"}, False)])
    checks = [_check(wang, insp, site[cam], "wang") for cam in ("cam1", "cam2")]
    for check in checks:
        check["fields"]["checked_at"] = late
    _, signature = _signature(wang, insp, _sheet(insp, *checks))
    signature["fields"]["signed_at"] = late
    assert [r["status"] for r in wang.push([*checks, signature]).json()["results"]] == ["applied"] * 3
    monkeypatch.setattr(store, "now_ms", lambda: hlc.parse_ts("2027-01-12T02:00:00.000Z"))
    console = sign_in(http, "lin")
    found = console.get("/console/lookup?q=PM-2026Q3-0001", follow_redirects=False)
    assert found.status_code == 303 and found.headers["location"] == f"/console/inspections/{insp}"
    device = console.get(f"/console/sites/{SITE}/devices/{site['cam1']}").text
    assert f'href="/console/inspections/{insp}"' in device and "2026-09-30 23:30" in device
    page = console.get(f"/console/inspections/{insp}").text
    assert page.count("2026-09-30 23:30") == 4 and "2026-10-01" not in page  # two checks, the signature, the seal
    pdf = tmp_path / "q3.pdf"
    pdf.write_bytes(console.get(f"/console/inspections/{insp}/sheet.pdf").content)
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], check=True, capture_output=True, text=True,
                          timeout=60).stdout
    assert text.count("2026-09-30 23:30") == 4 and "2026-10-01" not in text, text
    assert signature["fields"]["sheet_sha256"] in text and "2027-01-12 08:00（时区 Asia/Urumqi）" in text

"""The console's inspection page (s26-office4): a supervisor reassigns an inspection whose technician
left, and a sealed check's device reads as the customer signed it, as the reprinted sheet prints it.

In-process on the real app (`http`), the merge and the sheet's own functions underneath.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sync import hlc
from sync.schema import inspection_id
from tests.conftest import SITE
from tests.server import test_sealing as sealing
from tests.server.test_console_desk import ORIGIN, console
from tests.server.test_sheet_pdf import _read, renamed_after_signing


def _assignee(lin: Any, inspection: str) -> object:
    return lin.http.get(f"/api/inspections/{inspection}", headers=lin.headers).json()["inspection"]["assigned_to"]


def _reassign(http: Any, inspection: str, csrf: str, username: str, **extra: str) -> Any:
    return http.post(f"/console/inspections/{inspection}/assign", data={"assigned_to": username, "csrf": csrf},
                     headers={**ORIGIN, **extra}, follow_redirects=False)


def test_a_supervisor_reassigns_an_inspection_whose_technician_left(http, store, site, lin):
    # Regression (s26-office4, item 1): when a technician left (account disabled, or taken off the
    # site) his inspections stayed his, and the console had no way to change that: only a push of
    # `inspections.assigned_to`. The inspection page now marks him and offers the site's enabled
    # members, checked by the same merge as that push.
    insp = site["inspection"]
    store.add_member(SITE, "zhao")
    csrf = console(http, "lin")
    page = http.get(f"/console/inspections/{insp}").text
    assert 'id="reassign"' in page and f'name="csrf" value="{csrf}"' in page
    assert '<option value="wang" selected>' in page and '<option value="zhao">' in page
    assert 'id="assignee-unavailable"' not in page
    store.update_user("wang", disabled=True)
    page = http.get(f"/console/inspections/{insp}").text
    assert 'id="assignee-unavailable"' in page and "账号已停用" in page
    assert '<option value="wang"' not in page and '<option value="zhao"' in page
    r = _reassign(http, insp, csrf, "zhao")
    assert r.status_code == 303 and r.headers["location"] == f"/console/inspections/{insp}"
    assert _assignee(lin, insp) == "zhao"
    page = http.get(f"/console/inspections/{insp}").text
    assert 'id="assignee-unavailable"' not in page and "Zhao" in page.split('id="assignee"')[1].split("</td>")[0]


def test_a_refused_reassignment_is_the_page_again_with_the_reason_and_nothing_written(http, store, site, lin):
    insp = site["inspection"]
    csrf = console(http, "lin")
    store.update_user("zhao", disabled=False)
    for who in ("zhao", "lin", "nobody"):  # not a member of the site; a supervisor; no such user
        r = _reassign(http, insp, csrf, who)
        assert r.status_code == 400, who
        assert 'id="refused"' in r.text and "未能保存：派给：只能派给该现场账号未停用的成员" in r.text, who
        assert 'id="reassign"' in r.text
        assert _assignee(lin, insp) == "wang"
    store.add_member(SITE, "zhao")
    store.update_user("zhao", disabled=True)  # a member, but disabled: refused as the push refuses it
    assert _reassign(http, insp, csrf, "zhao").status_code == 400
    assert _assignee(lin, insp) == "wang"
    # Too long, or with a NUL: the form's bound, in words; nothing written.
    for bad in ("x" * 300, "wa\x00ng"):
        r = _reassign(http, insp, csrf, bad)
        assert r.status_code == 400 and 'id="refused"' in r.text
        assert _assignee(lin, insp) == "wang"


def test_reassigning_is_a_supervisors_with_the_sessions_csrf_and_in_scope(http, store, site, lin):
    insp = site["inspection"]
    store.add_member(SITE, "zhao")
    csrf = console(http, "lin")
    r = _reassign(http, insp, "0" * 64, "zhao")  # a wrong CSRF value
    assert r.status_code == 403 and _assignee(lin, insp) == "wang"
    r = _reassign(http, insp, csrf, "zhao", origin="http://evil.example")  # posted from another site
    assert r.status_code == 403 and _assignee(lin, insp) == "wang"
    r = _reassign(http, "0" * 36, csrf, "zhao")  # no such inspection
    assert r.status_code == 404
    desk = console(http, "chen")  # the service desk reads the page but may not reassign
    assert 'id="reassign"' not in http.get(f"/console/inspections/{insp}").text
    assert _reassign(http, insp, desk, "zhao").status_code == 403 and _assignee(lin, insp) == "wang"
    tech = console(http, "wang")
    assert 'id="reassign"' not in http.get(f"/console/inspections/{insp}").text
    assert _reassign(http, insp, tech, "zhao").status_code == 403 and _assignee(lin, insp) == "wang"


def test_the_inspection_page_shows_a_sealed_checks_device_as_signed_as_the_reprint_does(
        http, store, site, wang, lin):
    # Regression (s26-office4, item 2): the reprinted sheet prints a sealed check's device as the customer
    # signed it (s26-office3, verifications.devices), but the console's inspection page showed today's
    # code and location, so the page and the paper disagreed. Now the page is the sheet's devices,
    # with the sheet's mark of what the device is called now.
    insp = site["inspection"]
    renamed_after_signing(site, store, wang)
    console(http, "lin")
    page = http.get(f"/console/inspections/{insp}").text
    devices = page.split('class="devices"')[1:]
    assert "<h3>大堂东</h3>" in page and "<h3>二楼</h3>" not in page
    [cam1] = [d for d in devices if "CAM-001" in d]
    assert "（签字后已改为 CAM-101 二楼）" in cam1 and "CAM-101</a>" not in page
    assert page.count("签字后") == 1  # CAM-002 was not renamed: no mark
    # The API's JSON stays the device as it stands (docs/api.md says so).
    coverage = lin.http.get(f"/api/inspections/{insp}", headers=lin.headers).json()["coverage"]
    assert {d["code"] for d in coverage["devices"]} == {"CAM-101", "CAM-002"}


def test_a_signed_inspection_is_not_reassigned_by_the_console(http, store, site, lin):
    # Regression (session 26, the final review): the reassignment form was only hidden on a completed or
    # signed inspection; a supervisor's POST still changed `assigned_to`, and the sheet's reprint then
    # named another technician beside the customer's signature.
    insp = site["inspection"]
    store.add_member(SITE, "zhao")
    csrf = console(http, "lin")
    store.write_server_changes([("inspections", insp, {"status": "signed"}, False)])
    r = _reassign(http, insp, csrf, "zhao")
    assert r.status_code == 400 and 'id="refused"' in r.text and "已由客户签字封存" in r.text, r.text[-600:]
    assert 'id="reassign"' not in r.text  # no form on a signed sheet's page
    assert _assignee(lin, insp) == "wang"


def test_a_supervisors_push_reassigning_a_signed_inspection_leaves_the_signed_technician_on_the_sheet(
        http, store, site, wang, lin, tmp_path):
    # Regression (s27-office5, item 2): only the console refused to reassign a signed inspection; a
    # supervisor's push of `inspections.assigned_to` was taken (sync-protocol.md seals the checks, not the
    # inspection's registers, so the push stays taken), and the reprint then printed the new technician
    # beside the customer's signature. The seal now keeps whom the sheet named (verifications.technician,
    # m032), the reprint prints him, and the console's page says to whom it was reassigned since.
    insp = site["inspection"]
    store.add_member(SITE, "zhao")
    renamed_after_signing(site, store, wang)
    sheet = lin.http.get(f"/api/inspections/{insp}", headers=lin.headers).json()["inspection"]
    assert sheet["status"] == "signed"
    [result] = lin.push([lin.change("inspections", insp, {"assigned_to": "zhao"})]).json()["results"]
    assert result["status"] == "applied" and _assignee(lin, insp) == "zhao"  # the contract takes it
    text, _ = _read(lin.http.get(f"/api/inspections/{insp}/sheet.pdf", headers=lin.headers).content, tmp_path,
                    "inspection-reassigned")
    assert "Wang" in text and "Zhao" not in text, text
    console(http, "lin")
    page = http.get(f"/console/inspections/{insp}").text
    assignee = page.split('id="assignee"')[1].split("</td>")[0]
    assert assignee.startswith(">Wang") and "（签字后已改派 Zhao）" in assignee, assignee


def test_the_seal_links_the_signed_bytes_for_the_session(http, store, site, wang, lin):
    # Regression (s27-office5, item 3): the inspection page showed the seal's hash, but the bytes the
    # customer signed were only at `GET /blobs/{sha}`, which takes a bearer token a browser does not send.
    insp = site["inspection"]
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    c2 = sealing._check(wang, insp, site["cam2"], "wang")
    signed = sealing._sheet(insp, c1, c2)
    sealing._upload(wang, signed, "application/json")
    _sig_id, sig = sealing._signature(wang, insp, signed)
    assert sealing._results(wang.push([c1, c2, sig])) == [("applied", None)] * 3
    console(http, "lin")
    page = http.get(f"/console/inspections/{insp}").text
    sha = hashlib.sha256(signed).hexdigest()
    assert f'<a href="/console/blobs/{sha}" id="signed-bytes">' in page
    r = http.get(f"/console/blobs/{sha}")
    assert r.status_code == 200 and r.content == signed and r.headers["content-type"].startswith("application/json")
    assert http.get(f"/console/blobs/{'0' * 64}").status_code == 404
    console(http, "zhao")  # not a member of the site: the API's 404
    assert http.get(f"/console/blobs/{sha}").status_code == 404


def test_the_site_page_lists_one_years_inspections_and_shows_a_past_periods_coverage(http, store, site, wang,
                                                                                     monkeypatch):
    # Regression (s27-office5, item 3): the site's page listed every inspection ever (four a year) and
    # showed only the current period's coverage: last quarter's cameras could not be looked at.
    # By default the last twelve months (session 30: the year of the period opened empty on 1 January).
    monkeypatch.setattr(store, "now_ms", lambda: hlc.parse_ts("2026-12-07T02:00:00.000Z"))
    for period in ("2025-Q3", "2025-Q4", "2026-Q3"):
        store.write_server_changes([("inspections", inspection_id(SITE, period), {
            "site_id": SITE, "period": period, "status": "scheduled", "assigned_to": "wang"}, False)])
    c1 = sealing._check(wang, inspection_id(SITE, "2025-Q3"), site["cam1"], "wang")
    assert sealing._results(wang.push([c1])) == [("applied", None)]
    console(http, "lin")
    page = http.get(f"/console/sites/{SITE}").text
    listed = page.split('id="site-inspections"')[1].split("</table>")[0]
    assert "2026-Q4" in listed and "2026-Q3" in listed and "2025-Q4" in listed and "2025-Q3" not in listed
    assert '<a href="?year=2025">2025</a>' in page and '<a href="?year=2026">2026</a>' in page
    assert "<b>近 12 个月</b>" in page
    assert "本期覆盖（2026-Q4）" in page
    page = http.get(f"/console/sites/{SITE}", params={"year": "2025"}).text
    listed = page.split('id="site-inspections"')[1].split("</table>")[0]
    assert "2025-Q3" in listed and "2025-Q4" in listed and "2026-Q" not in listed
    page = http.get(f"/console/sites/{SITE}", params={"period": "2025-Q3"}).text
    assert "2025-Q3 覆盖" in page and 'id="current-period"' in page and "回到本期（2026-Q4）" in page
    assert '<b data-count="serviced">1</b>' in page and 'name="period" value="2025-Q3"' in page
    for bad in ({"period": "2025-Q5"}, {"year": "20x5"}, {"period": "x" * 300}):
        assert http.get(f"/console/sites/{SITE}", params=bad).status_code == 400, bad


def test_the_kind_filter_offers_every_camera_at_once(http, store, site, wang):
    # Regression (s27-office5, the supervisor's walk): "which cameras were serviced, what is wrong with the
    # rest" needed one kind at a time (球形, 枪式, 半球): the select offered no choice for every camera, though
    # the coverage takes a list of kinds.
    insp = site["inspection"]
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    assert sealing._results(wang.push([c1])) == [("applied", None)]
    console(http, "lin")
    page = http.get(f"/console/sites/{SITE}").text
    assert '<option value="bullet_camera,dome_camera">全部摄像机</option>' in page
    page = http.get(f"/console/sites/{SITE}", params={"kind": "bullet_camera,dome_camera",
                                                       "outcome": "not_checked"}).text
    assert '<option value="bullet_camera,dome_camera" selected>' in page
    assert "CAM-002" in page and ">CAM-001<" not in page

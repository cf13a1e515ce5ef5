"""The console's site pages (issue 14, console-site): the customer archive and device search, a device's
history, an inspection's sheet, its PDF and the photos' thumbnails, for the cookie session, in scope.

In-process on the real app (`http`); the browser test is in tests/console/test_console_site.py.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from litestar.testing import TestClient

from bench import _tus as tus
from server.domains.console.site_pages import MAX_CODE_QUERY
from sync.schema import device_check_id
from tests.conftest import OTHER_SITE
from tests.server.test_sealing import IMAGE_SHA, _check, _sheet, _signature
from tests.server.test_uploads import jpeg, photo, sha

ORIGIN = {"origin": "http://testserver.local"}
NOTE = '镜头起雾 <script>alert("note")</script> & <b>bold</b>'
OTHER_CAM = str(uuid.uuid5(uuid.NAMESPACE_URL, "other-site-cam"))


def sign_in(http: TestClient[Any], username: str) -> TestClient[Any]:
    """The console's session for `username` in the client's cookie jar."""
    page = http.get("/console/login").text
    csrf = page.split('name="csrf" value="')[1].split('"')[0]
    r = http.post("/console/login", data={"username": username, "password": "demo", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303, r.text
    return http


@pytest.fixture
def archive(site, store, wang):
    """The test site with its contract, a device's identity, a checklist, and wang's check with a photo."""
    items = [{"key": "lens_cleaned", "label": "Lens wiped clean", "label_zh": "镜头已擦拭", "type": "bool"}]
    store.write_server_changes([
        ("sites", site["site"], {"address": "上海市浦东新区 1 号", "zone": "urban", "contract": "annual",
                                 "contract_price_fen": 1_280_050, "accepted_on": "2026-01-10",
                                 "warranty_months": 24}, False),
        ("devices", site["cam1"], {"name": "大堂球机", "location": "A 栋大堂", "model": "DS-2CD", "serial_no": "SN-77",
                                   "installed_on": "2025-12-01"}, False),
        ("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "dome")),
         {"kind": "dome_camera", "title": "Dome", "items": json.dumps(items)}, False),
        ("sites", OTHER_SITE, {"name": "Other park", "customer": "Other"}, False),
        ("devices", OTHER_CAM, {"site_id": OTHER_SITE, "system": "video", "kind": "dome_camera", "code": "CAM-001",
                                "status": "active"}, False),
    ])
    [result] = wang.push([wang.change("device_checks", device_check_id(site["inspection"], site["cam1"]), {
        "inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "fault", "note": NOTE,
        "checked_by": "wang", "checked_at": "2026-11-20T02:15:00.000Z", "item.lens_cleaned": True})]).json()["results"]
    assert result["status"] == "applied", result
    data = jpeg(seed=41)
    photo(wang, site, data)
    assert tus.upload(wang.http, wang.headers, data).status_code == 204
    return {**site, "photo": sha(data)}


def test_the_site_page_shows_the_customer_archive_and_the_terms_in_force(http, lin, archive):
    page = sign_in(http, "lin").get(f"/console/sites/{archive['site']}")
    assert page.status_code == 200
    text = page.text
    assert "上海市浦东新区 1 号" in text and "市区" in text and "年度维保" in text
    assert "12,800.50 元" in text  # the contract's price, integer fen shown as yuan
    assert "2026-01-10" in text and "24 个月，至 2028-01-09" in text and "保修期内" in text
    # The annual contract's terms (fixtures/service_terms.json): on site in 4 h in town, fixed in 24 h.
    terms = text.split('id="terms"')[1].split("</table>")[0]
    assert "到场" in terms and "4 小时" in terms and "修复" in terms and "24 小时" in terms
    assert "按设备清单的年度报价" in text  # the desk's and supervisors' (as the API's annual quote)
    # Device codes open their history; the quarter's inspection opens its sheet.
    assert f'/console/sites/{archive["site"]}/devices/{archive["cam1"]}"' in text
    assert f'/console/inspections/{archive["inspection"]}"' in text
    english = http.get(f"/console/sites/{archive['site']}", params={"lang": "en"}).text
    assert "Annual maintenance" in english and "¥12,800.50" in english and "4 h" in english
    # A device's kind in words, as the printed sheet names it (merge of issue 14's pages: it showed `dome_camera`).
    assert ">球形摄像机<" in text and ">dome_camera<" not in text
    assert ">Dome camera<" in english


def test_a_technician_sees_the_archive_without_the_quote(http, wang, archive):
    text = sign_in(http, "wang").get(f"/console/sites/{archive['site']}").text
    assert "年度维保" in text and "按设备清单的年度报价" not in text


def test_search_by_device_code_lists_prefix_matches_and_opens_an_exact_one(http, lin, archive):
    sign_in(http, "lin")
    url = f"/console/sites/{archive['site']}"
    found = http.get(url, params={"code": "cam-00"})
    assert found.status_code == 200 and "CAM-001" in found.text and "CAM-002" in found.text
    assert "2 台" in found.text.split('id="matches"')[1].split("</p>")[0]
    none = http.get(url, params={"code": "DOOR"})
    assert none.status_code == 200 and "CAM-001" not in none.text.split('id="matches"')[1]
    exact = http.get(url, params={"code": " cam-002 "}, follow_redirects=False)  # any case, spaces ignored
    assert exact.status_code == 303
    assert exact.headers["location"] == f"{url}/devices/{archive['cam2']}"
    # Regression (issue 14, bounds): the search is bounded before it is used.
    long = http.get(url, params={"code": "C" * (MAX_CODE_QUERY + 1)})
    assert long.status_code == 400 and "invalid_request" in long.text


def test_the_device_page_shows_identity_checks_photos_and_escapes_a_phones_html(http, lin, archive):
    page = sign_in(http, "lin").get(f"/console/sites/{archive['site']}/devices/{archive['cam1']}")
    assert page.status_code == 200
    text = page.text
    for shown in ("CAM-001", "大堂球机", "球形摄像机", "视频监控系统", "A 栋大堂", "DS-2CD", "SN-77", "2025-12-01",
                  "保修期内", "2026-Q4", "故障", "<td>Wang</td>", "2026-11-20 10:15", "镜头已擦拭：是"):
        assert shown in text, shown  # who checked by the person's name (Wang), as the sheets (session 26)
    # Regression (issue 14, escaping): a note with HTML from a phone is text, never markup.
    assert "<script>" not in text and "&lt;script&gt;alert(&#34;note&#34;)&lt;/script&gt;" in text
    assert "&lt;b&gt;bold&lt;/b&gt;" in text
    # The photo is a thumbnail the session may fetch (the API's route takes only a bearer token).
    src = f"/console/blobs/{archive['photo']}/thumbnail?size=160"
    assert f'src="{src}"' in text
    thumb = http.get(src)
    assert thumb.status_code == 200 and thumb.headers["content-type"] == "image/jpeg"
    assert thumb.content.startswith(b"\xff\xd8") and thumb.headers["content-security-policy"] == "sandbox"
    assert http.get(f"/blobs/{archive['photo']}/thumbnail").status_code == 401  # the cookie opens no API route


def test_the_device_page_lists_its_requests_and_visits_by_number(http, lin, chen, archive, store):
    r = chen.http.post("/api/service-requests", headers=chen.headers, json={
        "site_id": archive["site"], "device_id": archive["cam1"], "channel": "hotline", "kind": "repair",
        "description": "画面全黑"})
    assert r.status_code == 201, r.text
    request = r.json()
    visit = str(uuid.uuid4())
    store.write_server_changes([("service_visits", visit, {"request_id": request["id"], "technician": "wang",
                                                           "fault_cause": "电源适配器损坏"}, False)])
    text = sign_in(http, "lin").get(f"/console/sites/{archive['site']}/devices/{archive['cam1']}").text
    assert f'href="/console/service-requests/{request["id"]}">{request["number"]}</a>' in text
    assert f'href="/console/visits/{visit}"' in text and "画面全黑" in text and "电源适配器损坏" in text


@pytest.mark.parametrize("who", ["wang", "lin"])
def test_a_device_of_another_site_is_404(http, zhao, archive, who):
    # Regression (issue 14, scope): under wang's site URL, a device of another site is not found, for the
    # technician and for a supervisor who may see both (the device is not the site's).
    sign_in(http, who)
    r = http.get(f"/console/sites/{archive['site']}/devices/{OTHER_CAM}")
    assert r.status_code == 404 and r.headers["content-type"].startswith("text/html")
    assert "CAM-001" not in r.text


def test_another_sites_pages_and_photos_are_404_to_a_technician(http, zhao, archive):
    sign_in(http, "zhao")
    for url in (f"/console/sites/{archive['site']}/devices/{archive['cam1']}",
                f"/console/inspections/{archive['inspection']}",
                f"/console/inspections/{archive['inspection']}/sheet.pdf",
                f"/console/blobs/{archive['photo']}/thumbnail"):
        r = http.get(url)
        assert r.status_code == 404, url
        assert NOTE not in r.text and "大堂球机" not in r.text


def test_without_a_session_the_new_pages_lead_to_sign_in(http, archive):
    for url in (f"/console/sites/{archive['site']}/devices/{archive['cam1']}",
                f"/console/inspections/{archive['inspection']}",
                f"/console/inspections/{archive['inspection']}/sheet.pdf",
                f"/console/blobs/{archive['photo']}/thumbnail"):
        r = http.get(url, follow_redirects=False)
        assert (r.status_code, r.headers["location"]) == (303, "/console/login"), url


def test_the_inspection_page_is_the_sheet_with_answers_photos_and_its_pdf(http, lin, wang, archive):
    sheet = http.get(f"/api/inspections/{archive['inspection']}", headers=lin.headers).json()
    sheet_no = sheet["inspection"]["sheet_no"]
    page = sign_in(http, "lin").get(f"/console/inspections/{archive['inspection']}")
    assert page.status_code == 200
    text = page.text
    for shown in (sheet_no, "Test park", "ACME", "2026-Q4", 'id="assignee">Wang', "已排期", "1/2", "视频监控系统", "故障", "未检查",
                  "镜头已擦拭：是", "2026-11-20 10:15", "尚无签字", "尚未签章"):
        assert shown in text, shown
    assert "<script>" not in text and "&lt;script&gt;" in text
    assert f'src="/console/blobs/{archive["photo"]}/thumbnail?size=160"' in text
    assert f'href="/console/inspections/{archive["inspection"]}/sheet.pdf"' in text
    # The PDF for the session is the API's PDF (same service, same scope).
    pdf = http.get(f"/console/inspections/{archive['inspection']}/sheet.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF-")
    # In English, the page's words change; the stored values' words too.
    english = http.get(f"/console/inspections/{archive['inspection']}", params={"lang": "en"}).text
    assert "Lens wiped clean: yes" in english or "Lens wiped clean：yes" in english
    assert "Not sealed" in english and "Fault" in english


def test_the_dashboard_links_the_quarters_inspections_to_their_sheet(http, lin, archive):
    text = sign_in(http, "lin").get("/console/").text
    assert f'href="/console/inspections/{archive["inspection"]}"' in text


def test_the_sheet_shows_its_signatures_and_seal_and_a_retraction(http, site, wang, lin):
    check = _check(wang, site["inspection"], site["cam1"], "wang")
    signature, signed = _signature(wang, site["inspection"], _sheet(site["inspection"], check))
    assert {r["status"] for r in wang.push([check, signed]).json()["results"]} == {"applied"}
    [info] = http.get(f"/api/inspections/{site['inspection']}", headers=lin.headers).json()["signatures"]
    assert info["verification"] == "valid"
    url = f"/console/inspections/{site['inspection']}"
    text = sign_in(http, "lin").get(url).text
    rows = text.split('id="signatures"')[1].split("</table>")[0]
    assert "陈女士" in rows and "客户" in rows and "有效" in rows and "2026-11-20 18:15" in rows
    assert f'src="/console/blobs/{IMAGE_SHA}/thumbnail?size=160"' in rows  # the customer's signature image
    assert http.get(f"/console/blobs/{IMAGE_SHA}/thumbnail").status_code == 200
    seal = text.split('id="seal"')[1]
    assert "已签章：陈女士，2026-11-20 18:15" in seal and info["sheet_sha256"] in seal
    assert lin.http.post(f"/api/signatures/{signature}/retract", headers=lin.headers).status_code == 200
    seal = http.get(url).text.split('id="signatures"')[1]
    assert "已由 Lin 于" in seal and "尚未签章" in seal and "有签字已被撤回" in seal


@pytest.mark.parametrize(("path", "status"), [
    ("/console/blobs/{photo}/thumbnail?size=abc", 400),  # not a number
    ("/console/blobs/{photo}/thumbnail?size=999", 400),  # not one of the sizes
    ("/console/blobs/{photo}/thumbnail?size=99999999999999999999999", 400),
    ("/console/blobs/not-a-hash/thumbnail", 404),
    ("/console/blobs/" + "a" * 300 + "/thumbnail", 404),
    ("/console/sites/{site}/devices/not-a-uuid", 404),
    ("/console/sites/{site}/devices/" + "x" * 300, 404),
    ("/console/inspections/not-an-id", 404),
    ("/console/inspections/not-an-id/sheet.pdf", 404),
    ("/console/sites/{site}?code=%ff", 200),  # searched as text: nothing matches
    ("/console/sites/{site}?code=%00%ff", 400),  # a NUL no database stores (issue 16, closing note)
])
def test_bad_input_to_the_site_pages_is_a_4xx_never_a_500(http, lin, archive, path, status):
    r = sign_in(http, "lin").get(path.format(**archive))
    assert r.status_code == status, r.text[:300]


def _shanghai_ms(text: str) -> int:
    """A wall-clock time in Shanghai (`2028-01-09 23:50`) in ms."""
    from datetime import datetime

    return int(datetime.fromisoformat(f"{text}+08:00").timestamp() * 1000)


def test_the_warranty_and_the_reports_month_are_read_by_the_stores_clock_in_the_sites_zone(http, lin, archive,
                                                                                            store, monkeypatch):
    # Regression (session 30, office30, item 2): the archive's and a device's warranty were read on the process's
    # own day (`site_today`, time.time()), and the reports page's default month too, where every other part of a
    # page reads the store's clock (the current period beside it; a faked server's time, the tests'): around
    # midnight in the site's zone the page said 2028-Q1 above a warranty still in force, or the reverse. The
    # warranty here ends on 2028-01-09 (accepted 2026-01-10, 24 months).
    sign_in(http, "lin")
    device = f"/console/sites/{archive['site']}/devices/{archive['cam1']}"

    def warranty(path: str) -> set[str]:
        text = http.get(path).text
        return {phase for phase in ("保修期内", "已过保") if phase in text}

    for at, phase in (("2028-01-09 23:50", "保修期内"), ("2028-01-10 00:10", "已过保")):
        monkeypatch.setattr(store, "now_ms", lambda at=at: _shanghai_ms(at))
        assert warranty(f"/console/sites/{archive['site']}") == {phase}, at
        assert warranty(device) == {phase}, at
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai_ms("2030-03-01 00:10"))  # 16:10 on 28 February UTC
    assert "<h1>月度报表（2030-03）</h1>" in http.get("/console/reports").text

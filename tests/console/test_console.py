"""The office console in chromium against a real `fieldsync serve` with the demo (issue 14, item 1)."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import httpx

from client_sdk import Client
from sync.periods import period_of, site_today
from sync.schema import inspection_id

from .conftest import REF, SCHOOL, api_token, sign_in

COUNTS = ("total", "serviced", "fault", "not_accessible", "skipped", "not_checked")


def test_sign_in_in_chinese_then_english(context_for):
    page = context_for().new_page()
    sign_in(page, "lin")
    assert page.locator("header").inner_text().count("林经理") == 1
    assert page.locator("h1").inner_text() == "总览"
    page.click("text=English")
    assert page.locator("h1").inner_text() == "Dashboard"
    page.goto("/console/sites")  # the switch is kept in a cookie
    assert page.locator("h1").inner_text() == "Sites"


def test_a_wrong_password_is_refused_with_the_apis_check(context_for):
    page = context_for().new_page()
    page.goto("/console/login")
    page.fill("input[name=username]", "lin")
    page.fill("input[name=password]", "not-it")
    with page.expect_response("**/console/login") as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 401
    assert page.locator("[role=alert]").inner_text() == "用户名或密码错误。"
    assert page.goto("/console/").url.endswith("/console/login")  # no session was made


def test_the_coverage_grid_counts_equal_the_apis(context_for, demo_server):
    period = period_of(site_today("Asia/Shanghai"))
    api = httpx.get(f"{demo_server.url}/api/sites/{REF}/coverage", params={"period": period},
                    headers={"Authorization": f"Bearer {api_token(demo_server, 'lin')}"}).json()
    page = context_for("lin").new_page()
    page.goto(f"/console/sites/{REF}")
    shown = {name: int(page.locator(f"[data-count={name}]").inner_text()) for name in COUNTS}
    assert shown == {name: api[name] for name in COUNTS}
    cameras = [d for d in api["devices"] if d["kind"].endswith("camera")]
    assert page.locator("#camera-grid .cell").count() == len(cameras) == 117
    # Device codes, never UUIDs (in what people read; a device's link holds its id).
    assert REF not in page.locator("main").inner_text()
    assert cameras[0]["device_id"] not in page.locator("main").inner_text()
    # A filter by query parameter, as the form sends it.
    page.goto(f"/console/sites/{REF}?system=video&outcome=not_checked")
    rows = page.locator("table.devices tr:has(td)")
    assert rows.count() == sum(1 for d in api["devices"] if d["system"] == "video" and d["outcome"] is None)


def test_html_in_a_phone_note_is_shown_as_text_and_never_runs(context_for, demo_server):
    # Regression (issue 14, escaping): a note from a phone is data, never markup.
    note = '<script>alert("note")</script><img src=x onerror="alert(\'img\')">'
    with tempfile.TemporaryDirectory() as where, httpx.Client(base_url=demo_server.url) as http:
        phone = Client(Path(where) / "phone.db", http)
        phone.login("wang", "demo")
        phone.sync()
        insp = inspection_id(REF, period_of(site_today("Asia/Shanghai")))
        device = next(d for d in phone.rows("devices") if d["fields"].get("code") == "CAM-001"
                      and d["fields"].get("site_id") == REF)
        phone.record_check(insp, device["id"], "fault", note=note)
        phone.sync()
        phone.db.conn.close()
    page = context_for("lin").new_page()
    ran: list[Any] = []
    page.on("dialog", lambda d: (ran.append(d.message), d.dismiss()))
    page.goto(f"/console/sites/{REF}?outcome=fault")
    cell = page.locator("td.note", has_text="<script>")
    assert cell.count() == 1 and cell.inner_text() == note
    assert page.locator("main script, main img").count() == 0
    assert page.evaluate("document.querySelectorAll('[onerror]').length") == 0
    assert ran == []


def test_csrf_a_form_post_without_the_token_or_from_elsewhere_changes_nothing(context_for, demo_server):
    # Regression (issue 14, CSRF): sign-out and sign-in posts need this site's Origin and the form's token.
    context = context_for("lin")
    page = context.new_page()
    page.goto("/console/")
    token = page.locator("header input[name=csrf]").input_value()
    own = demo_server.url
    for form, origin in [({}, own), ({"csrf": "0" * 64}, own), ({"csrf": token}, "http://evil.example"),
                         ({"csrf": token}, "null")]:
        r = context.request.post("/console/logout", form=form, headers={"Origin": origin}, max_redirects=0)
        assert r.status == 403, (form, origin)
    assert page.goto("/console/").url.endswith("/console/")  # still signed in: nothing changed

    headers = {"Authorization": f"Bearer {api_token(demo_server, 'lin')}"}
    before = len(httpx.get(f"{own}/api/clients", params={"username": "lin"}, headers=headers).json()["clients"])
    login = context_for().new_page()
    login.goto("/console/login")
    value = login.locator("input[name=csrf]").input_value()
    r = login.context.request.post("/console/login", form={"username": "lin", "password": "demo", "csrf": value},
                                   headers={"Origin": "http://evil.example"}, max_redirects=0)
    assert r.status == 403
    after = len(httpx.get(f"{own}/api/clients", params={"username": "lin"}, headers=headers).json()["clients"])
    assert after == before  # no console session was enrolled


def test_a_technician_gets_404_for_another_technicians_site(context_for):
    page = context_for("wang").new_page()
    assert page.goto(f"/console/sites/{SCHOOL}").status == 404
    assert page.goto(f"/console/sites/{REF}").status == 200
    page.goto("/console/sites")
    assert page.locator("#sites a").count() == 1


def test_sign_out_revokes_the_session(context_for):
    context = context_for()
    page = context.new_page()
    sign_in(page, "zhao")
    cookie = next(c for c in context.cookies() if c["name"] == "fieldsync_console")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax" and cookie["path"] == "/console"
    page.click("header button[type=submit]")
    page.wait_for_url("**/console/login")
    # The old cookie, put back, is worth nothing: its client was revoked.
    context.add_cookies([cookie])
    assert page.goto("/console/").url.endswith("/console/login")


def test_every_page_fits_a_390_px_phone_screen(context_for, demo_server):
    # Issue 14: supervisors check coverage on site, from a phone: no page scrolls sideways
    # (wide tables scroll inside their own box). Every page of the console, as the supervisor sees it.
    headers = {"authorization": f"Bearer {api_token(demo_server, 'lin')}"}
    with httpx.Client(base_url=demo_server.url, headers=headers) as api:
        requests = api.get("/api/service-requests", params={"site_id": REF, "limit": 50}).json()["requests"]
        detail = next(d for r in requests if (d := api.get(f"/api/service-requests/{r['id']}").json())["visits"])
        inspection = inspection_id(REF, period_of(site_today("Asia/Shanghai")))
        device_id = api.get("/api/lookup", params={"site_id": REF, "code": "CAM-001"}).json()["id"]
    pages = ["/console/", "/console/sites", f"/console/sites/{REF}", f"/console/sites/{REF}/devices/{device_id}",
             f"/console/inspections/{inspection}", "/console/inspections", "/console/service-requests",
             f"/console/service-requests/{detail['id']}", f"/console/visits/{detail['visits'][0]['id']}",
             "/console/reports", "/console/conflicts", "/console/clients", "/console/users", "/console/users/wang",
             "/console/sites/new",
             f"/console/sites/{REF}/import", "/console/lookup?q=CAM-001"]  # at both sites: the list
    page = context_for("lin", viewport={"width": 390, "height": 844}).new_page()
    for url in pages:
        assert page.goto(url).status == 200, url
        assert page.evaluate("document.scrollingElement.scrollWidth") <= 390, url
    page.context.clear_cookies()
    page.goto("/console/login")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390

"""The service desk's day in chromium against a real `fieldsync serve` with the demo (issue 14, console-desk)."""

from __future__ import annotations

import httpx

from client_sdk import Client

from .conftest import REF


def test_the_desk_opens_a_request_in_the_console_and_the_assigned_technicians_phone_pulls_it(context_for,
                                                                                              demo_server, tmp_path):
    # The browser test: chen takes a call in the console and assigns wang; wang's phone syncs.
    page = context_for("chen").new_page()
    page.goto("/console/service-requests")
    form = page.locator("#new-request")
    form.locator("select[name=site_id]").select_option(REF)
    form.locator("input[name=device_code]").fill("CAM-001")
    form.locator("input[name=caller_name]").fill("物业 周先生")
    form.locator("input[name=caller_phone]").fill("021-5555 0199")
    form.locator("select[name=channel]").select_option("hotline")
    form.locator("select[name=kind]").select_option("repair")
    form.locator("textarea[name=description]").fill("地库入口摄像机无图像")
    form.locator("input[name=assigned_to]").fill("wang")
    form.locator("button[type=submit]").click()
    page.wait_for_url("**/console/service-requests/*")
    request_id = page.url.rsplit("/", 1)[-1]
    number = page.locator("h1").inner_text().split()[-1]
    assert number.startswith("SR-")
    assert page.locator("#assignee").inner_text() == "王工"  # the person's name; the form took the username
    assert page.locator("#status").inner_text() == "已派单"

    with httpx.Client(base_url=demo_server.url) as http:
        phone = Client(tmp_path / "wang.db", http)
        try:
            phone.login("wang", "demo")
            phone.sync()
            mine = {r.id: r for r in phone.my_requests()}
        finally:
            phone.db.conn.close()
    pulled = mine[request_id]
    assert (pulled.number, pulled.assigned_to, pulled.device_code) == (number, "wang", "CAM-001")
    # The desk's list shows it too, by number, linked to its page.
    page.goto("/console/service-requests?assigned_to=wang&open=true")
    assert page.locator(f"#requests a[href='/console/service-requests/{request_id}']").inner_text() == number
    # The desk's pages, form included, fit a phone's screen.
    phone_page = context_for("chen", viewport={"width": 390, "height": 844}).new_page()
    for url in ("/console/service-requests", f"/console/service-requests/{request_id}"):
        phone_page.goto(url)
        assert phone_page.evaluate("document.scrollingElement.scrollWidth") <= 390, url

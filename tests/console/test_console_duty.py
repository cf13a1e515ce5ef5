"""A supervisor rosters the duty technician in chromium against a real `fieldsync serve` with the demo (s27-office5)."""

from __future__ import annotations

import httpx

from .conftest import api_token

MONTH = "2027-03"  # a month no other test reads


def test_a_supervisor_without_a_phone_rosters_next_months_duty_technician(context_for, demo_server):
    # Regression (s27-office5, item 1): only a phone's push wrote `duty_roster`; the console had no form.
    page = context_for("lin").new_page()
    page.goto(f"/console/reports?month={MONTH}")
    assert "本月未排班" in page.locator("#rostered").inner_text()
    form = page.locator("#roster-form")
    form.locator("select[name=technician]").select_option("zhao")
    form.locator("input[name=from]").fill("22:00")
    form.locator("input[name=until]").fill("08:00")  # across midnight: refused, the form kept as typed
    form.locator("button[type=submit]").click()
    assert "值班开始须早于值班结束" in page.locator("#refused").inner_text()
    assert page.locator("#roster-form input[name=from]").input_value() == "22:00"
    assert page.locator("#roster-form select[name=technician]").input_value() == "zhao"
    page.locator("#roster-form input[name=from]").fill("")
    page.locator("#roster-form input[name=until]").fill("21:00")
    page.locator("#roster-form button[type=submit]").click()
    page.wait_for_url(f"**/console/reports?month={MONTH}&done=roster#roster")
    assert page.locator("#done").inner_text() == "排班已保存。"
    assert page.locator("#rostered").inner_text().startswith("本月值班：赵工，值班时段 08:00–21:00")
    # The phones' answer follows it: on a Saturday evening of that month, zhao is on duty.
    token = api_token(demo_server, "wang")
    r = httpx.get(demo_server.url + "/api/duty", params={"at": "2027-03-06T20:00:00+08:00"},
                  headers={"Authorization": f"Bearer {token}"})
    assert r.json()["technician"] == "zhao"

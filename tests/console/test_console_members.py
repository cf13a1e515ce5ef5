"""A site's members in chromium (session 28): a supervisor adds a technician on the site page and removes him
again, through the forms, at a phone's width; and finds a technician on the users list, opens his page and adds
and removes a site there (s29-userspage). Content, refusals and scope are tested in-process in
tests/server/test_console_members.py and test_console_users.py."""

from __future__ import annotations

import httpx

from .conftest import REF, api_token


def _members(server, token: str) -> list[str]:
    r = httpx.get(f"{server.url}/api/sites/{REF}/members", headers={"Authorization": f"Bearer {token}"})
    return list(r.json()["members"])


def test_a_supervisor_adds_and_removes_a_technician_on_the_site_page(context_for, demo_server):
    token = api_token(demo_server, "lin")
    assert "zhao" not in _members(demo_server, token)
    page = context_for("lin", viewport={"width": 390, "height": 844}).new_page()
    page.goto(f"/console/sites/{REF}")
    members = page.locator("#member-list")
    assert "王工" in members.inner_text() and "赵工" not in members.inner_text()
    page.select_option("#add-member select[name=username]", "zhao")
    page.click("#add-member button[type=submit]")
    page.wait_for_url(f"**/console/sites/{REF}?done=member_added*")
    assert "已将 赵工 加入" in page.locator("#member-done").inner_text()
    assert "赵工" in members.inner_text() and "zhao" in _members(demo_server, token)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    page.click("tr[data-member=zhao] button[type=submit]")
    page.wait_for_url(f"**/console/sites/{REF}?done=member_removed*")
    assert "已将 赵工 移出" in page.locator("#member-done").inner_text()
    assert "赵工" not in members.inner_text() and "zhao" not in _members(demo_server, token)


def test_a_supervisor_finds_a_technician_opens_his_page_and_adds_and_removes_a_site(context_for, demo_server):
    # s29-userspage: the users list holds no site form; a supervisor finds zhao by name, opens his page, and
    # adds and removes a site there, at a phone's width.
    token = api_token(demo_server, "lin")
    page = context_for("lin", viewport={"width": 390, "height": 844}).new_page()
    page.goto("/console/users")
    page.fill("#find-user input[name=q]", "赵")
    page.click("#find-user button[type=submit]")
    page.wait_for_url("**/console/users?q=*")
    assert page.locator("#users tr[data-user]").evaluate_all("rows => rows.map(r => r.dataset.user)") == ["zhao"]
    page.click("tr[data-user=zhao] a")
    page.wait_for_url("**/console/users/zhao")
    assert page.locator(f"#user-sites tr[data-site='{REF}']").count() == 0
    page.select_option("#add-site select[name=site_id]", REF)
    page.click("#add-site button[type=submit]")
    page.wait_for_url("**/console/users/zhao?done=member_added*")
    assert "已将 赵工 加入" in page.locator("#member-done").inner_text()
    assert "zhao" in _members(demo_server, token)
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    page.click(f"#user-sites tr[data-site='{REF}'] button[type=submit]")
    page.wait_for_url("**/console/users/zhao?done=member_removed*")
    assert "已将 赵工 移出" in page.locator("#member-done").inner_text()
    assert page.locator(f"#user-sites tr[data-site='{REF}']").count() == 0
    assert "zhao" not in _members(demo_server, token)

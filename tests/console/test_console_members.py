"""A site's members in chromium (session 28): a supervisor adds a technician on the site page and removes him
again, through the forms, at a phone's width. Content, refusals and scope are tested in-process in
tests/server/test_console_members.py."""

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

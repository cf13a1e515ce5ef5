"""A day at the service desk (s28-desk): what the clerk met on the console's request pages, on the ASGI app.

The browser walks of the desk are in tests/console/."""

from __future__ import annotations

from tests.server.test_callbacks import sealed
from tests.server.test_console_desk import _event, console
from tests.server.test_service import open_request


def _refused(page: str) -> str:
    return page.split('id="refused">')[1].split("</p>")[0].strip()


def _kinds(page: str) -> list[str]:
    form = page.split('id="event"')[1].split("</select>")[0]
    return [part.split('"')[0] for part in form.split('<option value="')[1:]]


def test_a_cancel_after_the_customer_signed_is_refused_in_words_not_stored_as_if_done(http, site, chen, wang):
    # Regression (s28-desk, finding 1): the customer signed, then rang to cancel; the desk chose 取消 and the
    # page came back as if it were done (303), the timeline read 取消, and the status stayed 客户已签字:
    # the push's rule keeps a senseless event, flagged, moving nothing. The desk is asked before it
    # writes: refused (409 `out_of_order`), in words, nothing stored, and the form offers only what the
    # request's status takes.
    request, _visit = sealed(chen, wang)
    csrf = console(http, "chen")
    page = http.get(f"/console/service-requests/{request}").text
    r = _event(http, csrf, request, "cancelled", note="客户要求取消")
    assert r.status_code == 409
    assert _refused(r.text) == "未能保存：事件：请求当前的状态下不能记录该事件（如客户已签字后取消），请刷新页面查看最新状态"
    assert 'value="客户要求取消"' in r.text.split('id="event"')[1]  # the note typed is kept
    detail = chen.http.get(f"/api/service-requests/{request}", headers=chen.headers).json()
    assert detail["status"] == "signed"
    assert "cancelled" not in [e["kind"] for e in detail["events"]]
    assert _kinds(page) == ["closed"]  # neither cancel, nor pause or resume, once signed
    # A resume of a request nobody paused is refused alike; a close is taken.
    assert _event(http, csrf, request, "resumed").status_code == 409
    assert _event(http, csrf, request, "closed").status_code == 303
    closed = http.get(f"/console/service-requests/{request}").text
    assert 'id="event"' not in closed  # ended: nothing more to record


def test_the_event_form_offers_what_the_status_takes(http, site, chen):
    request = open_request(chen, assigned_to="wang")
    csrf = console(http, "chen")
    assert _kinds(http.get(f"/console/service-requests/{request}").text) == ["cancelled", "closed", "paused"]
    assert _event(http, csrf, request, "paused", reason="customer_unavailable").status_code == 303
    assert _kinds(http.get(f"/console/service-requests/{request}").text) == ["cancelled", "closed", "resumed"]


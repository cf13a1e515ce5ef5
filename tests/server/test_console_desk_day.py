"""A day at the service desk (s28-desk): what the clerk met on the console's request pages, on the ASGI app.

The browser walks of the desk are in tests/console/."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from server.domains.service.service import ServiceRequests
from server.services import Store
from sync import errors as E
from sync import hlc
from tests.conftest import SITE, Session
from tests.helpers import ok
from tests.server.test_callbacks import sealed
from tests.server.test_console_desk import NEW, ORIGIN, _event, console, post_new
from tests.server.test_service import conflicts, open_request, results
from tests.server.test_visit_sealing import handled, signature


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
    # Regression (s28-fixdesk, review item 4): the note typed was kept beside 关闭, the one kind left and
    # chosen: one more click closed the request with 客户要求取消 as its note. Nothing of a kind no longer
    # offered is kept, and the clerk chooses again.
    form = r.text.split('id="event"')[1].split("</form>")[0]
    assert "客户要求取消" not in form
    assert '<select name="kind" required><option value="" selected></option><option value="closed">' in form
    detail = chen.http.get(f"/api/service-requests/{request}", headers=chen.headers).json()
    assert detail["status"] == "signed"
    assert "cancelled" not in [e["kind"] for e in detail["events"]]
    assert _kinds(page) == ["closed"]  # neither cancel, nor pause or resume, once signed
    # A resume of a request nobody paused is refused alike; a close is taken.
    assert _event(http, csrf, request, "resumed").status_code == 409
    assert _event(http, csrf, request, "closed").status_code == 303
    closed = http.get(f"/console/service-requests/{request}").text
    assert 'id="event"' not in closed  # ended: nothing more to record


def test_a_refusal_once_the_request_ended_shows_the_words_and_no_empty_form(http, site, chen):
    # Regression (s28-fixdesk, review item 4): a request another clerk closed while this one typed a pause
    # came back with the refusal over an event form listing no kind, its submit button live. Now the
    # refusal alone; a kind still offered keeps what was typed.
    request = open_request(chen, assigned_to="wang")
    csrf = console(http, "chen")
    assert _event(http, csrf, request, "closed").status_code == 303  # the other clerk (same page, same words)
    r = _event(http, csrf, request, "paused", reason="customer_unavailable", note="门卫下午才在")
    assert r.status_code == 409
    assert _refused(r.text).startswith("未能保存：事件：请求当前的状态下不能记录该事件")
    assert 'id="event"' not in r.text and "门卫下午才在" not in r.text
    other = open_request(chen, assigned_to="wang")
    r = _event(http, csrf, other, "paused", note="门卫下午才在")  # a pause needs its reason: refused, kind offered
    form = r.text.split('id="event"')[1].split("</form>")[0]
    assert r.status_code == 400 and 'value="门卫下午才在"' in form and '<option value="paused" selected>' in form


def test_the_event_form_offers_what_the_status_takes(http, site, chen):
    request = open_request(chen, assigned_to="wang")
    csrf = console(http, "chen")
    assert _kinds(http.get(f"/console/service-requests/{request}").text) == ["cancelled", "closed", "paused"]
    assert _event(http, csrf, request, "paused", reason="customer_unavailable").status_code == 303
    assert _kinds(http.get(f"/console/service-requests/{request}").text) == ["cancelled", "closed", "resumed"]


def test_the_request_and_the_list_link_the_device_to_its_page(http, site):
    # Regression (s28-desk, finding 2): the request page and the desk's list named the device by its code
    # as plain text; the clerk who took a second call about the same camera had no way from the request to
    # the device's page, which lists its other requests and visits (the duplicate, the repeat fault).
    csrf = console(http, "chen")
    r = post_new(http, csrf)
    device = f'href="/console/sites/{NEW["site_id"]}/devices/{site["cam1"]}">CAM-001</a>'
    assert device in http.get(r.headers["location"]).text
    assert device in http.get("/console/service-requests").text


def test_dispatching_an_unassigned_request_preselects_nobody(http, site, chen):
    # Regression (s28-desk, finding 3): an unassigned request's dispatch list showed its first member as
    # chosen, beside 处理人 blank: the clerk read it as already assigned, and one click sent it to whoever
    # sorted first.
    request = open_request(chen)
    console(http, "chen")
    form = http.get(f"/console/service-requests/{request}").text.split('id="dispatch"')[1].split("</select>")[0]
    assert '<option value="" selected></option>' in form
    assigned = open_request(chen, assigned_to="wang")
    form = http.get(f"/console/service-requests/{assigned}").text.split('id="dispatch"')[1].split("</select>")[0]
    assert '<option value=""' not in form and '<option value="wang" selected>' in form


def test_the_dashboard_names_the_clock_of_each_countdown(http, site, chen, store):
    # Regression (s28-desk, finding 4): the dashboard's open requests read "超时 5 小时 45 分" without saying
    # which promise (on site, fixed, call-back); the desk's list said 到场 超时 ….
    open_request(chen, assigned_to="wang", reported_at=hlc.format_ts(store.now_ms() - 5 * 3_600_000))
    console(http, "chen")
    row = http.get("/console/").text.split('id="requests"')[1].split("</table>")[0]
    assert "<td>到场 超时 1 小时 0 分" in row


def test_a_senseless_event_the_server_writes_is_in_the_conflict_log_and_on_its_page(http, site, chen, wang, lin,
                                                                                    store):
    # Regression (s28-fixdesk, review item 1): the server's own write path (the desk's forms, the console's,
    # `POST /api/service-requests`) never logged what its hooks flagged, so an event written on someone's
    # behalf that made no sense (a cancel after the customer signed) was stored, the status stayed 客户已签字,
    # and nothing reached the conflict log: docs/service.md says such writes are merged as a push would be.
    request, _visit = sealed(chen, wang)
    cancel = str(uuid.uuid4())
    store.write_server_changes([("service_events", cancel, {
        "request_id": request, "kind": "cancelled", "at": hlc.format_ts(store.now_ms()), "by": "chen"}, False)])
    [flag] = conflicts(lin, cancel)
    assert (flag["kind"], flag["register"], flag["reason"], flag["client_id"]) == ("lost", "status", "out_of_order",
                                                                                  "srv")
    assert (flag["old_value"], flag["new_value"]) == ("signed", "cancelled")
    console(http, "lin")
    rows = http.get("/console/conflicts").text.split('id="conflicts"')[1].split("</table>")[0]
    assert "被覆盖（提交较早） (与请求当前的状态不符：已保留，状态不变)" in rows and "signed → cancelled" in rows


def _desk(store: Store, session: Session) -> tuple[ServiceRequests, Any]:
    """The service the console's desk pages call, over the test's store, and the session's caller."""
    return ServiceRequests(store), store.identity.authenticate(session.headers["Authorization"].split()[1])


def test_a_seal_committed_between_the_desks_read_and_its_write_refuses_the_cancel(site, chen, wang, lin, store,
                                                                                   monkeypatch):
    # Regression (s28-fixdesk, review item 2): the desk's refusal was decided on a read made in one
    # transaction and the cancel written in another: the customer signing in between (the technician's
    # push of the seal) left the cancel stored, unflagged, the status 客户已签字, and the clerk saw "done".
    # The refusal is now decided inside the write's transaction. The seal lands right after the read.
    request, visit, fields = handled(chen, wang)
    _, seal = signature(wang, visit, fields)
    desk, caller = _desk(store, chen)
    read = desk.detail

    def read_then_the_customer_signs(*args: Any) -> Any:
        seen = read(*args)
        if seen.status == "resolved":
            assert results(wang, [seal]) == [("applied", None)]
        return seen

    monkeypatch.setattr(desk, "detail", read_then_the_customer_signs)
    with pytest.raises(E.OutOfOrder):
        desk.record_event(caller, request, "cancelled", None, "客户要求取消")
    detail = read(caller, request)
    assert detail.status == "signed"
    assert "cancelled" not in [e.kind for e in detail.events]  # nothing written, nothing logged
    assert [c for c in ok(lin.http.get("/api/conflicts", headers=lin.headers))["conflicts"]
            if c["reason"] == "out_of_order"] == []


def test_the_desks_out_of_order_refusal_keeps_the_problems_status_member(site, chen, wang, store):
    # Regression (s28-fixdesk, review item 3): `E.OutOfOrder(..., status=status)` overwrote the RFC 9457
    # `status` member: the problem body read {"status": "signed"}. The request's status is `request_status`.
    request, _visit = sealed(chen, wang)
    desk, caller = _desk(store, chen)
    with pytest.raises(E.OutOfOrder) as refused:
        desk.record_event(caller, request, "cancelled", None, None)
    problem = refused.value.problem()
    assert (problem["status"], problem["code"], problem["request_status"]) == (409, "out_of_order", "signed")


def test_a_value_the_console_overwrites_is_kept_in_the_conflict_log_as_a_push_would_keep_it(http, store, site, chen,
                                                                                           lin):
    # Regression (s28, lead, after fixdesk): the server's own write path logged no merge entry either, so a
    # value the console replaced (the desk's phone had sent wang; a supervisor's dispatch made it zhao) was
    # gone without a trace, where the same reassignment pushed from a phone keeps wang in the conflict log
    # ("Nothing is lost": the stored value that was overwritten by a different writer).
    store.add_member(SITE, "zhao")
    request = open_request(chen, assigned_to="wang")
    csrf = console(http, "lin")
    r = http.post(f"/console/service-requests/{request}/dispatch", data={"assigned_to": "zhao", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    [entry] = [c for c in conflicts(lin, request) if c["register"] == "assigned_to"]
    assert (entry["kind"], entry["old_value"], entry["new_value"]) == ("overwritten", "wang", "zhao")

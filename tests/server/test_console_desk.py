"""The service desk's console pages on the ASGI app (issue 14, console-desk): the request list and the
desk's new-request form, a request's timeline and dispatch, a visit with its bill and its PDF.

The browser test (the desk opens a request, the technician's phone pulls it) is in tests/console/."""

from __future__ import annotations

from typing import Any

import pytest

from server.domains.console.desk_pages import PAGE
from sync import hlc
from sync.duty import roster_id
from sync.fields import NOTE_LIMIT
from tests.conftest import OTHER_SITE, SITE
from tests.server.test_billing import LINES, visit_with_lines
from tests.server.test_service import open_request

ORIGIN = {"origin": "http://testserver.local"}
HOUR = 3_600_000
NEW = {"site_id": SITE, "device_code": "CAM-001", "caller_name": "陈女士", "caller_phone": "021-5555 0101",
       "channel": "hotline", "kind": "repair", "description": "大门摄像机黑屏", "reported_at": "2026-11-20T09:30",
       "assigned_to": "wang"}


def console(http: Any, username: str) -> str:
    """Sign `username` in to the console (the client's cookie jar holds the session); the session's CSRF value."""
    token = http.get("/console/login").text.split('name="csrf" value="')[1].split('"')[0]
    r = http.post("/console/login", data={"username": username, "password": "demo", "csrf": token}, headers=ORIGIN,
                  follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(http.get("/console/service-requests").text.split('name="csrf" value="')[1].split('"')[0])


def requests_of(lin: Any) -> list[dict[str, Any]]:
    return list(lin.http.get("/api/service-requests", headers=lin.headers).json()["requests"])


def post_new(http: Any, csrf: str, **changed: str) -> Any:
    return http.post("/console/service-requests", data={**NEW, **changed, "csrf": csrf}, headers=ORIGIN,
                     follow_redirects=False)


def test_the_desk_opens_a_request_from_a_call_and_lands_on_its_page(http, site, lin):
    csrf = console(http, "chen")
    r = post_new(http, csrf)
    assert r.status_code == 303
    [made] = requests_of(lin)
    assert r.headers["location"] == f"/console/service-requests/{made['id']}"
    detail = lin.http.get(f"/api/service-requests/{made['id']}", headers=lin.headers).json()
    assert (detail["device_id"], detail["device_code"], detail["assigned_to"], detail["status"]) == (
        site["cam1"], "CAM-001", "wang", "dispatched")
    assert detail["reported_at"] == "2026-11-20T01:30:00.000Z"  # 09:30 in Shanghai
    assert (detail["caller_name"], detail["description"]) == ("陈女士", "大门摄像机黑屏")
    page = http.get(r.headers["location"]).text
    assert detail["number"] in page and "2026-11-20 09:30" in page and "已派单" in page
    # Regression (s25-desk, finding 3): the page read the form's label "报修时间（留空为现在）" ("blank: now")
    # beside a time already recorded, and "对象" (object) over the timeline's events.
    assert "<th>报修时间</th><td>2026-11-20 09:30</td>" in page and "留空" not in page
    assert f'{site["cam1"]}">CAM-001</a>' in page and f'>{site["cam1"]}' not in page  # by its code, never its id
    listed = http.get("/console/service-requests").text
    assert f'href="/console/service-requests/{made["id"]}">{detail["number"]}</a>' in listed
    assert "CAM-001" in listed
    assert f'href="/console/service-requests/{made["id"]}">{detail["number"]}</a>' in http.get("/console/").text
    # Each milestone's one line in the page's language: the API's is English, the console's Chinese first
    # (it showed the API's English line; the words are the catalogue's `clocks` section now).
    on_site = next(m for m in detail["milestones"] if m["name"] == "on_site")
    assert on_site["explanation"].startswith("not on site yet") and on_site["explanation"] not in page
    assert "尚未到场" in page
    assert on_site["explanation"].split(":")[0] in http.get(r.headers["location"], params={"lang": "en"}).text


# Each bad form once: what the service refuses, in its words, with what was typed kept; nothing written.
BAD_FORMS = [
    ({"channel": "carrier_pigeon"}, 400, "invalid_field"),
    ({"device_code": "CAM-999"}, 404, "not_found"),
    ({"assigned_to": "zhao"}, 400, "invalid_field"),  # not a member of the site
    ({"reported_at": "yesterday-ish"}, 400, "invalid_request"),
    # Regression (s25-desk, finding 2): the year 1 in Shanghai is before the calendar's first UTC day: a 500.
    ({"reported_at": "0001-01-01T00:00"}, 400, "invalid_request"),
    ({"reported_at": "9999-12-31T23:59"}, 400, "invalid_field"),  # past the years a time may have
    ({"caller_phone": "1" * 41}, 400, "invalid_field"),
    ({"description": "长" * (NOTE_LIMIT + 1)}, 400, "invalid_request"),  # past the form's bound for a note
    ({"site_id": OTHER_SITE}, 404, "not_found"),
]


@pytest.mark.parametrize(("changed", "status", "code"), BAD_FORMS)
def test_a_refused_form_comes_back_with_the_problems_words_and_what_was_typed(http, site, lin, changed, status,
                                                                             code):
    csrf = console(http, "chen")
    r = post_new(http, csrf, caller_name="王先生 <b>", **changed)
    assert r.status_code == status
    assert r.headers["content-type"].startswith("text/html")
    assert 'role="alert"' in r.text and f"<code>{code}</code>" in r.text
    if code != "invalid_request":  # the service's refusal: what was typed is in the form again, escaped
        assert 'value="王先生 &lt;b&gt;"' in r.text
    assert requests_of(lin) == []


def test_a_technician_reads_their_sites_requests_and_may_not_take_calls(http, store, site, lin, chen, wang):
    store.write_server_changes([("sites", OTHER_SITE, {"name": "School", "tz": "Asia/Shanghai"}, False)])
    mine = open_request(chen, assigned_to="wang")
    theirs = open_request(chen, site_id=OTHER_SITE)
    console(http, "wang")
    listed = http.get("/console/service-requests").text
    assert mine in listed and theirs not in listed
    assert 'id="new-request"' not in listed  # read only: no desk form
    assert http.get(f"/console/service-requests/{theirs}").status_code == 404
    page = http.get(f"/console/service-requests/{mine}")
    assert page.status_code == 200 and 'id="dispatch"' not in page.text
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    r = post_new(http, csrf)
    assert r.status_code == 403 and "您的角色不能执行此操作" in r.text
    r = http.post(f"/console/service-requests/{mine}/dispatch", data={"assigned_to": "wang", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 403
    assert len(requests_of(lin)) == 2


def test_a_desk_post_without_the_sessions_token_or_from_another_origin_changes_nothing(http, site, lin):
    csrf = console(http, "chen")
    assert post_new(http, "0" * 64).status_code == 403
    r = http.post("/console/service-requests", data={**NEW, "csrf": csrf},
                  headers={"origin": "https://evil.example"}, follow_redirects=False)
    assert r.status_code == 403 and "表单已过期或来自其他网站" in r.text
    assert requests_of(lin) == []


def test_dispatch_assigns_a_member_of_the_site_and_refuses_anyone_else(http, store, site, chen, lin):
    store.add_member(SITE, "zhao")
    request = open_request(chen)
    csrf = console(http, "chen")
    page = http.get(f"/console/service-requests/{request}").text
    assert '<option value="wang"' in page and '<option value="zhao"' in page  # the site's technicians
    r = http.post(f"/console/service-requests/{request}/dispatch", data={"assigned_to": "zhao", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/console/service-requests/{request}"
    assert lin.http.get(f"/api/service-requests/{request}", headers=lin.headers).json()["assigned_to"] == "zhao"
    r = http.post(f"/console/service-requests/{request}/dispatch", data={"assigned_to": "lin", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 400 and "派给：只能派给该现场账号未停用的成员" in r.text
    assert lin.http.get(f"/api/service-requests/{request}", headers=lin.headers).json()["assigned_to"] == "zhao"


def test_dispatch_refuses_a_disabled_account_and_the_page_says_the_assignee_can_no_longer_work_it(
        http, store, site, chen, lin):
    # Regression (s26-desk2, finding 2): a technician whose account was disabled (left the company, on
    # long leave) stayed in the dispatch list and could be assigned; the request sat `dispatched` to
    # someone who can sign in nowhere while its on-site clock ran. Now refused as a non-member is, not
    # offered, and a request assigned before the account was disabled says so beside its assignee.
    store.add_member(SITE, "zhao")
    request = open_request(chen)
    csrf = console(http, "chen")
    r = http.post(f"/console/service-requests/{request}/dispatch", data={"assigned_to": "zhao", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    assert 'id="assignee-unavailable"' not in http.get(f"/console/service-requests/{request}").text
    store.update_user("zhao", disabled=True)
    page = http.get(f"/console/service-requests/{request}").text
    assert '<option value="zhao"' not in page and '<option value="wang"' in page
    assert 'id="assignee-unavailable"' in page and "账号已停用" in page
    assert '<option value="zhao"' not in http.get("/console/service-requests").text  # the new-request form's list
    second = open_request(chen)
    r = http.post(f"/console/service-requests/{second}/dispatch", data={"assigned_to": "zhao", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 400 and "只能派给该现场账号未停用的成员" in r.text
    assert lin.http.get(f"/api/service-requests/{second}", headers=lin.headers).json()["assigned_to"] is None
    # A new request assigned to them: refused, nothing written. Another caller: the form's 021-5555 0101 is the
    # open requests' +86 21 5555 0101 (since m037), whose duplicate-call warning would answer first.
    r = post_new(http, csrf, assigned_to="zhao", caller_phone="0755-8888 9999")
    assert r.status_code == 400 and "<code>invalid_field</code>" in r.text
    assert len(requests_of(lin)) == 2
    # Reassigned to a colleague: the mark goes.
    r = http.post(f"/console/service-requests/{request}/dispatch", data={"assigned_to": "wang", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    assert 'id="assignee-unavailable"' not in http.get(f"/console/service-requests/{request}").text


def test_the_desk_records_a_call_back_after_a_visit_and_the_timeline_shows_it(http, store, site, chen, wang):
    request, visit, _ = visit_with_lines(store, chen, wang, site, LINES[:1])
    csrf = console(http, "chen")
    form = {"visit_id": visit, "reached": "false", "rating": "satisfied", "comment": "", "csrf": csrf}
    r = http.post(f"/console/service-requests/{request}/callbacks", data=form, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 400 and "评价：仅在联系上客户时评价" in r.text  # a rating only when the customer was reached
    r = http.post(f"/console/service-requests/{request}/callbacks", data={**form, "reached": "true"},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303
    [callback] = chen.http.get(f"/api/service-requests/{request}", headers=chen.headers).json()["callbacks"]
    assert (callback["visit_id"], callback["called_by"], callback["reached"], callback["rating"],
            callback["points"]) == (visit, "chen", True, "satisfied", 3)
    page = http.get(f"/console/service-requests/{request}").text
    assert "满意" in page and f'href="/console/visits/{visit}"' in page


def test_a_visit_shows_its_lines_and_the_bill_in_yuan_and_its_sheet_prints_for_the_session(
        http, store, site, chen, wang, zhao):
    _, visit, _ = visit_with_lines(store, chen, wang, site, LINES)
    bill = wang.http.get(f"/api/visits/{visit}/bill", headers=wang.headers).json()
    console(http, "wang")
    page = http.get(f"/console/visits/{visit}").text
    assert bill["total_fen"] == 106_000 and 'data-bill="total">1,060.00<' in page
    assert 'data-bill="subtotal">1,000.00<' in page and 'data-bill="tax">60.00<' in page
    assert "客户拒绝" in page and "900.00" in page  # the declined camera, with its amount, not billed
    pdf = http.get(f"/console/visits/{visit}/sheet.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    console(http, "zhao")  # another site's technician: the visit and its sheet do not exist for them
    assert http.get(f"/console/visits/{visit}").status_code == 404
    assert http.get(f"/console/visits/{visit}/sheet.pdf").status_code == 404


def test_the_list_pages_by_the_apis_cursor_and_filters_by_status(http, site, chen):
    made = [open_request(chen) for _ in range(PAGE + 1)]
    made.append(open_request(chen, assigned_to="wang"))
    console(http, "chen")
    first = http.get("/console/service-requests").text
    link = first.split('id="next-page" href="')[1].split('"')[0].replace("&amp;", "&")
    second = http.get(f"/console/service-requests{link}").text
    shown = [i for i in made if f"/console/service-requests/{i}\"" in first + second]
    assert sorted(shown) == sorted(made)
    dispatched = http.get("/console/service-requests", params={"status": "dispatched"}).text
    assert made[-1] in dispatched and made[0] not in dispatched
    assert http.get("/console/service-requests", params={"status": "done"}).status_code == 400
    # Regression (s25-desk, finding 5): the breach list read "到场 超时 超时 52 小时 0 分" (breached, then
    # late): the countdown says it once. (The whole page: which of the requests, breached together, comes
    # first is their ids' order, and the first version, reading made[0]'s row, failed when it was on page 2.)
    breached = http.get("/console/service-requests", params={"breached": "true"}).text
    assert "<td>到场 超时 " in breached and "超时 超时" not in breached


def _event(http: Any, csrf: str, request: str, kind: str, **form: str) -> Any:
    return http.post(f"/console/service-requests/{request}/events", data={"kind": kind, "csrf": csrf, **form},
                     headers=ORIGIN, follow_redirects=False)


def test_the_desk_pauses_cancels_and_closes_a_request_at_its_desk(http, store, site, chen, wang, monkeypatch):
    # Regression (s25-desk, finding 1): the desk cancels and closes requests (service.md, Roles), but its
    # console had no way to: a customer who called to cancel, or a question answered on the phone, needed
    # a push from a client.
    now = store.now_ms()
    called = hlc.format_ts(now - 2 * HOUR)
    late = open_request(chen, assigned_to="wang", reported_at=called)
    answered = open_request(chen, kind="consultation", reported_at=called)
    csrf = console(http, "chen")
    page = http.get(f"/console/service-requests/{late}").text
    assert 'id="event"' in page and '<option value="cancelled">取消</option>' in page
    # An hour ago the customer rang: the site was locked until the manager came back. The clocks stopped
    # for that hour.
    monkeypatch.setattr(store, "now_ms", lambda: now - HOUR)
    assert _event(http, csrf, late, "paused", reason="no_site_access", note="门卫不让进").status_code == 303
    monkeypatch.setattr(store, "now_ms", lambda: now)
    assert _event(http, csrf, late, "resumed").status_code == 303
    detail = chen.http.get(f"/api/service-requests/{late}", headers=chen.headers).json()
    assert [(e["kind"], e["by"], e["reason"]) for e in detail["events"]] == [
        ("paused", "chen", "no_site_access"), ("resumed", "chen", None)]
    on_site = next(m for m in detail["milestones"] if m["name"] == "on_site")
    assert (on_site["paused_ms"], on_site["status"]) == (HOUR, "pending")
    assert on_site["due_at"] == hlc.format_ts(now + 3 * HOUR)  # 4 h from the call, and the hour paused
    # A pause without a reason is the merge's refusal, in the catalogue's words, and nothing is written.
    r = _event(http, csrf, late, "paused")
    assert r.status_code == 400 and "暂停原因：暂停须选原因" in r.text
    assert _event(http, csrf, late, "cancelled", note="客户自行修好").status_code == 303
    detail = chen.http.get(f"/api/service-requests/{late}", headers=chen.headers).json()
    assert len(detail["events"]) == 3 and detail["status"] == "cancelled"
    assert {m["status"] for m in detail["milestones"]} == {"not_applicable"}
    assert 'id="event"' not in http.get(f"/console/service-requests/{late}").text  # ended: nothing more to record
    assert _event(http, csrf, answered, "closed", note="电话里解答了").status_code == 303
    assert chen.http.get(f"/api/service-requests/{answered}", headers=chen.headers).json()["status"] == "closed"
    # A technician reads the page without the form, and may not post it (the API would refuse a cancel too).
    csrf = console(http, "wang")
    assert 'id="event"' not in http.get(f"/console/service-requests/{late}").text
    assert _event(http, csrf, late, "closed").status_code == 403
    assert chen.http.get(f"/api/service-requests/{late}", headers=chen.headers).json()["status"] == "cancelled"


def _shanghai(stamp: str) -> str:
    from datetime import datetime
    from zoneinfo import ZoneInfo
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(ZoneInfo("Asia/Shanghai")).strftime(
        "%Y-%m-%d %H:%M")


def test_a_paused_clock_reads_paused_since_on_the_list_the_breach_list_and_the_request(http, store, site, chen,
                                                                                       monkeypatch):
    # Regression (s25-desk2, finding 3): a milestone stopped by an open pause read 进行中 (in progress) on the
    # desk's pages; the clerk could not tell a stopped clock from a running one, nor since when.
    now = store.now_ms()
    waiting = open_request(chen, assigned_to="wang", reported_at=hlc.format_ts(now - 2 * HOUR))
    late = open_request(chen, assigned_to="wang", reported_at=hlc.format_ts(now - 5 * HOUR))  # on_site breached
    csrf = console(http, "chen")
    for request, ago in ((waiting, HOUR), (late, HOUR // 2)):
        monkeypatch.setattr(store, "now_ms", lambda ago=ago: now - ago)
        assert _event(http, csrf, request, "paused", reason="no_site_access").status_code == 303
    monkeypatch.setattr(store, "now_ms", lambda: now)
    api = chen.http.get(f"/api/service-requests/{waiting}", headers=chen.headers).json()
    assert api["paused_since"] == hlc.format_ts(now - HOUR)
    since = f"已暂停（自 {_shanghai(api['paused_since'])}）"
    row = http.get("/console/service-requests").text.split(f"/console/service-requests/{waiting}")[1].split("</tr>")[0]
    assert f"到场 <span class=\"paused\">{since}</span> 剩余 3 小时" in row and "进行中" not in row
    page = http.get(f"/console/service-requests/{waiting}").text.split('id="milestones"')[1].split("</table>")[0]
    assert page.count(since) == 2 and "进行中" not in page  # on_site and fix both stopped
    # On the breach list, the breached clock stays breached (a pause rescues nothing late) and the pause shows.
    breached = http.get("/console/service-requests", params={"breached": "true"}).text
    row = breached.split(f"/console/service-requests/{late}")[1].split("</tr>")[0]
    later = f"已暂停（自 {_shanghai(hlc.format_ts(now - HOUR // 2))}）"
    assert "<td>到场 超时 1 小时 " in row and later in row and waiting not in breached
    page = http.get(f"/console/service-requests/{late}").text.split('id="milestones"')[1].split("</table>")[0]
    assert "超时" in page.split("</tr>")[1] and later in page.split("</tr>")[2]  # on_site late, fix stopped
    # Once resumed, the clocks run again and read so.
    assert _event(http, csrf, waiting, "resumed").status_code == 303
    row = http.get("/console/service-requests").text.split(f"/console/service-requests/{waiting}")[1].split("</tr>")[0]
    assert "已暂停" not in row and "到场 进行中 " in row


def test_the_dashboard_reads_a_breached_clocks_lateness_once(http, site, chen):
    # Regression (s25-desk2, finding 4): the dashboard's open requests read "超时 超时 2 小时 0 分", as the
    # request list did before s25-desk's finding 5.
    late = open_request(chen, reported_at=hlc.format_ts(hlc.wall_ms() - 6 * HOUR))
    console(http, "chen")
    row = http.get("/console/").text.split(f"/console/service-requests/{late}")[1].split("</tr>")[0]
    assert "<td>到场 超时 2 小时 " in row and "超时 超时" not in row


def test_the_desk_sees_who_is_on_duty_on_the_dashboard_and_the_request_list(http, site, lin, stores, monkeypatch):
    # Regression (s26-desk3 item 1): no page said who is on duty now, and the API's null was the same for
    # office hours and for no roster this month. Times are Shanghai's (UTC+8).
    [result] = lin.push([lin.change("duty_roster", roster_id("2026-M11"),
                                    {"month": "2026-M11", "technician": "wang"})]).json()["results"]
    assert result["status"] == "applied"
    console(http, "chen")
    cases = {"2026-11-07T13:00:00.000Z": "值班：Wang（至 22:30）",  # Saturday 21:00: till the on-call hours end
             "2026-11-09T00:10:00.000Z": "值班：Wang（至 08:30）",  # Monday 08:10: till the office opens
             "2026-11-09T04:00:00.000Z": "值班：办公时间",  # Monday noon
             "2026-11-09T15:00:00.000Z": "值班：值班时段外",  # Monday 23:00
             "2026-12-05T13:00:00.000Z": "值班：本月未排班"}  # a Saturday evening of December: no roster
    for at, line in cases.items():
        for each in stores:
            monkeypatch.setattr(each, "now_ms", lambda at=at: hlc.parse_ts(at))
        for page in ("/console/", "/console/service-requests"):
            assert f'<p class="duty" id="duty">{line}</p>' in http.get(page).text, (at, page)
    assert "On duty: no roster this month" in http.get("/console/", params={"lang": "en"}).text


def _refused(page: str) -> str:
    """The refusal's line on a request page (exactly one), its markup stripped."""
    [line] = [part.split("</p>")[0] for part in page.split('<p class="error" role="alert" id="refused">')[1:]]
    return line


def test_a_refused_desk_form_comes_back_filled_with_the_reason_in_chinese(http, store, site, chen, wang, dump):
    # Regression (s26-desk3 item 2): a refused call-back, dispatch or event went to an error page with the
    # server's English detail ("callbacks.rating is given only when ..."), and the comment the clerk typed
    # was lost. Now the request's page again (the API's status), that form filled, the reason in Chinese.
    request, visit, _ = visit_with_lines(store, chen, wang, site, LINES[:1])
    csrf = console(http, "chen")
    before = dump()
    comment = "客户说门禁仍然刷不开，<要求>明天再来"
    r = http.post(f"/console/service-requests/{request}/callbacks", headers=ORIGIN, follow_redirects=False,
                  data={"visit_id": visit, "reached": "false", "rating": "dissatisfied", "comment": comment,
                        "csrf": csrf})
    assert r.status_code == 400
    assert _refused(r.text) == "未能保存：评价：仅在联系上客户时评价"
    assert "given only" not in r.text and "invalid_field" not in r.text  # not the API's English
    form = r.text.split('id="callback"')[1].split("</form>")[0]
    assert 'value="客户说门禁仍然刷不开，&lt;要求&gt;明天再来"' in form  # kept, escaped
    assert '<option value="false" selected>' in form and '<option value="dissatisfied" selected>' in form
    assert f'<option value="{visit}" selected>' in form
    # Too long (a crafted post past the field's maxlength): the limit in words, the form kept clipped.
    r = http.post(f"/console/service-requests/{request}/callbacks", headers=ORIGIN, follow_redirects=False,
                  data={"visit_id": visit, "reached": "true", "comment": "长" * (NOTE_LIMIT + 1), "csrf": csrf})
    assert r.status_code == 400 and _refused(r.text) == f"未能保存：备注：最多 {NOTE_LIMIT} 个字符"
    # Dispatch to someone not of the site: the choice kept is the site's, the reason in words.
    r = http.post(f"/console/service-requests/{request}/dispatch", data={"assigned_to": "lin", "csrf": csrf},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 400 and _refused(r.text) == "未能保存：派给：只能派给该现场账号未停用的成员"
    # An event: a pause without its reason; the note typed stays.
    r = http.post(f"/console/service-requests/{request}/events", headers=ORIGIN, follow_redirects=False,
                  data={"kind": "paused", "note": "客户下午三点才在", "csrf": csrf})
    assert r.status_code == 400 and _refused(r.text) == "未能保存：暂停原因：暂停须选原因，其他事件不填原因"
    form = r.text.split('id="event"')[1].split("</form>")[0]
    assert 'value="客户下午三点才在"' in form and '<option value="paused" selected>' in form
    # In English, the page's language.
    r = http.post(f"/console/service-requests/{request}/events", headers=ORIGIN, follow_redirects=False,
                  params={"lang": "en"}, data={"kind": "paused", "csrf": csrf})
    assert _refused(r.text) == "Not saved: Pause reason: a pause needs a reason; other events take none"
    assert dump() == before  # nothing half-written
    # A request that is not there (or another site's) stays the 404 page.
    missing = "00000000-0000-4000-8000-000000000000"
    r = http.post(f"/console/service-requests/{missing}/callbacks", headers=ORIGIN,
                  data={"visit_id": visit, "reached": "true", "csrf": csrf})
    assert r.status_code == 404 and 'id="refused"' not in r.text

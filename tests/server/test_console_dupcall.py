"""The desk's duplicate calls and the call-backs still to make (s28-dupcall), on the ASGI app with real
pushes: the new-request form's warning of an open request for the same device or caller's number, and
the `callback_due` filter of the request list (console and API) with the dashboard's 待回访 count."""

from __future__ import annotations

from typing import Any

from sync import hlc
from tests.conftest import OTHER_SITE, SITE
from tests.helpers import ok
from tests.server.test_callbacks import callback, sealed
from tests.server.test_console_desk import console, post_new, requests_of
from tests.server.test_service import event, open_request, results, ts

HOUR = 3_600_000


def _duplicate_ok(page: str) -> str:
    return page.split('name="duplicate_ok" value="')[1].split('"')[0]


def test_a_second_call_about_a_device_with_an_open_request_warns_and_opens_only_when_sent_again(http, site, lin):
    # s28-dupcall item 1: the customer rang again about the same dead camera and the desk opened a second
    # request for it, nothing saying one was open (already dispatched to 王工).
    csrf = console(http, "chen")
    assert post_new(http, csrf).status_code == 303
    [first] = requests_of(lin)
    r = post_new(http, csrf, caller_phone="139 0000 0000", description="又打来：摄像机还是黑屏")
    assert r.status_code == 409
    assert len(requests_of(lin)) == 1  # nothing written
    warning = r.text.split('id="duplicates"')[1].split("</div>")[0]
    assert "该设备已有未完成的服务请求" in warning and "已派给 Wang" in warning  # the person's name
    assert f'href="/console/service-requests/{first["id"]}">{first["number"]}</a>' in warning
    assert "到场 超时 " in warning  # its next clock, as the list reads it (this call was in November)
    assert "又打来：摄像机还是黑屏" in r.text and "仍然创建" in r.text  # what was typed is kept
    # The same call sent again, deliberately, but refused for a field: the confirmation stays with the form,
    # so the corrected call is not warned of again.
    refused = post_new(http, csrf, caller_phone="139 0000 0000", description="又打来：摄像机还是黑屏",
                       channel="carrier_pigeon", duplicate_ok=_duplicate_ok(r.text))
    assert refused.status_code == 400 and 'id="duplicates"' not in refused.text
    assert _duplicate_ok(refused.text) == _duplicate_ok(r.text)
    # The same call sent again, deliberately: opened.
    again = post_new(http, csrf, caller_phone="139 0000 0000", description="又打来：摄像机还是黑屏",
                     duplicate_ok=_duplicate_ok(refused.text))
    assert again.status_code == 303 and len(requests_of(lin)) == 2
    # The confirmation is for the call it was shown for: another device's call with it is checked again.
    other = post_new(http, csrf, device_code="CAM-002", caller_phone="", duplicate_ok=_duplicate_ok(r.text))
    assert other.status_code == 303  # CAM-002 has no open request: no warning at all
    assert post_new(http, csrf, device_code="CAM-002", caller_phone="",
                    duplicate_ok=_duplicate_ok(r.text)).status_code == 409


def test_a_call_from_a_number_with_an_open_request_at_the_site_warns_whatever_its_spacing(http, site, lin):
    csrf = console(http, "chen")
    assert post_new(http, csrf, device_code="", assigned_to="").status_code == 303
    r = post_new(http, csrf, device_code="", caller_phone="02155550101", assigned_to="")
    assert r.status_code == 409 and "该来电号码在此站点已有未完成的服务请求" in r.text and "尚未派工" in r.text
    assert len(requests_of(lin)) == 1
    assert post_new(http, csrf, device_code="", caller_phone="02155550101", assigned_to="",
                    duplicate_ok=_duplicate_ok(r.text)).status_code == 303


def test_a_number_typed_full_width_warns_and_one_past_its_limit_gets_the_writes_own_words(http, site, lin):
    # Regression (review of s28-dupcall): a number typed in a Chinese input method's full-width mode
    # (０２１－５５５５ ０１０１) was not compared as the open request's 021-5555 0101; a number past its 40
    # characters was asked about first, and its confirmation (past a form value's 256 characters with the
    # site and code) could never be sent back: the write's own refusal of the number, in its words, now.
    csrf = console(http, "chen")
    assert post_new(http, csrf, device_code="", caller_phone="021-5555 0101", assigned_to="").status_code == 303
    r = post_new(http, csrf, device_code="", caller_phone="０２１－５５５５\u3000０１０１", assigned_to="")
    assert r.status_code == 409 and "该来电号码在此站点已有未完成的服务请求" in r.text
    r = post_new(http, csrf, device_code="", caller_phone="021-5555 0101" + "9" * 250, assigned_to="")
    assert r.status_code == 400 and "联系电话" in r.text and "该来电号码" not in r.text
    assert len(requests_of(lin)) == 1


def test_an_ended_request_or_another_sites_does_not_count_as_a_duplicate(http, store, site, chen, lin):
    store.write_server_changes([("sites", OTHER_SITE, {"name": "School", "tz": "Asia/Shanghai"}, False)])
    csrf = console(http, "chen")
    ended = open_request(chen, device_id=site["cam1"], caller_phone="021-5555 0101")
    assert results(chen, [event(chen, ended, "cancelled", ts(hlc.wall_ms()))]) == [("applied", None)]
    open_request(lin, site_id=OTHER_SITE, caller_phone="021-5555 0101")
    assert post_new(http, csrf).status_code == 303


def _ids(session: Any, **params: str) -> list[str]:
    page = ok(session.http.get("/api/service-requests", headers=session.headers, params=params))
    return [r["id"] for r in page["requests"]]


def test_callback_due_lists_signed_requests_no_reached_call_back_is_stored_for_oldest_due_first(
        http, site, chen, wang, lin):
    # s28-dupcall item 2: filtering on 客户已签字 (or on breached) also showed the requests already called
    # back: a call-back made late leaves its milestone breached, as one never made does.
    now = hlc.wall_ms()
    two_days, yesterday = (sealed(chen, wang, ts(now - h * HOUR))[0] for h in (60, 36))
    today, today_visit = sealed(chen, wang, ts(now - 60_000))
    late, late_visit = sealed(chen, wang, ts(now - 36 * HOUR))
    assert results(chen, [callback(chen, late_visit, ts(now), rating="satisfied"),  # made, but late
                          callback(chen, today_visit, ts(now), reached=False)]) == [("applied", None)] * 2
    still_open = open_request(chen)
    assert ok(lin.http.get(f"/api/service-requests/{late}", headers=lin.headers))["status"] == "signed"
    assert late in _ids(lin, breached="true")  # the milestone alone cannot tell it from one never made
    assert _ids(lin, callback_due="true") == [two_days, yesterday, today]  # the unanswered attempt: still to make
    assert set(_ids(lin, callback_due="false")) == {late, still_open}
    assert _ids(lin, callback_due="true", limit="2") == [two_days, yesterday]
    assert _ids(lin, callback_due="true", limit="2", after=yesterday) == [today]
    assert _ids(lin, callback_due="true", status="signed", site_id=SITE) == [two_days, yesterday, today]
    bad = lin.http.get("/api/service-requests", headers=lin.headers, params={"callback_due": "maybe"})
    assert bad.status_code == 400 and bad.json()["code"] == "invalid_filter"
    # The console: the list's filter, in the same order, and the dashboard's count linking to it.
    console(http, "chen")
    listed = http.get("/console/service-requests", params={"callback_due": "true"}).text
    shown = [i for i in (two_days, yesterday, today, late, still_open) if f"/console/service-requests/{i}\"" in listed]
    assert shown == [two_days, yesterday, today]
    assert [listed.index(f"/console/service-requests/{i}\"") for i in shown] == sorted(
        listed.index(f"/console/service-requests/{i}\"") for i in shown)
    assert "待回访" in listed
    dashboard = http.get("/console/").text
    assert '<a href="/console/service-requests?callback_due=true">待回访：3 条</a>' in dashboard
    # Made now: off the list, and the count follows.
    assert results(chen, [callback(chen, today_visit, ts(hlc.wall_ms()))]) == [("applied", None)]
    assert _ids(lin, callback_due="true") == [two_days, yesterday]
    assert "待回访：2 条" in http.get("/console/").text


def test_a_technicians_dashboard_has_no_callback_count(http, site, wang):
    console(http, "wang")
    assert 'id="callbacks-due"' not in http.get("/console/").text


def test_a_signed_requests_call_back_stopped_by_an_open_pause_is_still_to_make(site, chen, wang, lin):
    # Found while building callback_due: a pause nobody resumed stops a signed sheet's `callback` milestone
    # (docs/service.md, Pauses), which then stores no due; the first version of the filter read the due
    # and left such a request off the list, its call-back never made.
    now = hlc.wall_ms()
    paused, _ = sealed(chen, wang, ts(now - 60_000))
    assert results(chen, [event(chen, paused, "paused", ts(now), reason="customer_unavailable")]) == [
        ("applied", None)]
    [callback_clock] = [m for m in ok(lin.http.get(f"/api/service-requests/{paused}", headers=lin.headers))[
        "milestones"] if m["name"] == "callback"]
    assert callback_clock["status"] == "pending"
    earlier, _ = sealed(chen, wang, ts(now - 36 * HOUR))
    assert _ids(lin, callback_due="true") == [earlier, paused]  # stopped: listed after those with a due
    assert paused not in _ids(lin, callback_due="false")

"""The supervisor's console pages on the ASGI app (issue 14): reports, conflicts, clients, users.

A console session here is a signed-in client's token in the console's cookie (what
`POST /console/login` sets); its CSRF value is derived from it, as the pages derive it.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from server.domains.console import office_pages
from server.domains.console.web import csrf_of
from sync import hlc
from sync.hlc import Hlc
from sync.schema import device_check_id
from tests.conftest import OTHER_SITE, SITE, Session
from tests.server.test_service_office import _request, _visit

ORIGIN = {"origin": "http://testserver.local"}
STRONG = "correct horse battery"
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _token(session: Session) -> str:
    return session.headers["Authorization"].split(" ", 1)[1]


def page(session: Session, url: str, **params: Any) -> Any:
    return session.http.get(url, params=params, headers={"Cookie": f"fieldsync_console={_token(session)}"},
                            follow_redirects=False)


def post(session: Session, url: str, form: dict[str, Any], csrf: str | None = None, origin: bool = True) -> Any:
    token = _token(session)
    return session.http.post(url, data={"csrf": csrf_of(token) if csrf is None else csrf, **form},
                             headers={"Cookie": f"fieldsync_console={token}", **(ORIGIN if origin else {})},
                             follow_redirects=False)


def _visible_text(html: str) -> str:
    """What a person reads: the page without its tags (URLs and form values are in attributes)."""
    return re.sub(r"<[^>]+>", " ", html)


def _users(http: Any, lin: Session) -> dict[str, Any]:
    return {u["username"]: u for u in http.get("/api/users", headers=lin.headers).json()["users"]}


# -- reports --------------------------------------------------------------------------------------------


def test_reports_show_the_month_and_download_the_apis_csv(site, lin, chen, wang):
    r = page(lin, "/console/reports", month="2026-11")
    assert r.status_code == 200 and 'id="scores"' not in r.text  # nobody has anything in 2026-11
    assert "技术员考核" in r.text and "值班记录" in r.text and "故障原因" in r.text
    assert 'href="?month=2026-10"' in r.text and 'href="?month=2026-12"' in r.text
    assert page(chen, "/console/reports").status_code == 200  # the desk reads them as the API lets it
    for url, api in (("/console/reports/technicians.csv", "/api/reports/technicians"),
                     ("/console/reports/duty-log.csv", "/api/duty/log")):
        got = page(lin, url, month="2026-11")
        assert got.status_code == 200 and got.headers["content-type"] == "text/csv; charset=utf-8"
        assert "attachment" in got.headers["content-disposition"]
        same = lin.http.get(api, params={"month": "2026-M11", "format": "csv"}, headers=lin.headers)
        assert got.content == same.content and got.content.startswith(b"\xef\xbb\xbf")
    # A technician: their duty log, no scores or fault causes (the API's 403), the scores' CSV a 403 page.
    mine = page(wang, "/console/reports", month="2026-11")
    assert mine.status_code == 200 and "值班记录" in mine.text and "技术员考核" not in mine.text
    refused = page(wang, "/console/reports/technicians.csv", month="2026-11")
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")
    assert page(wang, "/console/reports/duty-log.csv", month="2026-11").status_code == 200


def test_the_reports_default_to_this_month_in_the_offices_zone(site, lin):
    from sync.periods import site_today

    today = site_today(None)
    assert f'value="{today.year}-{today.month:02d}"' in page(lin, "/console/reports").text


# Regression (session 26, office, finding 4): 9999-12 was a 500 (its next month has no date); a year the API
# refuses (before 2000, after 2100) is refused here too, as the API's 400.
@pytest.mark.parametrize("month", ["2026-M11", "2026-13", "2026-00", "26-11", "2026-1", "x" * 10_000, "9999-12",
                                   "0001-01", "1999-12", "2101-01"])
def test_a_mistyped_month_is_a_400_page(site, lin, month):
    for url in ("/console/reports", "/console/reports/technicians.csv", "/console/reports/duty-log.csv"):
        r = page(lin, url, month=month)
        assert r.status_code == 400 and "invalid_filter" in r.text and len(r.text) < 10_000


def test_the_duty_log_names_sites_and_outcomes_not_ids(site, lin, wang):
    call = str(uuid.uuid4())
    body = wang.push([wang.change("duty_calls", call, {
        "site_id": SITE, "received_at": "2026-11-07T13:00:00.000Z", "caller_name": "<b>Mr Li</b>",
        "summary": "gate camera dark", "outcome": "follow_up", "duration_s": 90})]).json()
    assert body["results"][0]["status"] == "applied", body
    r = page(lin, "/console/reports", month="2026-11")
    calls = r.text.split('id="calls"')[1].split("</table>")[0]
    assert "Test park" in calls and "待跟进" in calls and "&lt;b&gt;Mr Li&lt;/b&gt;" in calls
    assert call not in r.text and SITE not in _visible_text(r.text)


def test_the_fault_causes_name_device_kinds_in_words(site, lin, chen, wang):
    # Regression (session 25, office): the month's fault causes showed a device's kind as stored
    # (`dome_camera`), where every other page and the printed sheets say 球形摄像机.
    request = _request(chen, SITE, site["cam1"], "2026-11-20T01:00:00.000Z", "black at night")
    _visit(wang, request, "2026-11-20T08:00:00.000Z", "IR LEDs dead")
    r = page(lin, "/console/reports", month="2026-11")
    faults = r.text.split('id="faults"')[1].split("</table>")[0]
    assert "IR LEDs dead" in faults and "球形摄像机" in faults and "dome_camera" not in faults


# -- conflicts ------------------------------------------------------------------------------------------


def _at(session: Session, ago_ms: int) -> str:
    return str(Hlc(hlc.wall_ms() - ago_ms, 0, session.client_id))


@pytest.fixture
def clashes(site, lin, wang, chen, store) -> dict[str, str]:
    """Wang's locations lose to lin's newer ones on both cameras; one of them is the same value (a no-op);
    a service request's description written by the desk loses to lin's."""
    assert lin.push([lin.change("devices", site["cam1"], {"location": "gate"}, hlc_=_at(lin, 1_000)),
                     lin.change("devices", site["cam2"], {"location": "roof"}, hlc_=_at(lin, 1_000))]
                    ).status_code == 200
    assert wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=_at(wang, 5_000)),
                      wang.change("devices", site["cam2"], {"location": "roof"}, hlc_=_at(wang, 5_000))]
                     ).status_code == 200
    request = chen.http.post("/api/service-requests", headers=chen.headers, json={
        "site_id": SITE, "channel": "hotline", "kind": "repair"}).json()
    assert lin.push([lin.change("service_requests", request["id"], {"description": "new"})]).status_code == 200
    assert chen.push([chen.change("service_requests", request["id"], {"description": "old"},
                                  hlc_=_at(chen, 60_000))]).status_code == 200
    return {"request": request["id"], "number": request["number"]}


def test_the_conflict_log_names_rows_as_people_do_newest_first_without_no_ops(site, lin, clashes):
    r = page(lin, "/console/conflicts")
    assert r.status_code == 200
    table = r.text.split('id="conflicts"')[1].split("</table>")[0]
    rows = table.split("<tr>")[2:]
    # Regression (issue 14, conflicts): a service request's entry showed "service_requests"; now its number.
    assert clashes["number"] in rows[0] and "new → old" in rows[0]  # stored → sent
    assert "CAM-001" in rows[1] and "gate → lobby" in rows[1]
    assert len(rows) == 2  # cam2: both wrote "roof", a no-op, hidden
    assert not UUID.search(_visible_text(r.text))
    # Regression (session 25, office): the values' column heading read `t.values`, the words' dict method,
    # and showed "<built-in method values of dict object at 0x…>".
    assert "<th>原值 → 提交的值</th>" in table and "built-in" not in r.text


def test_the_conflict_log_and_the_dashboard_name_fields_in_words(site, store, lin, wang, clashes):
    # Regression (s26-office3, item 2): the 字段 column showed the stored names (`location`,
    # `description`, `item.lens_cleaned`); now the catalogue's words, a checklist item's from its template,
    # in the page's language, on the conflict log and the dashboard alike (web.field_names).
    items = [{"key": "lens_cleaned", "label": "Lens wiped clean", "label_zh": "镜头已擦拭", "type": "bool"}]
    store.write_server_changes([("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "dome")), {
        "kind": "dome_camera", "title": "Dome", "items": json.dumps(items)}, False)])
    check = device_check_id(site["inspection"], site["cam1"])
    fields = {"inspection_id": site["inspection"], "device_id": site["cam1"]}
    assert wang.push([wang.change("device_checks", check, {**fields, "item.lens_cleaned": True})]).status_code == 200
    assert wang.push([wang.change("device_checks", check, {**fields, "item.lens_cleaned": False},
                                  hlc_=_at(wang, 60_000))]).status_code == 200
    cells = lambda html: [row.split("</td><td>")[3].split("</td>")[0]  # noqa: E731
                          for row in html.split('id="conflicts"')[1].split("</table>")[0].split("<tr>")[2:]]
    assert cells(page(lin, "/console/conflicts").text) == ["镜头已擦拭", "故障现象", "位置"]
    assert cells(page(lin, "/console/conflicts", lang="en").text) == ["Lens wiped clean", "Fault reported", "Location"]
    dashboard = page(lin, "/console/").text
    assert "<td>位置</td>" in dashboard and "<td>镜头已擦拭</td>" in dashboard and "<td>location</td>" not in dashboard


def test_the_request_number_is_the_apis_label_too(site, lin, clashes):
    found = lin.http.get("/api/conflicts", params={"collection": "service_requests"}, headers=lin.headers).json()
    assert [c["label"] for c in found["conflicts"]] == [clashes["number"]]


def test_conflicts_filter_by_site_and_kind_and_page_back(site, lin, wang, zhao, clashes, monkeypatch):
    assert "CAM-001" in page(lin, "/console/conflicts", site=SITE, kind="lost").text
    assert "CAM-001" not in page(lin, "/console/conflicts", site=SITE, kind="rejected").text
    assert "CAM-001" not in page(lin, "/console/conflicts", site=OTHER_SITE).text
    monkeypatch.setattr(office_pages, "CONFLICTS_PER_PAGE", 1)
    first = page(lin, "/console/conflicts")
    older = first.text.split('id="older" href="?')[1].split('"')[0].replace("&amp;", "&")
    assert clashes["number"] in first.text and "CAM-001" not in first.text
    second = page(lin, "/console/conflicts", **dict(parse_qsl(older)))
    assert "CAM-001" in second.text and clashes["number"] not in second.text and 'id="older"' not in second.text
    # A technician: their own entries only, and another site is the 404 page.
    own = page(wang, "/console/conflicts")
    assert "CAM-001" in own.text and clashes["number"] not in own.text
    assert page(zhao, "/console/conflicts", site=SITE).status_code == 404


@pytest.mark.parametrize(("params", "status"), [
    ({"kind": "lots"}, 400), ({"before": "0"}, 400), ({"before": "1" * 17}, 400), ({"before": "-1"}, 400),
    ({"site": "x" * 200}, 404),
])
def test_bad_conflict_filters_are_a_4xx_page(site, lin, params, status):
    r = page(lin, "/console/conflicts", **params)
    assert r.status_code == status and r.headers["content-type"].startswith("text/html")


# -- clients --------------------------------------------------------------------------------------------


def test_a_supervisor_revokes_a_lost_phone_whose_token_is_then_401(site, http, lin, wang):
    phone = Session(http, "wang")
    listed = page(lin, "/console/clients")
    assert listed.status_code == 200 and f"/console/clients/{phone.client_id}/revoke" in listed.text
    # Regression (issue 14, CSRF): without the token, or from another site, nothing is revoked.
    assert post(lin, f"/console/clients/{phone.client_id}/revoke", {}, csrf="nope").status_code == 403
    assert post(lin, f"/console/clients/{phone.client_id}/revoke", {}, origin=False).status_code == 403
    assert http.get("/api/clients", headers=phone.headers).status_code == 200
    r = post(lin, f"/console/clients/{phone.client_id}/revoke", {})
    assert r.status_code == 303 and r.headers["location"] == "/console/clients?done=revoked"
    assert http.get("/api/clients", headers=phone.headers).status_code == 401
    assert "终端已吊销" in page(lin, "/console/clients", done="revoked").text


def test_a_technician_sees_and_revokes_only_their_own_clients(site, http, wang, zhao):
    mine, theirs = Session(http, "wang"), Session(http, "zhao")
    listed = page(wang, "/console/clients")
    assert mine.client_id in listed.text and theirs.client_id not in listed.text
    assert post(wang, f"/console/clients/{theirs.client_id}/revoke", {}).status_code == 404
    assert http.get("/api/clients", headers=theirs.headers).status_code == 200
    assert post(wang, f"/console/clients/{mine.client_id}/revoke", {}).status_code == 303
    assert http.get("/api/clients", headers=mine.headers).status_code == 401



def test_forgotten_console_sessions_never_lock_a_supervisor_out(site, http, lin, settings):
    # Regression (issue 15 session, found by reading): every console sign-in enrolled a client and
    # a closed browser never signs out, so the eleventh sign-in of a day was 429 too_many_clients.
    from tests.server.test_console_site import sign_in

    cookies = []
    for _ in range(settings.max_clients_per_user + 2):
        http.cookies.clear()
        sign_in(http, "lin")
        cookies.append(http.cookies["fieldsync_console"])
    console = [c for c in http.get("/api/clients", headers=lin.headers).json()["clients"]
               if c["user"] == "lin" and c["app"] == "console" and c["revoked_at"] is None]
    assert len(console) == settings.console_sessions_per_user
    assert http.get("/api/clients", headers=lin.headers).status_code == 200  # the phone is untouched
    http.cookies.clear()
    newest = http.get("/console/", headers={"Cookie": f"fieldsync_console={cookies[-1]}"}, follow_redirects=False)
    oldest = http.get("/console/", headers={"Cookie": f"fieldsync_console={cookies[0]}"}, follow_redirects=False)
    assert newest.status_code == 200 and oldest.status_code == 303
    audit = http.get("/api/audit", params={"kind": "client_revoked"}, headers=lin.headers).json()
    replaced = [e for e in audit["entries"] if e.get("detail", {}).get("reason") == "console_session_replaced"]
    assert len(replaced) == len(cookies) - settings.console_sessions_per_user


# -- users ----------------------------------------------------------------------------------------------


def test_a_supervisor_creates_a_user_who_signs_in(site, http, lin):
    r = post(lin, "/console/users", {"username": "sun", "name": "孙工", "role": "technician", "password": STRONG})
    assert r.status_code == 303 and r.headers["location"] == "/console/users/sun?done=created"  # his page
    assert _users(http, lin)["sun"]["sites"] == []  # added on his page, whose add form offers the site
    shown = page(lin, "/console/users/sun", done="created")
    assert "用户已创建" in shown.text and "孙工" in shown.text and "Test park" in shown.text
    assert STRONG not in shown.text and not UUID.search(_visible_text(shown.text))
    assert "孙工" in page(lin, "/console/users").text
    assert http.post("/auth/token", json={"username": "sun", "password": STRONG}).status_code == 200


@pytest.mark.parametrize(("form", "status", "code"), [
    ({"username": "wang", "name": "W", "role": "technician", "password": STRONG}, 409, "user_exists"),
    ({"username": "sun", "name": "S", "role": "technician", "password": "demo"}, 400, "weak_password"),
    ({"username": "Sun!", "name": "S", "role": "technician", "password": STRONG}, 400, "invalid_request"),
    ({"username": "sun", "name": "S", "role": "technician", "password": "p" * 300}, 400, "invalid_request"),
])
def test_a_refused_new_user_writes_nothing_and_never_shows_the_password(site, http, lin, form, status, code):
    before = _users(http, lin)
    r = post(lin, "/console/users", form)
    assert r.status_code == status and code in r.text and form["password"] not in r.text
    assert _users(http, lin) == before


def test_the_new_user_form_and_its_handler_agree_on_its_fields(site, http, lin):
    # Regression (session 30, office30, item 6): POST /console/users still read a `sites` field, left from the
    # form before s29-userspage; no form has sent it since (a technician's sites are added on his page), and the
    # handler and the form disagreed on what the form is. The handler reads the form's fields only now (another
    # field is ignored, as on every console form); `POST /api/users` keeps its `sites`.
    r = post(lin, "/console/users", {"username": "sun", "name": "孙工", "role": "technician", "password": STRONG,
                                     "sites": [SITE]})
    assert r.status_code == 303 and _users(http, lin)["sun"]["sites"] == []
    form = page(lin, "/console/users").text.split('id="new-user"')[1].split("</form>")[0]
    assert sorted(re.findall(r'name="([a-z_]+)"', form)) == ["csrf", "name", "password", "role", "username"]


def test_a_reset_password_and_a_disabled_user_take_effect_at_once(site, http, lin, wang):
    r = post(lin, "/console/users/wang/password", {"password": STRONG})
    assert r.status_code == 303 and r.headers["location"] == "/console/users/wang?done=password"  # back to his page
    assert http.get("/api/clients", headers=wang.headers).status_code == 401  # every client revoked
    assert http.post("/auth/token", json={"username": "wang", "password": STRONG}).status_code == 200
    assert post(lin, "/console/users/wang/disabled", {"disabled": "true"}).status_code == 303
    refused = http.post("/auth/token", json={"username": "wang", "password": STRONG})
    assert refused.status_code == 403 and refused.json()["code"] == "account_disabled"
    assert _users(http, lin)["wang"]["disabled"] is True
    assert post(lin, "/console/users/wang/disabled", {"disabled": "false"}).status_code == 303
    assert http.post("/auth/token", json={"username": "wang", "password": STRONG}).status_code == 200
    assert post(lin, "/console/users/wang/disabled", {"disabled": "maybe"}).status_code == 400
    assert post(lin, "/console/users/lin/disabled", {"disabled": "true"}).status_code == 400  # not yourself
    assert post(lin, "/console/users/nobody/password", {"password": STRONG}).status_code == 404
    assert post(lin, "/console/users/" + "u" * 65 + "/password", {"password": STRONG}).status_code == 404


def test_only_supervisors_manage_users_and_a_forged_form_changes_nothing(site, http, lin, wang, chen):
    form = {"username": "sun", "name": "S", "role": "technician", "password": STRONG}
    for session in (wang, chen):
        assert page(session, "/console/users").status_code == 403
        assert page(session, "/console/users/zhao").status_code == 403
        assert post(session, "/console/users", form).status_code == 403
        assert post(session, "/console/users/zhao/disabled", {"disabled": "true"}).status_code == 403
    assert post(lin, "/console/users", form, csrf="forged").status_code == 403
    assert post(lin, "/console/users", form, origin=False).status_code == 403
    assert post(lin, "/console/users/zhao/disabled", {"disabled": "true"}, csrf="").status_code == 403
    users = _users(http, lin)
    assert "sun" not in users and users["zhao"]["disabled"] is False
    nav = page(lin, "/console/").text
    assert 'href="/console/users"' in nav and 'href="/console/users"' not in page(wang, "/console/").text


def test_the_dashboard_shows_the_newest_conflicts_in_one_read(site, lin, clashes, monkeypatch):
    # Regression (issue 14, conflicts): the dashboard read up to 50 pages of 1,000 entries oldest first to
    # find the latest ten; it now reads the newest page only, no-op entries left out.
    from server.domains.console import pages

    monkeypatch.setattr(pages, "LATEST_CONFLICTS", 1)
    table = page(lin, "/console/").text.split('id="conflicts"')[1].split("</table>")[0]
    assert clashes["number"] in table and "CAM-00" not in table
    monkeypatch.setattr(pages, "LATEST_CONFLICTS", 10)
    table = page(lin, "/console/").text.split('id="conflicts"')[1].split("</table>")[0]
    assert table.index(clashes["number"]) < table.index("CAM-001") and "CAM-002" not in table


def test_a_visits_entry_is_named_by_its_sheet_number(site, lin, wang, clashes):
    # Regression (issue 14, conflicts): entries of visits (and of what hangs under a visit or a request)
    # had no label.
    visit = str(uuid.uuid4())
    assert wang.push([wang.change("service_visits", visit, {"request_id": clashes["request"],
                                                           "technician": "wang"})]).status_code == 200
    assert lin.push([lin.change("service_visits", visit, {"technician": "zhao"})]).status_code == 200
    assert wang.push([wang.change("service_visits", visit, {"technician": "li"}, hlc_=_at(wang, 60_000))]
                     ).status_code == 200
    found = lin.http.get("/api/conflicts", headers=lin.headers).json()["conflicts"]
    labels = {c["collection"]: c.get("label") for c in found}
    assert labels["service_visits"] == f"{clashes['number']}-1"
    assert not UUID.search(_visible_text(page(lin, "/console/conflicts").text))


def test_no_template_reads_a_word_named_like_a_dict_method():
    # Regression (session 25, office): `t.values` in a template is the words' dict method, not the word
    # "values" (the conflict log's heading printed a method's repr); such a word is read as `t["values"]`.
    methods = "|".join(m for m in dir(dict) if not m.startswith("_"))
    templates = [*(Path(__file__).resolve().parents[2] / "server/domains").glob("*/templates/*.html")]
    assert templates
    used = {str(p): re.findall(rf"\bt\.({methods})\b", p.read_text(encoding="utf-8")) for p in templates}
    assert {p: found for p, found in used.items() if found} == {}

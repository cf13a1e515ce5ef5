"""Finding a caller's service requests by their number (s29-desk29, item 1): the `caller_phone` filter of
`GET /api/service-requests` and of the console's request list, the header's search box, the duplicate-call
warning for a number stored full width, and m034 filling the number of the requests stored before it, on
SQLite and PostgreSQL (each backend's migrations stopped before m034, rows written as that schema held them)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from server.storage import service as q
from server.storage.sqlite.backend import SQLITE
from tests.conftest import OTHER_SITE, SITE
from tests.helpers import ok, upgraded
from tests.server.test_console_desk import console, post_new, requests_of
from tests.server.test_service import open_request


def _ids(session: Any, **params: str) -> list[str]:
    return [r["id"] for r in ok(session.http.get("/api/service-requests", headers=session.headers,
                                                 params=params))["requests"]]


def test_the_api_finds_a_callers_requests_by_their_number_or_its_tail_whatever_its_spacing(
        store, site, chen, lin, wang):
    # s29-desk29 item 1: a customer rang about "the gate camera I called about last week", giving only their
    # number; `GET /api/service-requests` had no filter on the caller's number (it listed every request).
    store.write_server_changes([("sites", OTHER_SITE, {"name": "School", "tz": "Asia/Shanghai"}, False)])
    gate = open_request(chen, device_id=site["cam1"], caller_phone="021-5555 0101")
    wide = open_request(chen, caller_phone="０２１－５５５５\u3000０１０２")  # typed in a Chinese input method
    mobile = open_request(chen, caller_phone="138 0013 8000")
    elsewhere = open_request(lin, site_id=OTHER_SITE, caller_phone="(021) 5555-0101")
    open_request(chen, caller_phone=None)  # no number at all
    for typed in ("021-5555 0101", "02155550101", "5555 0101", "0101", "０１０１", "(021)5555-0101"):
        assert sorted(_ids(lin, caller_phone=typed)) == sorted([gate, elsewhere]), typed
    assert _ids(lin, caller_phone="021 5555 0102") == [wide]  # stored full width
    assert _ids(lin, caller_phone="13800138000") == [mobile]
    assert _ids(lin, caller_phone="5555 0109") == []
    assert _ids(lin, caller_phone="9 5555 0101") == []  # the tail is the number's end, not any part
    # The caller's scope: the technician of SITE never learns of the other site's request.
    assert _ids(wang, caller_phone="0101") == [gate]
    # With the other filters, and paged by the list's own cursor.
    assert _ids(lin, caller_phone="0101", site_id=SITE) == [gate]
    [page_one] = _ids(lin, caller_phone="0101", limit="1")
    assert _ids(lin, caller_phone="0101", limit="1", after=page_one) == list({gate, elsewhere} - {page_one})
    for bad in ("101", "abcd", "-- --", "1" * 41, ""):
        r = lin.http.get("/api/service-requests", headers=lin.headers, params={"caller_phone": bad})
        assert r.status_code == 400 and r.json()["code"] == "invalid_filter", bad
        assert r.json()["parameter"] == "caller_phone"


def test_the_desk_finds_a_callers_requests_from_the_list_and_the_search_box(http, site, chen, lin):
    csrf = console(http, "chen")
    assert post_new(http, csrf).status_code == 303  # 021-5555 0101
    assert post_new(http, csrf, device_code="CAM-002", caller_phone="139 0000 0000").status_code == 303
    by_device = {r["device_code"]: r["id"] for r in requests_of(lin)}
    first, second = by_device["CAM-001"], by_device["CAM-002"]
    listed = http.get("/console/service-requests", params={"caller_phone": "5555-0101"}).text
    assert f'/console/service-requests/{first}"' in listed and f'/console/service-requests/{second}"' not in listed
    assert 'name="caller_phone" value="5555-0101"' in listed and "号码或尾号（至少4位）" in listed
    # The search box: a number opens the list filtered by it (one thing found: straight there).
    r = http.get("/console/lookup", params={"q": "０２１-５５５５ ０１０１"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/service-requests?caller_phone={quote('０２１-５５５５ ０１０１')}"
    page = http.get(r.headers["location"]).text
    assert f'/console/service-requests/{first}"' in page and f'/console/service-requests/{second}"' not in page


def test_a_number_the_list_refuses_is_said_beside_its_box_with_the_form_kept(http, site, chen, lin):
    # Regression (s29-fixdesk29, item 2): 1-3 digits (or more than 40 characters) in the list's 联系电话 box
    # gave the console's generic 400 page (链接中的参数无效，请从控制台的链接进入。): the filters and the
    # new-request form gone, the field not named. And the header's search box offered a phone-like text of
    # 41-64 characters as the list filtered by it, which led to that same page.
    csrf = console(http, "chen")
    assert post_new(http, csrf).status_code == 303
    for typed in ("01", "1" * 41):
        r = http.get("/console/service-requests", params={"caller_phone": typed, "status": "received"})
        assert r.status_code == 400, typed
        assert "链接中的参数无效" not in r.text
        assert ('<p class="error" role="alert" id="filter-refused">联系电话：请输入号码或其尾号，至少 4 位数字，'
                '不超过 40 个字符。 <code>invalid_filter</code></p>') in r.text
        assert f'name="caller_phone" value="{typed}"' in r.text  # the filters kept as typed
        assert '<option value="received" selected>' in r.text
        assert 'id="new-request"' in r.text and "/console/service-requests/" not in r.text  # no rows listed
    english = http.get("/console/service-requests", params={"caller_phone": "01", "lang": "en"})
    assert english.status_code == 400 and "Phone: type a number or its last digits" in english.text
    # Another filter's refusal is still the problem's page.
    assert http.get("/console/service-requests", params={"open": "maybe"}).status_code == 400
    # The search box: a number too long for the filter is not offered as the list filtered by it.
    r = http.get("/console/lookup", params={"q": "021-5555 0101 " * 3}, follow_redirects=False)
    assert r.status_code == 404 and "caller_phone" not in r.text


def test_a_call_from_a_number_stored_full_width_warns_of_its_open_request(http, site, lin):
    # Regression: the duplicate-call check compared the stored number with only its spaces and dashes taken
    # out, so an open request whose number had been typed full width (０２１－５５５５ ０１０１) was never
    # found for the next call from 021-5555 0101.
    csrf = console(http, "chen")
    assert post_new(http, csrf, device_code="", caller_phone="０２１－５５５５\u3000０１０１",
                    assigned_to="").status_code == 303
    r = post_new(http, csrf, device_code="", caller_phone="021-5555 0101", assigned_to="")
    assert r.status_code == 409 and "该来电号码在此站点已有未完成的服务请求" in r.text
    assert len(requests_of(lin)) == 1


# -- m034 on a database of requests stored before it ------------------------------------------------

M034 = "m034_caller_phone"
STORED = {"r-gate": "021-5555 0101", "r-wide": "０２１－５５５５\u3000０１０２", "r-none": None, "r-letters": "n/a",
          "r-mobile": "+86 138 0013 8000",  # its country code dropped (m036 on PostgreSQL, after m034's SQL)
          # not a string (what no push stores now): digits in its JSON text are no number (s29-fixdesk29, item 3)
          "r-array": ["021", "5555 0101"], "r-object": {"tel": "021-5555 0101"}, "r-integer": 2155550101}


def _requests_before_m034(db: Any, mark: str) -> None:
    for n, (request_id, phone) in enumerate(STORED.items()):
        fields = {"site_id": SITE, "status": "received"} | ({} if phone is None else {"caller_phone": phone})
        db.execute(f"INSERT INTO rows(collection, id, site_id, fields, clocks, version, updated_ms)"
                   f" VALUES ({', '.join([mark] * 7)})",
                   ["service_requests", request_id, SITE, json.dumps(fields), "{}", n + 1, 0])
        db.execute(f"INSERT INTO service_clocks(request_id, site_id, status, reported_ms, open, breached, computed_ms)"
                   f" VALUES ({', '.join([mark] * 7)})", [request_id, SITE, "received", n, 1, 0, 0])


def found_after_upgrade(database: Any, tails: tuple[str, ...] = ("1010", "2010")) -> dict[str, Any]:
    """The keys stored in `database` (closed after) and the requests `list_requests` finds by each of `tails`."""
    try:
        with database.read() as db:
            kept = dict(db.execute("SELECT request_id, phone_reversed FROM service_clocks").fetchall())
            listed = {tail: [i for i, _ in q.list_requests(
                db, sites=None, site_id=None, status=None, assigned_to=None, open_=None, breached=None, at_risk=None,
                now_ms=0, after=None, limit=10, phone_tail=tail)] for tail in tails}
        return {"kept": kept, "listed": listed}
    finally:
        database.close()


EXPECTED = {"kept": {"r-gate": "10105555120", "r-wide": "20105555120", "r-none": None, "r-letters": None,
                     "r-mobile": "00083100831", "r-array": None, "r-object": None, "r-integer": None},
            "listed": {"1010": ["r-gate"], "2010": ["r-wide"]}}


def test_m034_fills_the_callers_number_of_a_sqlite_databases_requests(tmp_path: Path) -> None:
    # Regression (s29-fixdesk29, item 3): SQLite's step kept the digits of a caller_phone stored as a JSON
    # array or object (json_extract gives its JSON text); PostgreSQL's step and the live write keep none.
    assert found_after_upgrade(upgraded(tmp_path / "fieldsync.db", M034, _requests_before_m034)) == EXPECTED


def test_m034_fills_the_callers_number_of_a_postgresql_databases_requests(pg_url: str) -> None:
    assert found_after_upgrade(upgraded(pg_url, M034, _requests_before_m034)) == EXPECTED


def test_the_number_filter_reads_a_range_of_its_index(tmp_path: Path) -> None:
    # Unscoped (the desk, supervisors): one range of `service_clocks_phone`, not every request in order.
    database = SQLITE.open(tmp_path / "fieldsync.db")
    try:
        with database.read() as db:
            run: list[str] = []
            db.set_trace_callback(run.append)
            q.list_requests(db, sites=None, site_id=None, status=None, assigned_to=None, open_=None, breached=None,
                            at_risk=None, now_ms=0, after=None, limit=51, phone_tail="1010")
            db.set_trace_callback(None)
            plan = [step for sql in run for *_, step in db.execute("EXPLAIN QUERY PLAN " + sql)]
    finally:
        database.close()
    assert plan[0].startswith("SEARCH service_clocks USING COVERING INDEX service_clocks_phone"), plan


# -- a mainland number given with its country code (+86, 0086, 86) ---------------------------------

def test_a_number_given_with_the_country_code_finds_its_national_form_and_the_reverse(store, site, chen, lin):
    # Regression (phone30, item 1): a caller's number typed as +86 138 0013 8000 (or 0086…, 86…) kept the
    # country code among its digits, so the list filtered by 13800138000 (or its tail taken from the
    # international form) missed it, and a request stored as 13800138000 was not found by +86 138 0013 8000.
    international = open_request(chen, caller_phone="+86 138 0013 8000")
    prefixed = open_request(chen, caller_phone="0086-139-0000-0000")
    national = open_request(chen, caller_phone="137 0000 1111")
    for typed in ("13800138000", "138 0013 8000", "+86 138 0013 8000", "008613800138000", "8613800138000",
                  "＋８６ １３８ ００１３ ８０００", "0013 8000"):
        assert _ids(lin, caller_phone=typed) == [international], typed
    for typed in ("13900000000", "+8613900000000", "86 139 0000 0000"):
        assert _ids(lin, caller_phone=typed) == [prefixed], typed
    for typed in ("+86 137 0000 1111", "0086 13700001111", "8613700001111", "13700001111"):
        assert _ids(lin, caller_phone=typed) == [national], typed
    # Only before a mainland mobile number (11 digits, the first a 1) or landline (since m037,
    # test_phone_landline.py): other digits stay as they are.
    assert q.phone_reversed("86 138 0013 800") == "008310083168"  # 10 digits after 86, the first 13


def test_a_call_from_the_international_form_warns_of_the_open_request_of_the_national_one(http, site, lin):
    # Regression (phone30, item 1): the duplicate-call key kept +86's digits, so the desk's new call from
    # +86 139 0000 0000 was not warned of the open request from 139 0000 0000.
    csrf = console(http, "chen")
    assert post_new(http, csrf, device_code="", caller_phone="139 0000 0000", assigned_to="").status_code == 303
    r = post_new(http, csrf, device_code="", caller_phone="+86 139 0000 0000", assigned_to="")
    assert r.status_code == 409 and "该来电号码在此站点已有未完成的服务请求" in r.text
    assert len(requests_of(lin)) == 1


# -- m036 on a database whose stored numbers kept the country code ------------------------------------

M036 = "m036_caller_phone_national"
# As m034 and the writes before m036 stored them: every digit, last first.
KEPT_BEFORE_M036 = {"r-plus": "+86 138 0013 8000", "r-zeros": "0086 139 0000 0000", "r-bare": "8613700001111",
                    "r-national": "136 0000 2222", "r-landline": "86 0752 3350120", "r-short": "86 1380 0138",
                    "r-none": None}


def stored_digits(numbers: dict[str, str | None]) -> Callable[[Any, str], None]:
    """`upgraded`'s fill: a request's stored clocks for each number, keeping its every digit last first (as a
    step before the one tested left them)."""
    def fill(db: Any, mark: str) -> None:
        for n, (request_id, phone) in enumerate(numbers.items()):
            digits = None if phone is None else "".join(c for c in phone if c.isdigit())[::-1]
            db.execute(f"INSERT INTO service_clocks(request_id, site_id, status, reported_ms, open, breached,"
                       f" computed_ms, phone_reversed) VALUES ({', '.join([mark] * 8)})",
                       [request_id, SITE, "received", n, 1, 0, 0, digits])
    return fill


_stored_before_m036 = stored_digits(KEPT_BEFORE_M036)


def _kept_after_m036(database: Any) -> dict[str, Any]:
    try:
        with database.write() as db:
            kept = dict(db.execute("SELECT request_id, phone_reversed FROM service_clocks").fetchall())
            db.execute(q.PHONE_NATIONAL)  # once more: nothing changes
            again = dict(db.execute("SELECT request_id, phone_reversed FROM service_clocks").fetchall())
        return {"kept": kept, "again": again}
    finally:
        database.close()


def _expected_after_m036() -> dict[str, Any]:
    # What the live write stores now (`phone_reversed`), for each number.
    kept = {request_id: q.phone_reversed(phone) for request_id, phone in KEPT_BEFORE_M036.items()}
    assert kept["r-plus"] == "00083100831"
    assert kept["r-landline"] == "02105332570"  # m036 left it, m037 after it gives its national form 0752…
    return {"kept": kept, "again": kept}


def test_m036_drops_the_country_code_of_a_sqlite_databases_stored_numbers(tmp_path: Path) -> None:
    # Regression (phone30, item 1): numbers stored with +86's digits were not found by their national form.
    assert _kept_after_m036(upgraded(tmp_path / "fieldsync.db", M036, _stored_before_m036)) == _expected_after_m036()


def test_m036_drops_the_country_code_of_a_postgresql_databases_stored_numbers(pg_url: str) -> None:
    assert _kept_after_m036(upgraded(pg_url, M036, _stored_before_m036)) == _expected_after_m036()

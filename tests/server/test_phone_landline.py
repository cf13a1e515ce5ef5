"""A mainland landline given with the country code (+86 752 335 0120, 0086-752-…, +86 (752) …) is the same
caller's number as its national form (0752-3350120) for the desk's request list filter, the console's search
box and the duplicate-call warning (session 31, office31, item 3), and m037 gives the numbers stored before it
that form, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import sqlite_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from server.storage import service as q
from server.storage.postgres.migrations import _caller_landline
from server.storage.sqlite.backend import SQLITE
from server.storage.sqlite.migrations_callers import m037_caller_landline_national
from tests.helpers import ok, upgraded
from tests.server.test_console_desk import console, post_new, requests_of
from tests.server.test_console_desk_phone import stored_digits
from tests.server.test_service import open_request

# Mainland area codes after the trunk prefix 0: 10 and 2x of two digits, 3xx to 9xx of three (400 and 800
# are the national service numbers, not area codes).
AREA = st.one_of(st.just("10"), st.from_regex(r"2[0-9]", fullmatch=True),
                 st.from_regex(r"[3-9][0-9]{2}", fullmatch=True).filter(lambda a: a not in ("400", "800")))
LOCAL = st.from_regex(r"[2-9][0-9]{6,7}", fullmatch=True)  # 7 or 8 digits


def _ids(session: Any, **params: str) -> list[str]:
    return [r["id"] for r in ok(session.http.get("/api/service-requests", headers=session.headers,
                                                 params=params))["requests"]]


def test_a_landline_given_with_the_country_code_finds_its_national_form_and_the_reverse(store, site, chen, lin):
    # Regression (office31, item 3): since m036 +86 138… met 138…, but a landline kept 86's digits before its
    # area code: +86 752 335 0120 was not found by 0752-3350120, nor 0752-3350120 by it.
    international = open_request(chen, caller_phone="+86 752 335 0120")
    national = open_request(chen, caller_phone="010-6552 9988")
    zeros = open_request(chen, caller_phone="0086-21-5555-0177")
    for typed in ("0752-3350120", "07523350120", "(0752) 335 0120", "+86 752 335 0120", "0086-752-3350120",
                  "+86 (752) 3350120", "+86 (0)752 335 0120", "86 752 3350120", "＋８６ ７５２ ３３５０１２０",
                  "3350120", "0120"):
        assert _ids(lin, caller_phone=typed) == [international], typed
    for typed in ("+86 10 6552 9988", "0086 10 65529988", "+86 (10) 6552-9988", "010 6552 9988", "8610 6552 9988"):
        assert _ids(lin, caller_phone=typed) == [national], typed
    for typed in ("021-5555 0177", "02155550177", "+86 21 5555 0177"):
        assert _ids(lin, caller_phone=typed) == [zeros], typed
    # Not mainland landlines: kept as they are (Hong Kong's +852, a 400 number, too few digits after 86).
    assert q.phone_reversed("+852 2123 4567") == "76543212258"
    assert q.phone_reversed("+86 400 123 4567") == "765432100468"
    assert q.phone_reversed("+86 752 33501") == "1053325768"


def test_the_search_box_opens_the_list_of_a_landline_given_the_other_way(http, site, lin):
    csrf = console(http, "chen")
    assert post_new(http, csrf, caller_phone="+86 752 335 0120").status_code == 303
    [stored] = [r["id"] for r in requests_of(lin)]
    r = http.get("/console/lookup", params={"q": "0752-3350120"}, follow_redirects=False)
    assert r.status_code == 303
    assert r.headers["location"] == f"/console/service-requests?caller_phone={quote('0752-3350120')}"
    assert f'/console/service-requests/{stored}"' in http.get(r.headers["location"]).text


def test_a_call_from_a_landlines_national_form_warns_of_the_open_request_of_its_international_one(http, site, lin):
    # Regression (office31, item 3): the desk's call from 0752-3350120 was not warned of the open request
    # recorded from +86 752 3350120 (the duplicate-call key kept 86's digits), nor the reverse.
    csrf = console(http, "chen")
    assert post_new(http, csrf, device_code="", caller_phone="+86 752 335 0120", assigned_to="").status_code == 303
    for typed in ("0752-3350120", "0086 (752) 3350120"):
        r = post_new(http, csrf, device_code="", caller_phone=typed, assigned_to="")
        assert r.status_code == 409 and "该来电号码在此站点已有未完成的服务请求" in r.text, typed
    assert len(requests_of(lin)) == 1


@given(area=AREA, local=LOCAL, prefix=st.sampled_from(["+86 ", "0086-", "86", "+86 (0)", "+86 ("]),
       spaced=st.booleans())
def test_every_international_form_of_a_landline_has_its_national_key(area: str, local: str, prefix: str,
                                                                      spaced: bool) -> None:
    national = f"0{area}-{local}"
    typed = prefix + area + (") " if prefix.endswith("(") else " " if spaced else "") + local
    assert q.phone_reversed(typed) == q.phone_reversed(national) == (f"0{area}{local}")[::-1]


# -- m037 on a database whose stored landlines kept the country code ----------------------------------

M037 = "m037_caller_landline_national"
# As m036 left them: every digit last first, a mobile's country code dropped.
KEPT_BEFORE_M037 = {"r-plus": "+86 752 335 0120", "r-zeros": "0086-10-6552-9988", "r-bare": "862155550177",
                    "r-kept-zero": "+86 (0)755 8888 9999", "r-national": "0752-3350121",
                    "r-mobile": "13800138000", "r-service": "+86 400 123 4567", "r-hongkong": "+852 2123 4567",
                    "r-short": "86 752 33501", "r-none": None}


_stored_before_m037 = stored_digits(KEPT_BEFORE_M037)


def _kept_after_m037(database: Any) -> dict[str, Any]:
    try:
        with database.write() as db:
            kept = dict(db.execute("SELECT request_id, phone_reversed FROM service_clocks").fetchall())
            listed = {tail: [i for i, _ in q.list_requests(
                db, sites=None, site_id=None, status=None, assigned_to=None, open_=None, breached=None, at_risk=None,
                now_ms=0, after=None, limit=10, phone_tail=tail)] for tail in ("02105332570", "99998888")}
        return {"kept": kept, "listed": listed}
    finally:
        database.close()


def _expected() -> dict[str, Any]:
    kept = {request_id: q.phone_reversed(phone) for request_id, phone in KEPT_BEFORE_M037.items()}  # as written now
    assert (kept["r-plus"], kept["r-zeros"], kept["r-bare"]) == ("02105332570", "88992556010", "77105555120")
    assert kept["r-service"] == "765432100468" and kept["r-short"] == "1053325768"  # as they were
    return {"kept": kept, "listed": {"02105332570": ["r-plus"], "99998888": ["r-kept-zero"]}}


def test_m037_gives_a_sqlite_databases_stored_landlines_their_national_form(tmp_path: Path) -> None:
    # Regression (office31, item 3): numbers stored as +86 752… were not found by 0752… after the upgrade either.
    path = tmp_path / "fieldsync.db"
    assert _kept_after_m037(upgraded(path, M037, _stored_before_m037)) == _expected()
    # The step again over what it wrote (a step is recorded once; its rule is run again here): nothing changes.
    database = SQLITE.open(path)
    try:
        with database.write() as db:
            m037_caller_landline_national(sqlite_utils.Database(db))
            assert dict(db.execute("SELECT request_id, phone_reversed FROM service_clocks").fetchall()) == \
                _expected()["kept"]
    finally:
        database.close()


def test_m037_gives_a_postgresql_databases_stored_landlines_their_national_form(pg_url: str) -> None:
    assert _kept_after_m037(upgraded(pg_url, M037, _stored_before_m037)) == _expected()
    # The step again over what it wrote, in a transaction: nothing changes.
    with psycopg.connect(pg_url) as conn, conn.transaction():
        _caller_landline(conn)
        assert dict(conn.execute("SELECT request_id, phone_reversed FROM service_clocks").fetchall()) == \
            _expected()["kept"]


@settings(max_examples=300)
@given(digits=st.one_of(
    st.tuples(st.sampled_from(["86", "0086", "860", "00860"]), AREA, LOCAL).map("".join),
    st.tuples(st.sampled_from(["86", "0086", "8600", "860"]), st.from_regex(r"[0-9]{6,13}", fullmatch=True)).map("".join),
    st.from_regex(r"[0-9]{4,20}", fullmatch=True)))
def test_m037_gives_any_stored_key_what_is_written_now_and_leaves_that_alone(digits: str) -> None:
    # The invariant m037 rests on, on both backends (one rule since session 32; PostgreSQL's step was a
    # regular expression kept equal to it by this test): any key stored before it (a mobile's country code
    # already dropped, m036) becomes what `phone_reversed` writes now, and what it writes now stays.
    stored = digits[::-1] if not (m := q._MAINLAND_MOBILE.fullmatch(digits)) else m[1][::-1]
    now = q.phone_reversed(digits)
    assert dict((request_id, key) for key, request_id in q.landline_rekeyed([("r", stored)])).get("r", stored) == now
    assert q.landline_rekeyed([("r", now)]) == []

"""A caller's switchboard extension (0755-8888 9999 转 801, +86 755 8888 9999 ext. 801) is kept apart from the
number (desk31): the national and international forms of a number with an extension meet, a search for the
switchboard's number finds its extensions' calls, a search naming an extension finds that extension alone, the
duplicate-call warning compares the number without its extension, and m039 keys the numbers stored before it
so, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg
import sqlite_utils
from hypothesis import given
from hypothesis import strategies as st

from server.storage import service as q
from server.storage.postgres.migrations import _caller_extension
from server.storage.sqlite.backend import SQLITE
from server.storage.sqlite.migrations_extensions import m039_caller_extension
from tests.helpers import upgraded
from tests.server.test_console_desk import console, post_new, requests_of
from tests.server.test_console_desk_phone import SITE, found_after_upgrade
from tests.server.test_phone_landline import AREA, LOCAL, _ids
from tests.server.test_service import open_request

MARKS = ("转", "轉", "分机", "分機", "ext", "ext.", "Ext.", "EXT", "extension", "x", "X", "#", "＃", "ｘ")


def test_a_number_with_an_extension_finds_its_other_forms_and_the_switchboard_finds_its_extensions(
        store, site, chen, lin):
    # Regression (desk31): +86 755 8888 9999 转 801 keyed as 8675588889999801 and 0755-8888 9999 转 801 as
    # 075588889999801: neither form found the other, nor 0755-8888 9999 either.
    international = open_request(chen, caller_phone="+86 755 8888 9999 转 801")
    other = open_request(chen, caller_phone="0755-8888 9999 分机 802")
    switchboard = open_request(chen, caller_phone="0755-88889999")
    for typed in ("0755-8888 9999 转 801", "075588889999转801", "(0755) 8888-9999 ext. 801", "0755 8888 9999 x801",
                  "0755-88889999#801", "0755-8888 9999-801", "+86 755 88889999-801", "0086 (0)755 8888 9999 分机801",
                  "８８８８ ９９９９ 转 ８０１", "9999 转 801"):
        assert _ids(lin, caller_phone=typed) == [international], typed
    assert _ids(lin, caller_phone="+86 755 8888 9999 ext 802") == [other]
    # The switchboard's number, or its tail, finds the calls from it and from each of its extensions.
    for typed in ("0755-8888 9999", "+86 755 8888 9999", "88889999", "9999"):
        assert sorted(_ids(lin, caller_phone=typed)) == sorted([international, other, switchboard]), typed
    assert _ids(lin, caller_phone="0755-8888 9999 转 803") == []
    assert _ids(lin, caller_phone="0755-8888 9999 转 80") == []  # an extension is whole, not a tail


def test_an_extension_is_read_after_a_complete_number_and_a_dash_only_after_a_landline():
    key = "999988885570"
    assert q.phone_reversed("0755-8888 9999-801") == q.phone_reversed("0755-8888 9999 转 801") == f"{key}#801"
    # Dashes that group a number's digits are no extension: the whole is a landline (0755 and 8 digits, 021 and
    # 8), or what comes before the last dash is none.
    assert q.phone_reversed("0755-8888-9999") == key
    assert q.phone_reversed("0755-3350-1201") == "102105335570"
    assert q.phone_reversed("021-5555-0101") == "10105555120"
    # 0755-3350120-1 is a whole landline too (755 and 8 digits): ambiguous, read as the number, not 转 1.
    assert q.phone_reversed("0755-3350120-1") == "102105335570"
    # A mobile or 400 number's dash is a dash; their extensions are written with a marker.
    assert q.phone_reversed("13800138000-801") == "10800083100831"
    assert q.phone_reversed("400-888-8888 转 2") == "8888888004#2"
    # A marker before any digit (the x of "fax"), or with no digit after it, is no extension.
    assert q.phone_reversed("fax 0755-8888 9999") == key
    assert q.phone_reversed("0755-8888 9999 转") == key
    assert q.phone_reversed("转 801") == "108"


def test_a_marker_followed_by_more_than_the_extensions_digits_names_no_extension():
    # Regression (fixdesk31, item 1): 138xxxx8000 (a masked number) keyed as 831#8000 and 0755-8888 9999 / fax
    # 0755-8888 9998 as 999988885570#075588889998, a second number glued on as an extension.
    assert q.phone_reversed("138xxxx8000") == "0008831"
    assert q.phone_reversed("0755-8888 9999 / fax 0755-8888 9998") == "075588889999075588889998"[::-1]
    assert q.phone_reversed("0755-8888 9999 转 801 (王工)") == "075588889999801"[::-1]
    assert q.phone_reversed("0755-8888 9999 转 1234567") == "0755888899991234567"[::-1]  # 7 digits: none
    # What may stand between the marker and the digits: a `.` or `:` (full width too) and spaces.
    for typed in ("0755-8888 9999 分机：801", "0755-8888 9999 ext: 801 ", "0755-8888 9999 x.801", "0755-8888 9999 #  801"):
        assert q.phone_reversed(typed) == "999988885570#801", typed


def test_a_masked_callers_number_is_found_by_its_last_four_and_as_typed(store, site, chen, lin):
    # Regression (fixdesk31, item 1): 8000 no longer found 138xxxx8000, and the number itself was a 400.
    masked = open_request(chen, caller_phone="138xxxx8000")
    assert _ids(lin, caller_phone="8000") == [masked]
    assert _ids(lin, caller_phone="138xxxx8000") == [masked]


def test_a_filter_naming_an_extension_needs_the_numbers_four_digits_and_keeps_the_limit(store, site, lin):
    # 999 转 8015: three digits of the number; 转 801: a marker before any digit, so three digits in all.
    for typed in ("999 转 8015", "转 801", "0755-8888 9999 转 " + "8" * 30):
        r = lin.http.get("/api/service-requests", headers=lin.headers, params={"caller_phone": typed})
        assert r.status_code == 400 and r.json()["code"] == "invalid_filter", typed


def test_the_search_box_opens_the_list_of_a_number_with_an_extension_given_the_other_way(http, site, lin):
    csrf = console(http, "chen")
    assert post_new(http, csrf, caller_phone="0755-8888 9999 转 801").status_code == 303
    [stored] = [r["id"] for r in requests_of(lin)]
    for typed in ("+86 755 8888 9999 ext. 801", "0755 8888 9999"):
        r = http.get("/console/lookup", params={"q": typed}, follow_redirects=False)
        assert r.status_code == 303, typed
        assert r.headers["location"] == f"/console/service-requests?caller_phone={quote(typed)}"
        assert f'/console/service-requests/{stored}"' in http.get(r.headers["location"]).text, typed


def test_a_device_code_that_reads_as_a_short_number_and_an_extension_opens_the_device(http, site, store):
    # Regression (fixdesk31, item 2): 1001#2 and 3001-X1 also read as a caller's number (1001 转 2): the
    # search box showed a list of the device and the phone search instead of opening the device.
    codes = {"1001#2": str(uuid.uuid4()), "3001-X1": str(uuid.uuid4())}
    store.write_server_changes([("devices", device, {"site_id": SITE, "code": code, "status": "active"}, False)
                                for code, device in codes.items()])
    console(http, "chen")
    for code, device in codes.items():
        r = http.get("/console/lookup", params={"q": code}, follow_redirects=False)
        assert (r.status_code, r.headers.get("location")) == (303, f"/console/sites/{SITE}/devices/{device}"), code
    # A whole local number before the extension still reads as a caller's number.
    r = http.get("/console/lookup", params={"q": "8888 9999 转 801"}, follow_redirects=False)
    assert r.headers["location"] == f"/console/service-requests?caller_phone={quote('8888 9999 转 801')}"


def test_a_call_from_a_switchboard_warns_of_the_open_requests_of_its_extensions_in_either_form(http, site, lin):
    # Regression (desk31): 0755-8888 9999 转 801 was not warned of the open request from +86 755 8888 9999 转 801.
    csrf = console(http, "chen")
    assert post_new(http, csrf, device_code="", caller_phone="+86 755 8888 9999 转 801",
                    assigned_to="").status_code == 303
    for typed in ("0755-8888 9999 转 801", "0755-88889999-801", "0755-8888 9999", "0755 8888 9999 分机 802"):
        r = post_new(http, csrf, device_code="", caller_phone=typed, assigned_to="")
        assert r.status_code == 409 and "该来电号码在此站点已有未完成的服务请求" in r.text, typed
    # Another switchboard whose number ends the same is no duplicate.
    assert post_new(http, csrf, device_code="", caller_phone="0752-8888 9999 转 801",
                    assigned_to="").status_code == 303
    assert len(requests_of(lin)) == 2


@given(area=AREA, local=LOCAL, extension=st.from_regex(r"[0-9]{1,6}", fullmatch=True), mark=st.sampled_from(MARKS),
       prefix=st.sampled_from(["+86 ", "0086-", "86", "+86 (0)", "0"]), spaced=st.booleans())
def test_every_form_of_a_landline_with_an_extension_has_one_key_led_by_the_switchboards(
        area: str, local: str, extension: str, mark: str, prefix: str, spaced: bool) -> None:
    gap = " " if spaced else ""
    typed = f"{prefix}{area}{gap}{local}{gap}{mark}{gap}{extension}"
    number = q.phone_reversed(f"0{area}-{local}")
    assert number == f"0{area}{local}"[::-1]
    assert q.phone_reversed(typed) == f"{number}#{extension}"
    # Its dashed form is the same, unless the dash's digits complete a 7-digit local number to 8 (010-2000000-0
    # is 010-20000000 too): then the whole number, not an extension.
    whole = len(local) == 7 and len(extension) == 1
    assert q.phone_reversed(f"0{area}-{local}-{extension}") == (
        f"0{area}{local}{extension}"[::-1] if whole else f"{number}#{extension}")


# -- m039 on a database whose stored keys ran an extension into the number ------------------------------

M039 = "m039_caller_extension"
STORED = {"r-intl": "+86 755 8888 9999 转 801", "r-national": "0755-8888 9999-801", "r-ext": "0755 88889999 ext. 802",
          "r-board": "0755-8888 9999", "r-mobile": "13800138000", "r-none": None, "r-array": ["0755", "转 801"],
          "r-masked": "138xxxx8000", "r-fax": "0755-8888 9999 / fax 0755-8888 9998"}


def _requests_before_m039(db: Any, mark: str) -> None:
    # As m038 left them: every digit last first, the extension's among them (a landline's national form, m037).
    for n, (request_id, phone) in enumerate(STORED.items()):
        fields = {"site_id": SITE, "status": "received"} | ({} if phone is None else {"caller_phone": phone})
        digits = q.national_digits("".join(c for c in phone if c.isdigit()))[::-1] if isinstance(phone, str) else None
        db.execute(f"INSERT INTO rows(collection, id, site_id, fields, clocks, version, updated_ms)"
                   f" VALUES ({', '.join([mark] * 7)})",
                   ["service_requests", request_id, SITE, json.dumps(fields), "{}", n + 1, 0])
        db.execute(f"INSERT INTO service_clocks(request_id, site_id, status, reported_ms, open, breached, computed_ms,"
                   f" phone_reversed) VALUES ({', '.join([mark] * 8)})",
                   [request_id, SITE, "received", n, 1, 0, 0, digits])


# The number with extension 801; the switchboard's tail; the last four of 138xxxx8000; the fax number's tail.
TAILS = ("999988885570#801", "99998888", "0008", "89998888")
EXPECTED = {"kept": {"r-intl": "999988885570#801", "r-national": "999988885570#801", "r-ext": "999988885570#802",
                     "r-board": "999988885570", "r-mobile": "00083100831", "r-none": None, "r-array": None,
                     "r-masked": "0008831", "r-fax": "899988885570999988885570"},
            "listed": {"999988885570#801": ["r-intl", "r-national"],
                       "99998888": ["r-intl", "r-national", "r-ext", "r-board"],
                       "0008": ["r-mobile", "r-masked"], "89998888": ["r-fax"]}}


def test_m039_keeps_the_extensions_of_a_sqlite_databases_stored_numbers_apart(tmp_path: Path) -> None:
    # Regression (desk31): numbers stored with an extension were not found by their other form after the
    # upgrade either (8675588889999801, 075588889999801).
    path = tmp_path / "fieldsync.db"
    assert found_after_upgrade(upgraded(path, M039, _requests_before_m039), TAILS) == EXPECTED
    # The step again over what it wrote (a step is recorded once; its rule is run again here): nothing changes.
    database = SQLITE.open(path)
    try:
        with database.write() as db:
            m039_caller_extension(sqlite_utils.Database(db))
            assert dict(db.execute("SELECT request_id, phone_reversed FROM service_clocks").fetchall()) == \
                EXPECTED["kept"]
    finally:
        database.close()


def test_m039_keeps_the_extensions_of_a_postgresql_databases_stored_numbers_apart(pg_url: str) -> None:
    assert found_after_upgrade(upgraded(pg_url, M039, _requests_before_m039), TAILS) == EXPECTED
    # Regression (fixdesk31, item 3): "again" only read the keys. The step again over what it wrote (a step is
    # recorded once; it is run again here, in a transaction): nothing changes.
    with psycopg.connect(pg_url) as conn, conn.transaction():
        _caller_extension(conn)
        assert dict(conn.execute("SELECT request_id, phone_reversed FROM service_clocks").fetchall()) == \
            EXPECTED["kept"]

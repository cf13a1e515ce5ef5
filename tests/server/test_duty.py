"""The on-call duty over HTTP and push (issue 13, item 6): the roster, duty calls with `on_duty`
derived in the write transaction, who is on duty, and the month's log with its open follow-ups.

Local times are Shanghai's (UTC+8): Saturday 2026-11-07 21:00 is 13:00Z, on call.
"""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from sync import hlc
from sync.duty import roster_id
from tests.conftest import OTHER_SITE, Session
from tests.helpers import problem

SATURDAY_EVENING = "2026-11-07T13:00:00.000Z"  # 21:00 local: on call
MONDAY_NOON = "2026-11-09T04:00:00.000Z"  # 12:00 local: office hours
NOVEMBER = roster_id("2026-M11")
LOGGED = {"outcome": "solved_by_phone", "duration_s": 120}  # every call is logged with both (seed line 426)


def _push(session: Session, collection: str, row_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    [result] = session.push([session.change(collection, row_id, fields)]).json()["results"]
    return dict(result)


def _call(session: Session, **fields: Any) -> str:
    call_id = str(uuid.uuid4())
    result = _push(session, "duty_calls", call_id, {"received_at": SATURDAY_EVENING, **LOGGED, **fields})
    assert result["status"] == "applied", result
    return call_id


def _log(session: Session, month: str = "2026-M11") -> dict[str, Any]:
    answer = session.http.get("/api/duty/log", headers=session.headers, params={"month": month})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def _rows(session: Session) -> dict[str, dict[str, Any]]:
    return {r["id"]: r["fields"] for r in session.pull().json()["rows"] if r["collection"] == "duty_calls"}


def test_a_call_gets_the_rostered_technician_and_a_late_roster_fills_it_in(site, wang, lin):
    early = _call(wang, caller_name="李先生", outcome="solved_by_phone", duration_s=300)
    assert "on_duty" not in _rows(wang)[early]  # no roster for November yet
    assert _push(lin, "duty_roster", NOVEMBER, {"month": "2026-M11", "technician": "wang"})["status"] == "applied"
    office = _call(wang, received_at=MONDAY_NOON, outcome="not_ours")
    rows = _rows(wang)
    assert rows[early]["on_duty"] == "wang"  # derived again when the roster arrived
    assert rows[early]["logged_by"] == "wang"
    assert "on_duty" not in rows[office]  # office hours: nobody is on duty
    # The roster changes hands: the month's calls follow it.
    assert _push(lin, "duty_roster", NOVEMBER, {"technician": "zhao"})["status"] == "applied"
    assert _rows(wang)[early]["on_duty"] == "zhao"


def test_a_phone_with_a_wrong_clock_names_who_was_really_on_duty(site, wang, lin):
    # Regression (noticed in issue 13/14): a call's `received_at` was kept as the phone sent it and `on_duty`
    # followed it, so a phone an hour fast named nobody at 21:45 (22:45 by its clock, past the on-call hours),
    # and filed a call of 23:30 on 30 November under December. Now it is corrected as service events are.
    assert _push(lin, "duty_roster", NOVEMBER, {"month": "2026-M11", "technician": "wang"})["status"] == "applied"
    evening, midnight = str(uuid.uuid4()), str(uuid.uuid4())
    fast = hlc.wall_ms() + 3_600_000
    body = wang.push([wang.change("duty_calls", evening, {"received_at": "2026-11-07T14:45:00.000Z", **LOGGED}),  # 22:45 local
                      wang.change("duty_calls", midnight, {"received_at": "2026-11-30T16:30:00.000Z", **LOGGED})],  # 1 Dec 00:30
                     client_time=hlc.format_ts(fast)).json()
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]
    rows = _rows(wang)
    assert rows[evening]["received_at"] == "2026-11-07T14:45:00.000Z"  # what the phone sent stays
    assert rows[evening]["clock"] == "corrected"
    assert hlc.parse_ts(rows[evening]["effective_at"]) == hlc.parse_ts("2026-11-07T14:45:00.000Z") + body[
        "clock_offset_ms"]
    assert rows[evening]["on_duty"] == "wang"
    november = {c["id"]: c for c in _log(wang)["calls"]}
    assert set(november) == {evening, midnight} and not _log(wang, "2026-M12")["calls"]
    assert november[midnight]["received_local"].startswith("2026-11-30 23:")
    # A time after the server received it: clamped to the receipt, and logged with both times.
    future = str(uuid.uuid4())
    assert _push(wang, "duty_calls", future, {"received_at": "2027-11-06T13:00:00.000Z", **LOGGED})["status"] == "applied"
    got = _rows(wang)[future]
    assert got["clock"] == "clamped" and hlc.parse_ts(got["effective_at"]) <= hlc.wall_ms()
    [entry] = [c for c in lin.http.get("/api/conflicts", headers=lin.headers).json()["conflicts"]
               if c["row_id"] == future]
    assert (entry["register"], entry["reason"], entry["old_value"]) == (
        "effective_at", "clock_clamped", "2027-11-06T13:00:00.000Z")


def test_the_roster_is_one_row_a_month_written_by_supervisors(site, wang, lin):
    other_id = _push(lin, "duty_roster", str(uuid.uuid4()), {"month": "2026-M11", "technician": "wang"})
    assert (other_id["status"], other_id["reason"]) == ("rejected", "invalid_field")  # only the month's id
    assert _push(wang, "duty_roster", NOVEMBER, {"month": "2026-M11", "technician": "wang"})["reason"] == "forbidden"
    assert _push(lin, "duty_roster", NOVEMBER, {"month": "2026-M11", "technician": "wang"})["status"] == "applied"
    assert _push(lin, "duty_roster", NOVEMBER, {"month": "2026-M12"})["reason"] == "immutable"
    # Every client reads the roster: the duty phone decides offline who is on call.
    assert NOVEMBER in {r["id"] for r in wang.pull().json()["rows"] if r["collection"] == "duty_roster"}


def test_a_roster_names_a_technician_or_is_refused(site, store, wang, zhao, lin):
    # Regression (noticed in issue 13/14): a roster naming nobody (a typo) was stored, and silently nobody was
    # on duty all month. Now it is refused, as an assignee who is not a member is; so is a supervisor, or a
    # technician whose account is disabled. A roster already naming someone may still change its hours.
    store.update_user("zhao", disabled=True)
    for name in ("wnag", "lin", "zhao", "x" * 200):
        refused = _push(lin, "duty_roster", NOVEMBER, {"month": "2026-M11", "technician": name})
        assert (refused["status"], refused["reason"]) == ("rejected", "invalid_field"), name
        assert name[:60] in refused["detail"] and len(refused["detail"]) < 200
    assert NOVEMBER not in {r["id"] for r in lin.pull().json()["rows"]}
    assert _push(lin, "duty_roster", NOVEMBER, {"month": "2026-M11", "technician": "wang"})["status"] == "applied"
    assert _push(lin, "duty_roster", NOVEMBER, {"technician": "wnag"})["reason"] == "invalid_field"
    assert _push(lin, "duty_roster", NOVEMBER, {"until": "21:00"})["status"] == "applied"
    assert _call(wang, outcome="not_ours") in {c["id"] for c in _log(wang)["calls"] if c["on_duty"] == "wang"}


def test_who_is_on_duty_over_http(site, wang, lin, chen):
    _push(lin, "duty_roster", NOVEMBER, {"month": "2026-M11", "technician": "wang"})
    # (technician, why nobody is, till when): the added `state` and `until` tell the nulls apart
    cases = {"2026-11-06T23:59:00.000Z": (None, "off_hours", None),  # Saturday 07:59 local
             "2026-11-07T00:00:00.000Z": ("wang", "on_call", "22:30"),  # 08:00, a Saturday: till the hours' end
             "2026-11-07T14:30:00.000Z": ("wang", "on_call", "22:30"),  # 22:30
             "2026-11-07T14:31:00.000Z": (None, "off_hours", None),  # 22:31
             "2026-11-09T00:10:00.000Z": ("wang", "on_call", "08:30"),  # Monday 08:10: till the office opens
             MONDAY_NOON: (None, "office_hours", None)}
    for at, (technician, state, until) in cases.items():
        for session in (wang, chen):
            answer = session.http.get("/api/duty", headers=session.headers, params={"at": at})
            assert answer.json() == {"at": at, "technician": technician, "state": state, "until": until}
    # Regression (no 500 for what a client sends): the end of 9999 (and the year 0) has no month in Shanghai.
    for bad in ("tonight", "9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00.000Z", "1969-12-31T12:00:00.000Z"):
        problem(wang.http.get("/api/duty", headers=wang.headers, params={"at": bad}), 400, "invalid_filter")
    december = wang.http.get("/api/duty", headers=wang.headers, params={"at": "2026-12-05T13:00:00Z"}).json()
    assert (december["technician"], december["state"]) == (None, "no_roster")  # on-call hours, no roster


def test_at_takes_rfc_3339_with_or_without_a_fraction_and_with_an_offset(site, wang, lin):
    # Regression (s26-desk3 item 3): only the millisecond form was taken; 2026-11-07T13:00:00Z was a 400.
    _push(lin, "duty_roster", NOVEMBER, {"month": "2026-M11", "technician": "wang"})
    for at in ("2026-11-07T13:00:00Z", "2026-11-07T13:00:00.0Z", "2026-11-07T21:00:00+08:00",
               "2026-11-07T21:00:00.000000+08:00", "2026-11-07T08:00:00-05:00"):
        answer = wang.http.get("/api/duty", headers=wang.headers, params={"at": at})
        assert answer.status_code == 200, (at, answer.text)
        assert answer.json()["at"] == SATURDAY_EVENING, at
        assert answer.json()["technician"] == "wang", at
    # a `+` typed unencoded in the URL arrives as a space: in the offset's place it is read as `+`
    answer = wang.http.get("/api/duty?at=2026-11-07T21:00:00+08:00", headers=wang.headers)
    assert answer.json()["at"] == SATURDAY_EVENING


def test_a_call_without_a_site_is_its_loggers_own(site, store, wang, zhao, lin, chen):
    # Regression (issue 13): a row without a site was nobody's: the technician who logged it never got it
    # back, and any technician who learnt its id could change it (a site-less row was never outside scope).
    store.write_server_changes([("sites", OTHER_SITE, {"name": "School", "tz": "Asia/Shanghai"}, False)])
    own = _call(wang, outcome="follow_up", summary="门禁打不开")
    at_school = _call(zhao, site_id=OTHER_SITE, outcome="follow_up")
    assert own in _rows(wang) and own not in _rows(zhao)
    assert at_school in _rows(zhao) and at_school not in _rows(wang)
    assert own in _rows(lin) and own in _rows(chen)
    changed = _push(zhao, "duty_calls", own, {"received_at": SATURDAY_EVENING, "summary": "mine now", **LOGGED})
    assert (changed["status"], changed["reason"]) == ("rejected", "forbidden")
    followed = _push(zhao, "duty_calls", str(uuid.uuid4()), {"received_at": SATURDAY_EVENING, "follows_id": own, **LOGGED})
    assert (followed["status"], followed["reason"]) == ("rejected", "unknown_parent")  # as if it did not exist
    assert _rows(wang)[own]["summary"] == "门禁打不开"
    # The log: a technician sees their sites' calls and their own; the desk and supervisors every call.
    assert [c["id"] for c in _log(wang)["calls"]] == [own]
    assert [c["id"] for c in _log(zhao)["calls"]] == [at_school]
    assert {c["id"] for c in _log(chen)["calls"]} == {own, at_school} == {c["id"] for c in _log(lin)["unresolved"]}


def test_a_follow_up_stays_open_until_a_later_call_or_a_request_resolves_it(site, wang, chen):
    october = _call(wang, received_at="2026-10-31T12:00:00.000Z", outcome="follow_up")
    first = _call(wang, outcome="follow_up", summary="录像机报警")
    assert [c["id"] for c in _log(wang)["unresolved"]] == [october, first]
    assert october not in [c["id"] for c in _log(wang)["calls"]]  # October's call, still open in November
    # A call that follows up another, and needs following up in turn: it is the one still open.
    second = _call(wang, received_at="2026-11-08T02:00:00.000Z", outcome="follow_up", follows_id=first)
    assert [c["id"] for c in _log(wang)["unresolved"]] == [october, second]
    _call(wang, received_at="2026-11-08T03:00:00.000Z", outcome="solved_by_phone", follows_id=second)
    # A request opened for October's call resolves it.
    request = str(uuid.uuid4())
    assert _push(chen, "service_requests", request, {"site_id": site["site"], "reported_at": SATURDAY_EVENING,
                                                     "channel": "duty_call", "kind": "repair"})["status"] == "applied"
    assert _push(wang, "duty_calls", october, {"request_id": request})["status"] == "applied"
    log = _log(wang)
    assert log["unresolved"] == []
    assert [(c["id"], c["outcome"]) for c in log["calls"]][:2] == [(first, "follow_up"), (second, "follow_up")]
    assert log["calls"][0]["received_local"] == "2026-11-07 21:00:00"


def test_the_log_as_csv_opens_in_excel_with_chinese_and_no_formulas(site, wang, chen):
    # Regression (issue 13): a caller's name is anyone's text; in a spreadsheet `=...` would run as a formula.
    call = _call(wang, caller_name="=HYPERLINK(\"http://x\")", summary="门禁打不开", outcome="follow_up",
                 duration_s=95)
    answer = chen.http.get("/api/duty/log", headers=chen.headers, params={"month": "2026-M11", "format": "csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "text/csv; charset=utf-8"
    assert answer.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(answer.content.decode("utf-8-sig"))))
    assert [(r["list"], r["id"]) for r in rows] == [("call", call), ("unresolved", call)]
    assert rows[0]["summary"] == "门禁打不开" and rows[0]["duration_s"] == "95"
    assert rows[0]["caller_name"] == "'=HYPERLINK(\"http://x\")"


def test_a_bad_month_or_format_is_a_400(site, wang):
    for params in ({"month": "2026-Q4"}, {"month": "2026-M13"}, {}, {"month": "2026-M11", "format": "xlsx"}):
        problem(wang.http.get("/api/duty/log", headers=wang.headers, params=params), 400, "invalid_filter")


def test_every_duty_call_is_logged_with_its_outcome_and_duration_seed_426(site, wang):
    # Seed line 426 (值班人员须记录每一通电话的处理结果，并记录通话时长) and domain.md "On-call duty":
    # a call pushed without them was applied, and the month's log handed on showed blanks.
    for missing in ("outcome", "duration_s"):
        fields = {"received_at": SATURDAY_EVENING, **{k: v for k, v in LOGGED.items() if k != missing}}
        refused = _push(wang, "duty_calls", str(uuid.uuid4()), fields)
        assert (refused["status"], refused["reason"]) == ("rejected", "invalid_field"), missing
        assert missing in refused["detail"]
    call = _call(wang, outcome="follow_up", duration_s=300)
    cleared = _push(wang, "duty_calls", call, {"outcome": None})
    assert (cleared["status"], cleared["reason"]) == ("rejected", "invalid_field")
    assert _push(wang, "duty_calls", call, {"summary": "录像机报警"})["status"] == "applied"  # the rest as before
    assert [(c["id"], c["outcome"], c["duration_s"]) for c in _log(wang)["calls"]] == [(call, "follow_up", 300)]

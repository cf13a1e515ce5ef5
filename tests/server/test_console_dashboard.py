"""The console's dashboard as a supervisor reads it (session 25, office2): a paused clock, and a calendar
that is about to end."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from server.cli import main
from sync import hlc
from sync.duty import ending_calendars, last_covered_day
from sync.workhours import Calendar
from tests.server.test_console_desk import HOUR, _event, _shanghai, console
from tests.server.test_service import open_request


def _row(http, request: str) -> str:
    return str(http.get("/console/").text.split(f"/console/service-requests/{request}")[1].split("</tr>")[0])


def test_the_dashboard_reads_a_paused_clock_as_paused_since(http, store, site, chen, monkeypatch):
    # Regression (session 25, office2, finding 2): the desk's pages read a clock an open pause stops as
    # 已暂停（自 …）, but the dashboard still read it 进行中 (in progress), as if it were running.
    now = store.now_ms()
    waiting = open_request(chen, assigned_to="wang", reported_at=hlc.format_ts(now - 2 * HOUR))
    late = open_request(chen, assigned_to="wang", reported_at=hlc.format_ts(now - 5 * HOUR))  # on_site breached
    csrf = console(http, "chen")
    monkeypatch.setattr(store, "now_ms", lambda: now - HOUR)
    for request in (waiting, late):
        assert _event(http, csrf, request, "paused", reason="no_site_access").status_code == 303
    monkeypatch.setattr(store, "now_ms", lambda: now)
    since = f"已暂停（自 {_shanghai(hlc.format_ts(now - HOUR))}）"
    row = _row(http, waiting)
    assert f'<span class="paused">{since}</span> 剩余 3 小时' in row and "进行中" not in row, row
    # A clock already late stays late (a pause rescues nothing), and the pause shows beside it.
    row = _row(http, late)
    assert "超时 1 小时" in row and since in row and "进行中" not in row, row
    # Resumed, the clock runs again and reads so.
    assert _event(http, csrf, waiting, "resumed").status_code == 303
    row = _row(http, waiting)
    assert "已暂停" not in row and "进行中 " in row, row


def _at(day: str) -> int:
    """Noon of a local day in Shanghai, in ms."""
    return int(datetime.fromisoformat(f"{day}T12:00:00+08:00").timestamp() * 1000)


def _warnings(http) -> list[str]:
    return re.findall(r'<p class="error calendar-warning">([^<]*)</p>', http.get("/console/").text)


# Regression (session 25, office2, finding 4): the office calendar (and the duty rules that name it) hold
# 2026's holidays only. From 1 January 2027 the office counts as open on holidays, nobody is on duty and the
# clocks count holidays as working time, and nothing warned anyone.
@pytest.mark.parametrize(("day", "expected"), [
    ("2026-10-31", None),  # 61 days before its last day: not yet
    ("2026-11-01", "还剩 60 天"),
    ("2026-12-07", "还剩 24 天"),
    ("2026-12-30", "还剩 1 天"),
    ("2026-12-31", "今天是最后一天"),  # it read 还剩 0 天 (session 29, yearend)
    ("2027-01-01", "已过期 1 天"),
    ("2027-01-05", "已过期 5 天"),
])
def test_the_dashboard_warns_supervisors_of_a_calendar_about_to_end(http, store, monkeypatch, day, expected):
    monkeypatch.setattr(store, "now_ms", lambda: _at(day))
    console(http, "lin")
    warnings = _warnings(http)
    if expected is None:
        assert warnings == []
        return
    [warning] = warnings
    assert "“cn-2026-office”" in warning and "2026-12-31" in warning and expected in warning, warning
    assert "fixtures/service_terms.json" in warning and "docs/operations.md" in warning
    # The service desk cannot mend it: its dashboard says nothing.
    console(http, "chen")
    assert _warnings(http) == []


def test_serve_logs_the_warning_at_start():
    # The same words in English, on `fieldsync serve`'s standard error before it serves: a real process on a
    # faked clock says them on New Year's Eve (tests/e2e/test_new_year.py, which compares them whole).
    from server.cli import _calendar_warnings

    assert _calendar_warnings(_at("2026-10-31")) == []
    [ending] = _calendar_warnings(_at("2026-12-07"))
    assert ending.startswith('The holiday calendar "cn-2026-office" ends on 2026-12-31, in 24 days.'), ending
    [ended] = _calendar_warnings(_at("2027-01-05"))
    assert ended.startswith('The holiday calendar "cn-2026-office" ended on 2026-12-31, 5 days ago.'), ended


def test_a_calendar_without_dated_days_never_ends():
    week = [((510, 1050),)] * 5 + [(), ()]
    dated = Calendar(week, frozenset({date(2027, 10, 1)}))
    assert last_covered_day(Calendar(week)) is None and last_covered_day(dated) == date(2027, 12, 31)
    assert ending_calendars({"week": Calendar(week), "dated": dated}, date(2027, 11, 1)) == [
        ("dated", date(2027, 12, 31))]


def test_serve_stops_at_start_on_a_calendar_day_it_cannot_read(tmp_path, monkeypatch, capsys, held_port):
    # A supervisor adding next year's dates by hand mistypes one: `serve` says so before serving, not a traceback.
    from server.domains.duty import service as duty

    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    terms = json.loads((duty.FIXTURES / "service_terms.json").read_text(encoding="utf-8"))
    terms["calendars"]["cn-2026-office"]["holidays"].append("2027-02-30")
    (fixtures / "service_terms.json").write_text(json.dumps(terms), encoding="utf-8")
    (fixtures / "duty.json").write_bytes((duty.FIXTURES / "duty.json").read_bytes())
    caches = (duty.calendars, duty.duty_rules, duty.duty_rules_data)
    monkeypatch.setattr(duty, "FIXTURES", fixtures)
    for cached in caches:
        cached.cache_clear()
    try:
        assert main(["init", "--data", str(tmp_path / "data")]) == 0
        assert main(["serve", "--data", str(tmp_path / "data"), "--port", held_port]) == 2
    finally:
        for cached in caches:
            cached.cache_clear()
    assert "holidays: not a date 'YYYY-MM-DD'" in capsys.readouterr().err


# Regression (session 26, office, finding 3): a site's terms may write out a calendar of their own (a
# customer's site with its own holidays); the warning read only the server's named calendars, so such a
# site's calendar ended without a word, and its clocks counted the holidays.
def test_the_dashboard_warns_of_a_calendar_a_sites_terms_write_out(http, store, site, lin, monkeypatch):
    office = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "service_terms.json").read_text())
    own = {"week": office["calendars"]["cn-2026-office"]["week"], "holidays": ["2026-10-01"], "source": "客户园区"}
    r = lin.http.put(f"/api/sites/{site['site']}/service-terms", headers=lin.headers,
                     json={"override": {"calendar": own}})
    assert r.status_code == 200, r.text
    monkeypatch.setattr(store, "now_ms", lambda: _at("2026-12-07"))
    console(http, "lin")
    [office_calendar, own_calendar] = _warnings(http)
    assert "“cn-2026-office”" in office_calendar
    assert "现场“Test park”" in own_calendar and "2026-12-31" in own_calendar and "还剩 24 天" in own_calendar
    assert "fieldsync terms" in own_calendar
    monkeypatch.setattr(store, "now_ms", lambda: _at("2027-01-05"))
    assert "已过期 5 天" in _warnings(http)[1]
    # A site whose terms name the server's calendar gets no second warning: the named one covers it.
    assert lin.http.put(f"/api/sites/{site['site']}/service-terms", headers=lin.headers,
                        json={"override": {"calendar": "cn-2026-office"}}).status_code == 200
    assert len(_warnings(http)) == 1


def test_the_browsers_icon_request_is_answered_without_an_error(http):
    # Regression (s26-office3, item 4): every console page load's /favicon.ico was a 404 problem, an
    # error in the browser's console each time. Now an empty 204 the browser keeps for a week, signed in
    # or not.
    r = http.get("/favicon.ico")
    assert r.status_code == 204 and r.content == b""
    assert r.headers["cache-control"] == "max-age=604800, public"

"""Across New Year (session 29, yearend): what the office meets from 31 December 2026 to 1 January 2027,
Asia/Shanghai. In-process on the real app, the server's clock set through `store.now_ms`; what is about a
process's own clock is in tests/e2e/test_new_year.py (a faketime'd real server and phone)."""

from __future__ import annotations

import copy
import json
import re
import uuid
from datetime import datetime

from bench._server import ROOT
from sync import hlc, pricing
from sync.duty import roster_id
from sync.periods import previous_period
from sync.schema import inspection_id
from tests.conftest import SITE
from tests.server.test_console_periods import _inspections_table
from tests.server.test_console_site import sign_in


def _shanghai(text: str) -> int:
    """A local time in Shanghai (`2027-01-01 00:30`), in ms."""
    return int(datetime.fromisoformat(f"{text}+08:00").timestamp() * 1000)


def test_new_years_day_dashboard_keeps_the_fourth_quarters_unfinished_inspection(http, store, site, monkeypatch):
    # Regression (session 29, yearend, finding 1): the dashboard listed the inspections of the period each site
    # is in today. At 00:30 on 1 January the fourth quarter's inspection, due 20 December and never done,
    # left it (本期没有巡检。): the supervisor lost the one overdue inspection from the page, while the first
    # quarter's were not even scheduled. It stays now, marked overdue, beside the new quarter's.
    q1 = inspection_id(SITE, "2027-Q1")
    store.write_server_changes([("inspections", q1, {"site_id": SITE, "period": "2027-Q1", "status": "scheduled",
                                                     "due_on": "2027-03-20"}, False)])
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2027-01-01 00:30"))
    listed = _inspections_table(sign_in(http, "lin").get("/console/").text)
    row = listed.split(f'/console/inspections/{site["inspection"]}"')[1].split("</tr>")[0]
    assert "<td>2026-Q4</td>" in row and '2026-12-20 <span class="breached">已逾期</span>' in row, row
    assert f'/console/inspections/{q1}"' in listed
    # Done, it leaves the page with its quarter.
    store.write_server_changes([("inspections", site["inspection"], {"status": "completed"}, False)])
    listed = _inspections_table(http.get("/console/").text)
    assert site["inspection"] not in listed and q1 in listed


# Regression (session 29, fixyearend): the period before was asked for its OVERDUE inspections alone, so a fourth
# quarter's unfinished inspection whose due date a supervisor had moved into January (not overdue yet), or one
# with no due date, left the page on 1 January (本期没有巡检。) though nobody had done it.
def test_the_period_befores_unfinished_inspection_stays_whatever_its_due_date(http, store, site, lin, monkeypatch):
    pushed = lin.push([lin.change("inspections", site["inspection"], {"due_on": "2027-01-10"})])
    assert pushed.status_code == 200, pushed.text
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2027-01-02 09:00"))
    listed = _inspections_table(sign_in(http, "lin").get("/console/").text)
    row = listed.split(f'/console/inspections/{site["inspection"]}"')[1].split("</tr>")[0]
    assert "<td>2026-Q4</td>" in row and "2027-01-10</td>" in row, row  # not overdue yet: no 已逾期
    store.write_server_changes([("inspections", site["inspection"], {"due_on": None, "status": "in_progress"}, False)])
    assert site["inspection"] in _inspections_table(http.get("/console/").text)
    # Done, it leaves with its quarter; two quarters back it is not the period before.
    store.write_server_changes([("inspections", site["inspection"], {"status": "signed"}, False)])
    assert "本期没有巡检。" in http.get("/console/").text
    store.write_server_changes([("inspections", site["inspection"], {"status": "in_progress"}, False)])
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2027-04-01 09:00"))
    assert "本期没有巡检。" in http.get("/console/").text


def test_the_period_before_crosses_the_year():
    assert [previous_period(p) for p in ("2027-Q1", "2027-H1", "2027-M1", "2026-M12")] == [
        "2026-Q4", "2026-H2", "2026-M12", "2026-M11"]


def test_the_calendar_warning_reads_well_on_its_last_day_and_the_next():
    # Regression (session 29, yearend, finding 2): on New Year's Eve the warning said the calendar "ends on
    # 2026-12-31, in 0 days" (还剩 0 天 on the dashboard), and on New Year's Day "ended on 2026-12-31, 1 days ago";
    # the same words are `fieldsync serve`'s at start (a real process at New Year: test_new_year.py).
    from server.cli import _calendar_warnings

    said = {day: _calendar_warnings(_shanghai(f"{day} 12:00"))[0].split(". ")[0]
            for day in ("2026-12-30", "2026-12-31", "2027-01-01", "2027-01-02")}
    assert said == {"2026-12-30": 'The holiday calendar "cn-2026-office" ends on 2026-12-31, tomorrow',
                    "2026-12-31": 'The holiday calendar "cn-2026-office" ends on 2026-12-31, today',
                    "2027-01-01": 'The holiday calendar "cn-2026-office" ended on 2026-12-31, yesterday',
                    "2027-01-02": 'The holiday calendar "cn-2026-office" ended on 2026-12-31, 2 days ago'}, said


def _next_roster(http) -> str:
    page = http.get("/console/").text
    return page.split('id="next-roster">')[1].split("</p>")[0] if 'id="next-roster"' in page else ""


def test_the_dashboard_asks_for_next_months_roster_in_the_last_week(http, store, monkeypatch):
    # Regression (session 29, yearend, finding 3): nothing asked for January's duty roster before January: on
    # New Year's Eve the dashboard read 值班：王工 (December's), and from 00:00 on 1 January (a public holiday,
    # on call all day once the calendar knows it) nobody answered the duty phone until someone noticed
    # 本月未排班. In a month's last week the supervisor's dashboard now asks for the next month's.
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2026-12-31 20:00"))
    console = sign_in(http, "lin")
    warning = _next_roster(console)
    assert "下月（2027-01）还没有排值班" in warning and 'href="/console/reports?month=2027-01#roster"' in warning, warning
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2026-12-24 20:00"))  # a week and more to go: not yet
    assert _next_roster(console) == ""
    sign_in(http, "chen")  # the desk cannot roster: not on its dashboard
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2026-12-31 20:00"))
    assert _next_roster(http) == ""
    store.write_server_changes([("duty_roster", roster_id("2027-M1"), {"month": "2027-M1", "technician": "wang"},
                                 False)])
    assert _next_roster(sign_in(http, "lin")) == ""


def test_a_bill_and_a_warranty_across_midnight_follow_the_sites_day():
    # Walked, not mended (session 29, yearend): the schedule in force and the warranty phase are read on the site's
    # local day, 23:50 on 31 December being 15:50 UTC, whichever day the phone syncs. A 2027 revision is a new
    # schedule (docs/operations.md, "New Year"); a warranty from 2025-01-01 for 24 months ends on 2026-12-31.
    data = json.loads((ROOT / "fixtures" / "fee_schedules.json").read_text())
    revised = {**copy.deepcopy(data["schedules"][-1]), "effective_from": "2027-01-01"}
    revised["itemised"]["labour"] += 2_000
    book = pricing.load({**data, "schedules": [*data["schedules"], revised]}, strict=True)
    site = {"tz": "Asia/Shanghai", "contract": "per_visit", "zone": "urban", "accepted_on": "2025-01-01",
            "warranty_months": 24}
    device = {"system": "video", "kind": "dome_camera"}

    def context(at: str) -> pricing.Context:
        stamp = hlc.format_ts(_shanghai(at))
        return pricing.context(book, site=site, request={"reported_at": stamp}, visit={"recorded_at": stamp},
                               device=device)

    eve, day = context("2026-12-31 23:50"), context("2027-01-01 00:10")
    assert (eve.phase, day.phase) == ("repair", "expired")
    assert (eve.schedule.effective_from, day.schedule.effective_from) == (data["schedules"][-1]["effective_from"],
                                                                          "2027-01-01")


def _history(text: str) -> tuple[str, str]:
    """The site page's year switch and its list of inspections (or the line saying there are none)."""
    years, rest = text.split('id="history-years">')[1].split("</p>", 1)
    return years, rest.split('<h2 id="members">')[0]


def test_on_new_years_day_a_sites_history_opens_on_the_last_twelve_months(http, store, site, monkeypatch):
    # Regression (session 30, office30, item 1): a site page's history opened on the year of the shown period: at
    # 00:30 on 1 January, 2027, where nothing was done yet (该年没有巡检记录。), while all of last quarter's work
    # was a click away. It opens on the last twelve months now (the periods ending on or after this day a year
    # ago, in the site's zone by the store's clock), with the year switch kept beside it.
    store.write_server_changes([
        ("inspections", inspection_id(SITE, p), {"site_id": SITE, "period": p, "status": "completed",
                                                 "assigned_to": "wang"}, False)
        for p in ("2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3")])
    store.write_server_changes([("inspections", site["inspection"], {"status": "completed"}, False)])
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2027-01-01 00:30"))
    console = sign_in(http, "lin")
    years, listed = _history(console.get(f"/console/sites/{SITE}").text)
    assert [p for p in ("2025-Q3", "2025-Q4", "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4") if p in listed] == [
        "2026-Q1", "2026-Q2", "2026-Q3", "2026-Q4"], listed
    assert "<b>近 12 个月</b>" in years and '<a href="?year=2026">2026</a>' in years, years
    assert '<a href="?year=2025">2025</a>' in years and "2027" not in years, years
    # A year chosen keeps to it: its period links carry it, and 近 12 个月 leads back.
    years, listed = _history(console.get(f"/console/sites/{SITE}", params={"year": "2025"}).text)
    assert "2025-Q3" in listed and "2025-Q4" in listed and "2026-Q" not in listed, listed
    assert f'<a href="/console/sites/{SITE}">近 12 个月</a>' in years and "<b>2025</b>" in years, years
    assert 'href="?period=2025-Q4&amp;year=2025#coverage"' in listed
    years, listed = _history(console.get(f"/console/sites/{SITE}", params={"year": "2025", "period": "2025-Q4"}).text)
    assert f'<a href="/console/sites/{SITE}?period=2025-Q4">近 12 个月</a>' in years, years
    # The first quarter scheduled: listed beside last year's, not alone.
    q1 = inspection_id(SITE, "2027-Q1")
    store.write_server_changes([("inspections", q1, {"site_id": SITE, "period": "2027-Q1", "status": "scheduled",
                                                     "due_on": "2027-03-20"}, False)])
    years, listed = _history(console.get(f"/console/sites/{SITE}").text)
    assert "2027-Q1" in listed and "2026-Q1" in listed and "2025-Q4" not in listed, listed
    assert '<a href="?year=2027">2027</a>' in years
    # A year before the first: the last twelve months can be empty, and says so.
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2029-01-01 00:30"))
    years, listed = _history(console.get(f"/console/sites/{SITE}").text)
    assert "近 12 个月没有巡检记录。" in listed and '<a href="?year=2027">2027</a>' in years, listed


def _inspection_rows(text: str) -> list[tuple[str, str]]:
    """The (inspection id, due date) of each row of a page's inspections table, in order."""
    table = text.split('id="inspections"')[1].split("</table>")[0] if 'id="inspections"' in text else ""
    return re.findall(r'<a href="/console/inspections/([0-9a-f-]{36})">.*?<td>\d+/\d+</td><td>([0-9-]*)', table,
                      re.S)


def _overdue_rows(text: str) -> list[bool]:
    """Whether each row of a page's inspections table is marked overdue (已逾期), in order."""
    table = text.split('id="inspections"')[1].split("</table>")[0] if 'id="inspections"' in text else ""
    return ['class="breached">已逾期<' in row for row in table.split("<tr>")[2:]]


def test_the_dashboard_lists_the_longest_overdue_inspections_first_and_pages_the_rest(http, store, site,
                                                                                     monkeypatch):
    # Regression (session 30, office30, item 3): the dashboard listed every inspection of the period each site is
    # in and every unfinished one of the period before: a company of 1,000 sites met 2,000 rows on 1 January
    # (1.0 s, the progress of each counted). It lists the first 50 now, the longest overdue first, says how many
    # more, and links the whole list, a page of 100 at a time, in the same order. (fixoffice30, item 2: with only
    # scheduled inspections this test could not see the quarter's done ones, due as early, push the overdue off.)
    parks = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"yearend-park-{n}")) for n in range(130)]
    done = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"yearend-done-{n}")) for n in range(40)]
    store.write_server_changes([
        *[("sites", park, {"name": f"园区{n:03d}", "customer": "ACME", "tz": "Asia/Shanghai"}, False)
          for n, park in enumerate(parks + done)],
        *[("inspections", inspection_id(park, "2026-Q4"), {"site_id": park, "period": "2026-Q4", "status": "completed",
                                                           "due_on": "2026-12-01"}, False) for park in done],
        *[("inspections", inspection_id(park, "2026-Q4"), {"site_id": park, "period": "2026-Q4", "status": "scheduled",
                                                           "due_on": f"2026-12-{1 + n * 7 % 28:02d}"}, False)
          for n, park in enumerate(parks)],
        *[("inspections", inspection_id(park, "2027-Q1"), {"site_id": park, "period": "2027-Q1", "status": "scheduled",
                                                           "due_on": "2027-03-20"}, False) for park in parks[:10]]])
    # On 29 December all 131 unfinished of the quarter are overdue, and 40 done ones are due as early as any.
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2026-12-29 09:00"))
    console = sign_in(http, "lin")
    dashboard = console.get("/console/").text
    shown = _inspection_rows(dashboard)
    assert _overdue_rows(dashboard) == [True] * 50 and "还有 121 张未列出。" in dashboard
    assert shown[0][1] == "2026-12-01" and [due for _, due in shown] == sorted(due for _, due in shown)
    every = [*_inspection_rows(console.get("/console/inspections").text),
             *_inspection_rows(console.get("/console/inspections", params={"page": "2"}).text)]
    assert {i for i, _ in every[131:]} == {inspection_id(park, "2026-Q4") for park in done} and len(every) == 171
    # On 2 January the done ones leave with their quarter; the first quarter's join.
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2027-01-02 09:00"))
    dashboard = console.get("/console/").text
    shown = _inspection_rows(dashboard)
    assert len(shown) == 50, len(shown)
    assert "还有 91 张未列出。" in dashboard and '<a href="/console/inspections">全部巡检单</a>' in dashboard
    every = [*_inspection_rows(console.get("/console/inspections").text),
             *_inspection_rows(console.get("/console/inspections", params={"page": "2"}).text)]
    assert len(every) == len(set(every)) == 141  # 130 parks' and the test site's fourth quarter, ten first quarters
    assert every[:50] == shown and [due for _, due in every] == sorted(due for _, due in every)
    assert shown[0][1] == "2026-12-01" and every[-1][1] == "2027-03-20"
    page_two = console.get("/console/inspections", params={"page": "2"}).text
    assert "第 2 页，共 2 页（141 张）" in page_two and 'href="?page=1"' in page_two and 'id="next-page"' not in page_two
    past = console.get("/console/inspections", params={"page": "3"})
    assert past.status_code == 404 and _inspection_rows(past.text) == []
    for bad in ("0", "x", "²", "1" * 7):
        assert console.get("/console/inspections", params={"page": bad}).status_code == 400, bad
    # A technician's list is his sites': the test site's one quarter, and no line of more.
    listed = sign_in(http, "wang").get("/console/").text
    assert [i for i, _ in _inspection_rows(listed)] == [site["inspection"]] and 'id="more-inspections"' not in listed


def test_the_dashboard_lists_overdue_inspections_before_this_periods_done_ones(http, store, site, lin, monkeypatch):
    # Regression (session 30, fixoffice30, item 1): the dashboard's first 50 were the first by due date whatever
    # the state, so the quarter's completed and signed inspections, due the same day as the overdue ones, sat
    # among them and pushed overdue work off the page (at 300 sites, half done, all due 5 December: 25 overdue
    # shown, 126 behind 全部巡检单). Overdue first now, then the unfinished, then those done; the API keeps its
    # order (due date, then sheet number).
    parks = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"due-first-park-{n}")) for n in range(120)]
    store.write_server_changes([
        *[("sites", park, {"name": f"园区{n:03d}", "customer": "ACME", "tz": "Asia/Shanghai"}, False)
          for n, park in enumerate(parks)],
        *[("inspections", inspection_id(park, "2026-Q4"), {
            "site_id": park, "period": "2026-Q4", "status": ("completed", "signed", "scheduled", "in_progress")[n % 4],
            "due_on": "2026-12-05", "sheet_no": f"PM-2026-{n:05d}"}, False) for n, park in enumerate(parks)]])
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2026-12-07 09:00"))
    console = sign_in(http, "lin")
    assert _overdue_rows(console.get("/console/").text) == [True] * 50
    pages = [console.get("/console/inspections", params={"page": p}).text for p in ("1", "2")]
    every = [row for page in pages for row in _inspection_rows(page)]
    overdue = [flag for page in pages for flag in _overdue_rows(page)]
    # 60 overdue, then the test site's (due 20 December, not overdue yet), then the 60 done.
    assert overdue == [True] * 60 + [False] * 61 and every[60] == (site["inspection"], "2026-12-20"), every[58:62]
    done = {inspection_id(park, "2026-Q4") for n, park in enumerate(parks) if n % 4 < 2}
    assert {i for i, _ in every[61:]} == done
    listed = lin.http.get("/api/inspections", headers=lin.headers, params={"period": "2026-Q4"}).json()["inspections"]
    assert [i["id"] for i in listed] == [*(inspection_id(park, "2026-Q4") for park in parks), site["inspection"]]


def test_the_new_year_runbook_says_the_dashboard_shows_the_first_inspections_and_where_the_rest_are():
    # Regression (session 30, fixoffice30, item 3): docs/operations.md's New Year step said the fourth quarter's
    # unfinished inspections "stay on the dashboard until done": since office30 only its first 50 do, the rest
    # behind 全部巡检单 (/console/inspections). The step names the page's limit, its link and the list's words.
    from server.domains.console.pages import DASHBOARD_INSPECTIONS, INSPECTIONS_PER_PAGE
    from sync.messages import words

    runbook = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    step = " ".join(runbook.split("3. **The first quarter's inspections**")[1].split("\n4. ")[0].split())
    t = words("console", "zh")
    assert f"first {DASHBOARD_INSPECTIONS}" in step and f"{INSPECTIONS_PER_PAGE} a page" in step, step
    assert f"{t['all_inspections']} (`/console/inspections`" in step, step
    assert t["more_inspections"].format(n="N") in step and "stay on the dashboard until done" not in step, step


def test_a_page_of_the_inspections_list_past_the_last_says_so_and_links_the_last(http, store, site, monkeypatch):
    # Regression (session 30, fixoffice30, item 4): /console/inspections?page=99 read 第 99 页，共 4 页 and then
    # 本期没有巡检。 when there were 302: as if nothing were due. A page past the last is a 404 page now, saying
    # there is no such page and how many there are, with a link to the last (catalogue words, Chinese first).
    parks = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"past-last-park-{n}")) for n in range(150)]
    store.write_server_changes([
        *[("sites", park, {"name": f"园区{n:03d}", "customer": "ACME", "tz": "Asia/Shanghai"}, False)
          for n, park in enumerate(parks)],
        *[("inspections", inspection_id(park, "2026-Q4"), {"site_id": park, "period": "2026-Q4", "status": "scheduled",
                                                           "due_on": "2026-12-20"}, False) for park in parks]])
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2026-12-07 09:00"))
    console = sign_in(http, "lin")
    last = console.get("/console/inspections", params={"page": "2"})
    assert last.status_code == 200 and len(_inspection_rows(last.text)) == 51, last.text  # 151: 100 and 51
    past = console.get("/console/inspections", params={"page": "99"})
    assert past.status_code == 404, past.status_code
    assert "没有第 99 页：共 2 页（151 张）。" in past.text and '<a id="last-page" href="?page=2">' in past.text, past.text
    assert "本期没有巡检。" not in past.text and "第 99 页，共" not in past.text and 'id="prev-page"' not in past.text
    english = console.get("/console/inspections", params={"page": "99", "lang": "en"}).text
    assert "There is no page 99: 2 pages (151 inspections)." in english and "Last page (page 2)" in english
    # With none at all (in April, the fourth quarter two periods back), page 1 says so as before and page 2 leads
    # back to it.
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2027-04-01 09:00"))
    empty = console.get("/console/inspections", params={"lang": "zh"})
    assert empty.status_code == 200 and "本期没有巡检。" in empty.text and "第 1 页，共 1 页（0 张）" in empty.text
    past = console.get("/console/inspections", params={"page": "2"})
    assert past.status_code == 404 and '<a id="last-page" href="?page=1">' in past.text, past.text

"""A site's page on New Year's Day (session 32, yearend32): it opens on the coverage of the work still to do."""

from __future__ import annotations

from datetime import datetime

from sync.schema import inspection_id
from tests.conftest import SITE
from tests.server import test_sealing as sealing
from tests.server.test_console_periods import _coverage_heading
from tests.server.test_console_site import sign_in


def _shanghai(text: str) -> int:
    return int(datetime.fromisoformat(f"{text}+08:00").timestamp() * 1000)


def _counts(page: str) -> dict[str, str]:
    found = page.split('id="counts"')[1].split("</ul>")[0]
    return {part.split('"')[0]: part.split(">")[1].split("<")[0] for part in found.split('data-count="')[1:]}


def _new_years_day(http, store, site, wang, monkeypatch):
    """00:10 on 1 January, the fourth quarter's inspection one camera of two checked: lin's console."""
    assert sealing._results(wang.push([sealing._check(wang, site["inspection"], site["cam1"], "wang")])) == [
        ("applied", None)]
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2027-01-01 00:10"))
    return sign_in(http, "lin")


def test_on_new_years_day_a_site_page_opens_on_the_unfinished_fourth_quarter_until_the_first_is_scheduled(
        http, store, site, wang, monkeypatch):
    # Regression (session 32, yearend32): at 00:10 on 1 January the site's page opened on 2027-Q1, "2027-Q1 没有
    # 巡检单：下列设备均显示未检查", every camera unchecked, while the fourth quarter's inspection, one camera of two
    # checked, was the work still to do (the dashboard lists it, overdue). Until the first quarter has an
    # inspection the page opens on the quarter before while that one is not done, says so, and links 2027-Q1.
    console = _new_years_day(http, store, site, wang, monkeypatch)
    page = console.get(f"/console/sites/{SITE}").text
    assert '<h2 id="coverage">2026-Q4 覆盖</h2>' in page
    assert (_counts(page)["serviced"], _counts(page)["not_checked"]) == ("1", "1")
    assert "本期还没有巡检单，上期（2026-Q4）的巡检还没有完成：先显示上期的覆盖。" in page
    assert f'href="/console/sites/{SITE}?period=2027-Q1#coverage" id="current-period"' in page
    asked = console.get(f"/console/sites/{SITE}", params={"period": "2027-Q1"}).text  # the link: the new quarter
    assert _coverage_heading(asked) == "2027-Q1" and 'id="no-inspection"' in asked and 'id="before-unfinished"' not in asked

    # Once 2027-Q1 is scheduled (fieldsync schedule), the page opens on it; the fourth quarter is in its history.
    store.write_server_changes([("inspections", inspection_id(SITE, "2027-Q1"), {
        "site_id": SITE, "period": "2027-Q1", "status": "scheduled", "due_on": "2027-03-20"}, False)])
    page = console.get(f"/console/sites/{SITE}").text
    assert _coverage_heading(page) == "2027-Q1" and 'id="before-unfinished"' not in page
    # A fourth quarter finished before midnight leaves the first quarter's page as it was (nothing scheduled).
    store.write_server_changes([("inspections", inspection_id(SITE, "2027-Q1"), {}, True),
                                ("inspections", site["inspection"], {"status": "completed"}, False)])
    page = console.get(f"/console/sites/{SITE}").text
    assert _coverage_heading(page) == "2027-Q1" and 'id="no-inspection"' in page and 'id="before-unfinished"' not in page


def _current_period_link(page: str) -> str:
    return page.split('id="current-period"')[0].rsplit('href="', 1)[1].split('"')[0].split("#")[0]


def test_the_link_back_to_this_period_leads_there_from_a_filtered_or_history_page_on_new_years_day(
        http, store, site, wang, monkeypatch):
    # Regression (fixyearend32, review item 3): the page opening on 2026-Q4 on New Year's Day, its filter form
    # carries period=2026-Q4 (and a history link names its period); on those pages "回到本期（2027-Q1）" linked the
    # bare site page, which opens on 2026-Q4 again. It names today's period whenever the page shows another.
    console = _new_years_day(http, store, site, wang, monkeypatch)
    filtered = console.get(f"/console/sites/{SITE}", params={"period": "2026-Q4", "outcome": "not_checked"}).text
    assert '<h2 id="coverage">2026-Q4 覆盖</h2>' in filtered and 'id="before-unfinished"' not in filtered
    followed = console.get(_current_period_link(filtered)).text
    assert _coverage_heading(followed) == "2027-Q1" and 'id="current-period"' not in followed

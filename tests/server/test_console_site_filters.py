"""The console's site page: the coverage's `?period=` against the site's plan, its kind filter, the year
links and filter form keeping each other's choice; a repeated form field; the signed bytes' caching
(s27-fixsheet, items 4-6). In-process on the real app (`http`), over a real SQLite file."""

from __future__ import annotations

import hashlib
from typing import Any

from server.domains.inspections.schemas import Plan
from server.domains.inspections.service import Inspections
from sync.schema import device_check_id, inspection_id
from tests.conftest import SITE
from tests.server import test_sealing as sealing
from tests.server.test_console_desk import ORIGIN, console


def test_a_period_of_another_plan_is_refused_and_a_period_without_inspection_says_so(http, store, site):
    # Regression (s27-fixsheet, item 4): ?period=2026-M11 on a quarterly site was 200 "2026-M11 覆盖" with every
    # device unchecked: a supervisor read "nothing was done" of a period the site never has.
    console(http, "lin")
    for period in ("2026-M11", "2026-H2"):
        r = http.get(f"/console/sites/{SITE}", params={"period": period})
        assert r.status_code == 400, period
        assert f"{period} 不是该现场的维护周期：该现场按季度巡检，周期如 2026-Q4。" in r.text, r.text
        assert "覆盖" not in r.text and "invalid_filter" in r.text
    # A period of its plan without an inspection (far ahead, or never scheduled) is shown, and says so.
    for period in ("2099-Q1", "2025-Q1"):
        page = http.get(f"/console/sites/{SITE}", params={"period": period}).text
        assert f"{period} 覆盖" in page and 'id="no-inspection"' in page, period
        assert f"{period} 没有巡检单（这一期没有安排巡检）：下列设备均显示未检查。" in page
    assert 'id="no-inspection"' not in http.get(f"/console/sites/{SITE}").text  # 2026-Q4 has its inspection
    # A monthly site takes months and refuses quarters it has no inspection of, in its own words; 2026-Q4,
    # inspected before the change, is still its own (s27-fixperiod, item 1: it was refused too).
    Inspections(store).set_plan(SITE, Plan(frequency="monthly"))
    assert http.get(f"/console/sites/{SITE}", params={"period": "2026-M11"}).status_code == 200
    assert http.get(f"/console/sites/{SITE}", params={"period": "2026-Q4"}).status_code == 200
    r = http.get(f"/console/sites/{SITE}", params={"period": "2026-Q3"})
    assert r.status_code == 400 and "2026-Q3 不是该现场的维护周期：该现场按月巡检，周期如 2026-M" in r.text
    r = http.get(f"/console/sites/{SITE}", params={"period": "2026-Q3", "lang": "en"})
    assert r.status_code == 400 and "2026-Q3 is not a period of this site: it is inspected monthly" in r.text


def _links(page: str, marker: str) -> list[str]:
    """The hrefs of the links in `page` whose tag holds `marker`, in order."""
    return [tag.split('href="')[1].split('"')[0].replace("&amp;", "&")
            for tag in page.split("<a ")[1:] if marker in tag.split(">")[0]]


def test_every_history_link_shows_its_periods_coverage_after_a_plan_change(http, store, site, lin):
    # Regression (s27-fixperiod, item 1): after PUT /api/sites/{id}/plan moved a quarterly site to monthly,
    # every quarterly inspection the site page lists linked to a 400 page "2026-Q4 不是该现场的维护周期…",
    # and so did an inspection of another kind a phone created (a half-year here).
    past = {"2025-Q4": "cam2", "2026-Q3": "cam1", "2026-H1": "cam2"}
    for period, cam in past.items():
        insp = inspection_id(SITE, period)
        store.write_server_changes([
            ("inspections", insp, {"site_id": SITE, "period": period, "status": "completed", "assigned_to": "wang"},
             False),
            ("device_checks", device_check_id(insp, site[cam]), {
                "inspection_id": insp, "device_id": site[cam], "outcome": "serviced", "checked_by": "wang",
                "checked_at": "2026-06-10T02:00:00.000Z"}, False)])
    plan = {"frequency": "monthly", "due_day": 20, "technician": "wang"}
    assert lin.http.put(f"/api/sites/{SITE}/plan", headers=lin.headers, json=plan).status_code == 200
    console(http, "lin")
    page = http.get(f"/console/sites/{SITE}").text
    followed = []
    # the last twelve months, then each year (the switch's other links; 近 12 个月 is the page itself)
    years = [y for y in _links(page.split('id="history-years"')[1].split("</p>")[0], "href") if y[0] == "?"]
    for year in ["", *years]:
        listed = http.get(f"/console/sites/{SITE}{year}").text.split('id="site-inspections"')[1].split("</table>")[0]
        for link in _links(listed, 'class="period"'):
            period = link.split("period=")[1].split("#")[0].split("&")[0]
            r = http.get(f"/console/sites/{SITE}{link}")
            assert r.status_code == 200, (link, r.text[-600:])
            assert f"{period} 覆盖" in r.text and 'id="no-inspection"' not in r.text, link
            serviced = 1 if period in past else 0  # the fixture's 2026-Q4 has no check
            assert f'<b data-count="serviced">{serviced}</b>' in r.text, link
            followed.append(period)
    assert sorted(set(followed)) == ["2025-Q4", "2026-H1", "2026-Q3", "2026-Q4"]


def test_a_site_that_does_not_exist_is_a_404_whatever_the_period(http, store, site):
    # Regression (s27-fixperiod, item 1): a supervisor on a site id that does not exist got 400 "not a period
    # of this site's plan" for ?period=2026-M11: the plan check ran before the lookup that would 404.
    console(http, "lin")
    for period in ("2026-M11", "2026-Q4", ""):
        r = http.get("/console/sites/no-such-site", params={"period": period} if period else {})
        assert r.status_code == 404 and "找不到该页面或站点。" in r.text, (period, r.text[-600:])


def test_every_camera_and_the_other_kinds_stay_offered_once_one_kind_is_chosen(http, store, site):
    # Regression (s27-fixsheet, item 5): the kind select was built from the coverage already filtered, so once
    # 球形摄像机 was chosen, 全部摄像机 and 枪式摄像机 were gone: back to every camera only through 全部.
    console(http, "lin")
    for kind in ("dome_camera", "bullet_camera,dome_camera"):
        page = http.get(f"/console/sites/{SITE}", params={"kind": kind}).text
        form = page.split('<select name="kind">')[1].split("</select>")[0]
        assert '<option value="bullet_camera,dome_camera"' in form and "全部摄像机" in form, (kind, form)
        assert '<option value="bullet_camera"' in form and '<option value="dome_camera"' in form, (kind, form)
    page = http.get(f"/console/sites/{SITE}", params={"system": "video", "kind": "dome_camera"}).text
    assert '<option value="video" selected>' in page
    assert 'data-count="total">1<' in page  # the coverage itself is still the one kind's


def test_the_year_links_keep_the_period_and_the_filter_form_keeps_the_year(http, store, site):
    # Regression (s27-fixsheet, item 6): a year link dropped the shown period (the coverage jumped back to the
    # current one), and filtering dropped the year (the list jumped back to the period's year).
    store.write_server_changes([("inspections", inspection_id(SITE, "2025-Q3"), {
        "site_id": SITE, "period": "2025-Q3", "status": "scheduled", "assigned_to": "wang"}, False)])
    console(http, "lin")
    page = http.get(f"/console/sites/{SITE}", params={"period": "2025-Q3"}).text
    assert '<a href="?year=2026&amp;period=2025-Q3">2026</a>' in page
    page = http.get(f"/console/sites/{SITE}", params={"period": "2025-Q3", "year": "2026"}).text
    form = page.split('<form class="filters"')[1].split("</form>")[0]
    assert '<input type="hidden" name="year" value="2026">' in form
    assert '<input type="hidden" name="period" value="2025-Q3">' in form
    assert '<a href="?year=2025&amp;period=2025-Q3">2025</a>' in page
    assert 'name="year"' not in http.get(f"/console/sites/{SITE}").text.split('<form class="filters"')[1]


def test_a_repeated_form_field_is_refused_as_repeated_not_as_too_long(http, store, lin):
    # Regression (s27-fixsheet, item 6): a form field sent twice (technician=wang&technician=zhao) was refused
    # with "最多 256 个字符", which neither value was.
    csrf = console(http, "lin")
    r = http.post("/console/reports/duty-roster", headers=ORIGIN, follow_redirects=False, data={
        "csrf": csrf, "month": "2026-12", "technician": ["wang", "zhao"], "from": "", "until": ""})
    assert r.status_code == 400 and "值班技术员：只能填写一次" in r.text, r.text[-800:]
    assert "最多" not in r.text


def _sealed(wang: Any, site: dict[str, str]) -> bytes:
    """The inspection's sheet signed and sealed over one check with a photo (`sealing.IMAGE_SHA`): the signed bytes."""
    insp = site["inspection"]
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    signed = sealing._sheet(insp, c1)
    sealing._upload(wang, signed, "application/json")
    _sig_id, sig = sealing._signature(wang, insp, signed)
    assert sealing._results(wang.push([c1, sig])) == [("applied", None)] * 2
    return signed


def test_the_signed_bytes_are_revalidated_each_time_so_a_lost_site_is_not_served_from_the_cache(
        http, store, site, wang):
    # Regression (s27-fixsheet, item 6): /console/blobs/{sha} sent `private, max-age=86400`, so a photo or the
    # signed bytes of a site the user was since taken off stayed in the browser's cache a day. Now the browser
    # asks each time (no-cache) and an unchanged blob is a 304 by its ETag, after the same scope check.
    signed = _sealed(wang, site)
    sha = hashlib.sha256(signed).hexdigest()
    console(http, "wang")
    r = http.get(f"/console/blobs/{sha}")
    assert r.status_code == 200 and r.content == signed
    assert r.headers["cache-control"] == "private, no-cache" and r.headers["etag"] == f'"{sha}"'
    again = http.get(f"/console/blobs/{sha}", headers={"if-none-match": f'"{sha}"'})
    assert again.status_code == 304 and again.content == b""
    thumb = http.get(f"/console/blobs/{sealing.IMAGE_SHA}/thumbnail")
    assert thumb.status_code == 200 and thumb.headers["cache-control"] == "private, no-cache"
    tag = thumb.headers["etag"]
    assert http.get(f"/console/blobs/{sealing.IMAGE_SHA}/thumbnail", headers={"if-none-match": tag}).status_code == 304
    store.remove_member(SITE, "wang")  # taken off the site: the browser's copy is not answered 304
    assert http.get(f"/console/blobs/{sha}", headers={"if-none-match": f'"{sha}"'}).status_code == 404


def test_a_thumbnail_the_browser_holds_is_a_304_without_making_it_again(http, store, site, wang):
    # Regression (s27-fixperiod, item 3): the console's thumbnail made a missing thumbnail (decoding the photo
    # on the image workers) before it answered 304 to a browser that held it. Now the caller's access is
    # checked and the 304 sent; nothing is made.
    _sealed(wang, site)
    console(http, "wang")
    url = f"/console/blobs/{sealing.IMAGE_SHA}/thumbnail"
    tag = http.get(url).headers["etag"]
    [made] = (store.settings.data_dir / "thumbs").rglob(f"{sealing.IMAGE_SHA}-*.jpg")
    made.unlink()  # as when the thumbnails' cache is cleared
    again = http.get(url, headers={"if-none-match": tag})
    assert again.status_code == 304 and again.headers["etag"] == tag and again.content == b""
    assert not made.exists()
    held_other = {"if-none-match": f'"{sealing.IMAGE_SHA}-7"'}  # a size not offered: refused, held or not
    assert http.get(url, headers=held_other, params={"size": 7}).status_code == 400
    store.remove_member(SITE, "wang")  # taken off the site: still checked first
    assert http.get(url, headers={"if-none-match": tag}).status_code == 404

"""Hostile input through the console's newest pages and forms (s27-sec6): each test names what a client met.

In-process on the real app (`http`) over a real SQLite file, signed in through the console's own form.
"""

from __future__ import annotations

import pytest

from tests.conftest import SITE
from tests.server.test_console_desk import console, post_new


def test_a_year_written_in_other_digits_is_a_400_not_a_500(http, site):
    # Regression (s27-sec6): the site page's ?year= took any Unicode digits (str.isdigit), so ²²²² passed
    # the check and int() raised: a 500 with a traceback in the log; ２０２６ (full width) listed nothing.
    console(http, "lin")
    for year in ("²²²²", "２０２６", "٢٠٢٦"):
        r = http.get(f"/console/sites/{SITE}", params={"year": year})
        assert r.status_code == 400, year
        assert r.headers["content-type"].startswith("text/html") and "invalid_filter" in r.text


LINK_REFUSALS = [
    (f"/console/sites/{SITE}?period=2026-X9", "请求有误：期间须形如 2026-Q4（季度）、2026-H2（半年）或 2026-M11（月）。"),
    (f"/console/sites/{SITE}?year=２０２６", "请求有误：年份须为 2000 至 2100 年间的四位数字，如 2026。"),
    (f"/console/sites/{SITE}?kind=toaster", "请求有误：筛选条件的值不在可选范围内，请从页面上的筛选项选择。"),
    ("/console/reports?month=9999-12", "请求有误：月份须为 2000 至 2100 年间的月份，如 2026-12。"),
    ("/console/service-requests?after=%C2%B2", "请求有误：翻页位置无效，请从列表的第一页重新打开。"),
    ("/console/blobs/" + "0" * 64 + "/thumbnail?size=x", "请求有误：缩略图尺寸无效。"),
    ("/console?lang=a%00b", "请求有误：链接中的参数无效，请从控制台的链接进入。"),
]


@pytest.mark.parametrize(("url", "words"), LINK_REFUSALS)
def test_a_refused_link_reads_in_the_catalogues_words_not_the_apis_english(http, site, url, words):
    # Regression (s28, left by s27-fixperiod): a console link with a value no filter takes (?period=2026-X9,
    # ?month=9999-12, Litestar's ?size=x) read 请求有误： and then the API's English detail, the typed value
    # quoted in it (`period '2026-X9' is not like 2026-Q4, 2026-H2 or 2026-M11`). The catalogue's words now,
    # by the parameter; the code below them names the refusal for support.
    console(http, "lin")
    r = http.get(url)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html"), (url, r.status_code)
    assert f"<h1>{words}</h1>" in r.text, r.text[-800:]
    assert "<code>invalid_" in r.text


NEW_FORM_REFUSALS = [
    ({"channel": "carrier_pigeon"}, "未能保存：报修方式：值不被接受"),
    ({"caller_phone": "1" * 41}, "未能保存：联系电话：值不被接受"),
    ({"description": "长" * 2001}, "未能保存：故障描述：最多 2000 个字符"),
    ({"device_code": "CAM\x00"}, "未能保存：设备编号（可选）：填写的内容不被接受"),
    ({"reported_at": "2026-12-07T24:00"}, "未能保存：报修时间（留空为现在）：填写的内容不被接受"),
    ({"assigned_to": "zhao"}, "未能保存：派给（可选，站点的技术员）：只能派给该现场账号未停用的成员"),
]


@pytest.mark.parametrize(("changed", "reason"), NEW_FORM_REFUSALS)
def test_a_refused_new_request_reads_in_the_catalogues_words(http, site, lin, changed, reason):
    # Regression (s27-sec6): the desk's new-request form, refused, showed the merge's English detail
    # (未能保存：service_requests.channel: 'carrier_pigeon' is not a valid enum) where the request page's forms
    # name the field by its label and the reason in the catalogue's words.
    csrf = console(http, "chen")
    r = post_new(http, csrf, **changed)
    assert r.status_code in (400, 404)
    [line] = [part.split(" <code>")[0] for part in r.text.split('<p class="error" role="alert" id="refused">')[1:]]
    assert line == reason
    assert lin.http.get("/api/service-requests", headers=lin.headers).json()["requests"] == []


def test_litestars_own_refusals_on_a_console_path_are_the_consoles_page(http, site, lin):
    # Regression (s27-consolefuzz): a console path no route matched (an id holding `/`, as %2F) and a thumbnail's
    # `?size=` that is no integer were refused by Litestar itself, before the console's handlers: the API's JSON
    # problem, shown raw in the browser. They are the console's HTML page now; the API's paths keep the problem.
    console(http, "lin")
    for url in ("/console/sites/a%2F..%2Fb", "/console/nowhere", f"/console/blobs/{'0' * 64}/thumbnail?size=x"):
        r = http.get(url, follow_redirects=False)
        assert r.status_code in (400, 404), url
        assert r.headers["content-type"].startswith("text/html") and "<code>" in r.text, url
    r = http.get("/api/nowhere", headers=lin.headers)
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"


def test_a_405_or_a_5xx_litestar_raises_on_a_console_path_reads_as_what_it_is(http, settings, store, site):
    # Regression (s27-fixperiod, item 3): the console's page for Litestar's own 405 (a path that takes no such
    # method) and 5xx read "请求有误：…" (bad_request), as if the user had typed something wrong.
    from litestar import get
    from litestar.exceptions import InternalServerException
    from litestar.testing import TestClient

    from server.app import create_app

    console(http, "lin")
    for method, url in (("DELETE", f"/console/sites/{SITE}"), ("PUT", "/console/sites")):
        r = http.request(method, url, follow_redirects=False)
        assert r.status_code == 405, (method, url)
        assert "该页面不接受这种请求方式，操作未执行。" in r.text and "请求有误" not in r.text, r.text[-600:]
        assert "<code>method_not_allowed</code>" in r.text
        # s29-fixes29b: the page sends the `Allow` RFC 9110 requires of a 405 (it dropped it), and says its
        # charset once (every console page said `text/html; charset=utf-8; charset=utf-8`).
        assert r.headers["allow"] == "GET, OPTIONS", r.headers  # the site page; the new-site form posts elsewhere
        assert r.headers["content-type"] == "text/html; charset=utf-8"

    @get("/console/failing", sync_to_thread=False)
    def failing() -> None:  # what Litestar raises when it fails (a handler it could not call, say)
        raise InternalServerException("Internal Server Error")

    app = create_app(settings, store)
    app.register(failing)
    with TestClient(app) as client:
        r = client.get("/console/failing")
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    assert "服务器出错，操作未执行。" in r.text and "请求有误" not in r.text and "<code>server_error</code>" in r.text


def test_a_console_handlers_own_failure_is_the_consoles_500_page_not_the_apis_json(http, site, monkeypatch, caplog):
    # Regression (s27, found by fixperiod): an exception no handler expected inside a console page went to
    # the app's handler and came back as the API's JSON problem, shown raw in the browser.
    from server.domains.console import pages

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("a bug in the dashboard")

    console(http, "lin")
    monkeypatch.setattr(pages, "dashboard", broken)
    r = http.get("/console/", follow_redirects=False)
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html"), r.headers
    assert "服务器出错，操作未执行。" in r.text and "<code>server_error</code>" in r.text
    assert "a bug in the dashboard" not in r.text  # the traceback is the log's, not the page's
    assert any("a bug in the dashboard" in (rec.exc_text or str(rec.exc_info)) for rec in caplog.records)
    assert http.get("/api/nothing-here").headers["content-type"].startswith("application/problem+json")

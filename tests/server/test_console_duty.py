"""The duty roster's form on the console's reports page (s27-office5, item 1).

In-process on the real app (`http`): the form writes through the same merge and checks a
supervisor's push of `duty_roster` takes.
"""

from __future__ import annotations

from typing import Any

from sync.duty import roster_id
from tests.server.test_console_desk import ORIGIN, console

MONTH, API_MONTH = "2026-12", "2026-M12"


def _roster(lin: Any) -> dict[str, Any] | None:
    """The month's roster row as a phone pulls it (the roster is global: every client's)."""
    rows = lin.pull().json()["rows"]
    found = [r["fields"] for r in rows if r["collection"] == "duty_roster" and r["id"] == roster_id(API_MONTH)]
    return found[-1] if found else None


def _post(http: Any, csrf: str, **form: str) -> Any:
    return http.post("/console/reports/duty-roster", data={"csrf": csrf, "month": MONTH, **form},
                     headers=ORIGIN, follow_redirects=False)


def test_a_supervisor_rosters_the_duty_technician_from_the_console(http, store, lin):
    # Regression (s27-office5, item 1): the roster was written only by a phone's push of `duty_roster`,
    # so a supervisor without a phone could not say who answers the duty phone; the console showed
    # 值班：本月未排班 and offered nothing. The reports page now shows the month's roster and a form.
    csrf = console(http, "lin")
    page = http.get("/console/reports", params={"month": MONTH}).text
    assert 'id="roster-form"' in page and "本月未排班" in page
    assert '<option value="wang">' in page and '<option value="zhao">' in page
    assert '<option value="lin"' not in page and '<option value="chen"' not in page  # technicians only
    r = _post(http, csrf, technician="wang", **{"from": "", "until": "21:00"})
    assert r.status_code == 303 and r.headers["location"] == f"/console/reports?month={MONTH}&done=roster#roster"
    assert _roster(lin) == {"month": API_MONTH, "technician": "wang", "until": "21:00"}
    page = http.get(r.headers["location"]).text
    assert "排班已保存" in page and "本月值班：Wang，值班时段 08:00–21:00" in page
    assert '<option value="wang" selected>' in page
    # Changed the same way: the row's id follows from the month, so it is the same row.
    assert _post(http, csrf, technician="zhao", **{"from": "09:00", "until": ""}).status_code == 303
    assert _roster(lin) == {"month": API_MONTH, "technician": "zhao", "from": "09:00"}


def test_a_refused_roster_is_the_page_again_filled_with_the_reason_and_nothing_written(http, store, lin):
    csrf = console(http, "lin")
    store.update_user("zhao", disabled=True)
    cases = [({"technician": "zhao"}, "值班技术员：请选择一名账号未停用的技术员"),  # disabled
             ({"technician": "lin"}, "值班技术员：请选择一名账号未停用的技术员"),  # a supervisor
             ({"technician": ""}, ""),  # none chosen
             ({"technician": "wang", "from": "25:00"}, "值班开始：时间须为 HH:MM"),
             ({"technician": "wang", "from": "22:00", "until": "08:00"}, "值班开始须早于值班结束"),
             ({"technician": "wang", "until": "x" * 300}, "")]  # over the form's bound
    for form, why in cases:
        r = _post(http, csrf, **{"from": "", "until": "", **form})
        assert r.status_code == 400, form
        assert 'id="refused"' in r.text and "未能保存：" in r.text and why in r.text, (form, r.text)
        assert 'id="roster-form"' in r.text
        if form.get("from") == "22:00":  # kept as typed
            assert 'name="from" value="22:00"' in r.text and 'name="until" value="08:00"' in r.text
        assert _roster(lin) is None, form
    bad_month = http.post("/console/reports/duty-roster", headers=ORIGIN, follow_redirects=False,
                          data={"csrf": csrf, "month": "9999-12", "technician": "wang", "from": "", "until": ""})
    assert bad_month.status_code == 400 and "月份：须为 2000 至 2100 年间的月份" in bad_month.text


def test_rostering_is_a_supervisors_with_the_sessions_csrf(http, store, lin):
    csrf = console(http, "lin")
    assert _post(http, "0" * 64, technician="wang", **{"from": "", "until": ""}).status_code == 403
    r = http.post("/console/reports/duty-roster", data={"csrf": csrf, "month": MONTH, "technician": "wang"},
                  headers={"origin": "http://evil.example"}, follow_redirects=False)
    assert r.status_code == 403
    for who in ("chen", "wang"):  # the desk and technicians read the roster, without the form
        token = console(http, who)
        page = http.get("/console/reports", params={"month": MONTH}).text
        assert 'id="rostered"' in page and 'id="roster-form"' not in page
        assert _post(http, token, technician="wang", **{"from": "", "until": ""}).status_code == 403
    assert _roster(lin) is None

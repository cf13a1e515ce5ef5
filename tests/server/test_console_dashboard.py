"""The console's dashboard as a supervisor reads it (session 25, office2): a paused clock, and a calendar
that is about to end."""

from __future__ import annotations

from sync import hlc
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

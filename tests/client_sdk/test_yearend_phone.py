"""The phone across New Year's midnight in Asia/Shanghai (session 32, yearend32): its inspection list's overdue
mark reads the site's day by the time the phone records with (the server's, anchored at the last sync, when
its own clock is more than five minutes off), not by a clock a few minutes slow."""

from __future__ import annotations

from datetime import datetime

from sync.schema import inspection_id
from tests.conftest import SITE


def _shanghai(text: str) -> int:
    return int(datetime.fromisoformat(f"{text}+08:00").timestamp() * 1000)


def test_a_phone_twenty_minutes_slow_marks_the_inspection_due_on_new_years_eve_overdue_after_midnight(
        http, site, store, new_client, monkeypatch):
    # Regression (session 32, yearend32): `my_inspections` read the site's day by the phone's own clock, while
    # what it records (a check's time, a signature's) uses the server's time anchored at the last sync when the
    # phone is more than five minutes off. At 00:10 on 1 January a phone 20 minutes slow read 31 December and
    # showed the fourth quarter's inspection, due that day, as not overdue; the console and the server's list
    # said it was.
    insp = inspection_id(SITE, "2026-Q4")
    store.write_server_changes([("inspections", insp, {"due_on": "2026-12-31"}, False)])
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2027-01-01 00:10"))
    slow = _shanghai("2026-12-31 23:50")
    phone = new_client(http, wall=lambda: slow, boot=lambda: ("boot-1", 90_000))
    phone.sync()  # anchors the server's time to the boot clock
    [shown] = [i for i in phone.my_inspections() if i.id == insp]
    assert (shown.due_on, shown.overdue) == ("2026-12-31", True)
    server = http.get("/api/inspections", headers=phone.session.headers(), params={"period": "2026-Q4"})
    assert [i["overdue"] for i in server.json()["inspections"] if i["id"] == insp] == [True]

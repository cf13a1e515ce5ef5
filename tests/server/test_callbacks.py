"""Call-backs (issue 13, items 1 to 3): who records them, their points, the `callback` milestone in
the live detail and the stored list filters, and the follow-up request a dissatisfied customer opens.
Real pushes through the real app."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from server.domains.callbacks.hooks import follow_up_id
from server.services import Store
from sync import hlc
from sync.collections.callbacks import RATINGS
from sync.periods import site_zone
from tests.conftest import SITE, Session
from tests.helpers import ok
from tests.server.conftest import field
from tests.server.test_service import event, open_request, results, rows_of, ts
from tests.server.test_visit_sealing import handled, signature

MIN = 60_000


def callback(session: Session, visit: str, called_at: str, **extra: Any) -> dict[str, Any]:
    return session.change("callbacks", str(uuid.uuid4()), {"visit_id": visit, "called_at": called_at,
                                                            "reached": True, "called_by": "chen", **extra})


def sealed(chen: Session, wang: Session, signed_at: str | None = None) -> tuple[str, str]:
    """A handled request whose visit the customer signed (at `signed_at`): (request, visit)."""
    request, visit, fields = handled(chen, wang)
    _, sig = signature(wang, visit, fields)
    if signed_at is not None:
        sig["fields"]["signed_at"] = signed_at
    assert results(wang, [sig]) == [("applied", None)]
    return request, visit


def test_technicians_may_not_record_callbacks(site, chen, wang, lin):
    # Regression (issue 13, item 1): a technician rating their own visit is refused, the desk and supervisors record.
    _request, visit = sealed(chen, wang)
    assert results(wang, [callback(wang, visit, ts(hlc.wall_ms()), rating="very_satisfied")]) == [
        ("rejected", "forbidden")]
    assert rows_of(lin, "callbacks") == {}
    by_desk, by_supervisor = (callback(s, visit, ts(hlc.wall_ms()), rating="satisfied") for s in (chen, lin))
    assert results(chen, [by_desk]) == [("applied", None)]
    assert results(lin, [by_supervisor]) == [("applied", None)]
    # The site's technician pulls them (the phone shows the customer's word), and may not change them.
    assert set(rows_of(wang, "callbacks")) == {by_desk["id"], by_supervisor["id"]}
    assert results(wang, [wang.change("callbacks", by_desk["id"], {"rating": "very_satisfied"})]) == [
        ("rejected", "forbidden")]


def test_points_follow_the_rating_and_an_unanswered_attempt_scores_nothing(site, chen, wang):
    _request, visit = sealed(chen, wang)
    now = ts(hlc.wall_ms())
    changes = [callback(chen, visit, now, rating=rating) for rating in RATINGS]
    missed = callback(chen, visit, now, reached=False)
    reached_unrated = callback(chen, visit, now)
    assert results(chen, [*changes, missed, reached_unrated]) == [("applied", None)] * 7
    rows = rows_of(chen, "callbacks")
    assert [rows[c["id"]]["points"] for c in changes] == [5, 3, 2, 1, -5]
    assert rows[missed["id"]].get("points") is None and rows[reached_unrated["id"]].get("points") is None
    # A rating changed later changes the points.
    assert results(chen, [chen.change("callbacks", changes[0]["id"], {"rating": "average"})]) == [("applied", None)]
    assert rows_of(chen, "callbacks")[changes[0]["id"]]["points"] == 2


def test_the_points_table_is_a_setting(new_settings):
    store = Store(new_settings("s", callback_points=(10, 6, 4, 2, -10)))
    try:
        request, visit, cb = (str(uuid.uuid4()) for _ in range(3))
        store.write_server_changes([
            ("sites", SITE, {"name": "Park", "tz": "Asia/Shanghai"}, False),
            ("service_requests", request, {"site_id": SITE, "reported_at": ts(hlc.wall_ms()), "channel": "hotline",
                                           "kind": "repair"}, False),
            ("service_visits", visit, {"request_id": request, "technician": "wang"}, False),
            ("callbacks", cb, {"visit_id": visit, "called_at": ts(hlc.wall_ms()), "reached": True,
                               "rating": "satisfied"}, False),
        ])
        with store.read() as db:
            [(points,)] = db.execute(f"SELECT {field('points', 'integer')} FROM rows WHERE id = ?", [cb])
        assert points == 6
    finally:
        store.close()


# -- the callback milestone (item 2) ---------------------------------------------------------------


def _zone_at_six(now_ms: int) -> str:
    """A fixed-offset zone in which it is now between 06:00 and 07:00, so the call-back's day has 17 h
    or more left whenever the test runs (no test depends on the time of day)."""
    offset = (6 - datetime.fromtimestamp(now_ms / 1000, UTC).hour) % 24
    offset = offset - 24 if offset > 14 else offset
    return "Etc/GMT" if offset == 0 else f"Etc/GMT{'-' if offset > 0 else '+'}{abs(offset)}"


def _milestone(session: Session, request: str) -> dict[str, Any]:
    detail = ok(session.http.get(f"/api/service-requests/{request}", headers=session.headers))
    [found] = [m for m in detail["milestones"] if m["name"] == "callback"]
    return found  # type: ignore[no-any-return]


def _flags(session: Session, request: str) -> tuple[bool, bool]:
    def listed(flag: str) -> bool:
        page = ok(session.http.get("/api/service-requests", headers=session.headers, params={flag: "true"}))
        return request in [r["id"] for r in page["requests"]]
    return listed("breached"), listed("at_risk")


def test_the_callback_milestone_moves_as_the_call_back_arrives(site, store, chen, wang, lin, monkeypatch):
    now = hlc.wall_ms()
    zone = _zone_at_six(now)
    store.write_server_changes([("sites", SITE, {"tz": zone}, False)])
    signed = now - MIN
    local = datetime.fromtimestamp(signed / 1000, UTC).astimezone(site_zone(zone))
    midnight = int(datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), site_zone(zone))
                   .timestamp() * 1000)
    request, visit = sealed(chen, wang, ts(signed))

    def at(ms: int) -> tuple[str, bool, bool]:
        monkeypatch.setattr(store, "now_ms", lambda: ms)
        return (_milestone(lin, request)["status"], *_flags(lin, request))

    target = midnight - signed
    assert _milestone(lin, request)["due_at"] == ts(midnight)
    # No call-back: pending, then at risk in the day's last quarter, then breached after midnight.
    assert at(now + MIN) == ("pending", False, False)
    assert at(midnight - target // 8) == ("at_risk", False, True)
    assert at(midnight + 1) == ("breached", True, False)
    monkeypatch.undo()
    # An unanswered attempt does not meet it; a reached call-back does, from then on.
    assert results(chen, [callback(chen, visit, ts(now), reached=False)]) == [("applied", None)]
    assert at(midnight + 1) == ("breached", True, False)
    monkeypatch.undo()
    assert results(chen, [callback(chen, visit, ts(now), rating="satisfied")]) == [("applied", None)]
    for probe in (now + MIN, midnight - target // 8, midnight + 1):
        assert at(probe) == ("met", False, False)


def test_a_call_back_after_midnight_is_late(site, chen, wang, lin):
    # Signed yesterday (Shanghai), called back today: the milestone is breached, met no more.
    yesterday = hlc.wall_ms() - 36 * 3_600_000
    request, visit = sealed(chen, wang, ts(yesterday))
    assert results(chen, [callback(chen, visit, ts(hlc.wall_ms()), rating="very_satisfied")]) == [
        ("applied", None)]
    assert _milestone(lin, request)["status"] == "breached"
    assert _flags(lin, request) == (True, False)


def test_a_cancel_refused_after_the_seal_leaves_the_callback_milestone_running(site, store, chen, wang, lin,
                                                                               monkeypatch):
    # Regression (contract service.md "Service requests", status; "Response-time clocks", cancelled): a
    # `cancelled` after the customer signed is kept, flagged, and moves nothing, yet the clocks took it
    # as a cancel: the pending call-back became `not_applicable` and never showed as breached.
    now = hlc.wall_ms()
    store.write_server_changes([("sites", SITE, {"tz": _zone_at_six(now)}, False)])
    request, _visit = sealed(chen, wang, ts(now - MIN))
    assert results(chen, [event(chen, request, "cancelled", ts(now))]) == [("applied", None)]
    assert rows_of(chen, "service_requests")[request]["status"] == "signed"
    milestone = _milestone(lin, request)
    assert milestone["status"] == "pending"
    monkeypatch.setattr(store, "now_ms", lambda: hlc.parse_ts(milestone["due_at"]) + 1)
    assert (_milestone(lin, request)["status"], *_flags(lin, request)) == ("breached", True, False)


def test_a_sheet_signed_at_the_end_of_9999_is_no_500(site, chen, wang, lin):
    # Regression (no 500 for what a client sends; contract service.md "Response-time clocks", callback): the
    # call-back's midnight after a `signed_at` of 9999-12-31T23:59 UTC does not exist in Shanghai, and the
    # push that sealed the sheet was a 500. Since s24 every time a client sends lies in the years 2000 to 2100:
    # the signature is refused (`invalid_field`), the sheet stays unsealed.
    request, visit, fields = handled(chen, wang)
    _, sig = signature(wang, visit, fields)
    sig["fields"]["signed_at"] = "9999-12-31T23:59:59.999Z"
    assert results(wang, [sig]) == [("rejected", "invalid_field")]
    detail = ok(lin.http.get(f"/api/service-requests/{request}", headers=lin.headers))
    assert (detail["status"], [m["name"] for m in detail["milestones"]]) == ("resolved", ["on_site", "fix"])
    assert _flags(lin, request) == (False, False)


# -- the dissatisfied follow-up (item 3) -----------------------------------------------------------


@pytest.mark.parametrize("comment", ["摄像机夜间仍然黑屏", None])
def test_a_dissatisfied_call_back_opens_one_follow_up_request(site, chen, wang, lin, comment):
    request = open_request(chen, device_id=site["cam1"], assigned_to="wang")
    _, visit, fields = handled(chen, wang)
    _, sig = signature(wang, visit, fields)
    assert results(wang, [sig]) == [("applied", None)]
    sheet_no = rows_of(lin, "service_visits")[visit]["sheet_no"]
    original = rows_of(lin, "service_requests")[rows_of(lin, "service_visits")[visit]["request_id"]]
    called = ts(hlc.wall_ms())
    change = callback(chen, visit, called, rating="dissatisfied", **({"comment": comment} if comment else {}))
    assert results(chen, [change]) == [("applied", None)]
    follow_up = rows_of(lin, "service_requests")[follow_up_id(change["id"])]
    assert follow_up["site_id"] == original["site_id"] and follow_up.get("device_id") == original.get("device_id")
    assert (follow_up["channel"], follow_up["kind"], follow_up["reported_at"]) == ("hotline", "other", called)
    assert follow_up["status"] == "received" and "assigned_to" not in follow_up
    # Regression (s26-desk2, finding 1): the description was English ("Dissatisfied call-back on sheet …")
    # on the desk's and supervisors' Chinese pages; it is the catalogue's Chinese now.
    assert follow_up["description"] == f"客户回访不满意（联络单 {sheet_no}）" + (f"：{comment}" if comment else "")
    assert follow_up["number"].startswith("SR-")
    # Pushed again, changed again, rated otherwise and back: still the one follow-up.
    count = len(rows_of(lin, "service_requests"))
    assert results(chen, [chen.change("callbacks", change["id"], {"comment": "还是不行"}),
                          chen.change("callbacks", change["id"], {"rating": "average"}),
                          chen.change("callbacks", change["id"], {"rating": "dissatisfied"})]) == [
        ("applied", None)] * 3
    assert len(rows_of(lin, "service_requests")) == count
    assert request in rows_of(lin, "service_requests")


def test_an_unanswered_or_satisfied_call_back_opens_nothing(site, chen, wang, lin):
    _request, visit = sealed(chen, wang)
    before = set(rows_of(lin, "service_requests"))
    assert results(chen, [callback(chen, visit, ts(hlc.wall_ms()), reached=False),
                          callback(chen, visit, ts(hlc.wall_ms()), rating="satisfied")]) == [("applied", None)] * 2
    assert set(rows_of(lin, "service_requests")) == before

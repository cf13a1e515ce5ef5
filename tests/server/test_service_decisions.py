"""Three choices the desk relies on (docs/service.md, "Three choices the desk relies on"), each held
through the real app: a close from any state that hides no breach, the clocks' start at the earlier
of `reported_at` and the creating change's time, and a pause before arrival."""

from __future__ import annotations

import uuid
from typing import Any

from sync import hlc
from tests.conftest import SITE
from tests.helpers import ok
from tests.server.test_service import HOUR, event, open_request, request_fields, results, ts

URL = "/api/service-requests"


def detail(session: Any, request: str) -> dict[str, Any]:
    return ok(session.http.get(f"{URL}/{request}", headers=session.headers))  # type: ignore[no-any-return]


def milestone(session: Any, request: str, name: str) -> dict[str, Any]:
    return next(m for m in detail(session, request)["milestones"] if m["name"] == name)


def breach_list(session: Any) -> list[str]:
    return [r["id"] for r in ok(session.http.get(URL, headers=session.headers, params={"breached": "true"}))[
        "requests"]]


def test_a_close_from_any_state_ends_the_request_but_hides_no_breach(site, chen, wang, lin):
    now = hlc.wall_ms()
    # A question answered on the phone: closed straight from `received`, nothing to visit or sign.
    question = open_request(chen, kind="consultation", reported_at=ts(now - HOUR))
    assert results(chen, [event(chen, question, "closed", ts(now))]) == [("applied", None)]
    assert detail(chen, question)["status"] == "closed"
    # A repair closed 20 h after the call, its fix still pending: 30 h on, the 24 h fix is breached.
    repair = open_request(chen, assigned_to="wang", reported_at=ts(now - 30 * HOUR))
    assert results(wang, [event(wang, repair, "arrived", ts(now - 29 * HOUR))]) == [("applied", None)]
    assert results(chen, [event(chen, repair, "closed", ts(now - 10 * HOUR))]) == [("applied", None)]
    assert detail(chen, repair)["status"] == "closed"
    fix = milestone(chen, repair, "fix")
    assert (fix["status"], fix["done_at"], fix["due_at"]) == ("breached", None, ts(now - 6 * HOUR))
    assert breach_list(lin) == [repair]
    # A cancel is what stops the clocks: the same request cancelled instead owes nothing more.
    withdrawn = open_request(chen, assigned_to="wang", reported_at=ts(now - 30 * HOUR))
    assert results(chen, [event(chen, withdrawn, "cancelled", ts(now - 10 * HOUR))]) == [("applied", None)]
    assert milestone(chen, withdrawn, "fix")["status"] == "not_applicable"


def test_a_mistyped_future_reported_at_cannot_postpone_a_breach(site, chen, wang, lin):
    # Regression (s25-desk2, finding 1): the start read the `site_id` register's clock, which a parent field
    # never has, so every request's clocks ran from `reported_at` alone: a phone's request typed as tomorrow
    # showed "4 h left" for a day while the customer waited.
    now = hlc.wall_ms()
    # A phone offline since six hours ago created the request then, its reported_at typed as tomorrow.
    request = str(uuid.uuid4())
    created = hlc.Clock(wang.client_id).now(now - 6 * HOUR)
    change = wang.change("service_requests", request, request_fields(reported_at=ts(now + 20 * HOUR),
                                                                     channel="on_site"), hlc_=created)
    assert results(wang, [change]) == [("applied", None)]
    got = detail(lin, request)
    assert got["reported_at"] == ts(now + 20 * HOUR)  # kept as typed
    on_site = next(m for m in got["milestones"] if m["name"] == "on_site")
    assert (on_site["status"], on_site["due_at"]) == ("breached", ts(now - 2 * HOUR))  # 4 h from the phone's time
    assert request in breach_list(lin)
    # The desk's form or POST: the change's time is the server's now, so the clock runs from now.
    before = hlc.wall_ms()
    r = chen.http.post(URL, headers=chen.headers, json={
        "site_id": SITE, "channel": "hotline", "kind": "repair", "reported_at": ts(now + 20 * HOUR)})
    assert r.status_code == 201, r.text
    body = r.json()
    due = hlc.parse_ts(next(m for m in body["milestones"] if m["name"] == "on_site")["due_at"])
    assert before + 4 * HOUR <= due <= hlc.wall_ms() + 4 * HOUR


def test_a_pause_before_arrival_stops_the_clock_and_resumes_where_it_was(site, chen, wang):
    now = hlc.wall_ms()
    request = open_request(chen, assigned_to="wang", reported_at=ts(now - 3 * HOUR))
    assert results(wang, [event(wang, request, "accepted", ts(now - 3 * HOUR))]) == [("applied", None)]
    # The customer: the site is locked until the manager is back. Nobody is on the way yet.
    assert results(chen, [event(chen, request, "paused", ts(now - 2 * HOUR), reason="no_site_access")]) == [
        ("applied", None)]
    assert detail(chen, request)["status"] == "on_hold"
    assert results(chen, [event(chen, request, "resumed", ts(now - HOUR))]) == [("applied", None)]
    got = detail(chen, request)
    on_site = next(m for m in got["milestones"] if m["name"] == "on_site")
    assert got["status"] == "accepted"
    assert (on_site["status"], on_site["paused_ms"], on_site["due_at"]) == ("pending", HOUR, ts(now + 2 * HOUR))


def test_reported_at_is_set_once_so_nobody_moves_a_breach_away(site, chen, lin):
    # Regression (s25-desk2, finding 2): `reported_at` is a parent field (⬆, service.md's collections
    # table), but the desk and supervisors could change it: a breached request moved to a later call time
    # left the breach list. A different value is `immutable`; the same one is no change.
    now = hlc.wall_ms()
    request = open_request(chen, reported_at=ts(now - 5 * HOUR))
    assert request in breach_list(lin)
    for session in (chen, lin):
        assert results(session, [session.change("service_requests", request, {"reported_at": ts(now)})]) == [
            ("rejected", "immutable")]
    assert results(chen, [chen.change("service_requests", request, {"reported_at": ts(now - 5 * HOUR),
                                                                    "description": "still dark"})]) == [
        ("applied", None)]
    assert detail(lin, request)["reported_at"] == ts(now - 5 * HOUR)
    assert request in breach_list(lin)

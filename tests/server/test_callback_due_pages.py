"""Paging the call-backs still to make (待回访, `callback_due=true`) while the desk makes them (s29 fixes29a
item 1), with real pushes through the real app: every request the list held when the walk began comes
exactly once, in order, whatever was called back, tied or paused meanwhile."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sync import hlc
from tests.helpers import ok
from tests.server.test_callbacks import callback, sealed
from tests.server.test_service import event, results, ts

HOUR = 3_600_000
URL = "/api/service-requests"


def _page(session: Any, limit: int, after: str | None) -> dict[str, Any]:
    params = {"callback_due": "true", "limit": str(limit), **({"after": after} if after else {})}
    return ok(session.http.get(URL, headers=session.headers, params=params))


def _walk(session: Any, limit: int, between: Any) -> list[str]:
    """Every page of the list; `between(ids)` runs after each page (what the desk does with it)."""
    seen: list[str] = []
    after = None
    while True:
        page = _page(session, limit, after)
        ids = [r["id"] for r in page["requests"]]
        seen += ids
        after = page["next"]
        if after is None:
            return seen
        between(ids)


def _paused(chen: Any, wang: Any, signed_at: str) -> tuple[str, str]:
    request, visit = sealed(chen, wang, signed_at)
    assert results(chen, [event(chen, request, "paused", signed_at, reason="customer_unavailable")]) == [
        ("applied", None)]
    return request, visit


def test_the_next_page_follows_after_the_desk_called_back_the_last_request_of_a_page(site, chen, wang, lin):
    # Regression (s28's 待回访 list, found after it): `next` was the page's last request id and the next page
    # asked that request where it stands now. The desk calls back the customers of the page it reads, the last
    # one too: the request has no call-back to make any more, so "下一页" answered 400 invalid_cursor.
    now = hlc.wall_ms()
    tie = ts(now - 30 * HOUR)
    made = {request: visit for request, visit in (
        sealed(chen, wang, ts(now - 50 * HOUR)), sealed(chen, wang, tie), sealed(chen, wang, tie),
        sealed(chen, wang, ts(now - HOUR)), _paused(chen, wang, ts(now - 2 * HOUR)))}
    listed = [r["id"] for r in _page(lin, 200, None)["requests"]]
    assert set(listed) == set(made) and listed[-1] == list(made)[-1]  # the pause last

    def call_back(ids: list[str]) -> None:
        assert results(chen, [callback(chen, made[i], ts(hlc.wall_ms())) for i in ids]) == [("applied", None)] * len(ids)

    assert _walk(lin, 2, call_back) == listed
    assert _page(lin, 200, None)["requests"][0]["id"] == listed[-1]  # the last page's, not called back


# A shared store across examples: each adds a few requests to what the earlier ones left listed.
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(added=st.lists(st.tuples(st.sampled_from((-60, -30, -30, -1)), st.booleans()), max_size=3),
       limit=st.integers(1, 3), calls=st.lists(st.booleans(), min_size=1, max_size=12))
def test_every_page_of_the_callback_list_lists_each_request_once(site, chen, wang, lin, added, limit, calls):
    now = hlc.wall_ms()
    visits = _VISITS.setdefault(id(lin), {})
    for hours, pause in added:  # the ties: the same signing time, so the same due
        at = ts(now // HOUR * HOUR + hours * HOUR)
        request, visit = (_paused if pause else sealed)(chen, wang, at)
        visits[request] = visit
    listed = [r["id"] for r in _page(lin, 200, None)["requests"]]
    chosen = iter(calls * 20)

    def call_back_some(ids: list[str]) -> None:
        picked = [visits[i] for i in ids if next(chosen)]
        if picked:
            assert results(chen, [callback(chen, v, ts(hlc.wall_ms())) for v in picked]) == [
                ("applied", None)] * len(picked)

    assert _walk(lin, limit, call_back_some) == listed


_VISITS: dict[int, dict[str, str]] = {}

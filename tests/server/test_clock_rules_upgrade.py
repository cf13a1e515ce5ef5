"""A server whose stored clocks were derived under older clock rules derives them again when it starts
(`sync.clocks.RULES`, `backfill_milestones`): a request that gets no more events keeps what was stored."""

from __future__ import annotations

from sync import hlc
from sync.clocks import RULES
from tests.server.test_service import HOUR, event, open_request, results, ts


def _breached(session) -> list[str]:
    answer = session.http.get("/api/service-requests", headers=session.headers, params={"breached": "true"})
    assert answer.status_code == 200, answer.text
    return [r["id"] for r in answer.json()["requests"]]


def test_a_request_closed_on_hold_is_derived_again_under_the_new_rules_at_start(settings, store, site, chen):
    # Seed line 58 (一般故障应在24小时内修复): the rules of sync.clocks changed (a pause ends at a close).
    # A database from before kept the old answer for a request closed while on hold: its `fix` never due,
    # so never on the breach list, and a closed request gets no event that would derive it again.
    from server.services import Store

    now = hlc.wall_ms()
    request = open_request(chen, reported_at=ts(now - 48 * HOUR), assigned_to="wang")
    assert results(chen, [event(chen, request, "paused", ts(now - 47 * HOUR), reason="customer_unavailable"),
                          event(chen, request, "closed", ts(now - 46 * HOUR))]) == [("applied", None)] * 2
    assert request in _breached(chen)
    with store.write() as db:  # what a server of the old rules had stored: nothing due, no rules mark
        db.execute("UPDATE service_clocks SET breached = 0, breach_at = NULL, risk_at = NULL")
        db.execute("UPDATE service_milestones SET status = 'open', breach_at = NULL")
        db.execute("DELETE FROM meta WHERE key = 'clock_rules'")
    assert request not in _breached(chen)
    restarted = Store(settings)  # the upgraded server starts on the same database
    try:
        assert request in _breached(chen)
        with restarted.read() as db:
            assert db.execute("SELECT value FROM meta WHERE key = 'clock_rules'").fetchone()[0] == RULES
    finally:
        restarted.close()

"""The stored clock columns (issue 12, "Speed"): what `derived` keeps per request agrees with a
live `sync.clocks.clocks()` evaluation at every later `now` until the next event, on the wall
clock and with a working-hours calendar, with pauses, cancels, bench repairs and call-backs."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from server.domains.service.service import Inputs, derived
from server.domains.service.terms import TermsBook
from sync.hlc import format_ts, parse_ts

H, MIN = 3_600_000, 60_000
T0 = parse_ts("2026-11-16T02:00:00.000Z")  # Monday 10:00 in Shanghai
BOOK = TermsBook()
TERMS = {
    "wall": BOOK.terms("annual"),
    "office": BOOK.terms("annual", {"calendar": "cn-2026-office"}),
    "per_visit": BOOK.terms("per_visit", {"pause_reasons": ["customer_unavailable"]}),
}
KINDS = ("accepted", "arrived", "paused", "resumed", "fixed", "loaner_installed", "unit_sent", "unit_returned",
         "cancelled")
REASONS = ("customer_unavailable", "no_site_access")


def inputs(events: list[dict[str, Any]], terms: str, zone: str, complexity: str, video: bool,
           signed_at: int | None) -> Inputs:
    request = {"reported_at": format_ts(T0), "kind": "repair", "complexity": complexity, "status": "received",
               "site_id": "s"}
    return Inputs("r", request, events, [], {} if signed_at is None else {"v": format_ts(signed_at)},
                  {"zone": zone, "tz": "Asia/Shanghai"}, {"system": "video"} if video else None, TERMS[terms])


def live(x: Inputs, now: int) -> tuple[bool, bool]:
    statuses = [c.milestone.status for c in x.clocks(now)]
    breached = "breached" in statuses
    return breached, "at_risk" in statuses and not breached


def stored(row: tuple[bool, int | None, int | None], now: int) -> tuple[bool, bool]:
    _, breach_at, risk_at = row
    breached = breach_at is not None and breach_at <= now
    return breached, risk_at is not None and risk_at <= now and not breached


def agree(x: Inputs, computed_at: int, nows: list[int]) -> None:
    row = derived(x, computed_at)
    # The boundaries themselves, where an off-by-one would show.
    edges = [t + d for t in (row[1], row[2]) if t is not None for d in (-1, 0, 1)]
    for now in sorted({computed_at, *nows, *(t for t in edges if t >= computed_at)}):
        assert stored(row, now) == live(x, now), (format_ts(now), row)


event = st.tuples(st.sampled_from(KINDS), st.integers(0, 6 * 24 * 60), st.sampled_from(REASONS))


@settings(max_examples=300, deadline=None)
@given(st.lists(event, max_size=7), st.sampled_from(sorted(TERMS)), st.sampled_from(("urban", "suburban")),
       st.sampled_from(("ordinary", "complex")), st.booleans(), st.none() | st.integers(0, 3 * 24 * 60),
       st.integers(0, 24 * 60), st.lists(st.integers(0, 20 * 24 * 60), max_size=12))
def test_the_stored_columns_agree_with_a_live_evaluation_at_every_later_now(
        raw, terms, zone, complexity, video, signed, after, nows):
    events = [{"id": f"e{i}", "kind": kind, "at": format_ts(T0 + m * MIN), "effective_at": format_ts(T0 + m * MIN),
               **({"reason": reason} if kind == "paused" else {})} for i, (kind, m, reason) in enumerate(raw)]
    last = max([T0, *(parse_ts(e["at"]) for e in events)])
    signed_at = None if signed is None else T0 + signed * MIN
    computed_at = max(last, signed_at or T0) + after * MIN
    agree(inputs(events, terms, zone, complexity, video, signed_at), computed_at,
          [computed_at + n * MIN for n in nows])


def test_a_late_event_changes_the_answer_only_when_recomputed():
    # Regression (issue 12, "Speed"): the stored row is exact until the next event, and a late-synced
    # arrival (at 3 h, synced at 6 h) turns a breached on_site into a met one once recomputed.
    x = inputs([], "wall", "urban", "ordinary", False, None)
    before = derived(x, T0 + 6 * H)
    assert stored(before, T0 + 6 * H) == (True, False)
    x.events.append({"id": "late", "kind": "arrived", "at": format_ts(T0 + 3 * H),
                     "effective_at": format_ts(T0 + 3 * H)})
    after = derived(x, T0 + 6 * H)
    assert after[1] == T0 + 24 * H + 1  # now only `fix` can breach, a ms after its due_at
    agree(x, T0 + 6 * H, [T0 + n * H for n in range(6, 30)])


def test_an_open_pause_neither_breaches_nor_becomes_at_risk_until_resumed():
    paused = {"id": "p", "kind": "paused", "reason": "customer_unavailable", "at": format_ts(T0 + H),
              "effective_at": format_ts(T0 + H)}
    x = inputs([paused], "wall", "urban", "ordinary", False, None)
    breached, breach_at, risk_at = derived(x, T0 + 2 * H)
    assert (breached, breach_at, risk_at) == (False, None, None)
    assert live(x, T0 + 400 * H) == (False, False)


def test_with_office_hours_risk_begins_in_working_time():
    # Reported Friday 20 November 2026 at 17:00 Shanghai: the on_site clock's last hour (a quarter
    # of 4 h) begins on Monday, not in the weekend.
    friday = parse_ts("2026-11-20T09:00:00.000Z")
    x = inputs([], "office", "urban", "ordinary", False, None)
    x.request["reported_at"] = format_ts(friday)
    _, _, risk_at = derived(x, friday)
    assert risk_at is not None and risk_at > parse_ts("2026-11-23T00:30:00.000Z")  # after Monday 08:30 local
    agree(x, friday, [friday + n * H for n in range(0, 120, 3)])

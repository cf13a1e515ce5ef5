"""Response-time clocks (docs/service.md): examples from the contract's table, and properties."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.clocks import clocks, evaluate, explain, load_terms
from sync.errors import InvalidRequest
from sync.hlc import format_ts, parse_ts
from sync.periods import site_zone

DATA = json.loads((Path(__file__).resolve().parents[2] / "fixtures" / "service_terms.json").read_text("utf-8"))
ANNUAL = load_terms(DATA, "annual")
OFFICE = load_terms(DATA, "annual", {"calendar": "cn-2026-office"})
H, MIN = 3_600_000, 60_000
T0 = parse_ts("2026-11-16T02:00:00.000Z")  # Monday 10:00 in Shanghai
SITE, VIDEO = {"zone": "urban", "tz": "Asia/Shanghai"}, {"system": "video"}
REPAIR = {"reported_at": format_ts(T0), "kind": "repair"}


def ev(kind: str, at: int, id: str | None = None, **more: str) -> dict:
    return {"id": id or f"{kind}-{at}", "kind": kind, "at": format_ts(at), "effective_at": format_ts(at), **more}


def run(events=(), now=T0 + 100 * H, terms=ANNUAL, request=REPAIR, site=SITE, device=VIDEO, signed=None, calls=()):
    return {m.name: m for m in evaluate(request, list(events), signed or {}, list(calls), terms, site, device, now)}


# --- examples from the contract's table --------------------------------------------------------

def test_on_site_is_met_at_exactly_4_h_in_the_city_and_breached_a_millisecond_later():
    assert run([ev("arrived", T0 + 4 * H)])["on_site"].status == "met"
    assert run([ev("arrived", T0 + 4 * H + 1)])["on_site"].status == "breached"
    assert run([ev("arrived", T0 + 8 * H)], site={"zone": "suburban"})["on_site"].status == "met"


def test_fix_targets_follow_complexity():
    assert run()["fix"].due_at == format_ts(T0 + 24 * H)
    assert run(request={**REPAIR, "complexity": "complex"})["fix"].due_at == format_ts(T0 + 72 * H)


def test_restore_and_loaner_are_promised_by_annual_contracts_only():
    assert set(run()) == {"on_site", "fix", "restore", "loaner"}
    assert run([ev("loaner_installed", T0 + 11 * H)])["restore"].status == "met"
    assert set(run(device={"system": "access"})) == {"on_site", "fix", "loaner"}
    assert set(run(terms=load_terms(DATA, "per_visit"))) == {"on_site", "fix"}
    assert run(request={**REPAIR, "kind": "consultation"}) == {}


def test_bench_repair_runs_from_each_unit_sent_to_its_return():
    found = clocks(REPAIR, [ev("unit_sent", T0 + H), ev("unit_returned", T0 + H + 5 * 24 * H + 1),
                            ev("unit_sent", T0 + 200 * H)], {}, [], ANNUAL, SITE, None, T0 + 201 * H)
    benches = [c.milestone for c in found if c.milestone.name == "bench_repair"]
    assert [(m.due_at, m.status) for m in benches] == [
        (format_ts(T0 + H + 120 * H), "breached"), (format_ts(T0 + 320 * H), "pending")]


def test_callback_is_due_at_the_end_of_the_local_day():
    signed = T0 + 3 * H  # 13:00 in Shanghai: due at midnight there, 16:00 UTC
    found = run(signed={"v1": format_ts(signed)}, now=signed + H,
                calls=[{"visit_id": "v1", "called_at": format_ts(signed + 30 * MIN), "reached": False}])
    assert (found["callback"].due_at, found["callback"].status) == ("2026-11-16T16:00:00.000Z", "pending")
    reached = [{"visit_id": "v1", "called_at": "2026-11-16T15:59:00.000Z", "reached": True}]
    assert run(signed={"v1": format_ts(signed)}, calls=reached)["callback"].status == "met"


def test_a_request_fixed_by_phone_has_no_on_site_clock():
    found = run([ev("fixed", T0 + H)])
    assert (found["on_site"].status, found["fix"].status) == ("not_applicable", "met")


def test_cancelling_keeps_what_was_met_or_breached():
    found = run([ev("arrived", T0 + H), ev("cancelled", T0 + 13 * H)])
    assert {name: m.status for name, m in found.items()} == {
        "on_site": "met", "restore": "breached", "fix": "not_applicable", "loaner": "not_applicable"}
    assert run([ev("cancelled", T0 + H), ev("fixed", T0 + 2 * H)])["fix"].done_at is None


def test_a_cancel_the_status_refused_cancels_no_clock():
    # Regression (contract service.md "Response-time clocks"): a `cancelled` after the sheet was signed
    # is kept but moves nothing; the request is `signed`, so its call-back keeps running.
    signed = {"v1": format_ts(T0 + 3 * H)}
    events = [ev("arrived", T0 + H), ev("fixed", T0 + 2 * H), ev("cancelled", T0 + 4 * H)]
    now = T0 + 5 * H
    assert run(events, now=now, signed=signed, request={**REPAIR, "status": "signed"})["callback"].status == "pending"
    assert run(events, now=now, signed=signed, request={**REPAIR, "status": "cancelled"})["callback"].status == (
        "not_applicable")


def test_at_risk_is_a_quarter_of_the_target_or_less_left():
    assert run(now=T0 + 3 * H - 1)["on_site"].status == "pending"
    assert run(now=T0 + 3 * H)["on_site"].status == "at_risk"
    assert run(now=T0 + 4 * H)["on_site"].remaining_ms == 0
    assert run(now=T0 + 4 * H + 1)["on_site"].status == "breached"


def test_a_pause_needs_an_allowed_reason():
    paused = [ev("paused", T0 + H, reason="customer_unavailable"), ev("resumed", T0 + 2 * H)]
    assert (run(paused)["on_site"].due_at, run(paused)["on_site"].paused_ms) == (format_ts(T0 + 5 * H), H)
    other = [ev("paused", T0 + H, reason="lunch"), ev("resumed", T0 + 2 * H)]
    assert run(other)["on_site"].due_at == format_ts(T0 + 4 * H)
    strict = load_terms(DATA, "annual", {"pause_reasons": ["no_site_access"]})
    assert run(paused, terms=strict)["on_site"].paused_ms == 0


def test_an_open_pause_runs_to_now():
    found = run([ev("paused", T0 + H, reason="no_site_access")], now=T0 + 10 * H)
    assert (found["on_site"].due_at, found["on_site"].status) == (format_ts(T0 + 13 * H), "pending")


def test_explanation_line():
    found = clocks(REPAIR, [ev("arrived", T0 + 4 * H + 31 * MIN)], {}, [], ANNUAL, SITE, VIDEO, T0 + 5 * H)
    lines = {c.milestone.name: explain(c) for c in found}
    assert lines["on_site"] == "arrived 4 h 31 min after the call; 4 h allowed; 0 paused"
    assert lines["fix"] == "not fixed yet: 19 h left of 24 h; 0 paused"
    assert lines["restore"] == "service not restored yet: 7 h left of 12 h; 0 paused"


def test_office_hours_skip_weekends_holidays_and_open_make_up_workdays():
    friday = parse_ts("2026-09-18T08:30:00.000Z")  # 16:30 local; Sunday 20 September is a make-up workday
    found = run(request={"reported_at": format_ts(friday), "kind": "repair"}, terms=OFFICE, now=friday)
    assert found["on_site"].due_at == "2026-09-20T03:30:00.000Z"  # Sunday 11:30 local
    eve = parse_ts("2026-09-30T08:30:00.000Z")  # 16:30 local, then the National Day holiday to 7 October
    found = run(request={"reported_at": format_ts(eve), "kind": "repair"}, terms=OFFICE, now=eve)
    assert found["on_site"].due_at == "2026-10-08T03:30:00.000Z"


def test_a_duplicate_event_does_not_break_the_evaluation():
    # Regression: two identical events sorted by their dicts raised TypeError.
    twice = [ev("arrived", T0 + H, id="same"), ev("arrived", T0 + H, id="same")]
    assert run(twice)["on_site"].status == "met"


def test_events_with_unreadable_times_are_left_out():
    bad = [{"id": "x", "kind": "arrived", "at": "yesterday"}, {"id": "y", "kind": "fixed", "at": None}]
    assert run(bad) == run()


def test_an_override_merges_into_the_contracts_terms():
    terms = load_terms(DATA, "annual", {"on_site_hours": {"urban": 2}})
    assert (terms.on_site_urban, terms.on_site_suburban) == (2 * H, 8 * H)
    assert load_terms(DATA, None) == load_terms(DATA, "per_visit")


@pytest.mark.parametrize("override", [
    {"unknown": 1}, {"on_site_hours": {"rural": 3}}, {"on_site_hours": {"urban": 0}},
    {"fix_hours": {"ordinary": 10**9}}, {"restore_hours": "12"}, {"loaner_hours": True},
    {"pause_reasons": ["coffee"]}, {"pause_reasons": "no_site_access"}, {"callback": "yes"},
    {"calendar": "nowhere"}, {"calendar": {"week": {"mon": ["17:00-08:00"]}}},
    {"calendar": {"week": {"mon": ["08:00-12:00", "11:00-13:00"]}}}, {"calendar": {"week": {}}},
    {"calendar": {"week": {"mon": ["8:00-12:00"]}}}, {"calendar": {"week": {"mon": ["08:00-12:00"]}, "holidays": ["2026-02-30"]}},
    {"calendar": {"week": {"mon": ["08:00-12:00"]}, "holidays": ["x"] * 1001}}, {"calendar": [1]},
])
def test_a_bad_override_is_refused(override):
    with pytest.raises(InvalidRequest):
        load_terms(DATA, "annual", override)


def test_an_unknown_contract_is_refused():
    with pytest.raises(InvalidRequest):
        load_terms(DATA, "platinum")


# --- properties ----------------------------------------------------------------------------------

KINDS = ["accepted", "departed", "arrived", "fixed", "loaner_installed", "unit_sent", "unit_returned", "left",
         "cancelled", "paused", "resumed", "closed"]
REASONS = ["customer_unavailable", "no_site_access", "awaiting_approval", "other"]
minutes = st.integers(0, 6 * 24 * 60)


@st.composite
def event_lists(draw, kinds=KINDS):
    out = []
    for n, (kind, at) in enumerate(draw(st.lists(st.tuples(st.sampled_from(kinds), minutes), max_size=12))):
        out.append(ev(kind, T0 + at * MIN, id=f"e{n}", reason=draw(st.sampled_from(REASONS))))
    return out


terms_st = st.sampled_from([ANNUAL, OFFICE])
now_st = st.integers(0, 8 * 24 * 60).map(lambda m: T0 + m * MIN)
signed_st = st.dictionaries(st.sampled_from(["v1", "v2"]), minutes.map(lambda m: format_ts(T0 + m * MIN)), max_size=2)
prop = settings(max_examples=150, deadline=None)


@prop
@given(event_lists(), st.randoms(use_true_random=False), terms_st, now_st, signed_st)
def test_the_result_does_not_depend_on_the_order_events_arrive_in(events, rng, terms, now, signed):
    shuffled = list(events)
    rng.shuffle(shuffled)
    assert run(shuffled, now, terms, signed=signed) == run(events, now, terms, signed=signed)


@prop
@given(event_lists(), terms_st, now_st, minutes, st.integers(1, 48 * 60), st.sampled_from(REASONS[:3]))
def test_an_allowed_pause_never_makes_a_due_at_earlier(events, terms, now, begin, length, reason):
    plain = [e for e in events if e["kind"] not in ("paused", "resumed")]
    paused = [*plain, ev("paused", T0 + begin * MIN, id="p", reason=reason),
              ev("resumed", T0 + (begin + length) * MIN, id="r")]
    before, after = run(plain, now, terms), run(paused, now, terms)
    assert before.keys() == after.keys()
    for name in before:
        assert parse_ts(after[name].due_at) >= parse_ts(before[name].due_at)


@prop
@given(st.lists(st.sampled_from(["accepted", "departed", "left"]), max_size=4), minutes, st.integers(1, 24 * 60),
       st.sampled_from(REASONS[:3]))
def test_on_wall_clock_a_pause_moves_a_pending_due_at_by_exactly_its_length(kinds, begin, length, reason):
    plain = [ev(kind, T0 + n * MIN, id=f"k{n}") for n, kind in enumerate(kinds)]
    pause = [ev("paused", T0 + begin * MIN, id="p", reason=reason), ev("resumed", T0 + (begin + length) * MIN, id="r")]
    now = T0 + (begin + length) * MIN
    before, after = run(plain, now), run(plain + pause, now)
    for name, milestone in before.items():
        if T0 + begin * MIN < parse_ts(milestone.due_at):  # pending when the pause began
            assert parse_ts(after[name].due_at) - parse_ts(milestone.due_at) == length * MIN
            assert after[name].paused_ms == length * MIN
        else:
            assert after[name] == milestone


@prop
@given(event_lists(), terms_st, now_st, signed_st,
       st.lists(st.tuples(st.sampled_from(["v1", "v2"]), minutes, st.booleans()), max_size=3))
def test_met_exactly_when_done_at_is_at_most_due_at(events, terms, now, signed, calls):
    calls = [{"visit_id": v, "called_at": format_ts(T0 + m * MIN), "reached": r} for v, m, r in calls]
    for m in evaluate(REPAIR, events, signed, calls, terms, SITE, VIDEO, now):
        done_in_time = m.done_at is not None and parse_ts(m.done_at) <= parse_ts(m.due_at)
        assert (m.status == "met") == done_in_time


@prop
@given(st.integers(0, 21 * 24 * 60), st.sampled_from(["on_site", "fix", "restore", "loaner"]))
def test_time_outside_working_hours_never_counts(offset, name):
    calendar, zone = OFFICE.calendar, site_zone("Asia/Shanghai")
    assert calendar is not None
    reported = parse_ts("2026-09-14T00:00:00.000Z") + offset * MIN  # three weeks around the National Day holiday
    first_working = calendar.add(zone, reported, 0)  # the start of the next working interval (or now, inside one)
    due = run(request={**REPAIR, "reported_at": format_ts(reported)}, terms=OFFICE, now=reported)[name].due_at
    later = run(request={**REPAIR, "reported_at": format_ts(first_working)}, terms=OFFICE, now=reported)[name].due_at
    assert due == later
    target = {"on_site": OFFICE.on_site_urban, "fix": OFFICE.fix_ordinary, "restore": OFFICE.restore,
              "loaner": OFFICE.loaner}[name]
    assert calendar.worked(zone, reported, parse_ts(due)) == target


@prop
@given(event_lists(), st.data(), terms_st, now_st)
def test_a_voided_event_changes_nothing_but_what_it_voids(events, data, terms, now):
    voided = data.draw(st.sampled_from([*(e["id"] for e in events), "no-such-event"]))
    at = T0 + data.draw(minutes) * MIN
    with_void = [*events, ev("voided", at, id="void", note=voided)]
    without = [e for e in events if e["id"] != voided]
    assert run(with_void, now, terms) == run(without, now, terms)


def test_a_far_past_report_counts_working_time_over_a_bounded_number_of_days():
    # Hostile input: a request "reported" in 1970 made a calendar walk 20,000 days per count.
    calendar, zone = OFFICE.calendar, site_zone("Asia/Shanghai")
    assert calendar is not None
    capped = calendar.worked(zone, 0, T0)
    assert 0 < capped == calendar.worked(zone, 0, 3_700 * 24 * H)
    found = run(request={**REPAIR, "reported_at": "1970-01-01T00:00:00.000Z"}, terms=OFFICE, now=T0)
    assert {m.status for m in found.values()} == {"breached"}


def test_call_backs_given_as_a_generator_count_for_every_visit():
    signed = {"v1": format_ts(T0 + H), "v2": format_ts(T0 + 2 * H)}
    calls = ({"visit_id": v, "called_at": format_ts(T0 + 3 * H), "reached": True} for v in ("v1", "v2"))
    found = evaluate(REPAIR, [], signed, calls, ANNUAL, SITE, None, T0 + 4 * H)
    assert [m.status for m in found if m.name == "callback"] == ["met", "met"]

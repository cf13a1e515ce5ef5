"""The hybrid logical clock: its text form, its order, and how it advances."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync import hlc
from sync.hlc import MAX_COUNTER, Clock, Hlc, node_of, parse

NODE = "4f0c6b1e-0c1d-4e8f-9a2b-3c4d5e6f7a8b"
T = 1_764_201_600_000


def test_format_and_parse_round_trip():
    text = str(Hlc(T, 0x1A, NODE))
    assert text == f"1764201600000-001a-{NODE}"
    assert hlc.parse(text) == Hlc(T, 0x1A, NODE)
    assert str(Hlc(5, 0, "srv")) == "0000000000005-0000-srv"
    assert hlc.parse("0000000000005-ffff-srv") == Hlc(5, MAX_COUNTER, "srv")


@pytest.mark.parametrize("a, b", [
    (Hlc(T, 0, "srv"), Hlc(T + 1, 0, "srv")),
    (Hlc(999, 0xFFFF, "srv"), Hlc(1000, 0, "srv")),  # zero padding makes 999 < 1000 as text too
    (Hlc(T, 9, NODE), Hlc(T, 0xA, NODE)),  # hex digits: 9 < a
    (Hlc(T, 0xFF, NODE), Hlc(T, 0x100, NODE)),
    (Hlc(T, 1, "aaa"), Hlc(T, 1, "srv")),
])
def test_string_order_is_tuple_order(a, b):
    assert tuple(a) < tuple(b)
    assert str(a) < str(b)


@given(st.lists(st.tuples(st.integers(0, 10**13 - 1), st.integers(0, MAX_COUNTER),
                          st.sampled_from(["srv", NODE, "0a", "a0", "zz", "1-2"])), min_size=2, max_size=8))
def test_string_order_equals_tuple_order_property(stamps):
    hlcs = [Hlc(*s) for s in stamps]
    assert sorted(hlcs, key=str) == sorted(hlcs, key=tuple) or len(set(map(str, hlcs))) < len(hlcs)
    for a in hlcs:
        for b in hlcs:
            assert (str(a) < str(b)) == (tuple(a) < tuple(b))


def test_now_uses_the_wall_clock_when_it_is_ahead():
    clock = Clock(NODE)
    assert clock.now(T) == str(Hlc(T, 0, NODE))
    assert clock.now(T + 5) == str(Hlc(T + 5, 0, NODE))


def test_now_stays_monotonic_when_the_wall_clock_goes_back():
    clock = Clock(NODE)
    first = clock.now(T)
    same = clock.now(T)
    back = clock.now(T - 60_000)
    assert [first, same, back] == [str(Hlc(T, 0, NODE)), str(Hlc(T, 1, NODE)), str(Hlc(T, 2, NODE))]
    assert first < same < back


def test_clock_resumes_from_last():
    clock = Clock(NODE, last=str(Hlc(T, 7, "whatever")))
    assert clock.last == str(Hlc(T, 7, NODE))
    assert clock.now(T - 1) == str(Hlc(T, 8, NODE))


def test_observe_remote_ahead_takes_remote_ms_and_counter_plus_one():
    clock = Clock("srv")
    clock.now(T)
    assert clock.observe(str(Hlc(T + 100, 5, NODE)), wall=T + 1) == str(Hlc(T + 100, 6, "srv"))


def test_observe_same_ms_takes_the_larger_counter_plus_one():
    clock = Clock("srv")
    clock.now(T)
    clock.now(T)  # counter 1
    assert clock.observe(Hlc(T, 4, NODE), wall=T) == str(Hlc(T, 5, "srv"))
    assert clock.observe(Hlc(T, 0, NODE), wall=T) == str(Hlc(T, 6, "srv"))


def test_observe_local_ahead_bumps_own_counter():
    clock = Clock("srv")
    clock.now(T + 50)
    assert clock.observe(Hlc(T, 9, NODE), wall=T) == str(Hlc(T + 50, 1, "srv"))


def test_observe_wall_ahead_of_both_resets_counter():
    clock = Clock("srv")
    clock.now(T)
    assert clock.observe(Hlc(T + 1, 9, NODE), wall=T + 10) == str(Hlc(T + 10, 0, "srv"))


def test_counter_overflow_moves_to_the_next_millisecond():
    clock = Clock(NODE, last=str(Hlc(T, MAX_COUNTER - 1, NODE)))
    assert clock.now(T) == str(Hlc(T, MAX_COUNTER, NODE))
    overflowed = clock.now(T)
    assert overflowed == str(Hlc(T + 1, 0, NODE))
    assert overflowed > str(Hlc(T, MAX_COUNTER, NODE))
    remote = Clock("srv")
    assert remote.observe(Hlc(T, MAX_COUNTER, NODE), wall=T) == str(Hlc(T + 1, 0, "srv"))


@pytest.mark.parametrize("text", [
    "",
    "1764201600000-0000",  # no node
    "1764201600000-0000-",  # empty node
    "176420160000-0000-srv",  # 12 digits
    "17642016000000-0000-srv",  # 14 digits
    "1764201600000-000-srv",  # 3 hex digits
    "1764201600000-00000-srv",
    "1764201600000-00AF-srv",  # upper-case hex
    "1764201600000-00g0-srv",
    "1764201600000-0000-SRV",  # upper-case node
    "1764201600000-0000-srv x",
    " 1764201600000-0000-srv",
    "-764201600000-0000-srv",
    "1764201600000_0000_srv",
    "1764201600000-0000-" + "a" * 65,
    # Regression: `$` matched before a trailing newline, so this parsed as a valid HLC.
    "1764201600000-0000-srv\n",
    # Regression: `\d` matched any Unicode digit, and int() read Arabic-Indic digits as a time.
    "\u0661\u0667\u0666\u0664\u0662\u0660\u0661\u0666\u0660\u0660\u0660\u0660\u0660-0000-srv",
    "1764201600000-\u0660\u0660\u0660\u0660-srv",
])
def test_malformed_hlc_rejected(text):
    with pytest.raises(ValueError):
        hlc.parse(text)


def test_timestamps_round_trip():
    assert hlc.format_ts(T) == "2025-11-27T00:00:00.000Z"
    assert hlc.format_ts(T + 1_234) == "2025-11-27T00:00:01.234Z"
    assert hlc.parse_ts("2025-11-27T00:00:01.234Z") == T + 1_234
    for bad in ["2025-11-27T00:00:01Z", "2025-11-27T00:00:01.234+00:00", "2025-11-27 00:00:01.234Z",
                "2025-13-27T00:00:01.234Z", "2025-11-27T00:00:01.234Z\n",
                "\u0662\u0660\u0662\u0665-11-27T00:00:01.234Z"]:
        with pytest.raises(ValueError):
            hlc.parse_ts(bad)


_walls = st.integers(T - 10_000, T + 10_000)
_events = st.lists(
    st.one_of(
        st.tuples(st.just("now"), _walls),
        st.tuples(st.just("observe"), _walls,
                  st.builds(Hlc, st.integers(T - 10_000, T + 20_000), st.integers(0, MAX_COUNTER),
                            st.just(NODE))),
    ),
    min_size=1,
    max_size=60,
)


@settings(max_examples=200)
@given(_events)
def test_issued_hlcs_strictly_increase(events):
    clock = Clock("srv")
    issued = []
    for event in events:
        if event[0] == "now":
            stamp = clock.now(event[1])
        else:
            stamp = clock.observe(event[2], wall=event[1])
            # An observed HLC is always below the next local one.
            assert hlc.parse(stamp)[:2] > tuple(event[2])[:2]
        if issued:
            assert stamp > issued[-1]
            assert tuple(hlc.parse(stamp)) > tuple(hlc.parse(issued[-1]))
        issued.append(stamp)
        assert hlc.parse(stamp).ms >= max(e[1] for e in events[: len(issued)])


@settings(max_examples=200, deadline=None)
@given(ms=st.integers(0, 10**13 - 1), counter=st.integers(0, MAX_COUNTER),
       node=st.from_regex(r"[0-9a-z-]{1,64}", fullmatch=True))
def test_node_of_is_the_parsed_node(ms: int, counter: int, node: str) -> None:
    """Stored clocks name their writer by a slice (issue 15): the node `parse` reads, for every HLC it accepts."""
    text = str(Hlc(ms, counter, node))
    assert node_of(text) == parse(text).node == node
    clock = Clock(node, text)
    assert clock.last == text


@settings(max_examples=200)
@given(_events)
def test_see_moves_the_clock_as_observe_does(events):
    # The server sees each pushed change's HLC without formatting its own (issue 15).
    observing, seeing = Clock("srv"), Clock("srv")
    for event in events:
        if event[0] == "now":
            assert seeing.now(event[1]) == observing.now(event[1])
        else:
            seeing.see(event[2], wall=event[1])
            assert seeing.last == observing.observe(event[2], wall=event[1])

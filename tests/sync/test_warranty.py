"""Warranty phases on a date (docs/service.md, "Warranty"): the boundaries of each phase."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.warranty import Warranty, ends_on, phase

START = date(2026, 3, 10)


def _on(day_no: int, device: dict | None = None, site: dict | None = None) -> str:
    device = {"warranty_from": START.isoformat()} if device is None else device
    return phase(device, site or {}, START + timedelta(days=day_no - 1)).phase


@pytest.mark.parametrize(("day_no", "expected"), [
    (0, "unknown"),  # the day before the start: not yet under warranty
    (1, "return"), (7, "return"),
    (8, "exchange"), (30, "exchange"),
    (31, "repair"),
])
def test_phase_boundaries(day_no, expected):
    assert _on(day_no) == expected


def test_the_last_day_is_repair_and_the_day_after_expired():
    device = {"warranty_from": "2026-03-10"}
    assert phase(device, {}, date(2027, 3, 9)) == Warranty(phase="repair", starts_on="2026-03-10", ends_on="2027-03-09")
    assert phase(device, {}, date(2027, 3, 10)).phase == "expired"


def test_a_leap_day_is_a_day_of_its_own():
    device = {"warranty_from": "2024-02-01"}
    assert phase(device, {}, date(2024, 2, 29)).phase == "exchange"  # day 29
    assert phase(device, {}, date(2024, 3, 1)).phase == "exchange"  # day 30
    assert phase(device, {}, date(2024, 3, 2)).phase == "repair"  # day 31


def test_a_warranty_from_a_leap_day_ends_on_the_last_day_of_february():
    assert ends_on(date(2024, 2, 29), 12) == date(2025, 2, 28)
    device = {"warranty_from": "2024-02-29"}
    assert phase(device, {}, date(2025, 2, 28)).phase == "repair"
    assert phase(device, {}, date(2025, 3, 1)).phase == "expired"
    assert ends_on(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert ends_on(date(2026, 1, 15), 24) == date(2028, 1, 14)


@pytest.mark.parametrize(("device", "site", "starts_on", "ends"), [
    ({"warranty_from": "2026-01-15", "installed_on": "2025-01-01"}, {"accepted_on": "2025-06-01"}, "2026-01-15", "2027-01-14"),
    ({"installed_on": "2025-01-01"}, {"accepted_on": "2025-06-01", "warranty_months": 24}, "2025-06-01", "2027-05-31"),
    ({"installed_on": "2025-01-01", "warranty_months": 36}, {"warranty_months": 24}, "2025-01-01", "2027-12-31"),
    # A bad length (zero, negative, absurd, not a number) is no length: the next one applies.
    ({"installed_on": "2025-01-01", "warranty_months": 0}, {"warranty_months": 10**9}, "2025-01-01", "2025-12-31"),
    ({"installed_on": "2025-01-01", "warranty_months": True}, {"warranty_months": "24"}, "2025-01-01", "2025-12-31"),
])
def test_which_start_and_length_win(device, site, starts_on, ends):
    found = phase(device, site, date(2026, 6, 1))
    assert (found.starts_on, found.ends_on) == (starts_on, ends)


@pytest.mark.parametrize("device", [{}, {"installed_on": None}, {"warranty_from": "2026-02-30"}, {"installed_on": "soon"}])
def test_no_start_date_is_unknown(device):
    assert phase(device, {"accepted_on": None}, date(2026, 6, 1)) == Warranty(phase="unknown")


def test_no_device_is_none_and_a_void_warranty_is_void():
    assert phase(None, {"accepted_on": "2026-01-01"}, date(2026, 1, 2)) == Warranty(phase="none")
    found = phase({"warranty_from": "2026-01-01"}, {}, date(2026, 1, 2), void=True)
    assert found == Warranty(phase="void", starts_on="2026-01-01", ends_on="2026-12-31")


_ORDER = ("unknown", "return", "exchange", "repair", "expired")


@settings(max_examples=300, deadline=None)
@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)), st.integers(min_value=1, max_value=1_200),
       st.integers(min_value=-40, max_value=40_000))
def test_phases_follow_the_contracts_order_day_by_day(start, months, day_no):
    # Contract service.md "Warranty": day 1 is the start date; 1-7 return, 8-30 exchange, then repair to
    # the warranty's end, then expired. A day never goes back a phase, and the last day is still covered.
    device = {"warranty_from": start.isoformat(), "warranty_months": months}
    today, tomorrow = (phase(device, {}, start + timedelta(days=day_no - 1 + d)) for d in (0, 1))
    assert _ORDER.index(today.phase) <= _ORDER.index(tomorrow.phase)
    last = date.fromisoformat(str(today.ends_on))
    assert start < last + timedelta(days=1) and (last - start).days < months * 31
    assert phase(device, {}, last).phase != "expired" and phase(device, {}, last + timedelta(days=1)).phase == "expired"
    if day_no >= 1 and start + timedelta(days=day_no - 1) <= last:
        expected = "return" if day_no <= 7 else "exchange" if day_no <= 30 else "repair"
        assert today.phase == expected


def test_a_date_stored_before_dates_were_bounded_reads_as_none():
    # Regression (s24): a `warranty_from` of 9999-12-31, stored before dates were bounded to 1900-2100,
    # made the warranty's end overflow the calendar (the console's device page was a 500). It reads as
    # no date: the next start in line (the site's acceptance) is taken, or the phase is unknown.
    far = {"warranty_from": "9999-12-31", "installed_on": "0001-01-01"}
    assert phase(far, {}, date(2026, 12, 7)) == Warranty(phase="unknown")
    assert phase(far, {"accepted_on": "2026-03-10"}, date(2026, 3, 10)).phase == "return"

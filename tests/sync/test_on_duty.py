"""Who is on duty (issue 13, item 6): pure, the same on the phone and the server.

The roster's zone is Asia/Shanghai (UTC+8): local times below are turned into UTC instants.
Office hours are the `cn-2026-office` calendar of fixtures/service_terms.json (Monday–Friday
08:30–17:30, the 2026 holidays and make-up workdays).
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from sync.duty import DutyRules, on_call_minutes, on_duty, roster_id
from sync.errors import InvalidRequest

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures"
CALENDARS = json.loads((FIXTURES / "service_terms.json").read_text(encoding="utf-8"))["calendars"]
RULES = DutyRules.from_data(json.loads((FIXTURES / "duty.json").read_text(encoding="utf-8")), CALENDARS)
ROSTERS = {"2026-M10": {"month": "2026-M10", "technician": "zhao"},
           "2026-M11": {"month": "2026-M11", "technician": "wang"}}
CST = timezone(timedelta(hours=8))


def at(local: str) -> int:
    """A local time in Shanghai (`2026-11-07 08:00:00`) as ms since the epoch."""
    return int(datetime.fromisoformat(local).replace(tzinfo=CST).timestamp() * 1000)


@pytest.mark.parametrize(("local", "technician"), [
    # A Saturday: on call from 08:00 to 22:30, both minutes included.
    ("2026-11-07 07:59:59", None),
    ("2026-11-07 08:00:00", "wang"),
    ("2026-11-07 22:30:00", "wang"),
    ("2026-11-07 22:30:59", "wang"),
    ("2026-11-07 22:31:00", None),
    ("2026-11-07 03:00:00", None),
    # A Monday: the office (08:30 to 17:30, half-open) answers, not the duty phone.
    ("2026-11-09 08:29:59", "wang"),
    ("2026-11-09 08:30:00", None),
    ("2026-11-09 12:00:00", None),
    ("2026-11-09 17:29:59", None),
    ("2026-11-09 17:30:00", "wang"),
    ("2026-11-09 22:31:00", None),
    # National Day, a Thursday holiday: on call all day, October's technician.
    ("2026-10-01 10:00:00", "zhao"),
    # A make-up workday (Saturday 10 October): office hours as on a weekday.
    ("2026-10-10 10:00:00", None),
    ("2026-10-10 18:00:00", "zhao"),
    # The month boundary, in the roster's zone: the last evening of October, the first morning of November.
    ("2026-10-31 22:30:00", "zhao"),
    ("2026-11-01 08:00:00", "wang"),
    # No roster for December: nobody.
    ("2026-12-05 10:00:00", None),
])
def test_who_is_on_duty_at_the_edges(local, technician):
    assert on_duty(at(local), ROSTERS, RULES) == technician


def test_a_roster_row_sets_its_own_on_call_hours():
    rosters = {"2026-M11": {"month": "2026-M11", "technician": "wang", "from": "09:15", "until": "20:00"}}
    assert on_duty(at("2026-11-07 09:14:59"), rosters, RULES) is None
    assert on_duty(at("2026-11-07 09:15:00"), rosters, RULES) == "wang"
    assert on_duty(at("2026-11-07 20:00:59"), rosters, RULES) == "wang"
    assert on_duty(at("2026-11-07 20:01:00"), rosters, RULES) is None


@pytest.mark.parametrize("hours", [{"from": "22:30", "until": "08:00"}, {"from": "8:00"}, {"until": "24:00"},
                                   {"from": "10:00", "until": "10:00"}])
def test_on_call_hours_that_make_no_sense_put_nobody_on_duty(hours):
    roster = {"month": "2026-M11", "technician": "wang", **hours}
    assert on_call_minutes(roster, RULES) is None
    assert on_duty(at("2026-11-07 12:00:00"), {"2026-M11": roster}, RULES) is None


def test_the_month_and_its_bounds_are_the_roster_zones():
    assert RULES.month(at("2026-11-01 00:00:00")) == "2026-M11"
    assert RULES.month(at("2026-10-31 23:59:59")) == "2026-M10"
    assert RULES.month_bounds("2026-M11") == (at("2026-11-01 00:00:00"), at("2026-12-01 00:00:00"))


def test_the_roster_id_is_one_per_month():
    assert roster_id("2026-M11") == roster_id("2026-M11") != roster_id("2026-M12")


@pytest.mark.parametrize("data", [
    {"office_hours": "no-such-calendar"},
    {"office_hours": "cn-2026-office", "from": "23:00", "until": "07:00"},
    {"office_hours": "cn-2026-office", "until": "noon"},
])
def test_duty_rules_that_make_no_sense_are_refused(data):
    with pytest.raises(InvalidRequest):
        DutyRules.from_data(data, CALENDARS)


def test_an_unknown_rule_is_refused_in_the_operators_file_and_kept_past_on_a_phone():
    # Regression (session 26, the lead's final read): the unknown-key check added for the operator's
    # fixtures/duty.json also ran where a phone reads the server's rules, so a key a newer server added
    # would have stopped every older phone; clients keep what they do not know.
    data = {**json.loads((FIXTURES / "duty.json").read_text(encoding="utf-8")), "handover": "08:30"}
    with pytest.raises(InvalidRequest, match="handover: not a rule"):
        DutyRules.from_data(data, CALENDARS, strict=True)
    phone = DutyRules.from_data(data, CALENDARS)  # as client_sdk/charges.py reads the server's
    assert replace(phone, office=RULES.office) == RULES  # the same rules (a calendar has no ==)

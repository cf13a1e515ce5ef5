"""A site's time zone and periods: one rule for the server and the client SDK (issue 11: the
fallback for an unknown `sites.tz` was written four times, and the SDK's photo path fell back differently)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from sync.periods import period_bounds, period_of, site_today, site_zone

# 2026-12-31 20:00 UTC is already 2027-01-01 in China: the day and the period turn over.
NEW_YEAR = datetime(2026, 12, 31, 20, 0, tzinfo=UTC)


@pytest.mark.parametrize("tz", [None, "", "Not/A_Zone", "../../etc/passwd", 8])
def test_a_missing_or_unknown_zone_is_the_users_default(tz):
    assert site_today(tz, NEW_YEAR) == site_today("Asia/Shanghai", NEW_YEAR) == date(2027, 1, 1)
    assert NEW_YEAR.astimezone(site_zone(tz)).utcoffset() == NEW_YEAR.astimezone(site_zone(None)).utcoffset()


def test_a_known_zone_is_the_sites_own():
    assert site_today("Europe/Berlin", NEW_YEAR) == date(2026, 12, 31)
    assert period_of(site_today("Europe/Berlin", NEW_YEAR)) == "2026-Q4"
    assert period_of(site_today(None, NEW_YEAR)) == "2027-Q1"


@pytest.mark.parametrize(("period", "first", "last"), [
    ("2026-Q4", date(2026, 10, 1), date(2026, 12, 31)),
    ("2026-H1", date(2026, 1, 1), date(2026, 6, 30)),
    ("2024-M2", date(2024, 2, 1), date(2024, 2, 29)),
])
def test_period_bounds(period, first, last):
    assert period_bounds(period) == (first, last)

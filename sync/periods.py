"""Maintenance periods (`2026-Q4`, `2026-H2`, `2026-M11`) and a site's time zone.

Pure and shared: the server and the client SDK compute "today at the site" and
its period the same way, with the same fallback when a site's `tz` is unknown.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DEFAULT_TZ = "Asia/Shanghai"  # the users' default, for a site without a `tz`
_CST = timezone(timedelta(hours=8))  # China Standard Time: when even the default is not installed


def site_zone(tz: object) -> tzinfo:
    """A site's time zone (`sites.tz`); the users' default when it has none or names an unknown one."""
    try:
        return ZoneInfo(str(tz or DEFAULT_TZ))
    except (ZoneInfoNotFoundError, ValueError):
        return _CST


def site_today(tz: object, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(site_zone(tz)).date()


FREQUENCIES = ("quarterly", "half_yearly", "monthly")  # the periods `period_of` names


def period_of(day: date, frequency: str = "quarterly") -> str:
    if frequency == "monthly":
        return f"{day.year}-M{day.month}"
    if frequency == "half_yearly":
        return f"{day.year}-H{1 if day.month <= 6 else 2}"
    return f"{day.year}-Q{(day.month - 1) // 3 + 1}"


def period_bounds(period: str) -> tuple[date, date]:
    """First and last day of a period."""
    year, part = int(period[:4]), period[5:]
    kind, number = part[0], int(part[1:])
    months = {"Q": 3, "H": 6, "M": 1}[kind]
    first_month = (number - 1) * months + 1
    first = date(year, first_month, 1)
    after = date(year + (first_month + months - 1) // 12, (first_month + months - 1) % 12 + 1, 1)
    return first, after - timedelta(days=1)


def previous_period(period: str) -> str:
    """The period of the same kind just before (`2026-Q4` before `2027-Q1`, `2026-M12` before `2027-M1`)."""
    frequency = {"Q": "quarterly", "H": "half_yearly", "M": "monthly"}[period[5]]
    return period_of(period_bounds(period)[0] - timedelta(days=1), frequency)


def sheet_no(period: str, number: int) -> str:
    """The periodic maintenance sheet number, e.g. PM-2026Q4-0001."""
    return f"PM-{period.replace('-', '')}-{number:04d}"

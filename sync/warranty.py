"""A device's warranty phase on a date (docs/service.md, "Warranty"). Pure, shared by both ends."""

from __future__ import annotations

from calendar import monthrange
from collections.abc import Mapping
from datetime import date, timedelta
from typing import Any, Literal

import msgspec

from .fields import MAX_DATE_YEAR, MIN_DATE_YEAR

DEFAULT_MONTHS = 12  # the national rule
MAX_MONTHS = 1_200  # a hundred years: more is a typo, and the site's or the default applies
RETURN_DAYS, EXCHANGE_DAYS = 7, 30
Phase = Literal["return", "exchange", "repair", "expired", "unknown", "void", "none"]


class Warranty(msgspec.Struct, kw_only=True):
    phase: Phase
    starts_on: str | None = None
    ends_on: str | None = None


def _date(value: object) -> date | None:
    """A stored date in the years the field check accepts; one stored before they were bounded (the
    end of 9999: its warranty's end has no calendar day) reads as none."""
    try:
        found = date.fromisoformat(value) if isinstance(value, str) and len(value) == 10 else None
    except ValueError:
        return None
    return found if found is not None and MIN_DATE_YEAR <= found.year <= MAX_DATE_YEAR else None


def _months(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_MONTHS:
        return None
    return value


def ends_on(start: date, months: int) -> date:
    """The last day: the day before the same day `months` later, or that month's last day when
    it has no such day (from 2024-02-29 for 12 months: 2025-02-28)."""
    year, month = divmod(start.month - 1 + months, 12)
    year, month = start.year + year, month + 1
    if start.day > monthrange(year, month)[1]:
        return date(year, month, monthrange(year, month)[1])
    return date(year, month, start.day) - timedelta(days=1)


def phase(device: Mapping[str, Any] | None, site: Mapping[str, Any], on_date: date, void: bool = False) -> Warranty:
    """The phase on `on_date` (the request's local date): day 1 is the start date.

    `void` is a visit's `warranty_void`; before the start date the phase is `unknown`.
    """
    if device is None:
        return Warranty(phase="none")
    start = _date(device.get("warranty_from")) or _date(site.get("accepted_on")) or _date(device.get("installed_on"))
    if start is None:
        return Warranty(phase="void" if void else "unknown")
    months = _months(device.get("warranty_months")) or _months(site.get("warranty_months")) or DEFAULT_MONTHS
    last = ends_on(start, months)
    day = (on_date - start).days + 1
    found: Phase = (
        "void" if void else "unknown" if day < 1 else "expired" if on_date > last
        else "return" if day <= RETURN_DAYS else "exchange" if day <= EXCHANGE_DAYS else "repair"
    )
    return Warranty(phase=found, starts_on=start.isoformat(), ends_on=last.isoformat())

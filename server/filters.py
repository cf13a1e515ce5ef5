"""Query filters: a mistyped value is a 400 naming the valid ones, never an empty 200 (issue 10)."""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from sync import errors as E
from sync.fields import MAX_PERIOD_YEAR, MIN_TIME_YEAR

MAX_LISTED = 100  # valid values named in a problem body (kinds come from the database)
_SHOWN = 64  # characters of a wrong value quoted back
# RFC 3339: a fraction of any length up to nanoseconds (milliseconds are kept), `Z` or an offset. A `+`
# sent unencoded in a query string arrives as a space; in the offset's place it can only mean `+`.
_RFC3339 = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]{1,9}))?"
                      r"([Zz]|[+ -][0-9]{2}:[0-9]{2})", re.ASCII)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


def any_of(name: str, value: str | None, valid: Collection[str]) -> list[str] | None:
    """A comma-separated filter (`kind=dome_camera, bullet_camera`): spaces around commas are
    ignored, empty items dropped; None when nothing is left (no filter)."""
    if value is None:
        return None
    items = [v.strip() for v in value.split(",")]
    items = [v for v in items if v]
    unknown = [v for v in items if v not in valid]
    if unknown:
        listed = sorted(valid)[:MAX_LISTED]
        shown = ", ".join(repr(v[:_SHOWN]) for v in unknown[:5])
        raise E.InvalidFilter(f"{name} {shown} is not known; valid: {', '.join(listed)}", parameter=name,
                              valid=listed)
    return items or None


def one_of(name: str, value: str | None, valid: Collection[str]) -> str | None:
    """A filter of one value, spaces around it ignored."""
    items = any_of(name, value, valid)
    if items is not None and len(items) > 1:
        raise E.InvalidFilter(f"{name} takes one value", parameter=name, valid=sorted(valid)[:MAX_LISTED])
    return items[0] if items else None


def time_of(name: str, value: str | None) -> int | None:
    """A moment in a query string as ms since the epoch (None when absent): RFC 3339 with or without a
    fraction, `Z` or an offset (`2026-10-01T10:00:00+08:00`), in the years every time a client sends
    lies in (UTC); anything else is `400 invalid_filter`."""
    if value is None:
        return None
    found = _RFC3339.fullmatch(value)
    try:
        if found is None:
            raise ValueError(value)
        day, clock, fraction, zone = found.groups()
        offset = "+00:00" if zone in ("Z", "z") else zone.replace(" ", "+")
        when = datetime.fromisoformat(f"{day}T{clock}.{(fraction or '').ljust(3, '0')[:3]}{offset}")
        if not MIN_TIME_YEAR <= when.astimezone(UTC).year <= MAX_PERIOD_YEAR:
            raise ValueError(value)
    except (ValueError, OverflowError):
        raise E.InvalidFilter(f"{name} {value[:_SHOWN]!r} is not a time like 2026-11-20T13:15:00Z or"
                              f" 2026-11-20T21:15:00+08:00 in the years {MIN_TIME_YEAR} to {MAX_PERIOD_YEAR}",
                              parameter=name) from None
    return (when - _EPOCH) // _MS

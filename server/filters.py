"""Query filters: a mistyped value is a 400 naming the valid ones, never an empty 200 (issue 10)."""

from __future__ import annotations

from collections.abc import Collection

from sync import errors as E

MAX_LISTED = 100  # valid values named in a problem body (kinds come from the database)
_SHOWN = 64  # characters of a wrong value quoted back


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

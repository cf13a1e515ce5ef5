"""Fields and their value checks: what a change may write, shared by the server and the client SDK.

A field's type, choices and length limit decide whether a value is valid; its
writers decide who may write it. Collections (`sync.collection`) are made of
these, and `sync.rules.validate` runs the checks for every field of a change.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec

NS = uuid.UUID("3a9450dd-ce73-5014-ab3e-87058abd8ac5")
MAX_SAFE_INT = 2**53 - 1

TECHNICIAN = "technician"
SUPERVISOR = "supervisor"
SERVICE_DESK = "service_desk"  # customer-service staff: read every site, open and dispatch service requests
SERVER = "server"
ROLES = (TECHNICIAN, SUPERVISOR, SERVICE_DESK)

# re.ASCII and \Z throughout: \d would match any Unicode digit (which int() and
# strptime then read as a number), and $ matches before a final newline.
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z", re.ASCII)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_PERIOD = re.compile(r"^\d{4}-(Q[1-4]|H[12]|M([1-9]|1[0-2]))\Z", re.ASCII)
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
ITEM_KEY = re.compile(r"^item\.[a-z0-9_]{1,64}\Z")


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and _UUID.match(value) is not None


_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_day(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS[month - 1]:
        return False
    return not (month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)))


# Maintenance periods and the times a client sends fall in these years: outside them a value is a typo
# or an attack, and the calendar arithmetic on it would fail (the year 0, the day after 9999-12-31:
# the end of 9999 has no local date east of UTC, which made a sheet, a console page or a push a 500).
# Times start at 1970, not 2000: a phone whose clock battery died boots to 1970 or 2000-01-01, and
# what its technician records then is kept and corrected by the push's `client_time`, not refused.
MIN_PERIOD_YEAR, MAX_PERIOD_YEAR = 2000, 2100
MIN_TIME_YEAR = 1970
_TIME_YEARS = r"(?=19[7-9][0-9]|20[0-9]{2}|2100)"  # the wire pattern's years (`_PATTERNS`)


def is_timestamp(value: object) -> bool:
    """`2026-11-20T10:15:00.000Z`: the protocol's one timestamp form, with a real date and time, in a
    year from MIN_TIME_YEAR to MAX_PERIOD_YEAR."""
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        return False
    return (
        MIN_TIME_YEAR <= int(value[0:4]) <= MAX_PERIOD_YEAR
        and _valid_day(int(value[0:4]), int(value[5:7]), int(value[8:10]))
        and int(value[11:13]) < 24
        and int(value[14:16]) < 60
        and int(value[17:19]) < 60
    )


def is_period(value: object) -> bool:
    """`2026-Q4`, `2026-H2` or `2026-M11`, in a year from MIN_PERIOD_YEAR to MAX_PERIOD_YEAR."""
    return (
        isinstance(value, str)
        and _PERIOD.match(value) is not None
        and MIN_PERIOD_YEAR <= int(value[:4]) <= MAX_PERIOD_YEAR
    )


def is_month(value: object) -> bool:
    """`2026-M12`: a monthly period."""
    return is_period(value) and "-M" in str(value)


# A device's installation and warranty start, a site's acceptance, an inspection's due date: equipment
# installed before 1900 is not serviced, nor a warranty started after 2100. Outside them a date is a
# typo or an attack, and a warranty's end (up to 1,200 months on) would leave the calendar: 9999-12-31
# made the console's device page a 500. `_DATE_YEARS` (the wire pattern's) says the same years.
MIN_DATE_YEAR, MAX_DATE_YEAR = 1900, 2100
_DATE_YEARS = r"(?=19[0-9]{2}|20[0-9]{2}|2100)"


def _is_date(value: object) -> bool:
    """`2026-11-20`: a real day in a year from MIN_DATE_YEAR to MAX_DATE_YEAR."""
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    year = int(value[0:4])
    return MIN_DATE_YEAR <= year <= MAX_DATE_YEAR and _valid_day(year, int(value[5:7]), int(value[8:10]))


def _is_items(value: object) -> bool:
    """Checklist template items: JSON text of a list of {key, label, type}."""
    if not isinstance(value, str):
        return False
    try:
        items = json.loads(value)
    except (ValueError, RecursionError):  # deeply nested text exhausts the parser's stack
        return False
    return isinstance(items, list) and all(
        isinstance(item, dict)
        and isinstance(item.get("key"), str)
        and re.match(r"^[a-z0-9_]{1,64}\Z", item["key"]) is not None
        and isinstance(item.get("label"), str)
        and item.get("type") in ITEM_TYPES
        for item in items
    )


ITEM_TYPES = {"bool": (bool,), "text": (str,), "int": (int,)}

# What a person types for a yes/no checklist item. The wire carries booleans
# only: a client converts these words before it records the change.
YES_NO: dict[str, bool] = {
    **dict.fromkeys(("true", "yes", "y", "1", "是"), True),
    **dict.fromkeys(("false", "no", "n", "0", "否"), False),
}


def yes_no(text: str) -> bool | None:
    """The boolean a typed yes/no answer means (`yes`, `否`, `TRUE`, ...), or None when it is neither."""
    return YES_NO.get(text.strip().casefold())


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and abs(value) <= MAX_SAFE_INT


def _text(value: object) -> bool:
    return isinstance(value, str)


def _enum(*choices: str) -> Callable[[object], bool]:
    return lambda value: value in choices


def _scalar(value: object) -> bool:
    return value is None or isinstance(value, (str, bool)) or _int(value)


# The longest string value a field of each type takes, in characters, unless the field says
# otherwise (`Field.max_length`; docs/security.md lists them all).
TEXT_LIMITS = {"text": 200, "scalar": 2_000, "items": 65_536}
NOTE_LIMIT = 2_000  # notes and captions
ADDRESS_LIMIT = 500

CHECKS: dict[str, Callable[[object], bool]] = {
    "text": _text,
    "int": _int,
    "bool": lambda v: isinstance(v, bool),
    "uuid": is_uuid,
    "timestamp": is_timestamp,
    "date": _is_date,
    "period": lambda v: is_period(v),
    "sha256": lambda v: isinstance(v, str) and _SHA256.match(v) is not None,
    "items": _is_items,
    "scalar": _scalar,
}


@dataclass(frozen=True)
class Field:
    type: str
    choices: tuple[str, ...] = ()
    parent: str | None = None  # collection the parent id points at
    optional_parent: bool = False
    group: str | None = None
    writers: tuple[str, ...] = ()  # roles that may write it; () means server only
    max_length: int | None = None  # of a string value; None: the type's (TEXT_LIMITS)

    def __post_init__(self) -> None:
        # Resolve the check once: valid() runs for every field of every change.
        choices = self.choices
        check = (lambda value: value in choices) if choices else CHECKS[self.type]
        limit = self.max_length or TEXT_LIMITS.get(self.type)
        if limit is not None and not choices:
            base = check
            check = lambda value: base(value) and (not isinstance(value, str) or len(value) <= limit)  # noqa: E731
        object.__setattr__(self, "_check", check)
        object.__setattr__(self, "_limit", limit)

    @property
    def limit(self) -> int | None:
        """The most characters a string value may have (None: no string or no limit)."""
        return self._limit  # type: ignore[attr-defined,no-any-return]

    def valid(self, value: object) -> bool:
        if value is None:
            return self.parent is None or self.optional_parent
        return self._check(value)  # type: ignore[attr-defined,no-any-return]


# The field types msgspec checks in C (`wire_type`): a change's values are checked in one call
# per change (`Collection.values_valid`) instead of a Python call per value. The patterns say what
# the Python checks say, except the 29th of February (left to them, for leap years) and template
# items (JSON in a string, checked in Python).
_SAFE_INT = Annotated[int, msgspec.Meta(ge=-MAX_SAFE_INT, le=MAX_SAFE_INT)]
_DAY = (r"[0-9]{4}-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12][0-9]|3[01])|(?:0[469]|11)-(?:0[1-9]|[12][0-9]|30)"
        r"|02-(?:0[1-9]|1[0-9]|2[0-8]))")
_PATTERNS = {
    "uuid": _UUID.pattern, "sha256": _SHA256.pattern, "date": rf"^{_DATE_YEARS}{_DAY}\Z",
    "timestamp": rf"^{_TIME_YEARS}{_DAY}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{{3}}Z\Z",
    "period": r"^(?:20[0-9]{2}|2100)-(?:Q[1-4]|H[12]|M(?:[1-9]|1[0-2]))\Z",
}
assert (MIN_TIME_YEAR, MIN_PERIOD_YEAR, MAX_PERIOD_YEAR) == (1970, 2000, 2100), "the patterns above say these years"


def _string(limit: int | None, pattern: str | None = None) -> Any:
    return Annotated[str, msgspec.Meta(max_length=limit, pattern=pattern)]


def wire_type(spec: Field) -> Any:
    """The type msgspec checks a value of `spec` against: what `spec.valid` accepts but a 29th of
    February; Any for template items, which only `spec.valid` checks."""
    limit = spec.limit
    if spec.choices:
        kind: Any = Literal[spec.choices]
    elif spec.type == "items":
        return Any
    elif spec.type in _PATTERNS:
        kind = _string(limit, _PATTERNS[spec.type])
    else:
        kind = {"text": _string(limit), "int": _SAFE_INT, "bool": bool,
                "scalar": _string(limit) | bool | _SAFE_INT}[spec.type]
    return kind if spec.parent is not None and not spec.optional_parent else kind | None


def python_checked(spec: Field) -> bool:
    """Whether `spec`'s values need `spec.valid` after `wire_type`."""
    return not spec.choices and spec.type == "items"


def field(type_: str, *choices: str, writers: tuple[str, ...] = (SUPERVISOR,), **kw: Any) -> Field:
    """A field as the collections declare one: written by supervisors unless it says otherwise."""
    return Field(type_, tuple(choices), writers=writers, **kw)


def unstorable(text: str) -> str | None:
    """What in `text` a database cannot store, named for a message, or None: the NUL character
    (PostgreSQL's text holds none) or a lone surrogate (no UTF-8 for it; neither driver sends one).
    For client text that no wire type bounds: query and path parameters, forms, spreadsheet cells."""
    if "\x00" in text:
        return "the NUL character"
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            return "a lone surrogate"
    return None

"""The collections of protocol v1: their fields, parents, groups and writers.

One table declares every field; the server validates pushes against it and
the client SDK validates local writes against the same table, so a change the
SDK accepts is never refused for its shape at the server.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NS = uuid.UUID("3a9450dd-ce73-5014-ab3e-87058abd8ac5")
MAX_SAFE_INT = 2**53 - 1

TECHNICIAN = "technician"
SUPERVISOR = "supervisor"
SERVER = "server"
ROLES = (TECHNICIAN, SUPERVISOR)

# re.ASCII and \Z throughout: \d would match any Unicode digit (which int() and
# strptime then read as a number), and $ matches before a final newline.
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z\Z", re.ASCII)
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z", re.ASCII)
_PERIOD = re.compile(r"^\d{4}-(Q[1-4]|H[12]|M([1-9]|1[0-2]))\Z", re.ASCII)
_SHA256 = re.compile(r"^[0-9a-f]{64}\Z")
_ITEM_KEY = re.compile(r"^item\.[a-z0-9_]{1,64}\Z")


def is_uuid(value: object) -> bool:
    return isinstance(value, str) and _UUID.match(value) is not None


_DAYS = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_day(year: int, month: int, day: int) -> bool:
    if not 1 <= month <= 12 or not 1 <= day <= _DAYS[month - 1]:
        return False
    return not (month == 2 and day == 29 and not (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)))


def is_timestamp(value: object) -> bool:
    """`2026-11-20T10:15:00.000Z`: the protocol's one timestamp form, with a real date and time."""
    if not isinstance(value, str) or not _TIMESTAMP.match(value):
        return False
    return (
        _valid_day(int(value[0:4]), int(value[5:7]), int(value[8:10]))
        and int(value[11:13]) < 24
        and int(value[14:16]) < 60
        and int(value[17:19]) < 60
    )


# Maintenance periods fall in these years: outside them a period is a typo or an attack, and the
# calendar arithmetic on it (the year 0, the day after 9999-12-31) would fail.
MIN_PERIOD_YEAR, MAX_PERIOD_YEAR = 2000, 2100


def is_period(value: object) -> bool:
    """`2026-Q4`, `2026-H2` or `2026-M11`, in a year from MIN_PERIOD_YEAR to MAX_PERIOD_YEAR."""
    return (
        isinstance(value, str)
        and _PERIOD.match(value) is not None
        and MIN_PERIOD_YEAR <= int(value[:4]) <= MAX_PERIOD_YEAR
    )


def _is_date(value: object) -> bool:
    if not isinstance(value, str) or not _DATE.match(value):
        return False
    return _valid_day(int(value[0:4]), int(value[5:7]), int(value[8:10]))


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


@dataclass(frozen=True)
class Via:
    """"My site (or period) is that of the row my `field` points at, in `collection`"."""

    field: str
    collection: str


@dataclass(frozen=True)
class Scope:
    """How a row finds its site and its period: who may pull it, and whether the sync window holds it.

    `site` is "self" (the row is a site), "global" (every client pulls it), the
    name of a field holding a site id, or a `Via` a parent row. `period` is None
    (always in the window), a field holding a period, or a `Via`. Declared by
    every collection: a collection that declares none, or one that does not
    resolve, is refused when the schema is built (a row with no site would be
    pulled by every technician of every site).
    """

    site: str | Via
    period: str | Via | None = None


class SchemaError(Exception):
    """A collection's declaration is incomplete or inconsistent (raised when the schema is built)."""


@dataclass(frozen=True)
class Collection:
    name: str
    fields: dict[str, Field]
    create_roles: tuple[str, ...]  # who may create rows
    # Required (see Scope); the default exists only so that a missing one is refused with the collection's name.
    scope: Scope = None  # type: ignore[assignment]
    open_prefix: str | None = None  # dynamic fields, e.g. "item." checklist items
    open_field: Field | None = None
    immutable_rows: bool = False  # rows never change after creation
    groups: dict[str, tuple[str, ...]] = field(default_factory=dict)
    parents: dict[str, Field] = field(default_factory=dict)
    delete_roles: tuple[str, ...] | None = None  # who may delete rows; None: create_roles

    def __post_init__(self) -> None:
        if self.scope is None:
            raise SchemaError(f"collection {self.name!r} declares no scope: say how its rows find their site")
        groups: dict[str, list[str]] = {}
        for name, spec in self.fields.items():
            if spec.group:
                groups.setdefault(spec.group, []).append(name)
        object.__setattr__(self, "groups", {g: tuple(names) for g, names in groups.items()})
        object.__setattr__(self, "parents", {n: s for n, s in self.fields.items() if s.parent})
        if self.delete_roles is None:
            object.__setattr__(self, "delete_roles", self.create_roles)

    def field(self, name: str) -> Field | None:
        spec = self.fields.get(name)
        if spec is None and self.open_prefix and self.open_field and _ITEM_KEY.match(name):
            return self.open_field
        return spec

    def register_of(self, name: str) -> str:
        """The register a field belongs to: its group, or the field itself."""
        spec = self.fields.get(name)
        return spec.group if spec and spec.group else name


T, S = TECHNICIAN, SUPERVISOR
# The outcomes of a device check: the one list (the CLI offers these, the server counts them).
OUTCOMES = ("serviced", "fault", "not_accessible", "skipped")
NOTE_REQUIRED = ("fault", "not_accessible")
_ALL = (T, S)


# Checks, photos and signatures belong to their inspection's site and period.
_VIA_INSPECTION = Scope(site=Via("inspection_id", "inspections"), period=Via("inspection_id", "inspections"))


def _f(type_: str, *choices: str, writers: tuple[str, ...] = (S,), **kw: Any) -> Field:
    return Field(type_, tuple(choices), writers=writers, **kw)


COLLECTIONS: dict[str, Collection] = {
    c.name: c
    for c in [
        Collection(
            "sites",
            {
                "customer": _f("text"),
                "name": _f("text"),
                "address": _f("text", max_length=ADDRESS_LIMIT),
                "zone": _f("enum", "urban", "suburban"),
                "tz": _f("text"),
                "contract": _f("enum", "annual", "per_visit", "warranty"),
                "accepted_on": _f("date"),
                "warranty_months": _f("int"),
            },
            create_roles=(S,),
            scope=Scope(site="self"),
        ),
        Collection(
            "devices",
            {
                "site_id": _f("uuid", parent="sites"),
                "system": _f("enum", "video", "access", "network", "broadcast", "telephone", "alarm"),
                "kind": _f("text"),
                "code": _f("text"),
                "name": _f("text"),
                "location": _f("text", writers=_ALL),
                "serial_no": _f("text", writers=_ALL),
                "model": _f("text", writers=_ALL),
                "installed_on": _f("date"),
                "status": _f("enum", "active", "retired"),
            },
            create_roles=(S,),
            scope=Scope(site="site_id"),
        ),
        Collection(
            "checklist_templates",
            {"kind": _f("text"), "title": _f("text"), "items": _f("items")},
            create_roles=(S,),
            scope=Scope(site="global"),
        ),
        Collection(
            "inspections",
            {
                "site_id": _f("uuid", parent="sites", writers=_ALL),
                "period": _f("period", writers=_ALL),
                "due_on": _f("date"),
                "assigned_to": _f("text"),
                "status": _f("enum", "scheduled", "in_progress", "completed", "signed", writers=_ALL),
                "started_at": _f("timestamp", writers=_ALL),
                "completed_at": _f("timestamp", writers=()),
                "sheet_no": _f("text", writers=()),
            },
            create_roles=_ALL,
            delete_roles=(S,),
            scope=Scope(site="site_id", period="period"),
        ),
        Collection(
            "device_checks",
            {
                "inspection_id": _f("uuid", parent="inspections", writers=_ALL),
                "device_id": _f("uuid", parent="devices", writers=_ALL),
                "outcome": _f("enum", *OUTCOMES, group="result", writers=_ALL),
                "note": _f("text", group="result", writers=_ALL, max_length=NOTE_LIMIT),
                "checked_by": _f("text", group="result", writers=_ALL),
                "checked_at": _f("timestamp", group="result", writers=_ALL),
                "sealed_by": _f("uuid", writers=()),
            },
            create_roles=_ALL,
            scope=_VIA_INSPECTION,
            open_prefix="item.",
            open_field=_f("scalar", writers=_ALL),
        ),
        Collection(
            "photos",
            {
                "inspection_id": _f("uuid", parent="inspections", writers=_ALL),
                "device_id": _f("uuid", parent="devices", optional_parent=True, writers=_ALL),
                "sha256": _f("sha256", parent="blobs", writers=_ALL),
                "content_type": _f("enum", "image/jpeg", "image/png", writers=_ALL),
                "bytes": _f("int", writers=_ALL),
                "taken_at": _f("timestamp", writers=_ALL),
                "caption": _f("text", writers=_ALL, max_length=NOTE_LIMIT),
                "stage": _f("enum", "before", "after", "evidence", writers=_ALL),
                "blob": _f("enum", "stored", "missing", writers=()),
            },
            create_roles=_ALL,
            scope=_VIA_INSPECTION,
        ),
        Collection(
            "signatures",
            {
                "inspection_id": _f("uuid", parent="inspections", writers=_ALL),
                "signer_name": _f("text", writers=_ALL),
                "signer_role": _f("enum", "customer", "technician", writers=_ALL),
                "signed_at": _f("timestamp", writers=_ALL),
                "image_sha256": _f("sha256", writers=_ALL),
                "sheet_sha256": _f("sha256", writers=_ALL),
                "verification": _f("enum", "valid", "mismatch", writers=()),
                # A supervisor's retraction (POST /api/signatures/{id}/retract): kept, marked, sealing nothing.
                "retracted_at": _f("timestamp", writers=()),
                "retracted_by": _f("text", writers=()),
            },
            create_roles=_ALL,
            scope=_VIA_INSPECTION,
            immutable_rows=True,
        ),
    ]
}

def check_scopes(collections: dict[str, Collection]) -> None:
    """Refuse a schema in which some collection's rows cannot find their site or period.

    A site comes from the row itself, a field whose parent is `sites`, or a
    required parent whose own collection finds a site (never "global": a row
    under a shared template would still be pulled everywhere). The same for
    periods, except that a period may be absent (always in the window).
    """
    def resolve(name: str, via: str | Via | None, what: str, seen: tuple[str, ...]) -> None:
        spec = collections[name]
        if via is None or via == "self" or via == "global":
            if what == "site" and via is None:
                raise SchemaError(f"collection {name!r}: no site")
            if what == "period" and via in ("self", "global"):
                raise SchemaError(f"collection {name!r}: period is a field, a Via or None, not {via!r}")
            if via == "self" and name != "sites":
                raise SchemaError(f"collection {name!r}: only sites are their own site")
            return
        if isinstance(via, str):
            field_spec = spec.fields.get(via)
            wanted = "sites" if what == "site" else None
            if field_spec is None or (wanted and field_spec.parent != wanted) or (what == "period" and
                                                                                   field_spec.type != "period"):
                raise SchemaError(f"collection {name!r}: its {what} field {via!r} is not a "
                                  + ("site id" if what == "site" else "period"))
            return
        parent = spec.fields.get(via.field)
        if parent is None or parent.parent != via.collection or parent.optional_parent:
            raise SchemaError(f"collection {name!r}: {via.field!r} is not a required parent in {via.collection!r}")
        if via.collection not in collections or via.collection in seen:
            raise SchemaError(f"collection {name!r}: its {what} goes through {via.collection!r}, which cannot give one")
        target = collections[via.collection].scope
        further = target.site if what == "site" else target.period
        if what == "site" and further == "global":
            raise SchemaError(f"collection {name!r}: its site goes through {via.collection!r}, which has none")
        if what == "site" and further == "self":
            return
        resolve(via.collection, further, what, (*seen, name))

    for name, spec in collections.items():
        resolve(name, spec.scope.site, "site", ())
        if spec.scope.period is not None:
            resolve(name, spec.scope.period, "period", ())


check_scopes(COLLECTIONS)
# Collections whose rows every client pulls (shared reference data such as checklist templates).
GLOBAL_COLLECTIONS = tuple(name for name, spec in COLLECTIONS.items() if spec.scope.site == "global")

# A push creates at most this many signatures, and an inspection holds at most this many that are
# not retracted (issue 9, finding 3); the server's settings default to them, the client SDK ends a
# push batch at the first.
MAX_SIGNATURES_PER_PUSH = 20
MAX_SIGNATURES_PER_INSPECTION = 20

# A parent named "blobs" is a content hash, not a row: it is immutable like any
# parent but never looked up as a row.
ROW_PARENTS = {"sites", "inspections", "devices"}


def inspection_id(site_id: str, period: str) -> str:
    return str(uuid.uuid5(NS, f"inspection/{site_id}/{period}"))


def device_check_id(inspection: str, device: str) -> str:
    return str(uuid.uuid5(NS, f"{inspection}/{device}"))


def expand_groups(collection: Collection, fields: dict[str, Any]) -> dict[str, Any]:
    """A change that writes any field of a group writes all of it (nulls for the rest)."""
    out = dict(fields)
    for names in collection.groups.values():
        if any(name in fields for name in names):
            for name in names:
                out.setdefault(name, None)
    return out


def photo_id(inspection_id: str, device_id: str | None, sha256: str) -> str:
    """One row per photo and device: adding the same photo again changes that row, not a new one."""
    return str(uuid.uuid5(NS, f"photo/{inspection_id}/{device_id or ''}/{sha256}"))


def template_items(items: object) -> list[dict[str, Any]] | None:
    """A template's checklist items as `[{"key", "label", "label_zh", "type"}]`, from its `items`
    field (JSON text) or the list it holds; None when they cannot be read (the template is left out).

    `label_zh` is None when the template has none.
    """
    try:
        parsed: Any = json.loads(items or "[]") if isinstance(items, (str, type(None))) else items
        return [
            {"key": item["key"], "label": item.get("label"), "label_zh": item.get("label_zh"), "type": item["type"]}
            for item in parsed
        ]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def item_types(items: object) -> dict[str, str] | None:
    """{key: type} of a template's items (what a check of a device of its kind may record); None as above."""
    parsed = template_items(items)
    return None if parsed is None else {item["key"]: item["type"] for item in parsed}


def note_required(fields: Mapping[str, Any]) -> tuple[str, str] | None:
    """A fault or a device not accessible is explained: the check's note is required with them."""
    outcome = fields.get("outcome")
    if outcome in NOTE_REQUIRED and not str(fields.get("note") or "").strip():
        return "invalid_field", f"device_checks.note is required when the outcome is {outcome}"
    return None


def progress(
    sites: Mapping[str, Any], devices: Iterable[Mapping[str, Any]], checks: Iterable[Mapping[str, Any]]
) -> dict[str, tuple[int, int]]:
    """(checked, total) of each inspection of `sites` ({inspection id: its site id}).

    Total: the active devices of the inspection's site; checked: those of them
    whose check in the inspection has an outcome. `devices` and `checks` are
    rows as `{"id", "fields", "deleted"}`; a deleted row counts for nothing.
    The server counts the same in SQL, for speed (a test holds the two equal).
    """
    active: dict[Any, set[str]] = {}
    for d in devices:
        if not d.get("deleted") and d["fields"].get("status", "active") == "active":
            active.setdefault(d["fields"].get("site_id"), set()).add(d["id"])
    checked: dict[Any, set[Any]] = {}
    for c in checks:
        if not c.get("deleted") and c["fields"].get("outcome") is not None:
            checked.setdefault(c["fields"].get("inspection_id"), set()).add(c["fields"].get("device_id"))
    out = {}
    for insp, site_id in sites.items():
        at_site = active.get(site_id, set())
        out[insp] = (len(at_site & checked.get(insp, set())), len(at_site))
    return out


def unchecked(inspection: str, site_id: Any, devices: Iterable[Mapping[str, Any]],
              checks: Iterable[Mapping[str, Any]]) -> int:
    """Active devices of the inspection's site without an outcome: what keeps it from `completed`."""
    checked, total = progress({inspection: site_id}, devices, checks)[inspection]
    return total - checked

"""A collection declares its rules in one place: fields, scope, id rule, change rules, row rules, blob fields.

`sync.rules.validate` and `sync.merge` are generic: they run what a collection
declares here and never name one. Each family of collections lives in a
module of `sync/collections/`; `sync.schema` gathers them and checks the
declarations when the schema is built, so a collection that cannot find its
site, or whose id rule or blob fields name a field it does not have, is
refused before the server or the client SDK starts.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from .fields import ITEM_KEY, Field, python_checked, wire_type
from .periods import FREQUENCIES

if TYPE_CHECKING:
    from .rules import Check

# A change rule looks at one change against the row as stored and adds problems, or rejects
# fields (`sync.rules.Check`); rules run in the order declared, after the checks every collection gets.
ChangeRule = Callable[["Check"], None]
# A row rule looks at a row as it would stand (after a merge, or as the client SDK shows it) and
# returns (reason, detail) when it may not stand so. It sees the fields of a row that is not deleted.
RowRule = Callable[[Mapping[str, Any]], "tuple[str, str] | None"]


@dataclass(frozen=True)
class Via:
    """"My site (or period) is that of the row my `field` points at, in `collection`"."""

    field: str
    collection: str


@dataclass(frozen=True)
class Ended:
    """"I am always in the window until my `status` is one of `values`; then my period is the
    `frequency` period of my timestamp field `at`, in my site's time zone".

    For rows that stay on phones while they are being worked on and leave them
    with the history once they are done (a service request: open ones always,
    closed or cancelled ones with the quarter of their `reported_at`). The row's
    period changes when its status does; the server then moves its children's
    periods with it, and phones holding a row whose period left the window get it
    as `removed`.
    """

    at: str
    status: str
    values: tuple[str, ...]
    frequency: str = "quarterly"


Period = str | Via | tuple[Via, ...] | Ended | None


@dataclass(frozen=True)
class Scope:
    """How a row finds its site and its period: who may pull it, and whether the sync window holds it.

    `site` is "self" (the row is a site), "global" (every client pulls it), the
    name of a field holding a site id, a `Via` a parent row, or a tuple of `Via`s
    (alternative optional parents: the first the row names; a change rule makes
    the row name exactly one, as a signature names an inspection or a visit). `period` is None
    (always in the window), a field holding a period, a `Via` (the same route
    as `site`: the server follows a parent's period change to its children
    through the row's parent), or `Ended`. Declared by
    every collection: a collection that declares none, or one that does not
    resolve, is refused when the schema is built (a row with no site would be
    pulled by every technician of every site).

    `owner`: for a site field that may be empty (an optional parent), the
    server-written field naming the user a row without a site belongs to (a duty
    call logged without a site is its logger's own): only that user, and those who
    see every site, pull or change it. An optional site field without one is refused.
    """

    site: str | Via | tuple[Via, ...]
    period: Period = None
    owner: str | None = None


@dataclass(frozen=True)
class IdRule:
    """A row's id as a function of some of its fields, so that two clients creating "the same" row
    offline create one row (`make(*values of fields)`).

    `checked`: the server refuses a new row whose id is not the rule's. A rule
    that is not checked is the one the client SDK uses to name its rows (a
    photo added twice is one row), while any UUID stays valid at the server.
    """

    fields: tuple[str, ...]
    make: Callable[..., str]
    formula: str  # for the rejection's detail: "uuid5(NS, inspection/site_id/period)"
    checked: bool = True

    def expected(self, fields: Mapping[str, Any]) -> str | None:
        """The id the fields call for; None while one of them is missing."""
        values = [fields.get(name) for name in self.fields]
        return self.make(*values) if all(values) else None


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
    id_rule: IdRule | None = None  # None: any UUID
    change_rules: tuple[ChangeRule, ...] = ()
    row_rules: tuple[RowRule, ...] = ()
    blob_fields: tuple[str, ...] = ()  # fields holding the SHA-256 of a blob the server stores

    def __post_init__(self) -> None:
        if self.scope is None:
            raise SchemaError(f"collection {self.name!r} declares no scope: say how its rows find their site")
        for name in (*(self.id_rule.fields if self.id_rule else ()), *self.blob_fields):
            if name not in self.fields:
                raise SchemaError(f"collection {self.name!r}: its rules name a field it does not have, {name!r}")
        for name in self.blob_fields:
            if self.fields[name].type != "sha256":
                raise SchemaError(f"collection {self.name!r}: blob field {name!r} does not hold a SHA-256")
        groups: dict[str, list[str]] = {}
        for name, spec in self.fields.items():
            if spec.group:
                groups.setdefault(spec.group, []).append(name)
        object.__setattr__(self, "groups", {g: tuple(names) for g, names in groups.items()})
        object.__setattr__(self, "parents", {n: s for n, s in self.fields.items() if s.parent})
        if self.delete_roles is None:
            object.__setattr__(self, "delete_roles", self.create_roles)
        # For `values_valid` and `writable`, built once: they run for every change.
        object.__setattr__(self, "_values", msgspec.defstruct(
            f"{self.name}_values", [(n, wire_type(s), None) for n, s in self.fields.items()]))
        object.__setattr__(self, "_in_python", frozenset(n for n, s in self.fields.items() if python_checked(s)))
        object.__setattr__(self, "_writable", {})

    def field(self, name: str) -> Field | None:
        spec = self.fields.get(name)
        if spec is None and self.open_prefix and self.open_field and ITEM_KEY.match(name):
            return self.open_field
        return spec

    def values_valid(self, fields: Mapping[str, Any]) -> bool:
        """Whether every field of a change is one of this collection's (or an open field) with a valid
        value, as `Field.valid` says of each; checked in C in one call where a type and a pattern can
        say it, by `Field.valid` where they cannot (a 29th of February, template items)."""
        try:
            msgspec.convert(fields, self._values)  # type: ignore[attr-defined]
        except msgspec.ValidationError:
            return all((spec := self.field(name)) is not None and spec.valid(value) for name, value in fields.items())
        names = fields.keys()
        if self._in_python and not all(self.fields[n].valid(fields[n]) for n in self._in_python & names):  # type: ignore[attr-defined]
            return False
        if names <= self.fields.keys():
            return True
        return all((spec := self.field(n)) is not None and spec.valid(fields[n]) for n in names - self.fields.keys())

    def writable(self, role: str) -> frozenset[str]:
        """The declared fields `role` may write (an open field's writers are its own)."""
        found: dict[str, frozenset[str]] = self._writable  # type: ignore[attr-defined]
        if role not in found:
            found[role] = frozenset(n for n, s in self.fields.items() if role in s.writers)
        return found[role]

    def register_of(self, name: str) -> str:
        """The register a field belongs to: its group, or the field itself."""
        spec = self.fields.get(name)
        return spec.group if spec and spec.group else name


def expand_groups(collection: Collection, fields: dict[str, Any]) -> dict[str, Any]:
    """A change that writes any field of a group writes all of it (nulls for the rest)."""
    out = dict(fields)
    keys = fields.keys()
    for names in collection.groups.values():
        if not keys.isdisjoint(names):  # in C: a generator in `any` was 2 % of a push of checks (issue 15)
            for name in names:
                out.setdefault(name, None)
    return out


def check_scopes(collections: dict[str, Collection]) -> None:
    """Refuse a schema in which some collection's rows cannot find their site or period.

    A site comes from the row itself, a field whose parent is `sites`, or a
    required parent whose own collection finds a site (never "global": a row
    under a shared template would still be pulled everywhere). The same for
    periods, except that a period may be absent (always in the window).
    """
    def resolve(name: str, via: str | Via | tuple[Via, ...] | Ended | None, what: str, seen: tuple[str, ...],
                alternative: bool = False) -> None:
        spec = collections[name]
        if isinstance(via, Ended):
            at, status = spec.fields.get(via.at), spec.fields.get(via.status)
            site = spec.fields.get(spec.scope.site) if isinstance(spec.scope.site, str) else None
            if (what != "period" or at is None or at.type != "timestamp" or status is None
                    or not set(via.values) <= set(status.choices) or via.frequency not in FREQUENCIES
                    or site is None or site.parent != "sites"):
                raise SchemaError(f"collection {name!r}: its period is not the {via.frequency!r} period of a"
                                  f" timestamp {via.at!r} once {via.status!r} is one of {via.values!r},"
                                  " in the time zone of the site its own field names")
            return
        if isinstance(via, tuple):
            if not via:
                raise SchemaError(f"collection {name!r}: no {what} among no alternatives")
            for one in via:
                resolve(name, one, what, seen, alternative=True)
            return
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
            if what == "site" and field_spec.optional_parent:
                _check_owner(name, spec)
            return
        parent = spec.fields.get(via.field)
        if parent is None or parent.parent != via.collection or (parent.optional_parent and not alternative):
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
        if isinstance(spec.scope.period, Via | tuple) and spec.scope.period != spec.scope.site:
            # A parent's period change reaches its children through the parent their site is found through.
            raise SchemaError(f"collection {name!r}: its period goes through another parent than its site")


def _check_owner(name: str, spec: Collection) -> None:
    """A row whose site field may be empty needs an owner: a server-written text field."""
    owner = spec.fields.get(spec.scope.owner) if spec.scope.owner else None
    if owner is None or owner.type != "text" or owner.writers:
        raise SchemaError(f"collection {name!r}: a row without a site would be nobody's: name a server-written"
                          " owner field in its scope")


def period_children(collections: dict[str, Collection]) -> dict[str, tuple[str, ...]]:
    """{collection: the collections whose rows take their period from its rows}."""
    found: dict[str, list[str]] = {}
    for name, spec in collections.items():
        route = spec.scope.period
        for via in route if isinstance(route, tuple) else (route,):
            if isinstance(via, Via):
                found.setdefault(via.collection, []).append(name)
    return {parent: tuple(children) for parent, children in found.items()}

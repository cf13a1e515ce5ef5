"""Validation of one change against its collection's declaration: generic, naming no collection.

Every collection gets the same checks (fields, writers, parents, roles,
scope, id rule, immutable rows); then the collection's own `change_rules` run
on a `Check`, in the order declared. `check_row` runs its `row_rules` on a row
as it would stand. Pure: the caller supplies the row as stored, a lookup for
parent rows and, for what needs the store, `Rules`.

`validate` keeps its positional parameters (the server and the client SDK
call it as they did); inside, the change travels as one `Check`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import periods
from .collection import Collection, Ended, Via, expand_groups
from .errors import REJECT_ORDER
from .fields import SERVER, Field, is_timestamp, is_uuid
from .hlc import parse_ts
from .periods import site_zone
from .schema import COLLECTIONS, ROW_PARENTS
from .workhours import local_date

DELETED = "deleted"


@dataclass
class RowState:
    """A row as the server stores it: values, one clock per register, and scope."""

    collection: str
    id: str
    fields: dict[str, Any] = field(default_factory=dict)
    # register -> [hlc, writer client_id or "srv"]
    clocks: dict[str, list[str]] = field(default_factory=dict)
    deleted: bool = False
    site_id: str | None = None
    version: int = 0
    exists: bool = True


@dataclass(frozen=True)
class Actor:
    """Who writes: a client of a user with a role, and the sites they may touch."""

    client_id: str
    username: str
    role: str
    sites: frozenset[str] | None = None  # None: every site

    @classmethod
    def server(cls) -> Actor:
        return cls(client_id="srv", username="", role=SERVER)


Lookup = Callable[[str, str], "RowState | None"]


@dataclass(frozen=True)
class Rules:
    """What validation needs to know beyond the row itself, supplied by the store.

    `template_items(device_id)`: the checklist items `{key: type}` of the
    device's kind, or None when its kind has no template. `unchecked(inspection_id, site_id)`:
    how many active devices of the inspection's site have no outcome yet (`site_id` is the site of
    an inspection not stored yet, which is being created).
    `is_member(site_id, username)`: whether the user is a member of the site with an enabled account
    (an inspection is assigned to members only); None skips that check (the
    client SDK does not know other users' memberships). `signature_refusal(inspection or visit id,
    fields)`: why a client's new signature is refused (too many, its image not
    stored), or None; None skips it (the SDK knows neither). `is_technician(username)`: whether a
    user of that name is a technician whose account is not disabled (whom a duty roster may name);
    None skips it (the SDK does not know the users). `sealed_child(collection, parent_id)`: the id of a
    live row of `collection` under `parent_id` (a request's visit, an inspection's check) that a
    customer's signature sealed, or None (None skips the check). `was_member(site_id)`: whether the
    pushing user was once a member of the site (a technician taken off it); None skips it (the SDK).
    """

    template_items: Callable[[str], dict[str, str] | None]
    unchecked: Callable[[str, str | None], int]
    is_member: Callable[[str, str], bool] | None = None
    signature_refusal: Callable[[str, dict[str, Any]], str | None] | None = None
    is_technician: Callable[[str], bool] | None = None
    sealed_child: Callable[[str, str], str | None] | None = None
    was_member: Callable[[str], bool] | None = None


class Check:
    """One change as its collection's change rules see it, and what they find.

    `fields` are the change's fields that passed the field checks (a rule may
    reject more: `rejected_fields[name] = reason`, then delete it from
    `fields`); `problem(reason, detail)` refuses the change (the first
    reason in `sync.errors.REJECT_ORDER` is the answer; per reason, the first detail).
    """

    def __init__(self, spec: Collection, row_id: str, delete: bool | None, row: RowState | None, actor: Actor,
                 lookup: Lookup, rules: Rules | None) -> None:
        self.collection, self.spec, self.row_id, self.delete, self.row = spec.name, spec, row_id, delete, row
        self.actor, self.lookup, self.rules = actor, lookup, rules
        self.creating = row is None or not row.exists
        self.is_client = actor.role != SERVER
        self.fields: dict[str, Any] = {}
        self.found: dict[str, str] = {}
        self.rejected_fields: dict[str, str] = {}

    def problem(self, reason: str, detail: str) -> None:
        self.found.setdefault(reason, detail)

    def first(self) -> tuple[str, str] | None:
        for reason in REJECT_ORDER:
            if reason in self.found:
                return reason, self.found[reason]
        return None

    def differs(self) -> bool:
        """Whether the change would change the stored row (a group's unsent fields are written as null)."""
        row = self.row
        if row is None or not row.exists:
            return True
        return (self.delete is not None and self.delete != row.deleted) or any(
            row.fields.get(name) != value for name, value in expand_groups(self.spec, self.fields).items()
        )


def _chosen(route: str | Via | tuple[Via, ...] | None, fields: Mapping[str, Any]) -> str | Via | None:
    """Of alternative parents (`Scope`), the first the row names; a single route as it is."""
    if not isinstance(route, tuple):
        return route
    return next((via for via in route if fields.get(via.field) is not None), None)


def site_of(collection: str, row_id: str, fields: dict[str, Any], lookup: Lookup) -> str | None:
    """The site a row belongs to, as its collection's scope declares; None for a global row."""
    site = _chosen(COLLECTIONS[collection].scope.site, fields)
    if site is None:
        return None
    if site == "self":
        return row_id
    if site == "global":
        return None
    if isinstance(site, str):
        value = fields.get(site)
        return value if isinstance(value, str) else None
    parent = _parent_row(fields, site, lookup)
    return parent.site_id if parent is not None else None


def period_of(collection: str, fields: dict[str, Any], lookup: Lookup) -> str | None:
    """The maintenance period a row belongs to, for the sync window; None: always in the window."""
    route = COLLECTIONS[collection].scope.period
    if isinstance(route, Ended):
        return _ended_period(collection, route, fields, lookup)
    period = _chosen(route, fields)
    if period is None:
        return None
    if isinstance(period, str):
        value = fields.get(period)
        return value if isinstance(value, str) else None
    parent = _parent_row(fields, period, lookup)
    return period_of(period.collection, parent.fields, lookup) if parent is not None else None


def _ended_period(collection: str, route: Ended, fields: dict[str, Any], lookup: Lookup) -> str | None:
    """None while the row's status is not one of `route.values`; then the period of `route.at` in its site's zone."""
    at = fields.get(route.at)
    if fields.get(route.status) not in route.values or not isinstance(at, str) or not is_timestamp(at):
        return None
    name = str(COLLECTIONS[collection].scope.site)  # a field holding a site id (`check_scopes`)
    site_id, site_field = fields.get(name), COLLECTIONS[collection].fields.get(name)
    site = lookup(site_field.parent, site_id) if site_field and site_field.parent and isinstance(site_id, str) else None
    day = local_date(parse_ts(at), site_zone(site.fields.get("tz") if site is not None else None))
    return periods.period_of(day, route.frequency)


def parent_of(collection: str, fields: dict[str, Any]) -> str | None:
    """The id a row's site is found through: its site field or the parent its scope names."""
    site = _chosen(COLLECTIONS[collection].scope.site, fields)
    if site is None:
        return None
    name = site.field if isinstance(site, Via) else site if site not in ("self", "global") else None
    value = fields.get(name) if name else None
    return value if isinstance(value, str) else None


def _parent_row(fields: dict[str, Any], via: Via, lookup: Lookup) -> RowState | None:
    parent_id = fields.get(via.field)
    return lookup(via.collection, parent_id) if isinstance(parent_id, str) else None


def _shown(value: object, width: int = 60) -> str:
    """A client's value as a message quotes it: never more than about `width` characters."""
    text = repr(value)
    if len(text) <= width:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str) else ""
    return f"{text[:width]}…{size}"


def outside_scope(row: RowState | None, actor: Actor) -> bool:
    """Whether a stored row is of a site the client's user may not see. Such a row is
    answered as one that does not exist (issue 9): the answer must not tell a technician
    that it exists, let alone where. A row without a site is global, or, in a collection whose
    scope names an owner, its owner's alone."""
    if row is None or not row.exists or actor.role == SERVER or actor.sites is None:
        return False
    if row.site_id is not None:
        return row.site_id not in actor.sites
    spec = COLLECTIONS.get(row.collection)
    owner = spec.scope.owner if spec is not None else None
    return owner is not None and row.fields.get(owner) != actor.username


def _was_member(site_id: str | None, rules: Rules | None) -> bool:
    return site_id is not None and rules is not None and rules.was_member is not None and rules.was_member(site_id)


_SITES = next(c.name for c in COLLECTIONS.values() if c.scope.site == "self")  # the collection that is the scope


def left_site(site_id: str | None, lookup: Lookup, rules: Rules | None) -> str | None:
    """For a site the pushing technician was once a member of and is no longer: why his change is refused,
    naming the site; None for anyone else. He was shown the site's rows, so the answer tells him nothing
    new, while one who never was a member stays told nothing (`outside_scope`)."""
    if not _was_member(site_id, rules):
        return None
    site = lookup(_SITES, str(site_id))
    name = site.fields.get("name") if site is not None else None
    return f"you are no longer a member of {_shown(name, 80) if name else 'the site'} (site {site_id})"


def hidden(row: RowState | None, actor: Actor, rules: Rules | None) -> bool:
    """Whether a change to `row` is answered, and logged, as one to a row that does not exist: outside the
    client's scope, of a site its user never was a member of (`left_site`)."""
    return outside_scope(row, actor) and not _was_member(row.site_id if row is not None else None, rules)


def _check_writer(c: Check, fspec: Field | None, name: str) -> None:
    if fspec is not None and c.is_client and c.actor.role not in fspec.writers:
        who = "the server" if not fspec.writers else " and ".join(f"{r}s" for r in fspec.writers)
        c.problem("forbidden", f"{c.collection}.{name} is written by {who} only")


def _check_values(c: Check, fields: dict[str, Any]) -> None:
    """The per-field checks, for a change with some value that is not valid: what is wrong with each."""
    spec, kept = c.spec, c.fields
    for name, value in fields.items():
        fspec = spec.field(name)
        if fspec is None:
            c.rejected_fields[name] = "unknown_field"
            continue
        _check_writer(c, fspec, name)
        if not fspec.valid(value):
            if fspec is spec.open_field:
                c.rejected_fields[name] = "invalid_value"
                continue
            limit = f" of at most {fspec.limit} characters" if fspec.limit and isinstance(value, str) else ""
            c.problem("invalid_field", f"{c.collection}.{name}: {_shown(value)} is not a valid {fspec.type}{limit}")
        kept[name] = value


def validate(
    collection: str,
    row_id: str,
    fields: dict[str, Any],
    delete: bool | None,
    row: RowState | None,
    actor: Actor,
    lookup: Lookup,
    rules: Rules | None = None,
    *,
    valid: bool | None = None,
) -> tuple[tuple[str, str] | None, dict[str, str], dict[str, Any], str | None]:
    """Check one change; return (rejection or None, rejected_fields, fields to merge, site).

    `site`: the site of the row as it would stand, the stored row's, or for a new row its parent's.
    The merge needs it too; `site_of` looks up a parent, so once a change (issue 15). The change
    rules that run after this only drop checklist items, never a field a site comes from.

    `valid`: what the collection's `values_valid` says of `fields`, when the caller has asked
    already (a push asks before it takes the writer lock)."""
    if outside_scope(row, actor) and row is not None:
        gone = left_site(row.site_id, lookup, rules)
        if gone is not None:  # a technician taken off the site, his phone still holding its rows
            return ("forbidden", f"{collection} {row_id}: {gone}"), {}, dict(fields), row.site_id
        rejection, as_new, merged, site = validate(collection, row_id, fields, delete, None, actor, lookup, rules,
                                                   valid=valid)
        # Valid as a new row: but the id is taken, and the row is not the client's to change.
        return rejection or ("forbidden", f"{collection} {row_id} is outside your sites"), as_new, merged, site
    spec = COLLECTIONS.get(collection)
    if spec is None:
        return ("unknown_collection", f"no collection named {_shown(collection)}"), {}, {}, None
    c = Check(spec, row_id, delete, row, actor, lookup, rules)
    if not is_uuid(row_id):
        c.problem("invalid_field", f"id {_shown(row_id)} is not a lower-case hyphenated UUID")
    creating, is_client, kept = c.creating, c.is_client, c.fields

    all_valid = spec.values_valid(fields) if valid is None else valid
    if all_valid:  # every value valid, checked in C (nearly always)
        kept.update(fields)
        if is_client and not fields.keys() <= spec.writable(actor.role):
            for name in fields:
                _check_writer(c, spec.field(name), name)
    else:
        _check_values(c, fields)

    # Parents: required on creation, immutable afterwards.
    for name, pspec in spec.parents.items():
        if creating:
            value = kept.get(name)
            if value is None and not pspec.optional_parent:
                c.problem("invalid_field", f"{collection}.{name} is required when creating a row")
            elif value is not None and pspec.parent in ROW_PARENTS and (all_valid or pspec.valid(value)):
                parent = lookup(pspec.parent, value)
                if parent is None:
                    c.problem("unknown_parent", f"{collection}.{name}: no {pspec.parent} row {value}")
                elif is_client and actor.sites is not None and parent.site_id not in actor.sites:
                    # Every parent must be in scope, not only the one the row's site comes from.
                    gone = left_site(parent.site_id, lookup, rules)
                    c.problem("forbidden", f"{collection}.{name}: {pspec.parent} {value}"
                                           + (f": {gone}" if gone else " is outside your sites"))
        elif row is not None and name in kept and kept[name] != row.fields.get(name):
            c.problem("immutable", f"{collection}.{name} cannot change once set")

    id_rule = spec.id_rule
    if id_rule is not None and id_rule.checked and creating and is_uuid(row_id):
        expected = id_rule.expected(kept)
        if expected is not None and row_id != expected:
            c.problem("invalid_field", f"{collection}.id must be {id_rule.formula}")

    site = row.site_id if row is not None and not creating else site_of(collection, row_id, kept, lookup)
    if is_client:
        if creating and actor.role not in spec.create_roles:
            c.problem("forbidden", f"{actor.role}s may not create {collection}")
        if delete and actor.role not in (spec.delete_roles or ()):
            c.problem("forbidden", f"{actor.role}s may not delete {collection}")
        if actor.sites is not None and site is not None and site not in actor.sites:
            c.problem("forbidden", f"{collection} {row_id} is outside your sites")

    for rule in spec.change_rules:
        rule(c)

    if spec.immutable_rows and not creating and c.differs():
        c.problem("immutable", f"{collection} rows never change after they are created")

    return c.first(), c.rejected_fields, kept, site


def check_row(collection: str, fields: Mapping[str, Any], deleted: bool = False) -> tuple[str, str] | None:
    """Rules about a row as it would stand (after a merge, or as the client SDK shows it), not about
    one change alone: the first (reason, detail) of its collection's `row_rules`, or None."""
    if deleted:
        return None
    for rule in COLLECTIONS[collection].row_rules:
        found = rule(fields)
        if found is not None:
            return found
    return None

"""Per-register last-writer-wins merge of one change into one row.

Pure: the caller supplies the row as stored and a lookup for parent rows; the
result says what to write and what to log. The server applies it inside its
write transaction; tests drive it directly.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from . import schema
from .errors import REJECT_ORDER
from .hlc import SERVER_NODE
from .schema import COLLECTIONS, SERVER, STATUS_ORDER, SUPERVISOR, TECHNICIAN, Collection, Via

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


@dataclass
class LogEntry:
    kind: Literal["lost", "overwritten", "rejected", "rejected_field"]
    register: str | None = None
    old_value: Any = None
    new_value: Any = None
    other_hlc: str | None = None
    other_writer: str | None = None
    reason: str | None = None
    detail: str | None = None


@dataclass
class Outcome:
    status: Literal["applied", "superseded", "rejected"]
    row: RowState | None = None
    changed: bool = False
    reason: str | None = None
    detail: str | None = None
    rejected_fields: dict[str, str] = field(default_factory=dict)
    log: list[LogEntry] = field(default_factory=list)


Lookup = Callable[[str, str], "RowState | None"]


@dataclass(frozen=True)
class Rules:
    """What validation needs to know beyond the row itself, supplied by the store.

    `template_items(device_id)`: the checklist items `{key: type}` of the
    device's kind, or None when its kind has no template. `unchecked(inspection_id)`:
    how many active devices of the inspection's site have no outcome yet.
    `is_member(site_id, username)`: whether the user is a member of the site
    (an inspection is assigned to members only); None skips that check (the
    client SDK does not know other users' memberships). `signature_refusal(inspection_id,
    fields)`: why a client's new signature is refused (too many, its image not
    stored), or None; None skips it (the SDK knows neither).
    """

    template_items: Callable[[str], dict[str, str] | None]
    unchecked: Callable[[str], int]
    is_member: Callable[[str, str], bool] | None = None
    signature_refusal: Callable[[str, dict[str, Any]], str | None] | None = None




class _Problems:
    def __init__(self) -> None:
        self.found: dict[str, str] = {}

    def add(self, reason: str, detail: str) -> None:
        self.found.setdefault(reason, detail)

    def first(self) -> tuple[str, str] | None:
        for reason in REJECT_ORDER:
            if reason in self.found:
                return reason, self.found[reason]
        return None


def site_of(collection: str, row_id: str, fields: dict[str, Any], lookup: Lookup) -> str | None:
    """The site a row belongs to, as its collection's scope declares; None for a global row."""
    site = COLLECTIONS[collection].scope.site
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
    period = COLLECTIONS[collection].scope.period
    if period is None:
        return None
    if isinstance(period, str):
        value = fields.get(period)
        return value if isinstance(value, str) else None
    parent = _parent_row(fields, period, lookup)
    return period_of(period.collection, parent.fields, lookup) if parent is not None else None


def parent_of(collection: str, fields: dict[str, Any]) -> str | None:
    """The id a row's site is found through: its site field or the parent its scope names."""
    site = COLLECTIONS[collection].scope.site
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
    that it exists, let alone where."""
    return (
        row is not None and row.exists and actor.role != SERVER and actor.sites is not None
        and row.site_id is not None and row.site_id not in actor.sites
    )


def _value_of(row: RowState, spec: Collection, register: str) -> Any:
    if register == DELETED:
        return row.deleted
    names = spec.groups.get(register)
    if names:
        return {name: row.fields.get(name) for name in names}
    return row.fields.get(register)


def _registers(spec: Collection, fields: dict[str, Any], delete: bool | None) -> dict[str, Any]:
    regs: dict[str, Any] = {}
    for name, value in fields.items():
        reg = spec.register_of(name)
        if reg != name:
            regs.setdefault(reg, {})[name] = value
        else:
            regs[name] = value
    if delete is not None:
        regs[DELETED] = delete
    return regs


def validate(
    collection: str,
    row_id: str,
    fields: dict[str, Any],
    delete: bool | None,
    row: RowState | None,
    actor: Actor,
    lookup: Lookup,
    rules: Rules | None = None,
) -> tuple[tuple[str, str] | None, dict[str, str], dict[str, Any]]:
    """Check one change; return (rejection or None, rejected_fields, fields to merge)."""
    if outside_scope(row, actor):
        rejection, as_new, merged = validate(collection, row_id, fields, delete, None, actor, lookup, rules)
        # Valid as a new row: but the id is taken, and the row is not the client's to change.
        return rejection or ("forbidden", f"{collection} {row_id} is outside your sites"), as_new, merged
    problems = _Problems()
    spec = COLLECTIONS.get(collection)
    if spec is None:
        return ("unknown_collection", f"no collection named {_shown(collection)}"), {}, {}
    if not schema.is_uuid(row_id):
        problems.add("invalid_field", f"id {_shown(row_id)} is not a lower-case hyphenated UUID")
    creating = row is None or not row.exists
    is_client = actor.role != SERVER
    rejected_fields: dict[str, str] = {}
    kept: dict[str, Any] = {}

    for name, value in fields.items():
        fspec = spec.field(name)
        if fspec is None:
            rejected_fields[name] = "unknown_field"
            continue
        if is_client and actor.role not in fspec.writers:
            who = "the server" if not fspec.writers else " and ".join(f"{r}s" for r in fspec.writers)
            problems.add("forbidden", f"{collection}.{name} is written by {who} only")
        if not fspec.valid(value):
            if fspec is spec.open_field:
                rejected_fields[name] = "invalid_value"
                continue
            limit = f" of at most {fspec.limit} characters" if fspec.limit and isinstance(value, str) else ""
            problems.add("invalid_field", f"{collection}.{name}: {_shown(value)} is not a valid {fspec.type}{limit}")
        kept[name] = value

    # Parents: required on creation, immutable afterwards.
    for name, pspec in spec.parents.items():
        if creating:
            value = kept.get(name)
            if value is None and not pspec.optional_parent:
                problems.add("invalid_field", f"{collection}.{name} is required when creating a row")
            elif value is not None and pspec.parent in schema.ROW_PARENTS and pspec.valid(value):
                parent = lookup(pspec.parent, value)
                if parent is None:
                    problems.add("unknown_parent", f"{collection}.{name}: no {pspec.parent} row {value}")
                elif is_client and actor.sites is not None and parent.site_id not in actor.sites:
                    # Every parent must be in scope, not only the one the row's site comes from.
                    problems.add("forbidden", f"{collection}.{name}: {pspec.parent} {value} is outside your sites")
        elif row is not None and name in kept and kept[name] != row.fields.get(name):
            problems.add("immutable", f"{collection}.{name} cannot change once set")

    id_rule = spec.id_rule
    if id_rule is not None and id_rule.checked and creating and schema.is_uuid(row_id):
        expected = id_rule.expected(kept)
        if expected is not None and row_id != expected:
            problems.add("invalid_field", f"{collection}.id must be {id_rule.formula}")
    if collection in ("device_checks", "photos") and creating:
        # A check or photo is of a device at the inspection's own site.
        insp_id, dev_id = kept.get("inspection_id"), kept.get("device_id")
        inspection = lookup("inspections", insp_id) if isinstance(insp_id, str) and schema.is_uuid(insp_id) else None
        device = lookup("devices", dev_id) if isinstance(dev_id, str) and schema.is_uuid(dev_id) else None
        if inspection is not None and device is not None and device.site_id != inspection.site_id:
            problems.add("invalid_field", f"{collection}.device_id: device {dev_id} is not at the inspection's site")

    if is_client:
        if creating and actor.role not in spec.create_roles:
            problems.add("forbidden", f"{actor.role}s may not create {collection}")
        if delete and actor.role not in (spec.delete_roles or ()):
            problems.add("forbidden", f"{actor.role}s may not delete {collection}")
        site = row.site_id if row is not None and row.exists else site_of(collection, row_id, kept, lookup)
        if actor.sites is not None and site is not None and site not in actor.sites:
            problems.add("forbidden", f"{collection} {row_id} is outside your sites")
        if actor.role == TECHNICIAN and kept.get("checked_by") not in (None, actor.username):
            problems.add("forbidden", "technicians record checks under their own name only")
        status = kept.get("status")
        if (
            collection == "inspections" and actor.role == TECHNICIAN and row is not None and row.exists
            and status in STATUS_ORDER and row.fields.get("status") in STATUS_ORDER
            and STATUS_ORDER.index(status) < STATUS_ORDER.index(row.fields["status"])
        ):
            problems.add("invalid_field", f"inspections.status cannot go back from {row.fields['status']} to {status}")
        if collection == "inspections" and (
            status == "signed" or (status == "scheduled" and actor.role != SUPERVISOR)
        ):
            problems.add("forbidden", f"inspections.status {status!r} is set by the server")

    if rules is not None and collection == "device_checks":
        device = kept.get("device_id") or (row.fields.get("device_id") if row is not None else None)
        items = rules.template_items(device) if isinstance(device, str) else None
        if items is not None:
            for name in [n for n in kept if n.startswith("item.")]:
                item_type = items.get(name[5:])
                if item_type is None:
                    rejected_fields[name] = "unknown_item"
                elif kept[name] is not None and (
                    not isinstance(kept[name], schema.ITEM_TYPES[item_type])
                    or (item_type == "int" and isinstance(kept[name], bool))
                ):
                    rejected_fields[name] = "invalid_value"
                else:
                    continue
                del kept[name]
    if rules is not None and rules.is_member is not None and collection == "inspections" and is_client:
        assignee = kept.get("assigned_to")
        site = row.site_id if row is not None and row.exists else kept.get("site_id")
        if (
            isinstance(assignee, str)
            and isinstance(site, str)
            and (row is None or row.fields.get("assigned_to") != assignee)
            and not rules.is_member(site, assignee)
        ):
            problems.add("invalid_field", f"inspections.assigned_to: {assignee} is not a member of site {site}")
    if collection == "signatures" and creating and is_client:
        # Issue 9, finding 17: what seals a customer's checks is the customer's own hand.
        if kept.get("signer_role") == "customer" and not kept.get("image_sha256"):
            problems.add("invalid_field", "signatures.image_sha256: a customer's signature needs its image")
        elif rules is not None and rules.signature_refusal is not None and schema.is_uuid(kept.get("inspection_id")):
            refusal = rules.signature_refusal(kept["inspection_id"], kept)
            if refusal is not None:
                problems.add("invalid_field", refusal)
    # Not on creation: a new inspection has no checks yet (nor a count to tell of a hidden one).
    if rules is not None and collection == "inspections" and kept.get("status") == "completed" and is_client and (
        not creating
    ):
        missing = rules.unchecked(row_id)
        if missing:
            problems.add("incomplete", f"{missing} active devices of the site have no outcome yet")

    if row is not None and row.exists:
        # Compare what the merge would write: a group's unsent fields are written as null.
        differs = (delete is not None and delete != row.deleted) or any(
            row.fields.get(name) != value for name, value in schema.expand_groups(spec, kept).items()
        )
        if spec.immutable_rows and differs:
            problems.add("immutable", f"{collection} rows never change after they are created")
        if collection == "device_checks" and row.fields.get("sealed_by") and differs and is_client:
            problems.add("sealed", f"this check is sealed by signature {row.fields['sealed_by']}")

    return problems.first(), rejected_fields, kept


def merge(
    row: RowState | None,
    collection: str,
    row_id: str,
    fields: dict[str, Any],
    delete: bool | None,
    hlc: str,
    writer: str,
    site_id: str | None = None,
) -> Outcome:
    """Merge validated fields into the row, register by register, by HLC.

    The higher HLC wins; an equal HLC never wins. Values that lose, and values
    another writer overwrites, come back as log entries.
    """
    spec = COLLECTIONS[collection]
    if spec.groups:
        fields = schema.expand_groups(spec, fields)
    if row is None or not row.exists:
        # A new row: every register wins, nothing to compare or log.
        stamp = [hlc, writer]
        clocks = {spec.register_of(name): stamp for name in fields if name not in spec.parents}
        if delete is not None:
            clocks[DELETED] = stamp
        values = {name: value for name, value in fields.items() if value is not None}
        return Outcome("applied", row=RowState(collection, row_id, values, clocks, bool(delete), site_id),
                       changed=True)
    # Work on a copy: the caller's row stays as stored if the change is then rejected.
    row = RowState(row.collection, row.id, dict(row.fields), dict(row.clocks), row.deleted,
                   row.site_id, row.version)
    regs = _registers(spec, {k: v for k, v in fields.items() if k not in spec.parents}, delete)
    outcome = Outcome("applied", row=row)
    won = lost = 0  # `lost` counts registers whose value lost to a different one
    for reg, new in regs.items():
        clock = row.clocks.get(reg)
        current = _value_of(row, spec, reg)
        if clock is None or hlc > clock[0]:
            won += 1
            # Taking a register over from another client is logged even when the value
            # is the same: the register is now the new writer's, and if they change it
            # later, the other client's value would otherwise go without a trace. The
            # server's own values (demo data, the scheduler's first `scheduled`, a
            # derived `completed`) are no client's value to lose.
            if clock is not None and clock[1] not in (writer, SERVER_NODE) and (
                current != new or writer != SERVER_NODE
            ):
                outcome.log.append(LogEntry("overwritten", reg, current, new, clock[0], clock[1]))
            row.clocks[reg] = [hlc, writer]
            if reg == DELETED:
                row.deleted = bool(new)
            elif isinstance(new, dict):
                row.fields.update(new)
            else:
                row.fields[reg] = new
            outcome.changed = True
        else:
            lost += current != new
            # Losing to another writer is logged even with an equal value: the register is
            # theirs, and when they change it this writer's value must still be on record.
            if current != new or clock[1] not in (writer, SERVER_NODE):
                outcome.log.append(LogEntry("lost", reg, current, new, clock[0], clock[1]))
    if regs and not won and lost:
        # Superseded: nothing won and some value differs from the newer one. A change
        # whose every value is already current (the server completed the inspection a
        # moment before the technician's own `completed` arrived) is applied.
        outcome.status = "superseded"
    # Null fields carry no information: keep rows small (a missing field reads as null).
    row.fields = {k: v for k, v in row.fields.items() if v is not None}
    return outcome


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


def apply_change(
    row: RowState | None,
    collection: str,
    row_id: str,
    fields: dict[str, Any],
    delete: bool | None,
    hlc: str,
    actor: Actor,
    lookup: Lookup,
    rules: Rules | None = None,
) -> Outcome:
    """Validate, then merge one change. Rejections and rejected fields are logged."""
    rejection, rejected_fields, kept = validate(collection, row_id, fields, delete, row, actor, lookup, rules)
    if rejection is None:
        site = row.site_id if row is not None and row.exists else site_of(collection, row_id, kept, lookup)
        outcome = merge(row, collection, row_id, kept, delete, hlc, actor.client_id, site)
        merged = outcome.row
        rejection = check_row(collection, merged.fields, merged.deleted) if rules is not None and merged else None
    if rejection is not None:
        reason, detail = rejection
        return Outcome(
            "rejected",
            reason=reason,
            detail=detail,
            log=[LogEntry("rejected", None, None, {**fields, **({} if delete is None else {DELETED: delete})},
                          reason=reason, detail=detail)],
        )
    outcome.rejected_fields = rejected_fields
    for name, reason in rejected_fields.items():
        outcome.log.append(LogEntry("rejected_field", name, None, fields[name], reason=reason))
    return outcome

"""Per-register last-writer-wins merge of one change into one row.

Pure: the caller supplies the row as stored and a lookup for parent rows; the
result says what to write and what to log. The server applies it inside its
write transaction; tests drive it directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Literal

from . import schema
from .errors import REJECT_ORDER
from .schema import COLLECTIONS, SERVER, SUPERVISOR, TECHNICIAN, Collection

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
    def server(cls) -> "Actor":
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
    """The site a row belongs to: itself, its `site_id`, or its inspection's site."""
    if collection == "sites":
        return row_id
    if "site_id" in COLLECTIONS[collection].fields:
        return fields.get("site_id")
    parent_id = fields.get("inspection_id")
    if parent_id:
        parent = lookup("inspections", parent_id)
        return parent.site_id if parent else None
    return None


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
) -> tuple[tuple[str, str] | None, dict[str, str], dict[str, Any]]:
    """Check one change; return (rejection or None, rejected_fields, fields to merge)."""
    problems = _Problems()
    spec = COLLECTIONS.get(collection)
    if spec is None:
        return ("unknown_collection", f"no collection named {collection!r}"), {}, {}
    if not schema.is_uuid(row_id):
        problems.add("invalid_field", f"id {row_id!r} is not a lower-case hyphenated UUID")
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
            problems.add("invalid_field", f"{collection}.{name}: {value!r} is not a valid {fspec.type}")
        kept[name] = value

    # Parents: required on creation, immutable afterwards.
    for name, pspec in spec.parents.items():
        if creating:
            value = kept.get(name)
            if value is None and not pspec.optional_parent:
                problems.add("invalid_field", f"{collection}.{name} is required when creating a row")
            elif value is not None and pspec.parent in schema.ROW_PARENTS and pspec.valid(value):
                if lookup(pspec.parent, value) is None:
                    problems.add("unknown_parent", f"{collection}.{name}: no {pspec.parent} row {value}")
        elif row is not None and name in kept and kept[name] != row.fields.get(name):
            problems.add("immutable", f"{collection}.{name} cannot change once set")

    if collection == "device_checks" and creating and schema.is_uuid(row_id):
        insp, dev = kept.get("inspection_id"), kept.get("device_id")
        if insp and dev and row_id != schema.device_check_id(insp, dev):
            problems.add("invalid_field", "device_checks.id must be uuid5(NS, inspection_id/device_id)")

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
        if collection == "inspections" and status is not None:
            if status == "signed" or (status == "scheduled" and actor.role != SUPERVISOR):
                problems.add("forbidden", f"inspections.status {status!r} is set by the server")

    if row is not None and row.exists:
        differs = delete is not None and delete != row.deleted or any(
            row.fields.get(name) != value for name, value in kept.items()
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
    fields = schema.expand_groups(spec, fields)
    creating = row is None or not row.exists
    if creating:
        row = RowState(collection, row_id, site_id=site_id, exists=True)
        row.fields = {name: fields[name] for name in spec.parents if fields.get(name) is not None}
    assert row is not None
    regs = _registers(spec, {k: v for k, v in fields.items() if k not in spec.parents}, delete)
    outcome = Outcome("applied", row=row, changed=creating)
    won = lost = 0
    for reg, new in regs.items():
        clock = row.clocks.get(reg)
        current = _value_of(row, spec, reg)
        if clock is None or hlc > clock[0]:
            won += 1
            if clock is not None and clock[1] != writer and current != new:
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
            lost += 1
            if current != new:
                outcome.log.append(LogEntry("lost", reg, current, new, clock[0], clock[1]))
    if regs and not won and not creating:
        outcome.status = "superseded"
    # Null fields carry no information: keep rows small (a missing field reads as null).
    row.fields = {k: v for k, v in row.fields.items() if v is not None}
    return outcome


def apply_change(
    row: RowState | None,
    collection: str,
    row_id: str,
    fields: dict[str, Any],
    delete: bool | None,
    hlc: str,
    actor: Actor,
    lookup: Lookup,
) -> Outcome:
    """Validate, then merge one change. Rejections and rejected fields are logged."""
    rejection, rejected_fields, kept = validate(collection, row_id, fields, delete, row, actor, lookup)
    if rejection is not None:
        reason, detail = rejection
        return Outcome(
            "rejected",
            reason=reason,
            detail=detail,
            log=[LogEntry("rejected", None, None, {**fields, **({} if delete is None else {DELETED: delete})},
                          reason=reason, detail=detail)],
        )
    site = row.site_id if row is not None and row.exists else site_of(collection, row_id, kept, lookup)
    outcome = merge(row, collection, row_id, kept, delete, hlc, actor.client_id, site)
    outcome.rejected_fields = rejected_fields
    for name, reason in rejected_fields.items():
        outcome.log.append(LogEntry("rejected_field", name, None, fields[name], reason=reason))
    return outcome

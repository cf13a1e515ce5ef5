"""Per-register last-writer-wins merge of one change into one row.

Pure: the caller supplies the row as stored and a lookup for parent rows; the
result says what to write and what to log. The server applies it inside its
write transaction; tests drive it directly. Generic: what a collection allows
is `sync.rules.validate`'s to say, from the collection's declaration.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from .collection import expand_groups
from .hlc import SERVER_NODE
from .rules import (
    DELETED,
    Actor,
    Lookup,
    RowState,
    Rules,
    check_row,
    hidden,
    outside_scope,
    parent_of,
    period_of,
    site_of,
    validate,
)
from .schema import COLLECTIONS, Collection

# Re-exported: the server, the client SDK and the tests import these from here.
__all__ = [
    "DELETED", "Actor", "LogEntry", "Lookup", "Outcome", "RowState", "Rules", "apply_change", "check_row", "hidden", "merge",
    "outside_scope", "parent_of", "period_of", "site_of", "validate",
]


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
        fields = expand_groups(spec, fields)
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
    *,
    valid: bool | None = None,
) -> Outcome:
    """Validate, then merge one change. Rejections and rejected fields are logged. `valid`: as for `validate`."""
    rejection, rejected_fields, kept, site = validate(collection, row_id, fields, delete, row, actor, lookup, rules,
                                                      valid=valid)
    if rejection is None:
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

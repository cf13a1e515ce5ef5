"""What a change the server took with its answer lost (`taken`, `Outbox._held`) came to: read from the
row's conflict log once the pull covers it (docs/sync-protocol.md, "Client side").

The pulled row carries no register clocks, so a value it holds proves nothing: it may be another writer's
equal value, or the change's own value that lost (the server logs a writer's losing value once, and a
value equal to the server's or the writer's own earlier one not at all). What the log says of the change,
its entries of the change's client and seq (the seq the server knew it by), decides; without a loss in
it, the server counted none and answered `applied`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sync import hlc, schema
from sync.rules import DELETED
from sync.wire import Conflict

from .replica import Entry

Result = tuple[str, str | None, str | None, dict[str, str] | None]  # state, reason, detail, rejected fields
# Settled for good with the result unknown: the row left the phone and the log tells nothing of the change
# (the server hides the log of a site the technician was taken off), or the server refuses to show the log.
# The outbox state is `applied`, as while it was taken, so it is laid over and pruned the same way.
UNKNOWN: Result = "applied", "result_unknown", None, None
REFUSED = "refused"  # `Outbox._row_log`: the server refused to show the log (its 4xx, not a sign-in one)


def verdict(entry: Entry, log: Sequence[Conflict], present: bool) -> Result:
    """A taken change's result from its row's whole conflict log, as the server's merge decided it:

    - the `rejected` entry of its client and seq: that refusal;
    - UNKNOWN for a row not on the phone (`present`) when the log holds no entry of the change nor one
      overwriting it: the server hides the log of a site the technician left, so silence tells nothing;
      and so for a change moved below seq 1 before m006 kept the seq the server knew (`sent_seq` NULL),
      whose entries are found by its HLC, when none is (the server may have corrected its HLC);
    - `applied` when one of its own entries is `overwritten` (it beat another writer's value), when an
      `overwritten` entry names its client and one of its HLCs (`other_client_id`, `other_hlc`: it had won
      that register, and a later writer replaced it), or when the log holds no loss of it: no `lost` entry of a
      different value, and no register whose loss the log may have left out (the same value of the same
      client is on record already, so a second loss of it is not logged); its refused fields are kept;
    - else `superseded` (reason `result_lost`): a loss is on record and no win is, so the technician is
      told to look, never told wrongly that it counted (the contract's `applied` is "at least one register
      won"; a register still holding its value may be another writer's equal value).
    """
    node = hlc.parse(entry.hlc).node
    seq = entry.seq if entry.sent_seq is None else entry.sent_seq  # the seq the server knew
    # Moved below seq 1 before m006 kept `sent_seq`: that seq is lost, and the entries are those of its HLC.
    unnumbered = seq <= 0
    mine = [found for found in log if found.client_id == node and (found.hlc == entry.hlc if unnumbered
                                                                     else found.seq == seq)]
    refused = next((found for found in mine if found.kind == "rejected"), None)
    if refused is not None:
        return "rejected", refused.reason, refused.detail, None
    spec = schema.COLLECTIONS.get(entry.collection)

    def register(name: str) -> str:
        return spec.register_of(name) if spec else name

    sent: dict[str, dict[str, Any]] = {}  # register: the fields of it the change sent
    for name, value in entry.fields.items():
        if not (spec and name in spec.parents):  # a parent never changes: it is no register
            sent.setdefault(register(name), {})[name] = value
    if entry.delete is not None:
        sent[DELETED] = {DELETED: entry.delete}
    refused_fields = {str(found.register): found.reason or "" for found in mine if found.kind == "rejected_field"}
    applied: Result = "applied", None, None, refused_fields or None
    # The server logs the HLC it applied (corrected when the phone's clock was off): the change's entries tell it.
    stamps = {entry.hlc} | {found.hlc for found in mine if found.hlc}
    if any(found.kind == "overwritten" for found in mine) or any(
            found.kind == "overwritten" and found.other_client_id == node and found.other_hlc in stamps
            and register(str(found.register)) in sent for found in log):
        return applied  # it beat another writer's value, or a later writer replaced its value: it won
    if not mine and (unnumbered or not present):  # an HLC the server corrected matches none: nothing known
        return UNKNOWN
    lost = any(found.kind == "lost" and not found.no_op for found in mine)
    logged = {register(str(found.register)) for found in mine}
    unlogged = any(_on_record(found, node, reg, values) for reg, values in sent.items() if reg not in logged
                   for found in log)
    return ("superseded", "result_lost", None, None) if lost or unlogged else applied


def _on_record(found: Conflict, node: str, reg: str, values: dict[str, Any]) -> bool:
    """Whether `found` keeps this client's value `values` of register `reg` (a loss of it, or another writer
    overwriting it): the server then logs no further loss of that value (`Batch._on_record`)."""
    if found.register != reg:
        return False
    if found.kind == "lost" and found.client_id == node:
        kept = found.new_value
    elif found.kind == "overwritten" and found.other_client_id == node:
        kept = found.old_value
    else:
        return False
    if isinstance(kept, dict):  # a group's register keeps all its fields: compare those the change sent
        return all(kept.get(name) == value for name, value in values.items())
    return len(values) == 1 and next(iter(values.values())) == kept

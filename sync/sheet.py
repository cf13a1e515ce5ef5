"""The sheets a customer signs: their canonical bytes, their hash, and what differs.

Two kinds, one shape of code (a signature seals either through the same mechanism):

- the maintenance sheet of an inspection, the canonical JSON (RFC 8785) of
  `{"inspection": <id>, "checks": {<device_id>: {<field>: <value>, …}}}` over the
  checks the customer was shown: every field of each non-deleted
  `device_checks` row except `inspection_id`, `device_id` and the fields the
  server writes (`sealed_by`), with null fields left out;
- the contact sheet of a service visit (issue 12), the canonical JSON of
  `{"visit": <id>, "fields": {<the visit's fields>}, "lines": {<charge line id>:
  {<its fields>}}}`: the visit's and its lines' client-written fields, null ones
  left out, without their parents (`request_id`, `visit_id`). It covers the
  whole visit, never part of it.

The client builds a sheet before the customer signs; the server rebuilds its
own state the same way to verify the signature. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import msgspec

from .canonical import canonical_json, sha256_hex
from .schema import COLLECTIONS, MAX_SAFE_INT, is_uuid
from .wire import MAX_FIELD_NAME_CHARS, MAX_FIELDS_PER_CHANGE, MAX_VALUE_CHARS

Checks = dict[str, dict[str, Any]]

# Not on the sheet: the row's parents (the sheet's own keys say them) and what only
# the server writes (a seal must not change what was sealed).
LEFT_OUT = frozenset(
    ["inspection_id", "device_id"]
    + [name for name, spec in COLLECTIONS["device_checks"].fields.items() if not spec.writers]
)



def _server_written(collection: str) -> list[str]:
    spec = COLLECTIONS.get(collection)
    return [name for name, f in spec.fields.items() if not f.writers] if spec is not None else []


# A contact sheet leaves out the visit's request and a line's visit (parents), and what the server
# writes. Charge lines are declared by issue 13; until then the contract names their server fields.
VISIT_LEFT_OUT = frozenset(["request_id", *_server_written("service_visits")])
LINE_LEFT_OUT = frozenset(["visit_id", "amount_fen", "covered", *_server_written("charge_lines")])


# The order of the systems on a sheet, printed (`server/domains/sheets`) and on the phone before signing
# (`client_sdk/cli/customer.py`); a system not named here comes last.
SYSTEM_ORDER = ("video", "access", "alarm", "network", "broadcast", "telephone")


# The most bytes a sheet may have: the server refuses a bigger upload and never reads more.
# A sheet of 2,000 checks with ten items each and a full note is about 1.5 MiB; real ones are
# a few hundred bytes a device (issue 9, finding 8).
MAX_SHEET_BYTES = 2 * 1024 * 1024


class SheetError(ValueError):
    """Bytes that are not a sheet (not canonical JSON of the sheet's shape)."""


class Sheet(NamedTuple):
    """A parsed sheet: the id of what it signs, its rows by id (an inspection's checks by
    device, a visit's charge lines), its kind, and a visit's own fields (None for an inspection)."""

    id: str
    items: Checks
    kind: str = "inspection"
    fields: dict[str, Any] | None = None


_Scalar = str | int | bool


class _Shape(msgspec.Struct, forbid_unknown_fields=True):
    inspection: str
    checks: dict[str, dict[str, _Scalar]]


class _VisitShape(msgspec.Struct, forbid_unknown_fields=True):
    fields: dict[str, _Scalar]
    lines: dict[str, dict[str, _Scalar]]
    visit: str


# Typed: a nested object, a list, a float or a null where a scalar belongs stops the decoder
# there, so no depth of nesting costs more than the bytes already read.
_decode_shape = msgspec.json.Decoder(_Shape).decode
_decode_visit_shape = msgspec.json.Decoder(_VisitShape).decode


def _without(fields: Mapping[str, Any], left_out: frozenset[str]) -> dict[str, Any]:
    return {name: value for name, value in fields.items() if name not in left_out and value is not None}


def check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A check's fields as they stand on a sheet."""
    return _without(fields, LEFT_OUT)


def checks_of(rows: Iterable[tuple[str, Mapping[str, Any], bool]]) -> Checks:
    """The sheet's checks from `(device_id, fields, deleted)` rows; deleted rows are left out."""
    return {device_id: check_fields(fields) for device_id, fields, deleted in rows if not deleted}


def sheet_bytes(inspection_id: str, checks: Mapping[str, Mapping[str, Any]]) -> bytes:
    """The canonical sheet: the bytes the customer signs and the client uploads."""
    return canonical_json(
        {"inspection": inspection_id, "checks": {d: check_fields(f) for d, f in checks.items()}}
    )


def sheet_sha256(inspection_id: str, checks: Mapping[str, Mapping[str, Any]]) -> str:
    return sha256_hex(sheet_bytes(inspection_id, checks))


def visit_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A visit's fields as they stand on its contact sheet."""
    return _without(fields, VISIT_LEFT_OUT)


def line_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A charge line's fields as they stand on its visit's contact sheet."""
    return _without(fields, LINE_LEFT_OUT)


def visit_sheet_bytes(
    visit_id: str, fields: Mapping[str, Any], lines: Mapping[str, Mapping[str, Any]] | None = None
) -> bytes:
    """The visit's canonical contact sheet: `fields` are the visit's, `lines` its non-deleted
    charge lines by id (none before issue 13)."""
    return canonical_json({
        "visit": visit_id, "fields": visit_fields(fields),
        "lines": {line_id: line_fields(f) for line_id, f in (lines or {}).items()},
    })


def visit_sheet_sha256(
    visit_id: str, fields: Mapping[str, Any], lines: Mapping[str, Mapping[str, Any]] | None = None
) -> str:
    return sha256_hex(visit_sheet_bytes(visit_id, fields, lines))


def _check_bounds(what: str, fields: Mapping[str, Any]) -> None:
    if len(fields) > MAX_FIELDS_PER_CHANGE:
        raise SheetError(f"{what} has more than {MAX_FIELDS_PER_CHANGE} fields")
    for name, value in fields.items():
        if len(name) > MAX_FIELD_NAME_CHARS or (isinstance(value, str) and len(value) > MAX_VALUE_CHARS) or (
            isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT
        ):
            raise SheetError(f"{what} has a field or value past the wire's bounds")


def _check_rows(what: str, rows: Mapping[str, Mapping[str, Any]]) -> None:
    for row_id, fields in rows.items():
        if not is_uuid(row_id):
            raise SheetError(f"{row_id[:64]!r} is not a {what} id")
        _check_bounds(f"the {what} {row_id}", fields)


def parse(data: bytes) -> Sheet:
    """The sheet that `data` is (an inspection's or a visit's); raises SheetError for anything else.

    The bytes must be canonical (a sheet re-encoded differently would hash
    differently from what the customer signed), at most MAX_SHEET_BYTES, with
    row ids that are UUIDs and field values that are scalars within the
    wire's bounds.
    """
    if len(data) > MAX_SHEET_BYTES:
        raise SheetError(f"{len(data):,} bytes; a sheet is at most {MAX_SHEET_BYTES:,}")
    # Canonical keys are sorted: a contact sheet starts with its "fields", a maintenance sheet
    # with its "checks" (anything else fails the canonical comparison below).
    visit = data.startswith(b'{"fields":')
    try:
        shape: _Shape | _VisitShape = (_decode_visit_shape if visit else _decode_shape)(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        expected = '{"visit": …, "fields": {…}, "lines": {…}}' if visit else '{"inspection": …, "checks": {…}}'
        raise SheetError(f"not a sheet {expected} of scalars: {exc}") from None
    if isinstance(shape, _VisitShape):
        _check_bounds("the visit", shape.fields)
        _check_rows("charge line", shape.lines)
        parsed = Sheet(shape.visit, shape.lines, "visit", shape.fields)
        again = canonical_json({"visit": shape.visit, "fields": shape.fields, "lines": shape.lines})
    else:
        _check_rows("device", shape.checks)
        parsed = Sheet(shape.inspection, shape.checks)
        again = canonical_json({"inspection": shape.inspection, "checks": shape.checks})
    if again != data:
        raise SheetError("the sheet is not in canonical form")
    return parsed


@dataclass(frozen=True)
class Difference:
    """One field of one check whose value on the sheet is not the server's.

    `signed` is the value on the sheet, `current` the server's; None means
    absent. `check` says what happened to the whole check: `changed`,
    `missing` (on the sheet, gone at the server) or `not_on_sheet` (at the
    server, not on the sheet: only when the whole sheet was compared).
    """

    device_id: str
    field: str
    signed: Any
    current: Any
    check: str = "changed"


def differences(
    signed: Mapping[str, Mapping[str, Any]],
    current: Mapping[str, Mapping[str, Any]],
    whole: bool = False,
) -> list[Difference]:
    """Which checks of `signed` differ from `current`, field by field, sorted.

    `current` holds the checks as they stand (deleted ones left out). With
    `whole`, checks in `current` that the sheet lacks differ too (the sheet was
    compared with the inspection's full sheet).
    """
    found: list[Difference] = []
    devices = set(signed) | (set(current) if whole else set())
    for device_id in sorted(devices):
        on_sheet = check_fields(signed.get(device_id, {}))
        now_fields = current.get(device_id)
        kind = "changed" if device_id in signed and now_fields is not None else (
            "missing" if now_fields is None else "not_on_sheet")
        now = check_fields(now_fields or {})
        for name in sorted(set(on_sheet) | set(now)):
            if on_sheet.get(name) != now.get(name) or type(on_sheet.get(name)) is not type(now.get(name)):
                found.append(Difference(device_id, name, on_sheet.get(name), now.get(name), kind))
        if kind != "changed" and not on_sheet and not now:
            found.append(Difference(device_id, "", None, None, kind))
    return found


def matches(signed: Mapping[str, Mapping[str, Any]], current: Mapping[str, Mapping[str, Any]]) -> bool:
    """Every check on the sheet stands at the server exactly as signed (what `differences`
    would find nothing in, without sorting or listing anything)."""
    for device_id, fields in signed.items():
        now = current.get(device_id)
        if now is None:
            return False
        on_sheet, stands = _as_on_sheet(fields), _as_on_sheet(now)
        # `==` takes True for 1: the types must match too (map: a signature's whole sheet is
        # compared inside the server's write transaction, so this stays in C).
        if on_sheet != stands or tuple(map(type, on_sheet.values())) != tuple(
            map(type, map(stands.__getitem__, on_sheet))
        ):
            return False
    return True


def _as_on_sheet(fields: Mapping[str, Any]) -> Mapping[str, Any]:
    """`check_fields`, without copying fields that are already as a sheet holds them."""
    if LEFT_OUT.isdisjoint(fields) and None not in fields.values():
        return fields
    return check_fields(fields)

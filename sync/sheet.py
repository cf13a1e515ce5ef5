"""The sealed maintenance sheet: its canonical bytes, its hash, and what differs.

The sheet is the canonical JSON (RFC 8785) of
`{"inspection": <id>, "checks": {<device_id>: {<field>: <value>, …}}}` over the
checks the customer was shown: every field of each non-deleted
`device_checks` row except `inspection_id`, `device_id` and the fields the
server writes (`sealed_by`), with null fields left out. The client builds it
before the customer signs; the server rebuilds its own state the same way to
verify the signature. Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

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


# The most bytes a sheet may have: the server refuses a bigger upload and never reads more.
# A sheet of 2,000 checks with ten items each and a full note is about 1.5 MiB; real ones are
# a few hundred bytes a device (issue 9, finding 8).
MAX_SHEET_BYTES = 2 * 1024 * 1024


class SheetError(ValueError):
    """Bytes that are not a sheet (not canonical JSON of the sheet's shape)."""


class _Shape(msgspec.Struct, forbid_unknown_fields=True):
    inspection: str
    checks: dict[str, dict[str, str | int | bool]]


# Typed: a nested object, a list, a float or a null where a scalar belongs stops the decoder
# there, so no depth of nesting costs more than the bytes already read.
_decode_shape = msgspec.json.Decoder(_Shape).decode


def check_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A check's fields as they stand on a sheet."""
    return {name: value for name, value in fields.items() if name not in LEFT_OUT and value is not None}


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


def parse(data: bytes) -> tuple[str, Checks]:
    """`(inspection_id, checks)` from sheet bytes; raises SheetError for anything else.

    The bytes must be canonical (a sheet re-encoded differently would hash
    differently from what the customer signed), at most MAX_SHEET_BYTES, with
    device ids that are UUIDs and field values that are scalars within the
    wire's bounds.
    """
    if len(data) > MAX_SHEET_BYTES:
        raise SheetError(f"{len(data):,} bytes; a sheet is at most {MAX_SHEET_BYTES:,}")
    try:
        shape = _decode_shape(data)
    except (msgspec.DecodeError, RecursionError) as exc:
        raise SheetError(f'not a sheet {{"inspection": …, "checks": {{…}}}} of scalars: {exc}') from None
    for device_id, fields in shape.checks.items():
        if not is_uuid(device_id):
            raise SheetError(f"{device_id[:64]!r} is not a device id")
        if len(fields) > MAX_FIELDS_PER_CHANGE:
            raise SheetError(f"the check of {device_id} has more than {MAX_FIELDS_PER_CHANGE} fields")
        for name, value in fields.items():
            if len(name) > MAX_FIELD_NAME_CHARS or (isinstance(value, str) and len(value) > MAX_VALUE_CHARS) or (
                isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT
            ):
                raise SheetError(f"the check of {device_id} has a field or value past the wire's bounds")
    if canonical_json({"inspection": shape.inspection, "checks": shape.checks}) != data:
        raise SheetError("the sheet is not in canonical form")
    return shape.inspection, shape.checks


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

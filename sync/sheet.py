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

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from .canonical import canonical_json, sha256_hex
from .schema import COLLECTIONS

Checks = dict[str, dict[str, Any]]

# Not on the sheet: the row's parents (the sheet's own keys say them) and what only
# the server writes (a seal must not change what was sealed).
LEFT_OUT = frozenset(
    ["inspection_id", "device_id"]
    + [name for name, spec in COLLECTIONS["device_checks"].fields.items() if not spec.writers]
)


class SheetError(ValueError):
    """Bytes that are not a sheet (not canonical JSON of the sheet's shape)."""


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

    The bytes must be canonical: a sheet re-encoded differently would hash
    differently from what the customer signed.
    """
    try:
        value = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise SheetError(f"not JSON: {exc}") from None
    if not isinstance(value, dict) or set(value) != {"inspection", "checks"}:
        raise SheetError('a sheet is {"inspection": …, "checks": {…}}')
    inspection, checks = value["inspection"], value["checks"]
    if not isinstance(inspection, str) or not isinstance(checks, dict):
        raise SheetError("inspection is an id and checks an object")
    for device_id, fields in checks.items():
        if not isinstance(fields, dict) or any(
            isinstance(v, (dict, list, float)) or v is None for v in fields.values()
        ):
            raise SheetError(f"the check of {device_id} is not an object of scalars")
    try:
        canonical = canonical_json(value)
    except TypeError as exc:
        raise SheetError(str(exc)) from None
    if canonical != data:
        raise SheetError("the sheet is not in canonical form")
    return inspection, checks


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
    """Every check on the sheet stands at the server exactly as signed."""
    return not differences(signed, current)

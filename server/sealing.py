"""Signatures: each verified at its place in a push, sealing what the customer signed.

`_Batch.settle` calls `verify` when a `signatures` row is created, inside the
push transaction, after the batch's earlier changes and before its later
ones. The signature is compared with the server's checks as they stand at
that moment:

- the checks listed on the sheet, when the sheet blob is stored (the client
  uploads it before it pushes the row); otherwise the inspection's full sheet
  (all its non-deleted checks), compared by `sheet_sha256`;
- if they all equal the sheet, `verification` is `valid`, and a customer's
  signature seals them (`sealed_by`, a server write in the same transaction);
  a technician's signature records but seals nothing;
- otherwise `mismatch`, nothing is sealed, and never re-verified.

What was compared is kept in `verifications`, so a supervisor sees which
listed checks differed and how (as they stood when the customer signed, not
as they stand later), once the sheet blob is stored.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Any

import msgspec

from sync import sheet
from sync.merge import RowState
from sync.schema import device_check_id

if TYPE_CHECKING:
    from .store import Store, _Batch

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.decode
# A sheet of a thousand devices with every item filled is well under this.
MAX_SHEET_BYTES = 8 * 1024 * 1024


class Difference(msgspec.Struct, kw_only=True):
    """One field of one listed check whose value at the server was not what was signed."""

    device_id: str
    code: str | None = None
    field: str
    signed: Any = None
    server: Any = None
    check: str = "changed"  # changed | missing (gone at the server) | not_on_sheet


class SignatureInfo(msgspec.Struct, kw_only=True):
    """A signature as the sheet endpoint lists it."""

    id: str
    signer_name: str | None = None
    signer_role: str | None = None
    signed_at: str | None = None
    verification: str | None = None
    compared: str | None = None  # "sheet": the checks listed on it; "inspection": the full sheet
    checks: int = 0  # checks compared
    sealed: int = 0  # checks this signature sealed
    sheet_stored: bool = False
    image_sha256: str | None = None
    sheet_sha256: str | None = None
    # For a mismatch whose sheet blob is stored: which checks differed and how.
    differences: list[Difference] | None = None


# -- the sheet blob ------------------------------------------------------------


def stored_sheet(store: Store, sha256: Any) -> bytes | None:
    """The sheet snapshot stored under `sha256`, or None while it is not stored.

    The one place sealing reads the blob store (server/blobs.py). The bytes
    are content-addressed and were hash-checked when uploaded, so whoever
    uploaded them, they are the sheet that hash names.
    """
    blobs = getattr(store, "blobs", None)
    if blobs is None or not isinstance(sha256, str):
        return None
    try:
        if not blobs.exists(sha256):
            return None
        with blobs.open(sha256) as f:
            data: bytes = f.read(MAX_SHEET_BYTES + 1)
    except (OSError, ValueError):
        return None
    return data if len(data) <= MAX_SHEET_BYTES else None


def _listed(data: bytes | None, inspection_id: str) -> sheet.Checks | None:
    """The checks a stored sheet lists, or None when no sheet is stored.

    Bytes that are not this inspection's canonical sheet list one impossible
    check, so that they can never verify.
    """
    if data is None:
        return None
    try:
        named, checks = sheet.parse(data)
    except sheet.SheetError:
        return dict(_NOT_A_SHEET)
    return checks if named == inspection_id else dict(_NOT_A_SHEET)


_NOT_A_SHEET: sheet.Checks = {"": {"sheet": "not this inspection's canonical sheet"}}


# -- verification, inside the push transaction --------------------------------


def _checks(db: sqlite3.Connection, inspection_id: str) -> dict[str, dict[str, Any]]:
    return {
        device_id: _decode(fields)
        for device_id, fields in db.execute(
            "SELECT device_id, fields FROM rows WHERE collection = 'device_checks' AND parent_id = ?"
            " AND deleted = 0",
            [inspection_id],
        )
    }


def _copy(row: RowState) -> RowState:
    return RowState(row.collection, row.id, dict(row.fields), dict(row.clocks), row.deleted, row.site_id,
                    row.version)


def verify(batch: _Batch, signature: RowState) -> None:
    """Verify a signature being created and seal what it covers (see the module docstring).

    Sets `verification` on `signature` (not yet stored: the caller stores it).
    """
    inspection_id = str(signature.fields.get("inspection_id"))
    sheet_sha = signature.fields.get("sheet_sha256")
    batch.flush_rows()  # the batch's earlier changes count
    current = {d: sheet.check_fields(f) for d, f in _checks(batch.db, inspection_id).items()}
    listed = _listed(stored_sheet(batch.store, sheet_sha), inspection_id)
    if listed is None:
        compared, state = "inspection", current
        valid = isinstance(sheet_sha, str) and sheet_sha == sheet.sheet_sha256(inspection_id, current)
    else:
        compared = "sheet"
        state = {d: current[d] for d in listed if d in current}
        valid = sheet.matches(listed, current)
    batch.server_set(signature, "verification", "valid" if valid else "mismatch")
    batch.db.execute(
        "INSERT OR REPLACE INTO verifications(signature_id, inspection_id, compared, checks) VALUES (?, ?, ?, ?)",
        [signature.id, inspection_id, compared, _encode(state).decode()],
    )
    if not valid or signature.fields.get("signer_role") != "customer":
        return
    for device_id in sorted(state):
        check = batch.lookup("device_checks", device_check_id(inspection_id, device_id))
        if check is None or check.deleted or check.fields.get("sealed_by"):
            continue  # sealed by an earlier signature: the first seal stands
        sealed = _copy(check)
        batch.server_set(sealed, "sealed_by", signature.id)
        batch.put(sealed)
    inspection = batch.lookup("inspections", inspection_id)
    if inspection is not None and not inspection.deleted:
        signed = _copy(inspection)
        if mark_signed(batch, signed):
            batch.put(signed)


def mark_signed(batch: _Batch, inspection: RowState) -> bool:
    """Set a completed inspection `signed` when every one of its checks is sealed (a server write).

    `inspection` is changed in place; returns whether it was.
    """
    if inspection.deleted or inspection.fields.get("status") != "completed":
        return False
    batch.flush_rows()
    total, unsealed = batch.db.execute(
        "SELECT count(*), count(*) FILTER (WHERE json_extract(fields, '$.sealed_by') IS NULL) FROM rows"
        " WHERE collection = 'device_checks' AND parent_id = ? AND deleted = 0",
        [inspection.id],
    ).fetchone()
    if not total or unsealed:
        return False
    batch.server_set(inspection, "status", "signed")
    return True


# -- what supervisors see -------------------------------------------------------


def signatures(store: Store, db: sqlite3.Connection, inspection_id: str) -> list[SignatureInfo]:
    """The inspection's signatures, oldest first, each with what it sealed and, for a
    mismatch whose sheet blob is stored, which checks differed and how."""
    found = db.execute(
        "SELECT s.id, s.fields, v.compared, v.checks,"
        " (SELECT count(*) FROM rows c WHERE c.collection = 'device_checks' AND c.parent_id = s.parent_id"
        "  AND json_extract(c.fields, '$.sealed_by') = s.id)"
        " FROM rows s LEFT JOIN verifications v ON v.signature_id = s.id"
        " WHERE s.collection = 'signatures' AND s.parent_id = ? AND s.deleted = 0 ORDER BY s.version",
        [inspection_id],
    ).fetchall()
    codes: dict[str, str | None] | None = None
    out = []
    for sig_id, fields_json, compared, state_json, sealed in found:
        fields = _decode(fields_json)
        state: dict[str, dict[str, Any]] = _decode(state_json) if state_json else {}
        data = stored_sheet(store, fields.get("sheet_sha256"))
        info = SignatureInfo(
            id=sig_id, signer_name=fields.get("signer_name"), signer_role=fields.get("signer_role"),
            signed_at=fields.get("signed_at"), verification=fields.get("verification"), compared=compared,
            checks=len(state), sealed=sealed, sheet_stored=data is not None,
            image_sha256=fields.get("image_sha256"), sheet_sha256=fields.get("sheet_sha256"),
        )
        listed = _listed(data, inspection_id)
        if fields.get("verification") == "mismatch" and listed is not None:
            if codes is None:
                codes = {
                    i: _decode(f).get("code")
                    for i, f in db.execute(
                        "SELECT d.id, d.fields FROM rows d WHERE d.collection = 'devices' AND d.parent_id ="
                        " (SELECT parent_id FROM rows WHERE collection = 'inspections' AND id = ?)",
                        [inspection_id],
                    )
                }
            info.differences = [
                Difference(device_id=d.device_id, code=codes.get(d.device_id), field=d.field, signed=d.signed,
                           server=d.current, check=d.check)
                for d in sheet.differences(listed, state, whole=compared == "inspection")
            ]
        out.append(info)
    return out

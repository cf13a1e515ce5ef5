"""What a sheet lists of its signatures: who signed, whether it verified, what it sealed."""

from __future__ import annotations

from typing import Any

import msgspec


class Difference(msgspec.Struct, kw_only=True):
    """One field of one listed row whose value at the server was not what was signed: `row_id` is
    the row (an inspection sheet's check by its device, a contact sheet's visit or one of its
    charge lines); `device_id` the device, on an inspection sheet only; `code` the device's code,
    or on a contact sheet the visit's sheet number or the line's item."""

    row_id: str
    device_id: str | None = None
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
    # "sheet": the checks listed on it; "inspection": the full sheet; "visit": the whole contact sheet
    compared: str | None = None
    checks: int = 0  # checks compared
    sealed: int = 0  # checks this signature sealed
    sheet_stored: bool = False
    image_sha256: str | None = None
    sheet_sha256: str | None = None
    # For a mismatch whose sheet blob is stored: which checks differed and how (the first
    # MAX_DIFFERENCES_LISTED), and how many differences there are in all.
    differences: list[Difference] | None = None
    differences_total: int | None = None
    # Set when a supervisor retracted it: it no longer seals anything.
    retracted_at: str | None = None
    retracted_by: str | None = None


class SignatureCheck(SignatureInfo, kw_only=True):
    """One signature as the printed sheet's seal opens it: what it signed, and its state now."""

    inspection_id: str | None = None
    visit_id: str | None = None
    sheet_no: str | None = None  # the signed sheet's number (PM-… or the visit's)

"""Signatures: each verified at its place in a push, sealing what the customer signed.

The signatures hook (`hooks.py`) calls `verify` when a `signatures` row is created, inside the
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
as they stand later), once the sheet blob is stored. A contact sheet's too:
its rows are the visit and its charge lines, by id, compared whole.

Bounds (issue 9, findings 3, 8, 17): a sheet is checked whole when it is
uploaded (`check_upload`: canonical, scalars, at most `sheet.MAX_SHEET_BYTES`,
only devices of its inspection's site), parsed once and cached by hash, and
parsed before a push takes the writer lock (`preload`), so verifying holds the
lock only to compare. A customer's signature needs its image stored. A
supervisor may retract a signature (`retract`): it is kept and marked, and
stops sealing. The SQL is in `server/storage/signatures.py`.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import msgspec

from sync import errors as E
from sync import sheet
from sync.fields import is_uuid
from sync.merge import RowState
from sync.schema import SUPERVISOR, TECHNICIAN, device_check_id
from sync.wire import Change

from ...storage import signatures as q
from ...storage.media import MediaQueries
from ...storage.queries import checks as current_checks
from ...storage.sheets import located
from ..identity import audit as security
from ..media.blobs import guarded
from ..scope import in_scope
from ..service.hooks import derive_status
from ..service.service import refresh_in
from .schemas import Difference, SignatureCheck, SignatureInfo

if TYPE_CHECKING:
    from ...engine.batch import _Batch
    from ...services import Caller, Store
    from ...storage.signatures import Connection

_encode = msgspec.json.Encoder().encode
# A mismatch lists at most this many differences (`differences_total` says how many there were).
MAX_DIFFERENCES_LISTED = 100
V = TypeVar("V")


# -- the sheet blob ------------------------------------------------------------

_NOT_A_SHEET: sheet.Checks = {"": {"sheet": "not this inspection's canonical sheet"}}


class SizedCache(Generic[V]):
    """Values by a content digest, the least recently used dropped past `max_bytes` (each entry's
    size as given). Content-addressed, so an entry never goes stale. Also the rendered sheets' PDFs
    (server/domains/sheets/render.py)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[str, tuple[int, V]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, key: str) -> tuple[bool, V | None]:
        with self._lock:
            found = self._entries.get(key)
            if found is None:
                return False, None
            self._entries.move_to_end(key)
            return True, found[1]

    def put(self, key: str, size: int, value: V) -> None:
        with self._lock:
            if key in self._entries:
                return
            self._entries[key] = (size, value)
            self._size += size
            while self._size > self.max_bytes and len(self._entries) > 1:
                _, (dropped, _) = self._entries.popitem(last=False)
                self._size -= dropped


class SheetCache(SizedCache[sheet.Sheet | None]):
    """Parsed sheets by hash, the least recently used dropped past `max_bytes` of sheet.

    An entry of None: bytes stored under that hash that are not a sheet (stored before sheets
    were checked at upload).
    """

    def __init__(self, max_bytes: int = 4 * sheet.MAX_SHEET_BYTES) -> None:
        super().__init__(max_bytes)


def parsed_sheet(store: Store, sha256: Any) -> tuple[bool, sheet.Sheet | None]:
    """`(stored, parsed)`: whether a blob is stored under `sha256`, and the sheet it is (None: not one).

    The one place sealing reads the blob store (server/domains/media/blobs.py). The bytes
    are content-addressed and were hash-checked when uploaded, so whoever
    uploaded them, they are the sheet that hash names.
    """
    blobs = getattr(store, "blobs", None)
    if blobs is None or not isinstance(sha256, str):
        return False, None
    cached, parsed = store.sheets.get(sha256)
    if cached:
        return True, parsed
    try:
        # Only a blob that is not there is "not stored"; a store that fails to answer is its 503/507
        # (`guarded`), or a push would read an outage as a sheet never uploaded.
        with guarded("read a sheet"), blobs.open(sha256) as f:
            data: bytes = f.read(sheet.MAX_SHEET_BYTES + 1)
    except (FileNotFoundError, ValueError):
        return False, None
    try:
        parsed = sheet.parse(data)
    except sheet.SheetError:
        parsed = None
    store.sheets.put(sha256, len(data), parsed)
    return True, parsed


def _listed(store: Store, sha256: Any, signed_id: str) -> sheet.Checks | None:
    """The rows a stored sheet lists, or None when no sheet is stored: an inspection's checks by
    device, or a contact sheet's visit and charge lines by id (`_visit_rows`).

    Bytes that are not this inspection's (or visit's) canonical sheet list one impossible
    check, so that they can never verify.
    """
    stored, parsed = parsed_sheet(store, sha256)
    if not stored:
        return None
    if parsed is None or parsed.id != signed_id:
        return dict(_NOT_A_SHEET)
    return _visit_rows(parsed.id, parsed.fields or {}, parsed.items) if parsed.kind == "visit" else parsed.items


def _visit_rows(visit_id: str, fields: dict[str, Any], lines: sheet.Checks) -> sheet.Checks:
    """A contact sheet as rows to compare like an inspection's checks: the visit's fields under its
    id, each charge line's under its own (as they stand on the sheet)."""
    return {visit_id: sheet.visit_fields(fields), **{i: sheet.line_fields(f) for i, f in lines.items()}}


def preload(store: Store, changes: Sequence[Change]) -> None:
    """Parse the sheets a push's new signatures name, before the push takes the writer lock.

    Only as many as a push may create: more are refused anyway.
    """
    shas = {c.fields.get("sheet_sha256") for c in changes if c.collection == "signatures" and not c.delete}
    for sha in sorted(s for s in shas if isinstance(s, str))[: store.settings.max_signatures_per_push]:
        parsed_sheet(store, sha)


def check_upload(store: Store, user_id: str, sha256: str, path: Path) -> None:
    """Refuse an uploaded sheet that sealing would not take (`InvalidSheet`).

    It must parse (`sheet.parse`: canonical, scalars, at most MAX_SHEET_BYTES).
    A maintenance sheet lists only devices of its inspection's site, a site of
    the uploader's; an inspection created offline may not be at the server yet:
    then its devices must all be of one of the uploader's sites. A contact
    sheet's visit, when at the server, is of one of the uploader's sites.
    Accepted, it is cached.
    """
    with path.open("rb") as f:
        data = f.read(sheet.MAX_SHEET_BYTES + 1)
    try:
        parsed = sheet.parse(data)
    except sheet.SheetError as exc:
        raise E.InvalidSheet(f"the sheet snapshot is not a sheet: {exc}") from None
    visit = parsed.kind == "visit"
    with store.read() as db:
        found, site = MediaQueries(db).live_site("service_visits" if visit else "inspections", parsed.id)
        sites = {} if visit else q.device_sites(db, sorted(parsed.items))
        if not found:
            site = next(iter(sites.values()), None)
        mine = q.may_seal_at(db, store, user_id, site)
    stray = sorted(d for d in ({} if visit else parsed.items) if d not in sites or sites[d] != site)
    if stray or (site is not None and not mine):
        # The same answer for another site's devices as for made-up ones: nothing about other sites.
        what = f"device {stray[0]}" if stray else "its visit" if visit else "its inspection"
        raise E.InvalidSheet(f"the sheet lists {what}, not of a site among your sites")
    store.sheets.put(sha256, len(data), parsed)


# -- verification, inside the push transaction --------------------------------


def _copy(row: RowState) -> RowState:
    return RowState(row.collection, row.id, dict(row.fields), dict(row.clocks), row.deleted, row.site_id,
                    row.version)


def verify(batch: _Batch, signature: RowState) -> None:
    """Verify a signature being created and seal what it covers (see the module docstring).

    Sets `verification` on `signature` (not yet stored: the caller stores it).
    """
    batch.flush_rows()  # the batch's earlier changes count
    if signature.fields.get("visit_id"):
        sealed = _verify_visit(batch, signature)
    else:
        sealed = _verify_inspection(batch, signature)
    if signature.fields.get("verification") == "valid" and signature.fields.get("signer_role") == "customer":
        _seal(batch, sealed, signature.id)
        _signed(batch, signature)


def _verify_inspection(batch: _Batch, signature: RowState) -> list[tuple[str, str]]:
    """Compare with the checks the stored sheet lists, else the inspection's full sheet; what a
    valid signature seals: the checks compared."""
    inspection_id = str(signature.fields.get("inspection_id"))
    sheet_sha = signature.fields.get("sheet_sha256")
    # The checks as they stand, read once for all the batch's signatures until a check is written.
    cached = batch.memo.get(f"sealing.current/{inspection_id}")
    if cached is not None and cached[0] == batch.check_writes:
        current = cached[1]
    else:
        current = {d: sheet.check_fields(f) for d, f in current_checks(batch.db, inspection_id).items()}
        batch.memo[f"sealing.current/{inspection_id}"] = (batch.check_writes, current)
    listed = _listed(batch.store, sheet_sha, inspection_id)
    if listed is None:
        compared, state = "inspection", current
        valid = isinstance(sheet_sha, str) and sheet_sha == sheet.sheet_sha256(inspection_id, current)
    else:
        compared = "sheet"
        state = {d: current[d] for d in listed if d in current}
        valid = sheet.matches(listed, current)
    batch.server_set(signature, "verification", "valid" if valid else "mismatch")
    inspection = batch.lookup("inspections", inspection_id)
    technician = q.technician_label(batch.db, _signed_technician(batch, state, inspection))
    q.record_verification(batch.db, signature.id, inspection_id, compared, _encode(state),  # a reprint names them so
                          _encode(q.device_labels(batch.db, sorted(state))), _encode(technician) if technician else None)
    return [("device_checks", device_check_id(inspection_id, d)) for d in sorted(state)]


def _signed_technician(batch: _Batch, state: dict[str, dict[str, Any]], inspection: RowState | None) -> str | None:
    """Whom the sheet names as its technician: the pushing technician, else who checked most (`chosen_technician`)."""
    caller = batch.caller
    return q.chosen_technician(caller.username if caller is not None and caller.role == TECHNICIAN else None,
                               state.values(), inspection.fields.get("assigned_to") if inspection else None)


def _verify_visit(batch: _Batch, signature: RowState) -> list[tuple[str, str]]:
    """A contact sheet covers the whole visit: valid only when it is the server's sheet for the
    visit as it stands here, stored blob or not (the blob is stored under the hash it signs);
    what a valid signature seals: the visit and its charge lines."""
    visit_id = str(signature.fields.get("visit_id"))
    visit = batch.lookup("service_visits", visit_id)
    lines = q.live_children(batch.db, "charge_lines", visit_id)  # none before issue 13
    valid = visit is not None and not visit.deleted and signature.fields.get("sheet_sha256") == (
        sheet.visit_sheet_sha256(visit_id, visit.fields, lines))
    batch.server_set(signature, "verification", "valid" if valid else "mismatch")
    state = {} if visit is None or visit.deleted else _visit_rows(visit_id, visit.fields, lines)
    q.record_verification(batch.db, signature.id, visit_id, "visit", _encode(state))
    return [("service_visits", visit_id), *(("charge_lines", line_id) for line_id in sorted(lines))]


def _seal(batch: _Batch, rows: list[tuple[str, str]], signature_id: str) -> None:
    for collection, row_id in rows:
        row = batch.lookup(collection, row_id)
        if row is None or row.deleted or row.fields.get("sealed_by"):
            continue  # sealed by an earlier signature: the first seal stands
        sealed = _copy(row)
        batch.server_set(sealed, "sealed_by", signature_id)
        batch.put(sealed)


def _signed(batch: _Batch, signature: RowState) -> None:
    """What a seal (or its retraction) signs: the inspection once all its checks are sealed, the
    request of a visit whose outcome is `resolved` (`derive_status`)."""
    if signature.fields.get("visit_id"):
        visit = batch.lookup("service_visits", str(signature.fields.get("visit_id")))
        request = batch.lookup("service_requests", str(visit.fields.get("request_id"))) if visit else None
        if request is not None and not request.deleted:
            moved = _copy(request)
            if derive_status(batch, moved):
                batch.put(moved)
        return
    inspection = batch.lookup("inspections", str(signature.fields.get("inspection_id")))
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
    total, unsealed = q.seal_counts(batch.db, inspection.id)
    if not total or unsealed:
        return False
    batch.server_set(inspection, "status", "signed")
    return True


# -- what supervisors see -------------------------------------------------------


def signatures(store: Store, db: Connection, inspection_id: str) -> list[SignatureInfo]:
    """The inspection's (or visit's) signatures, oldest first, each with what it sealed and, for a
    mismatch whose sheet blob is stored, which checks (the visit or which lines) differed and how."""
    codes: dict[str, str | None] | None = None
    out = []
    for sig_id, fields, compared, state, sealed in q.signature_rows(db, inspection_id):
        listed = _listed(store, fields.get("sheet_sha256"), inspection_id)
        info = SignatureInfo(
            id=sig_id, signer_name=fields.get("signer_name"), signer_role=fields.get("signer_role"),
            signed_at=fields.get("signed_at"), verification=fields.get("verification"), compared=compared,
            checks=len(state), sealed=sealed, sheet_stored=listed is not None,
            image_sha256=fields.get("image_sha256"), sheet_sha256=fields.get("sheet_sha256"),
            retracted_at=fields.get("retracted_at"), retracted_by=fields.get("retracted_by"),
        )
        if fields.get("verification") == "mismatch" and listed is not None and compared is not None:
            if codes is None:
                codes = q.visit_codes(db, inspection_id) if fields.get("visit_id") else q.device_codes(db, inspection_id)
            found_differences = sheet.differences(listed, state, whole=compared != "sheet")
            info.differences_total = len(found_differences)
            info.differences = [
                Difference(row_id=d.device_id, device_id=None if fields.get("visit_id") else d.device_id,
                           code=codes.get(d.device_id), field=d.field, signed=d.signed,
                           server=d.current, check=d.check)
                for d in found_differences[:MAX_DIFFERENCES_LISTED]
            ]
        out.append(info)
    return out


def check(store: Store, caller: Caller, signature_id: str) -> SignatureCheck:
    """One signature in the caller's scope, as its sheet lists it, with the sheet it signed: what
    the QR code of a printed sheet's seal opens. Another site's is 404, as one that does not exist."""
    with store.read() as db:
        found = located(db, "signatures", signature_id) if is_uuid(signature_id) else None
        if found is None or not in_scope(caller, found[0]):
            raise E.NotFound(f"no signature {signature_id[:64]}")
        fields = found[1]
        signed_id = str(fields.get("visit_id") or fields.get("inspection_id"))
        parent = located(db, "service_visits" if fields.get("visit_id") else "inspections", signed_id)
        info = next(i for i in signatures(store, db, signed_id) if i.id == signature_id)
    return SignatureCheck(**{f: getattr(info, f) for f in info.__struct_fields__},
                          inspection_id=fields.get("inspection_id"), visit_id=fields.get("visit_id"),
                          sheet_no=parent[1].get("sheet_no") if parent else None)


# -- retraction: a supervisor's word that a signature is bogus ---------------------


def retract(store: Store, caller: Caller, signature_id: str) -> SignatureInfo:
    """Mark a signature retracted and undo its seals, in one transaction, audited.

    The row is kept (signatures are never erased): `retracted_at` and
    `retracted_by` are server writes that clients pull like any field. The
    checks it sealed are unsealed, and its inspection, if `signed`, is
    `completed` again until a new customer signature seals them. Retracting
    again changes nothing.
    """
    from ...engine.batch import _Batch

    with store.write() as db:
        batch = _Batch(db, store, store.now_ms())
        row = batch.lookup("signatures", signature_id)
        if row is None or row.deleted or not in_scope(caller, row.site_id):
            raise E.NotFound(f"no signature {signature_id}")  # scope before role: nothing of other sites
        if caller.role != SUPERVISOR:
            raise E.Forbidden("only supervisors retract signatures")
        signed_id = str(row.fields.get("visit_id") or row.fields.get("inspection_id"))
        if not row.fields.get("retracted_at"):
            signature = _copy(row)
            batch.server_set(signature, "retracted_at", batch.at)
            batch.server_set(signature, "retracted_by", caller.username)
            batch.put(signature)
            unsealed = 0
            for collection, row_id in q.sealed_by(db, signed_id, signature_id):
                sealed = batch.lookup(collection, row_id)
                if sealed is not None:
                    opened = _copy(sealed)
                    batch.server_set(opened, "sealed_by", None)
                    del opened.fields["sealed_by"]  # null fields are left out of rows
                    batch.put(opened)
                    unsealed += 1
            inspection = batch.lookup("inspections", signed_id)
            if inspection is not None and inspection.fields.get("status") == "signed":
                reopened = _copy(inspection)
                batch.server_set(reopened, "status", "completed")
                batch.put(reopened)
            visit = batch.lookup("service_visits", signed_id) if row.fields.get("visit_id") else None
            if visit is not None:
                _signed(batch, signature)  # a request this visit's sheet signed is `resolved` again
                # Rows put here run no hook: the request's stored clocks (status, the call-back still
                # to make) follow as a push's would, or 待回访 kept a request no longer signed.
                refresh_in(batch, [str(visit.fields.get("request_id"))])
            batch.flush(None)
            q.keep_clock(db, store.clock.last)
            security.audit(db, security.SIGNATURE_RETRACTED, username=caller.username, client_id=caller.client_id,
                           address=caller.address, now_ms=batch.now, signature_id=signature_id,
                           unsealed=unsealed, **{"visit_id" if row.fields.get("visit_id") else "inspection_id":
                                                 signed_id})
        infos = signatures(store, db, signed_id)
    return next(i for i in infos if i.id == signature_id)

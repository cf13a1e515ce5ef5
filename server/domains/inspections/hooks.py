"""What the server derives for inspections, in the write transaction.

An inspection gets its sheet number when it first appears (however it was created)
and `completed_at` when it is completed; the server completes it as soon as every
active device of its site has an outcome, whether by the last check or by retiring
the last unchecked device.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import msgspec

from sync.merge import Actor, RowState, apply_change
from sync.periods import sheet_no
from sync.wire import Change

from ...storage import settle as q
from ..signatures.service import mark_signed

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store

_json_decode = msgspec.json.decode
_DONE = ("completed", "signed")


class InspectionHooks:
    collections: tuple[str, ...] = ("inspections", "devices", "device_checks")

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        pass

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if row.collection != "inspections" or row.deleted:
            return
        period = row.fields.get("period")
        if "sheet_no" not in row.fields and period:
            tx.server_set(row, "sheet_no", sheet_no(period, tx.next_counter(f"sheet_seq/{period}")))
        if row.fields.get("status") in _DONE and "completed_at" not in row.fields:
            tx.server_set(row, "completed_at", tx.at)
        if row.fields.get("status") == "completed":
            mark_signed(tx, row)  # every check already sealed: completing signs it

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if row.collection == "devices":
            _counts(tx).clear()
            _witnesses(tx).clear()
            if row.site_id and (row.deleted or row.fields.get("status", "active") != "active"):
                # Retiring a site's last unchecked device completes its open inspections.
                tx.flush_rows()
                for open_id in q.open_inspections(tx.db, row.site_id):
                    if _all_checked(tx, open_id):
                        _complete(tx, open_id)
        elif row.collection == "device_checks":
            inspection_id = row.fields.get("inspection_id")
            if inspection_id in _counts(tx):
                _track_check(tx, before, row)
            witness = _witnesses(tx).get(inspection_id) if isinstance(inspection_id, str) else None
            if witness is not None and witness == row.fields.get("device_id"):
                del _witnesses(tx)[str(inspection_id)]  # checked now, perhaps: looked for again when asked
            # A completed (or signed, deleted) inspection is not completed again: no count (issue 15).
            if isinstance(inspection_id, str) and _open(tx, inspection_id) is not None and _all_checked(tx, inspection_id):
                _complete(tx, inspection_id)

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {"template_items": partial(template_items, tx), "unchecked": partial(unchecked, tx),
                "is_member": partial(is_member, tx)}


def _counts(tx: Transaction) -> dict[str, int]:
    """Unchecked devices per inspection, as this transaction has counted them so far."""
    counts: dict[str, int] = tx.memo.setdefault("inspections.unchecked", {})
    return counts


def unchecked(tx: Transaction, inspection_id: str, site_id: str | None = None) -> int:
    """Active devices of the inspection's site without an outcome, this transaction included;
    `site_id`: the site of an inspection being created, counted against that site alone (not stored
    yet, so not counted ahead; a stored row of that id is never read for it)."""
    if site_id is not None:
        tx.flush_rows()
        return q.unchecked_devices(tx.db, site_id, inspection_id)
    counts = _counts(tx)
    if inspection_id not in counts:
        inspection = tx.lookup("inspections", inspection_id)
        if inspection is None or inspection.site_id is None:
            return 0
        tx.flush_rows()
        counts[inspection_id] = q.unchecked_devices(tx.db, inspection.site_id, inspection_id)
    return counts[inspection_id]


def _witnesses(tx: Transaction) -> dict[str, str]:
    """An unchecked device per inspection, found by this transaction: while no check of it and no
    device is staged, the inspection still has one."""
    witnesses: dict[str, str] = tx.memo.setdefault("inspections.witness", {})
    return witnesses


def _all_checked(tx: Transaction, inspection_id: str) -> bool:
    """Whether `unchecked(tx, inspection_id) == 0`, without counting: the first unchecked device
    found ends the search, and is kept for the next check of the push (issue 15: the count read
    every check of the inspection, about 1 ms a push of one check at 200 devices)."""
    if inspection_id in _counts(tx):
        return _counts(tx)[inspection_id] == 0  # counted for a rule, and kept up to date since
    witnesses = _witnesses(tx)
    if inspection_id not in witnesses:
        inspection = tx.lookup("inspections", inspection_id)
        if inspection is None or inspection.site_id is None:
            return True
        tx.flush_rows()
        found = q.unchecked_device(tx.db, inspection.site_id, inspection_id)
        if found is None:
            return True
        witnesses[inspection_id] = found
    return False


def _track_check(tx: Transaction, before: RowState | None, after: RowState) -> None:
    device = tx.lookup("devices", str(after.fields.get("device_id")))
    if device is None or device.deleted or device.fields.get("status", "active") != "active":
        return
    # Only the inspection's own site's devices are counted by `unchecked`: a check
    # naming another site's device must not lower the count (it once completed
    # an inspection with a device still unchecked).
    inspection = tx.lookup("inspections", str(after.fields["inspection_id"]))
    if inspection is None or device.site_id != inspection.site_id:
        return
    had = before is not None and not before.deleted and before.fields.get("outcome") is not None
    has = not after.deleted and after.fields.get("outcome") is not None
    _counts(tx)[str(after.fields["inspection_id"])] += int(had) - int(has)


def _open(tx: Transaction, inspection_id: str) -> RowState | None:
    """The inspection, when it exists, is not deleted and is neither completed nor signed: only such
    an inspection is completed by a check."""
    inspection = tx.lookup("inspections", inspection_id)
    if inspection is None or inspection.deleted or inspection.fields.get("status") in _DONE:
        return None
    return inspection


def _complete(tx: Transaction, inspection_id: str) -> None:
    inspection = _open(tx, inspection_id)
    if inspection is None:
        return
    outcome = apply_change(
        inspection, "inspections", inspection_id, {"status": "completed"}, None,
        tx.store.clock.now(tx.now), Actor.server(), tx.lookup,
    )
    if outcome.changed and outcome.row is not None:
        tx.settle(inspection, outcome.row)


def is_member(tx: Transaction, site_id: str, username: str) -> bool:
    """Whether a user is a member of a site now (an inspection is assigned to members only)."""
    return q.is_member(tx.db, site_id, username)


def template_items(tx: Transaction, device_id: str) -> dict[str, str] | None:
    """The checklist items `{key: type}` of the device's kind; None when its kind has no template."""
    templates: dict[Any, dict[str, str]] | None = tx.memo.get("inspections.templates")
    if templates is None:
        templates = tx.memo["inspections.templates"] = {}
        for template in q.checklist_templates(tx.db):
            try:
                items = _json_decode(template.get("items") or "[]")
                templates[template.get("kind")] = {i["key"]: i["type"] for i in items}
            except (msgspec.DecodeError, KeyError, TypeError):
                continue
    device = tx.lookup("devices", device_id)
    return None if device is None else templates.get(device.fields.get("kind", ""))

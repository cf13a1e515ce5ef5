"""What the server derives for signatures, in the write transaction.

A new signature is verified against its sheet at its place in the batch (after the
changes before it), and may seal checks and sign its inspection, or seal a service visit
and sign its request (`service.py`).
A client's new signature past a limit, or a customer's whose image is not uploaded,
is refused (`signature_refusal`, a `sync.merge.Rules` callback).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sync.merge import RowState
from sync.wire import Change

from ...storage import settle as q
from ...storage.signatures import live_children
from .service import preload, verify

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store

_CREATED = "signatures.created"


class SignatureHooks:
    collections: tuple[str, ...] = ("signatures",)

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        preload(store, changes)  # sheets parsed outside the writer lock: verifying then only compares

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if not row.deleted and (before is None or not before.exists):
            tx.memo[_CREATED] = tx.memo.get(_CREATED, 0) + 1
            verify(tx, row)  # an inspection's maintenance sheet or a visit's contact sheet

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        pass

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {"signature_refusal": partial(signature_refusal, tx), "sealed_child": partial(sealed_child, tx)}


def sealed_child(tx: Transaction, collection: str, parent_id: str) -> str | None:
    """A live row of `collection` under `parent_id` sealed by a customer's signature (this
    transaction's seals included): a request's visit, an inspection's check."""
    tx.flush_rows()
    return next((i for i, fields in sorted(live_children(tx.db, collection, parent_id).items())
                 if fields.get("sealed_by")), None)


def signature_refusal(tx: Transaction, signed_id: str, fields: dict[str, Any]) -> str | None:
    """Why a client's new signature is refused: past a limit (issue 9, finding 3), or a
    customer's whose image its creator has not uploaded (finding 17). `signed_id`: the
    inspection or service visit it signs; each holds at most as many."""
    settings = tx.store.settings
    if tx.memo.get(_CREATED, 0) >= settings.max_signatures_per_push:
        return f"at most {settings.max_signatures_per_push} signatures per push; send the rest in the next one"
    tx.flush_rows()
    held = q.live_signatures(tx.db, signed_id)
    if held >= settings.max_signatures_per_inspection:
        what = "inspection" if fields.get("inspection_id") else "visit"
        return (f"{what} {signed_id} holds {held} signatures, at most"
                f" {settings.max_signatures_per_inspection}; a supervisor may retract bogus ones")
    image = fields.get("image_sha256")
    if fields.get("signer_role") == "customer" and tx.caller is not None and not (
        q.uploaded_image(tx.db, image, tx.caller.user_id) and tx.store.blobs.exists(str(image))
    ):
        return "signatures.image_sha256: upload the customer's signature image before pushing the signature"
    return None

"""What the server derives for rows that name blobs (photos, signatures), in the write
transaction: who created the row, and whether a photo's bytes are `stored` or `missing`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sync.merge import RowState
from sync.wire import Change

from ...storage.media import uploaded_among

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store


class MediaHooks:
    collections: tuple[str, ...] = ("photos", "signatures")

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        pass

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        settle_blob_row(tx, before, row)

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        pass

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {}


def settle_blob_row(batch: Transaction, before: RowState | None, row: RowState) -> None:
    """On a photos or signatures row's first write: remember who created it; a photo gets `blob`.

    Also when the row is created deleted (a tombstone): undeleted later, it still has a
    creator, and only that creator's upload makes it `stored` (issue 9, finding 6).
    """
    if before is not None and before.exists:
        return
    caller = batch.caller
    user_id = caller.user_id if caller is not None else None
    batch.creators.append((row.collection, row.id, user_id, caller.client_id if caller is not None else None))
    if row.collection == "photos":
        stored = _uploaded_in_batch(batch, row.fields.get("sha256"), user_id)
        # `blob` is the server's alone (an upload sets it later at a newer HLC): every photo of the
        # push takes the one server HLC, rather than the clock formatting one per photo (issue 15).
        stamp = batch.memo.get("media.blob_hlc")
        if stamp is None:
            stamp = batch.memo["media.blob_hlc"] = batch.store.clock.now(batch.now)
        batch.server_set(row, "blob", "stored" if stored else "missing", stamp)


def _uploaded_in_batch(batch: Transaction, sha: Any, user_id: str | None) -> bool:
    """Whether this user (any user, for the server's own rows) has uploaded these bytes.

    Looked up once per batch for every photo hash the batch names, not once per row.
    """
    if not isinstance(sha, str):
        return False
    key = f"uploaded/{user_id}"
    known = batch.memo.get(key)
    if known is None or sha not in known[1]:
        wanted = sorted({sha} | {
            h for c in batch.changes
            if c.collection == "photos" and isinstance(h := c.fields.get("sha256"), str)
        })
        known = (uploaded_among(batch.db, user_id, wanted), set(wanted))
        batch.memo[key] = known
    return sha in known[0]

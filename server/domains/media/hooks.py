"""What the server derives for rows that name blobs (photos, signatures), in the write
transaction: who created the row, and whether a photo's bytes are `stored` or `missing`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from sync.merge import RowState
from sync.wire import Change

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store


class MediaHooks:
    collections: tuple[str, ...] = ("photos", "signatures")

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        pass

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        # Imported here: domains/media/service.py imports server/services.py, which registers this hook.
        from .service import settle_blob_row

        settle_blob_row(tx, before, row)

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        pass

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {}

"""What the server derives for rows that name blobs (photos, signatures), in the write
transaction: who created the row, and whether a photo's bytes are `stored` or `missing`."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sync.merge import RowState

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction


class MediaHooks:
    collections: tuple[str, ...] = ("photos", "signatures")

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        # Imported here: server/media.py imports server/services.py, which registers this hook.
        from ...media import settle_blob_row

        settle_blob_row(tx, before, row)

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        pass

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {}

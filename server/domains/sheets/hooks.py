"""A sheet rendered ahead: when a customer's signature seals a sheet, its PDF is rendered after the
push commits (`engine/after_commit.py`), so the customer's copy, asked for next, is served from
memory. In the transaction this only registers the work, by the sheet (a second seal of the
same sheet while it waits replaces it); the render reads the sheet as committed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from sync.merge import RowState
from sync.wire import Change

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store
    from .service import Sheets


class SheetHooks:
    collections: tuple[str, ...] = ("signatures",)

    def __init__(self, sheets: Sheets) -> None:
        self.sheets = sheets

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        pass

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        pass

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        """A new customer's signature the signatures hook found valid seals its sheet (`verify`)."""
        f = row.fields
        if row.deleted or (before is not None and before.exists) or f.get("verification") != "valid" \
                or f.get("signer_role") != "customer":
            return
        signed, signed_id = ("visit", f.get("visit_id")) if f.get("visit_id") else ("inspection", f.get("inspection_id"))
        tx.after_commit(f"sheet/{signed}/{signed_id}", partial(self.sheets.ahead, signed, str(signed_id)))

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {}

"""What the server derives from a write, registered per collection and run in the write transaction.

The engine knows no domain: a domain registers a hook for its collections, and the
transaction runs them for every row it settles (Kinto's `process_object` is the model).
A hook has two moments in the transaction, because some derivations change the row
before it is staged (a sheet number, a verification) and others read it back once it
is (an inspection completed by its last check); and one before it (`prepare`), for
work too slow to do under the writer lock (parsing signed sheets). Hooks of one collection run in registration order.

A hook may also supply `sync.merge.Rules` callbacks: what validation needs to know
beyond the row itself (an inspection's unchecked devices, a signature's refusal).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from sync.merge import RowState, Rules
from sync.wire import Change

if TYPE_CHECKING:
    from ..services import Store
    from .batch import _Batch as Transaction


class Hook(Protocol):
    collections: tuple[str, ...]

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        """Before a push takes the writer lock: slow work the settling then only looks up."""

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        """Before `row` is staged: may set server fields on it."""

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        """After `row` is staged (visible to `tx.lookup`): may write other rows."""

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        """`Rules` callbacks this domain supplies, bound to the transaction."""


class Hooks:
    """The registry: every hook, and the ones of each collection."""

    def __init__(self, hooks: Iterable[Hook] = ()) -> None:
        self._hooks: list[Hook] = []
        self._of: dict[str, list[Hook]] = {}
        for hook in hooks:
            self.add(hook)

    def add(self, hook: Hook) -> None:
        """A hook of a service the app builds over the store (the sheets rendered ahead), after the
        store's. One hook of each kind: an app built again over the same store replaces the one
        the earlier app added, rather than running both."""
        self._hooks = [h for h in self._hooks if type(h) is not type(hook)] + [hook]
        self._of = {}
        for each in self._hooks:
            for collection in each.collections:
                self._of.setdefault(collection, []).append(each)

    def for_collection(self, collection: str) -> list[Hook]:
        return self._of.get(collection, [])

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        for hook in self._hooks:
            hook.prepare(store, changes)

    def rules(self, tx: Transaction) -> Rules:
        found: dict[str, Callable[..., Any]] = {}
        for hook in self._hooks:
            found.update(hook.rules(tx))
        return Rules(**found)

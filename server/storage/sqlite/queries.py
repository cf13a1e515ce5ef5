"""A domain's queries in one transaction: `reading()` holds one snapshot, `writing()` the one writer."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

from ..base import Connections

_Q = TypeVar("_Q")


class Transactions(Generic[_Q]):
    """Hands out a domain's query object (`on(db)`) bound to a reader or to the writer."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def on(self, db: sqlite3.Connection) -> _Q:
        raise NotImplementedError

    @contextmanager
    def reading(self) -> Iterator[_Q]:
        with self.connections.read() as db:
            yield self.on(db)

    @contextmanager
    def writing(self) -> Iterator[_Q]:
        with self.connections.write() as db:
            yield self.on(db)

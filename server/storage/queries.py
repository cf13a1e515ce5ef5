"""A domain's queries in one transaction (`reading()` one snapshot, `writing()` the one writer), and the
queries more than one domain asks."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

import msgspec

from .base import Connections, Sql

_Q = TypeVar("_Q")
_decode = msgspec.json.decode


class Transactions(Generic[_Q]):
    """Hands out a domain's query object (`on(db)`) bound to a reader or to the writer."""

    def __init__(self, connections: Connections) -> None:
        self.connections = connections

    def on(self, db: Sql) -> _Q:
        raise NotImplementedError

    @contextmanager
    def reading(self) -> Iterator[_Q]:
        with self.connections.read() as db:
            yield self.on(db)

    @contextmanager
    def writing(self) -> Iterator[_Q]:
        with self.connections.write() as db:
            yield self.on(db)


def checks(db: Sql, inspection_id: str) -> dict[str, dict[str, Any]]:
    """An inspection's live checks by device id."""
    return {
        d: _decode(f)
        for d, f in db.execute(
            "SELECT device_id, fields FROM rows WHERE collection = 'device_checks' AND parent_id = ?"
            " AND deleted = 0",
            [inspection_id],
        )
    }


def equal_to(filters: dict[str, Any], where: list[str], args: list[Any]) -> None:
    """Add `<column> = ?` to `where` (and its value to `args`) for each filter that is not None."""
    for column, value in filters.items():
        if value is not None:
            where.append(f"{column} = ?")
            args.append(value)

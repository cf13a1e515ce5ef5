"""What the server relies on from its storage, as Protocols (Kinto's StorageBase analogue).

Services and query classes take a `Connections`: an object with `read()` and `write()`.
`Backend` is what the sync engine needs from the `rows` store; every backend passes the
contract tests of `testing.py`: SQLite (`sqlite/`) and PostgreSQL (`postgres/`). The server's
`Store` opens the one `Settings.database` names and reaches it only through these.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypeVar

from sync.merge import RowState

if TYPE_CHECKING:
    from .writes import Dialect


Lookup = Callable[[str, str], RowState | None]


class Unreachable(Exception):
    """A database server that does not answer or refuses us, as its driver says why (no password in it)."""


class NewerSchema(Exception):
    """The database has migration steps this code does not know: a newer fieldsync upgraded it."""

    def __init__(self, steps: list[str]) -> None:
        super().__init__(f"it was upgraded by a newer fieldsync (its steps {', '.join(steps)} are unknown to this"
                         " one); serve it with that version, or restore the backup taken before the upgrade")


def refuse_newer(applied: list[str], known: list[str]) -> None:
    """Before migrating: an older server on a newer schema would write rows the newer steps do not expect."""
    if unknown := [name for name in applied if name not in set(known)]:
        raise NewerSchema(unknown)


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


class Sql(Protocol):
    """What the SQL both backends share calls on a connection, with `?` marks: a `sqlite3.Connection`,
    or PostgreSQL's through `postgres.connection.Connection`."""

    def execute(self, sql: str, parameters: Any = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Cursor: ...


# A connection inside a transaction, as `read()` and `write()` yield it: either backend's, with the
# calls the SQL both share makes (`Sql`), so that mypy checks the query modules for PostgreSQL too.
# Code outside `server/storage/` only passes it on to storage functions.
Connection = Sql

C = TypeVar("C", bound=Sql)
C_co = TypeVar("C_co", bound=Sql, covariant=True)


class Connections(Protocol):
    """A reader holding one snapshot (`read`), and a writer in a transaction (`write`).

    `write(versions=True)` for a transaction that takes versions (`scope.take_version`): it takes
    the version counter first, as a push does (PostgreSQL: a lock held to commit; SQLite's one
    writer holds it anyway). Writes without versions (a sign-in, a refresh, an upload's progress)
    never wait for a push."""

    def read(self) -> AbstractContextManager[Connection]: ...

    def write(self, versions: bool = False) -> AbstractContextManager[Connection]: ...


class Database(Protocol[C_co]):
    """A backend's open database: `read` and `write` as `Connections`'s, on its own connections;
    `migrated`, the schema steps its opening applied (`fieldsync serve` names them)."""

    migrated: tuple[str, ...]

    def read(self) -> AbstractContextManager[C_co]: ...

    def write(self, versions: bool = False) -> AbstractContextManager[C_co]: ...

    def close(self) -> None: ...


class Staging(Protocol):
    """A write transaction's rows: `put` assigns the next version (one per row per transaction)."""

    version: int

    def lookup(self, collection: str, row_id: str) -> RowState | None: ...

    def put(self, row: RowState) -> None: ...

    def flush_rows(self) -> None: ...

    def finish(self, client_id: str | None, receipts: Iterable[tuple[int, str, str, bytes]],
               conflicts: list[tuple[Any, ...]]) -> None: ...


class Loading(Protocol):
    """New rows in bulk, with the same derived columns as `Staging.put`."""

    def add(self, row: RowState, clocks: str) -> None: ...

    def close(self) -> None: ...


class Backend(Protocol[C]):
    """What the engine relies on from a storage backend; `server/storage/testing.py` states it
    as tests every backend runs (Kinto's StorageBase and its BaseTestStorage are the model).

    `location` is a SQLite file's path, or a PostgreSQL database's `postgresql://` URL."""

    name: str
    sql: Dialect  # what its SQL says its own way (`writes.py`): statements, a JSON field

    def open(self, location: Path | str, readers: int = 2) -> Database[C]: ...

    def transaction(self, db: C, now: int) -> Staging: ...

    def bulk_load(self, db: C, now: int, lookup: Lookup) -> Loading: ...

    def bulk(self, db: C) -> AbstractContextManager[None]: ...  # around a bulk load: SQLite's bigger page cache

    def encode_clocks(self, clocks: dict[str, list[str]]) -> str: ...

    def page(self, db: C, after: int, sites: set[str] | None, window: set[str] | None,
             limit: int, moved: bool = False, owner: str | None = None) -> list[tuple[str, str, str | None, int, int]]: ...

    def purge_tombstones(self, db: C, cutoff_ms: int) -> int: ...

    def horizon(self, db: C) -> int: ...

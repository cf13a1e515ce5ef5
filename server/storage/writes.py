"""The `rows` table's writes in the SQL every backend speaks (`?` marks), in a write transaction
or in bulk; a backend's subclasses (`sqlite/rows.py`, `postgres/rows.py`) give the statements its
dialect says otherwise (`Dialect`: the upsert of a row) and how the version counter is read.

Every synced row is one row of `rows` (collection, id, fields as JSON, clocks), with
columns derived from its fields for the scope filters: its site, parent, device and
period. `Transaction.flush_rows` and `BulkLoad` derive them with the same function
(`_values`), so generated data cannot escape the sync window (issue 11).

Versions are gap-free and commit-ordered: write transactions that take versions run one at a
time (SQLite: the one writer; PostgreSQL: a lock on the counter row held to commit), each
takes the next versions from `meta.version` and stores the last at commit.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any, ClassVar, NamedTuple, TypeVar

import msgspec

from sync.hlc import node_of
from sync.merge import RowState, parent_of, period_of
from sync.schema import PERIOD_CHILDREN

from .base import Lookup, Sql

_C = TypeVar("_C", bound=Sql)
_T = TypeVar("_T")


@contextmanager
def atomic(conn: _C, begin: str) -> Iterator[_C]:
    """`conn` in a transaction begun by `begin`: committed at the end, rolled back on any error."""
    conn.execute(begin)
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def select_in(
    db: Sql, sql: str, values: Iterable[Any], before: Iterable[Any] = (), size: int = 500
) -> Iterable[tuple[Any, ...]]:
    """Rows of `sql` for many values at once: its `{marks}` becomes `?, ?, …` for
    `values`, taken `size` at a time (SQLite caps bound parameters); `before` are
    the parameters that come before the list."""
    values, before = list(values), list(before)
    for start in range(0, len(values), size):
        chunk = values[start:start + size]
        yield from db.execute(sql.format(marks=",".join("?" * len(chunk))), [*before, *chunk])


def replace_into(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    """`INSERT` of `columns` (one `?` each) that, where a row with the same `key` is there,
    sets every other column instead: `INSERT OR REPLACE` in both dialects."""
    rest = [c for c in columns if c not in key]
    return (f"INSERT INTO {table}({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
            f" ON CONFLICT({', '.join(key)}) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in rest)}")


CREATORS = replace_into("row_creators", ("collection", "row_id", "user_id", "client_id"), ("collection", "row_id"))
RECEIPTS = "INSERT INTO receipts(client_id, seq, hlc, digest, result) VALUES (?, ?, ?, ?, ?)"
CONFLICTS = ("INSERT INTO conflicts(at, kind, collection, row_id, site_id, register, reason, detail,"
             " client_id, user_id, hlc, seq, old_value, new_value, other_client_id, other_hlc)"
             " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
COUNTER = "INSERT INTO meta(key, value) VALUES (?, '0') ON CONFLICT(key) DO NOTHING"  # a named counter, at 0

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.decode


class Dialect(NamedTuple):
    """What a backend's SQL says its own way: the statements of these writes, a JSON field, a JSON
    list parameter, and planner hints. `dialect(db)` gives a connection's."""

    version: str  # the version counter's value, read as a transaction starts: `SELECT value FROM meta …`
    upsert: str  # a row as `_values` gives it: insert, or update every column and set `period_moved`
    json_text: str  # a field of a JSON column as SQL (`{column}`, `{name}`); see `field`
    json_typed: str  # the same as a number or boolean (`{cast}`: `integer`, `boolean`)
    # A JSON list in one `?` (any length) as a table of its elements, one column `value`: strings as
    # text (`IN (SELECT value FROM {json_list})`), lists as JSON read with `value ->> 0`.
    json_list: str
    json_rows: str
    hints: bool  # whether `INDEXED BY` and `CROSS JOIN` fix a plan (SQLite); PostgreSQL has no hints
    # The statements above (`upsert`, `CREATORS`, `RECEIPTS`, `CONFLICTS`) for many rows in one, taking
    # each column's values as one list (`write_many`); without one, `executemany` of the statement for
    # many rows at once. PostgreSQL's: a round trip a statement would be one a row, inside the version
    # counter's lock. SQLite's: none (reading the JSON back costs more than the rows' bound values).
    bulk: dict[str, str]
    # Locks held until the transaction ends, for what two processes must not do at once (the login
    # throttle's count-then-decide): `lock` waits for a pair of keys (a space of keys, a text hashed
    # into it), `try_lock` takes one bigint key if it is free and says whether it did. None where the
    # backend's one writer holds everything already (SQLite).
    lock: str | None
    try_lock: str | None
    # The next number of a column that numbers a table's rows in the order they were inserted
    # (`{table}`, `{column}`; `next_number`). PostgreSQL's: the sequence `{table}_{column}`, which no
    # two transactions share; SQLite's: one more than the highest, under the one writer.
    counter: str
    # A text column holding JSON as what `field` reads (`{column}`): the text itself on SQLite, whose
    # `json_extract` parses text; PostgreSQL's `->>` needs its cast (`audit.detail`, `identity.dispatches`).
    text_json: str = "{column}"

    def next_number(self, table: str, column: str) -> str:
        """The next number of `table.column` as an SQL expression (`counter`): from 1, rising with each
        row inserted, never handed out twice."""
        return self.counter.format(table=table, column=column)

    def text_field(self, column: str, name: str) -> str:
        """`field` of a text column that holds JSON (`text_json`)."""
        return self.field(self.text_json.format(column=column), name)

    def field(self, column: str, name: str, cast: str | None = None) -> str:
        """The field `name` of the JSON in `column` (`fields`, `r.fields`) as an SQL expression; None
        when it is missing or null. `cast` where it is compared with, or read as, a number or
        boolean (`= TRUE`, not `= 1`); PostgreSQL needs it, SQLite's `json_extract` gives the value
        its JSON type already. On SQLite the text is the very one of the expression indexes
        (`json_extract(fields, '$.sha256')`), which a query must repeat for SQLite to use them."""
        return (self.json_typed if cast else self.json_text).format(column=column, name=name, cast=cast)


_DIALECTS: dict[type, Dialect] = {}


def register(connection: type, sql: Dialect) -> None:
    """Connections of this type (and its subclasses) speak `sql`: each backend's `rows.py` says so."""
    _DIALECTS[connection] = sql


def dialect(db: Sql) -> Dialect:
    """The dialect of this connection's backend: a dict look-up by its type."""
    found = _DIALECTS.get(type(db))
    if found is None:
        found = next((sql for kind, sql in _DIALECTS.items() if isinstance(db, kind)), None)
        if found is None:
            raise TypeError(f"no SQL dialect for {type(db).__name__}")
        _DIALECTS[type(db)] = found
    return found


def per_dialect(build: Callable[[Dialect], _T]) -> Callable[[Sql], _T]:
    """`build`'s statements for a connection, built once per backend and then looked up by the
    connection's type (the push path builds no SQL text per call):

        @per_dialect
        def _open(sql: Dialect) -> str:
            return f"SELECT id FROM rows WHERE {sql.field('fields', 'status')} = ?"

        db.execute(_open(db), [status])
    """
    built: dict[type, _T] = {}

    def of(db: Sql) -> _T:
        try:
            return built[type(db)]
        except KeyError:
            found = built[type(db)] = build(dialect(db))
            return found

    return of


def write_many(db: Sql, statement: str, values: Sequence[tuple[Any, ...]]) -> None:
    """Rows of one `INSERT` at once: in one statement where the dialect has its bulk form (the
    rows as one JSON array of arrays), else `executemany` of the statement for 64 rows, then of 16,
    4 and 1 for the rest (SQLite: each row of an `executemany` runs the whole statement again,
    opening a cursor on each of the table's indexes; `rows` has 17, and the rows of one
    statement share them: half a row's upsert, docs/performance.md, "Issue 15: the rows table's
    indexes"). Rows written later win, as with `executemany`; in the bulk form, an upsert must not
    meet the same key twice."""
    bulk = dialect(db).bulk.get(statement)
    if bulk is not None:
        if values:
            db.execute(bulk, [_json_encode(values).decode()])
        return
    at = 0
    for size in _ROWS_AT_ONCE:
        end = at + (len(values) - at) // size * size
        if end > at:
            db.executemany(_rows_of(statement, size),
                           [[v for row in values[i:i + size] for v in row] for i in range(at, end, size)])
        at = end


_ROWS_AT_ONCE = (64, 16, 4, 1)  # four texts a statement, held by the connection's statement cache


@functools.cache
def _rows_of(statement: str, size: int) -> str:
    """`statement`, an `INSERT ... VALUES (?, ...)`, for `size` rows: its `VALUES` group `size` times."""
    head, values, tail = statement.partition(" VALUES ")
    group, close, rest = tail.partition(")")
    # Bare parameters only: a call in the group (`json(?)`) would end it at its own parenthesis.
    assert values and set(group) <= set("(?, "), f"write_many takes VALUES of bare parameters: {statement}"
    return f"{head}{values}{', '.join([group + close] * size)}{rest}"


def encode_clocks(clocks: dict[str, list[str]]) -> str:
    """Clocks as stored: the HLC alone when its node is the writer (nearly always), else [hlc, writer].
    The registers of a new row share one clock (`merge`): it is looked at once (issue 15)."""
    out: dict[str, Any] = {}
    last: list[str] | None = None
    stored: Any = None
    for reg, clock in clocks.items():
        if clock is not last:
            last, (h, writer) = clock, clock
            stored = h if node_of(h) == writer else [h, writer]
        out[reg] = stored
    return _json_encode(out).decode()


def _decode_clocks(text: str | bytes) -> dict[str, list[str]]:
    return {
        reg: [value, node_of(value)] if isinstance(value, str) else value
        for reg, value in _json_decode(text).items()
    }


class _Loaded(RowState):
    """A row as read, its clocks decoded on first use: most rows a push reads are parents that
    it only looks up (a check's device and inspection), and decoding every register's clock
    cost 9 % of a push of checks (issue 15)."""

    _stored: str | bytes | None = None  # the clocks as stored, until decoded

    @property
    def clocks(self) -> dict[str, list[str]]:
        if self._stored is not None:
            self._clocks, self._stored = _decode_clocks(self._stored), None
        return self._clocks

    @clocks.setter
    def clocks(self, value: dict[str, list[str]]) -> None:
        self._clocks, self._stored = value, None


def _loaded(collection: str, r: tuple[Any, ...]) -> RowState:
    """A row of `SELECT id, site_id, fields, clocks, deleted, version`."""
    row = _Loaded(collection, r[0], _json_decode(r[2]), {}, bool(r[4]), r[1], r[5])
    row._stored = r[3]
    return row


def _parent_ids(collection: str, fields: dict[str, Any]) -> tuple[str | None, str | None]:
    """The derived columns: the row's parent (what its site is found through) and its device."""
    device = fields.get("device_id")
    return parent_of(collection, fields), device if isinstance(device, str) else None


def _values(row: RowState, now: int, lookup: Lookup, clocks: str | None = None) -> tuple[Any, ...]:
    """A row as `Dialect.upsert` stores it, with its derived columns (the period may change with the row's
    own fields, a request's status; `Transaction.flush_rows` then moves its children's)."""
    parent, device = _parent_ids(row.collection, row.fields)
    return (row.collection, row.id, row.site_id, parent, device, _json_encode(row.fields).decode(),
            clocks or encode_clocks(row.clocks), int(row.deleted), row.version, now,
            period_of(row.collection, row.fields, lookup))


def _set_version(db: Sql, version: int) -> None:
    db.execute("UPDATE meta SET value = ? WHERE key = 'version'", [str(version)])


class Transaction:
    """The rows one write transaction reads and writes, loaded in bulk and written in bulk.

    Knows no collection: what the server derives from a row is the engine's hooks' business.
    """

    sql: Dialect  # the backend's (its subclass's), or the engine's batch's own (`engine/batch.py`)

    def __init__(self, db: Sql, now: int) -> None:
        self.db = db
        self.now = now
        self.rows: dict[tuple[str, str], RowState | None] = {}
        self.dirty: dict[tuple[str, str], RowState] = {}
        self.assigned: dict[tuple[str, str], int] = {}
        self.creators: list[tuple[str, str, str | None, str | None]] = []  # row_creators, written at flush
        self.writes: Counter[str] = Counter()  # rows staged so far, per collection
        self.version = int(db.execute(self.sql.version).fetchone()[0])

    def load(self, wanted: dict[str, set[str]]) -> None:
        """Read these rows (ids per collection) in bulk; a missing one is remembered as None."""
        for collection, ids in wanted.items():
            for key in ids:
                self.rows[(collection, key)] = None
            for r in select_in(
                self.db,
                "SELECT id, site_id, fields, clocks, deleted, version FROM rows WHERE collection = ? AND id IN ({marks})",
                sorted(ids),
                [collection],
            ):
                self.rows[(collection, r[0])] = _loaded(collection, r)

    def lookup(self, collection: str, row_id: str) -> RowState | None:
        key = (collection, row_id)
        if key not in self.rows:
            self.load({collection: {row_id}})
        return self.rows[key]

    def put(self, row: RowState) -> None:
        """Stage a row write. A row written again in the same transaction keeps the
        version it got here: the transaction commits as one, so no pull can see between."""
        key = (row.collection, row.id)
        if key not in self.assigned:
            self.version += 1
            self.assigned[key] = self.version
        row.version = self.assigned[key]
        self.rows[key] = row
        self.dirty[key] = row
        self.writes[row.collection] += 1

    def next_counter(self, name: str) -> int:
        """The next value of a named counter (`sheet_seq/<period>`), gap-free, from 1."""
        self.db.execute(COUNTER, [name])
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", [name])
        return int(self.db.execute("SELECT value FROM meta WHERE key = ?", [name]).fetchone()[0])

    def flush_rows(self) -> None:
        """Write the rows changed so far, so that queries in this transaction see them; a row
        written again later is simply upserted again."""
        if self.creators:
            # The last per row, as upserts one after the other leave it (a row created as a
            # tombstone, then again, in one push).
            write_many(self.db, CREATORS, list({c[:2]: c for c in self.creators}.values()))
            self.creators.clear()
        while self.dirty:
            values = [_values(row, self.now, self.lookup) for row in self.dirty.values()]
            self.dirty.clear()
            moved = [v for v in values if self._period_moved(v[0], v[1], v[10])]
            write_many(self.db, self.sql.upsert, values)
            for collection, row_id, *_ in moved:
                self._move_children(collection, row_id)

    def _period_moved(self, collection: str, row_id: str, period: str | None) -> bool:
        """Whether a stored row with children takes another period (a new row has no children yet)."""
        if collection not in PERIOD_CHILDREN:
            return False
        found = self.db.execute("SELECT period FROM rows WHERE collection = ? AND id = ?", [collection, row_id]).fetchone()
        return found is not None and found[0] != period

    def _move_children(self, collection: str, row_id: str) -> None:
        """A row's period changed: its children are written again (new versions, their period
        derived anew), so that pulls carry them into the window or out of it with their parent.

        They keep their order of arrival (version order: a request's status reads its events
        so): the versions they end with are those they already took in this transaction and the
        new ones, handed out in their old order."""
        for child in PERIOD_CHILDREN[collection]:
            ids = [i for (i,) in self.db.execute(
                "SELECT id FROM rows WHERE collection = ? AND parent_id = ? ORDER BY version", [child, row_id])]
            self.load({child: {i for i in ids if (child, i) not in self.rows}})
            rows = [row for i in ids if (row := self.rows[(child, i)]) is not None]
            taken = [self.assigned[(row.collection, row.id)] for row in rows if (row.collection, row.id) in self.assigned]
            # Written already in this transaction: out of the way of the unique versions until rewritten.
            self.db.executemany("UPDATE rows SET version = -version WHERE version = ?", [(v,) for v in taken])
            for row in rows:
                self.put(row)
            for row, version in zip(rows, sorted({*taken, *(row.version for row in rows)}), strict=True):
                self.assigned[(row.collection, row.id)] = row.version = version

    def finish(self, client_id: str | None, receipts: Iterable[tuple[int, str, str, bytes]],
               conflicts: list[tuple[Any, ...]]) -> None:
        """Write everything staged, the versions taken, and the client's receipts and conflict log entries."""
        self.flush_rows()
        _set_version(self.db, self.version)
        if client_id is not None:
            write_many(self.db, RECEIPTS,
                       [(client_id, seq, sent, digest, result.decode()) for seq, sent, digest, result in receipts])
        if conflicts:
            write_many(self.db, CONFLICTS, conflicts)


class BulkLoad:
    """New rows in bulk, one version each, flushed with executemany (synthetic data, `server/scale.py`).

    The derived columns come from `_values`, as for a transaction's rows; `lookup` finds
    the parents a row's site and period come through.
    """

    sql: ClassVar[Dialect]

    def __init__(self, db: Sql, now: int, lookup: Lookup) -> None:
        self.db, self.now, self.lookup = db, now, lookup
        self.version = int(db.execute(self.sql.version).fetchone()[0])
        self.pending: list[tuple[Any, ...]] = []

    def add(self, row: RowState, clocks: str) -> None:
        """Stage a new row; `clocks` as `encode_clocks` stores them (rows of one shape share them)."""
        self.version += 1
        row.version = self.version
        self.pending.append(_values(row, self.now, self.lookup, clocks))
        if len(self.pending) >= 20_000:
            self.flush()

    def flush(self) -> None:
        if self.pending:
            write_many(self.db, self.sql.upsert, self.pending)
            self.pending.clear()

    def close(self) -> None:
        self.flush()
        _set_version(self.db, self.version)


def purge_tombstones(db: Sql, cutoff_ms: int) -> int:
    """Forget rows deleted before `cutoff_ms`, raising the horizon past their versions; how many.

    It takes no version (no version lock on PostgreSQL, so a purge never holds pushes up): what it
    deletes is committed rows, below every version a push holds, and the horizon moves with them in
    one commit. The count and the horizon are what the DELETE itself removed: a push that revives a
    tombstone meanwhile (PostgreSQL's DELETE waits for its row, then skips it) leaves both alone."""
    gone = [version for (version,) in db.execute(
        "DELETE FROM rows WHERE deleted = 1 AND updated_ms < ? RETURNING version", [cutoff_ms]).fetchall()]
    if gone:
        db.execute("UPDATE meta SET value = CAST(? AS TEXT) WHERE key = 'horizon_version' AND CAST(value AS BIGINT) < ?",
                   [max(gone), max(gone)])
    return len(gone)

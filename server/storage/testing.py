"""Backend contract tests: what the sync engine relies on from storage, run against every backend.

As Kinto's `BaseTestStorage`: each `check_*` function takes a `Backend` (`base.py`) and a
`Locate` (a fresh, empty database's location for a name: a file under a temporary directory, a
new PostgreSQL database), and fails with an AssertionError when the backend breaks the property.
`tests/server/test_storage_contract.py` runs every function of `CONTRACT` against every
backend of its list. A pull cursor is a version, so these properties are what makes
"no change is ever missed or delivered twice" true:

- versions are gap-free and commit-ordered: a reader never sees version N+1 without N, with
  writers in threads of one process and in separate processes;
- a row written twice in one transaction gets one version;
- a transaction writes every row it holds, whatever their number, new ones and changed ones alike
  (SQLite writes them in statements of 64, 16, 4 and 1 rows: `writes.write_many`);
- scope filters never return a row of another site (nor one whose site is unknown);
- purging tombstones forgets them and raises the horizon, never lowering it;
- bulk loading derives the same scope columns (site, parent, period) as normal writes;
- a row's JSON fields read alike in both dialects (`Dialect.field`), so a query written once runs on both.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync import hlc
from sync.merge import RowState, site_of

from .base import Backend, Database

_SERVER_HLC = str(hlc.Hlc(1, 0, hlc.SERVER_NODE))
S1, S2, NOWHERE = "site-1", "site-2", "site-unknown"
P1, P2 = "2026-Q3", "2026-Q4"


Locate = Callable[[str], Path | str]


@contextmanager
def _opened(backend: Backend[Any], locate: Locate, name: str = "db") -> Iterator[Database[Any]]:
    db = backend.open(locate(name))
    try:
        yield db
    finally:
        db.close()


def _row(collection: str, row_id: str, fields: dict[str, Any], lookup: Callable[[str, str], RowState | None],
         deleted: bool = False) -> RowState:
    clocks = {name: [_SERVER_HLC, hlc.SERVER_NODE] for name in fields}
    return RowState(collection, row_id, dict(fields), clocks, deleted, site_of(collection, row_id, fields, lookup))


def _write(backend: Backend[Any], db: Database[Any], now: int, rows: list[tuple[str, str, dict[str, Any]]],
           deleted: bool = False) -> list[int]:
    """Write rows in one transaction, as the engine does; the versions they got."""
    with db.write() as conn:
        tx = backend.transaction(conn, now)
        staged = []
        for collection, row_id, fields in rows:
            row = _row(collection, row_id, fields, tx.lookup, deleted)
            tx.put(row)
            staged.append(row)
        tx.finish(None, [], [])
    return [row.version for row in staged]


def _everything(backend: Backend[Any], conn: Any, page_size: int = 7) -> list[tuple[str, str, str | None, int, int]]:
    """Every row from version 0, page by page as a pull reads them."""
    found: list[tuple[str, str, str | None, int, int]] = []
    while True:
        page = backend.page(conn, found[-1][4] if found else 0, None, None, page_size)
        found += page
        if len(page) < page_size:
            return found


def check_versions_are_gap_free_and_commit_ordered(backend: Backend[Any], locate: Locate) -> None:
    writers, transactions = 4, 15
    with _opened(backend, locate) as db:
        seen: list[int] = []
        failures: list[str] = []
        done = threading.Event()

        def write(worker: int) -> None:
            for n in range(transactions):
                _write(backend, db, 1000, [("sites", f"w{worker}-t{n}-r{r}", {"name": "x"}) for r in range(1 + n % 3)])

        def read() -> None:
            while not done.is_set():
                with db.read() as conn:
                    versions = [r[4] for r in _everything(backend, conn)]
                if versions != list(range(1, len(versions) + 1)):
                    failures.append(f"a reader saw versions {versions}")
                if seen and len(versions) < seen[-1]:
                    failures.append(f"a later snapshot saw {len(versions)} rows, an earlier one {seen[-1]}")
                seen.append(len(versions))

        reader = threading.Thread(target=read)
        reader.start()
        threads = [threading.Thread(target=write, args=(w,)) for w in range(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        done.set()
        reader.join()
        assert not failures, failures[:3]
        total = writers * sum(1 + n % 3 for n in range(transactions))
        with db.read() as conn:
            assert [r[4] for r in _everything(backend, conn)] == list(range(1, total + 1))
        assert len(seen) > 1  # the reader read while writers wrote


def _write_from_process(backend: Backend[Any], location: Path | str, worker: int, transactions: int,
                        start: Any, seen: Sequence[Any]) -> None:
    """A writer process: its own connections to the shared database, `transactions` transactions. After
    its first ones it waits until the reader has seen more rows (`seen`, one event each), so the reader
    reads between commits however loaded the machine is; the rest race freely."""
    with _opened(backend, lambda _: location) as db:
        start.wait(timeout=300)  # not a timing: a safety net should the parent never come
        for n in range(transactions):
            _write(backend, db, 1000, [("sites", f"p{worker}-t{n}-r{r}", {"name": "x"}) for r in range(1 + n % 3)])
            if n < len(seen):
                seen[n].wait(timeout=300)


def check_versions_stay_commit_ordered_with_writers_in_other_processes(backend: Backend[Any], locate: Locate) -> None:
    """Two writer processes (as two `fieldsync serve` would be) and a reader polling in between:
    what the reader sees is always versions 1..N, never N+1 while N is still to commit."""
    transactions = 40
    location = locate("shared")
    spawn = multiprocessing.get_context("spawn")  # fresh interpreters: nothing shared but the database
    with _opened(backend, lambda _: location) as db:  # migrated before the writers open it
        start, seen = spawn.Barrier(3), (spawn.Event(), spawn.Event())
        writers = [spawn.Process(target=_write_from_process, args=(backend, location, w, transactions, start, seen))
                   for w in range(2)]
        for writer in writers:
            writer.start()
        start.wait(timeout=300)
        snapshots: list[int] = []
        failures: list[str] = []
        while any(writer.is_alive() for writer in writers) or not snapshots:
            with db.read() as conn:
                versions = [r[4] for r in _everything(backend, conn)]
            if versions != list(range(1, len(versions) + 1)):
                failures.append(f"a reader saw versions {versions}")
            snapshots.append(len(versions))
            unseen = [event for event in seen if not event.is_set()]
            if unseen and len(versions) > max([0, *snapshots[:-1]]):
                unseen[0].set()  # a count the reader had not seen: the writers go on
        for writer in writers:
            writer.join()
        with db.read() as conn:
            snapshots.append(len(_everything(backend, conn)))  # after the last commit
        assert [writer.exitcode for writer in writers] == [0, 0]
        assert not failures, failures[:3]
        assert snapshots == sorted(snapshots)
        total = 2 * sum(1 + n % 3 for n in range(transactions))
        with db.read() as conn:
            assert [r[4] for r in _everything(backend, conn)] == list(range(1, total + 1))
        assert len(set(snapshots)) > 2  # the reader read between the writers' commits


def check_a_row_written_twice_in_a_transaction_gets_one_version(backend: Backend[Any], locate: Locate) -> None:
    with _opened(backend, locate) as db:
        _write(backend, db, 1000, [("sites", "before", {"name": "x"})])
        with db.write() as conn:
            tx = backend.transaction(conn, 1000)
            first = _row("sites", "a", {"name": "first"}, tx.lookup)
            tx.put(first)
            tx.put(_row("sites", "b", {"name": "b"}, tx.lookup))
            tx.flush_rows()  # visible to the transaction's own queries, then written again
            again = _row("sites", "a", {"name": "again"}, tx.lookup)
            tx.put(again)
            tx.finish(None, [], [])
        assert first.version == again.version == 2
        with db.read() as conn:
            found = {(r[1], r[4]) for r in backend.page(conn, 1, None, None, 10)}
            assert found == {("a", 2), ("b", 3)}
            assert "again" in str(backend.page(conn, 1, None, None, 1)[0][2])
        assert _write(backend, db, 1000, [("sites", "a", {"name": "later"})]) == [4]


def check_every_row_is_written_whatever_their_number(backend: Backend[Any], locate: Locate) -> None:
    with _opened(backend, locate) as db:
        written: dict[str, tuple[str, int]] = {}  # id -> (name, version) as last written
        done = 0
        for n in (1, 3, 4, 5, 17, 63, 64, 65, 85, 150):
            # n rows in one transaction: those of the transactions before changed, the rest new.
            rows = [("sites", f"s{i:03d}", {"name": f"{n}-{i}"}) for i in range(n)]
            versions = _write(backend, db, 1000, rows)
            assert sorted(versions) == list(range(done + 1, done + n + 1))
            done += n
            written.update({row_id: (fields["name"], v) for (_, row_id, fields), v in zip(rows, versions, strict=True)})
            with db.read() as conn:
                found = {row_id: (name, version) for row_id, name, version in conn.execute(
                    f"SELECT id, {backend.sql.field('fields', 'name')}, version FROM rows")}
            assert found == written


def _world(lookup: Callable[[str, str], RowState | None]) -> list[tuple[str, str, dict[str, Any]]]:
    """Two sites' rows in two periods, a global template, and a device of a site nobody has."""
    rows: list[tuple[str, str, dict[str, Any]]] = [("checklist_templates", "t-cam", {"kind": "camera"})]
    for site in (S1, S2):
        rows += [("sites", site, {"name": site}), ("devices", f"{site}-cam", {"site_id": site, "kind": "camera"})]
        for period in (P1, P2):
            inspection = f"{site}-{period}"
            rows += [("inspections", inspection, {"site_id": site, "period": period}),
                     ("device_checks", f"{inspection}-check", {"inspection_id": inspection, "device_id": f"{site}-cam"}),
                     ("photos", f"{inspection}-photo", {"inspection_id": inspection, "device_id": f"{site}-cam"})]
    rows.append(("device_checks", "orphan-check", {"inspection_id": "no-such-inspection", "device_id": "x"}))
    return rows


# What each row of `_world` belongs to: (site, period); None: global or unknown.
def _truth(row_id: str) -> tuple[str | None, str | None]:
    site = S1 if row_id.startswith(S1) else S2 if row_id.startswith(S2) else None
    period = P1 if P1 in row_id else P2 if P2 in row_id else None
    return site, period


_SCOPES: list[tuple[set[str] | None, set[str] | None]] = [
    (sites, window) for sites in ({S1}, {S2}, {S1, S2}, {NOWHERE}, set(), None) for window in (None, {P1}, {P2})
]


def _in_scope(collection: str, row_id: str, sites: set[str] | None, window: set[str] | None) -> bool:
    site, period = _truth(row_id)
    if sites is not None and site not in sites and not (site is None and collection == "checklist_templates"):
        return False
    return window is None or period is None or period in window


def _scoped(backend: Backend[Any], db: Database[Any]) -> dict[Any, set[tuple[str, str]]]:
    with db.read() as conn:
        return {(frozenset(s) if s is not None else None, frozenset(w) if w is not None else None):
                {(r[0], r[1]) for r in backend.page(conn, 0, s, w, 1000)} for s, w in _SCOPES}


def check_scope_filters_never_return_another_sites_row(backend: Backend[Any], locate: Locate) -> None:
    with _opened(backend, locate) as db:
        with db.write() as conn:
            tx = backend.transaction(conn, 1000)
            for collection, row_id, fields in _world(tx.lookup):
                tx.put(_row(collection, row_id, fields, tx.lookup))
            tx.finish(None, [], [])
        everything = {(c, i) for c, i, _ in _world(lambda c, i: None)}
        for (sites, window), found in _scoped(backend, db).items():
            wanted = {(c, i) for c, i in everything if _in_scope(c, i, sites and set(sites), window and set(window))}
            if sites is not None:
                wanted.discard(("device_checks", "orphan-check"))  # nobody's, not everybody's
            assert found == wanted, (sites, window, found ^ wanted)


def check_bulk_loading_derives_what_normal_writes_do(backend: Backend[Any], locate: Locate) -> None:
    """Regression (issue 11): the scale demo's bulk writer once left `period` out."""
    with _opened(backend, locate, "tx") as written, _opened(backend, locate, "bulk") as loaded:
        with written.write() as conn:
            tx = backend.transaction(conn, 1000)
            for collection, row_id, fields in _world(tx.lookup):
                tx.put(_row(collection, row_id, fields, tx.lookup))
            tx.finish(None, [], [])
        parents: dict[tuple[str, str], RowState] = {}
        with loaded.write() as conn:
            bulk = backend.bulk_load(conn, 1000, lambda c, i: parents.get((c, i)))
            for collection, row_id, fields in _world(lambda c, i: parents.get((c, i))):
                row = _row(collection, row_id, fields, lambda c, i: parents.get((c, i)))
                parents[(collection, row_id)] = row
                bulk.add(row, backend.encode_clocks(row.clocks))
            bulk.close()
        by_write, by_load = _scoped(backend, written), _scoped(backend, loaded)
        assert by_write == by_load
        assert all(by_write.values()) or by_write[(frozenset({NOWHERE}), None)] == {("checklist_templates", "t-cam")}
        with written.read() as a, loaded.read() as b:
            assert [r[:4] for r in _everything(backend, a)] == [r[:4] for r in _everything(backend, b)]


def check_purging_tombstones_raises_the_horizon(backend: Backend[Any], locate: Locate) -> None:
    with _opened(backend, locate) as db:
        (live,) = _write(backend, db, 1000, [("sites", "live", {"name": "x"})])
        (old,) = _write(backend, db, 1000, [("sites", "old", {"name": "x"})], deleted=True)
        (recent,) = _write(backend, db, 5000, [("sites", "recent", {"name": "x"})], deleted=True)

        def state() -> tuple[list[str], int]:
            with db.read() as conn:
                return [r[1] for r in _everything(backend, conn)], backend.horizon(conn)

        assert state() == (["live", "old", "recent"], 0)
        with db.write() as conn:
            assert backend.purge_tombstones(conn, 2000) == 1
        assert state() == (["live", "recent"], old)
        with db.write() as conn:
            assert backend.purge_tombstones(conn, 2000) == 0
        assert state() == (["live", "recent"], old)
        with db.write() as conn:
            assert backend.purge_tombstones(conn, 10_000) == 1
        assert state() == (["live"], recent)
        assert live < old < recent


def check_json_fields_read_alike(backend: Backend[Any], locate: Locate) -> None:
    """`Dialect.field` reads a row's field as the other backend does: text, a number and a boolean
    (with their cast), null and missing as NULL; compared with parameters, and through an alias."""
    with _opened(backend, locate) as db:
        _write(backend, db, 1000, [("sites", "a", {"name": "Depot 7", "floors": 12, "open": True, "shut": False,
                                                   "note": None}),
                                   ("sites", "b", {"name": "Depot 8", "floors": 3, "open": False})])
        f = backend.sql.field
        with db.read() as conn:
            found = conn.execute(
                f"SELECT {f('r.fields', 'name')}, {f('r.fields', 'floors', 'integer')} + 1,"
                f" {f('r.fields', 'open', 'boolean')} = TRUE, {f('r.fields', 'shut', 'boolean')} = TRUE,"
                f" {f('r.fields', 'note')} IS NULL, {f('r.fields', 'absent')} IS NULL FROM rows r"
                f" WHERE r.collection = 'sites' AND {f('r.fields', 'name')} = ? AND {f('r.fields', 'floors', 'integer')} = ?",
                ["Depot 7", 12]).fetchall()
            opened = conn.execute(f"SELECT id FROM rows WHERE {f('fields', 'open', 'boolean')} = TRUE").fetchall()
    assert [tuple(r) for r in found] == [("Depot 7", 13, True, False, True, True)]
    assert [r[0] for r in opened] == ["a"]


CONTRACT: list[Callable[[Backend[Any], Locate], None]] = [
    check_versions_are_gap_free_and_commit_ordered,
    check_versions_stay_commit_ordered_with_writers_in_other_processes,
    check_a_row_written_twice_in_a_transaction_gets_one_version,
    check_every_row_is_written_whatever_their_number,
    check_scope_filters_never_return_another_sites_row,
    check_bulk_loading_derives_what_normal_writes_do,
    check_purging_tombstones_raises_the_horizon,
    check_json_fields_read_alike,
]

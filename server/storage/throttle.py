"""The login throttle's SQL (`domains/identity/throttle.py`), on both backends.

`login_attempts` holds one row per throttle key of each counted sign-in attempt, `login_reports`
one per throttled key's audit entry. Both are only inserted into, and `prune` deletes what is
older than it is asked: the tables hold a few windows' worth of sign-ins.

Count-then-decide is atomic per key across processes: SQLite runs one writer at a time; on
PostgreSQL the transaction takes an advisory lock per key (in one order, so two sign-ins never
wait for each other in a circle), and no version lock: a sign-in never waits for a push.
"""

from __future__ import annotations

from collections.abc import Sequence

from .base import Sql
from .writes import dialect, select_in

# The tables, in words both backends speak (SQLite's m026, PostgreSQL's `login_attempts` step):
# one row per throttle key of a counted attempt, one per throttled key's audit entry.
# `{integer}`: SQLite's INTEGER is PostgreSQL's bigint. A migration: never edited once released
# (a change is a new step of each backend).
TABLES = """
    CREATE TABLE login_attempts (key TEXT NOT NULL, at_ms {integer} NOT NULL, attempt TEXT NOT NULL);
    CREATE INDEX login_attempts_key ON login_attempts(key, at_ms);
    CREATE INDEX login_attempts_at ON login_attempts(at_ms);
    CREATE TABLE login_reports (key TEXT NOT NULL, at_ms {integer} NOT NULL);
    CREATE INDEX login_reports_key ON login_reports(key, at_ms);
    CREATE INDEX login_reports_at ON login_reports(at_ms);
"""

# `Dialect.lock`'s first key for the throttle's locks (the second: a key's hash), and, as
# one bigint key (`Dialect.try_lock`, a space of its own), the one pruner's lock; constants no other lock uses.
LOCKS = 0x6C_6F_67  # "log"


def lock(db: Sql, keys: Sequence[str]) -> None:
    """Hold `keys` until the transaction ends (`Dialect.lock`; SQLite's one writer holds everything)."""
    held = dialect(db).lock
    if held is not None:
        for key in sorted(set(keys)):
            db.execute(held, [LOCKS, key])


def counts(db: Sql, keys: Sequence[str], since_ms: int) -> dict[str, tuple[int, int]]:
    """Per key, its attempts after `since_ms`: how many, and when the oldest was."""
    return {key: (n, oldest) for key, n, oldest in select_in(
        db, "SELECT key, count(*), min(at_ms) FROM login_attempts WHERE at_ms > ? AND key IN ({marks}) GROUP BY key",
        keys, [since_ms])}


def add(db: Sql, keys: Sequence[str], at_ms: int, attempt: str) -> None:
    db.executemany("INSERT INTO login_attempts(key, at_ms, attempt) VALUES (?, ?, ?)",
                   [(key, at_ms, attempt) for key in keys])


def take_back(db: Sql, keys: Sequence[str], at_ms: int, attempt: str) -> None:
    """Forget one attempt's rows."""
    db.executemany("DELETE FROM login_attempts WHERE key = ? AND at_ms = ? AND attempt = ?",
                   [(key, at_ms, attempt) for key in keys])


def clear(db: Sql, key: str, since_ms: int) -> None:
    """Forget a key's attempts after `since_ms` (older ones no longer count, and are the pruner's)."""
    db.execute("DELETE FROM login_attempts WHERE key = ? AND at_ms > ?", [key, since_ms])


def reported(db: Sql, keys: Sequence[str], since_ms: int) -> set[str]:
    """Which of `keys` were audited as throttled after `since_ms`."""
    return {key for (key,) in select_in(
        db, "SELECT DISTINCT key FROM login_reports WHERE at_ms > ? AND key IN ({marks})", keys, [since_ms])}


def report(db: Sql, keys: Sequence[str], at_ms: int) -> None:
    db.executemany("INSERT INTO login_reports(key, at_ms) VALUES (?, ?)", [(key, at_ms) for key in keys])


def prune(db: Sql, before_ms: int) -> None:
    """Delete attempts and reports at or before `before_ms`. On PostgreSQL one process prunes at a
    time (another skips), so two pruners never wait for each other's rows."""
    free = dialect(db).try_lock
    if free is not None and not db.execute(free, [LOCKS]).fetchone()[0]:
        return
    db.execute("DELETE FROM login_reports WHERE at_ms <= ?", [before_ms])
    db.execute("DELETE FROM login_attempts WHERE at_ms <= ?", [before_ms])

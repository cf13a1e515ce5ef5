"""The login throttle shared by server processes (issue 16): counted in the database, so wrong
passwords spread over several processes are throttled as on one. Each `Store` (or database
opened) here is one process's worth of state; SQLite through one file, PostgreSQL through a new
database per test on the server of tests/pg.py."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from server.domains.identity.throttle import LoginThrottle
from server.services import Store
from server.settings import Settings
from server.storage.postgres.connection import Database as PgDatabase
from tests.server.test_access import _login

NOW = 1_800_000_000_000


@pytest.fixture
def other(settings: Settings, store: Store) -> Iterator[Store]:
    """A second process's `Store` on the same database file."""
    second = Store(settings)
    yield second
    second.close()


def _together(n: int, work: Callable[[int], Any]) -> list[Any]:
    """`work(i)` for i in 0..n-1 on n threads released at once; the answers in order."""
    start = threading.Barrier(n)
    answers: list[Any] = [None] * n

    def run(i: int) -> None:
        start.wait()
        answers[i] = work(i)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_wrong_passwords_spread_over_two_processes_are_throttled(store: Store, other: Store) -> None:
    # Regression (issue 16): each process counted on its own, so two processes let 10 guesses through.
    for i in range(5):
        assert _login((store, other)[i % 2], "wang", "guess", "192.0.2.1") == "invalid_credentials"
    assert _login(other, "wang", "demo", "192.0.2.1") == "login_throttled"
    assert _login(store, "wang", "demo", "192.0.2.1") == "login_throttled"
    assert _login(store, "wang", "demo", "198.51.100.4") == "ok"  # the pair is throttled, not the user


def test_concurrent_guesses_on_two_processes_are_counted_before_they_are_checked(store: Store, other: Store) -> None:
    # Regression (issue 16; issue 9, finding 14 on one process): 40 guesses at once, half on each.
    answers = _together(40, lambda i: _login((store, other)[i % 2], "wang", "guess", "192.0.2.1"))
    assert answers.count("invalid_credentials") == 5 and answers.count("login_throttled") == 35
    with store.read() as db:
        kinds = sorted(k for (k,) in db.execute("SELECT kind FROM audit WHERE kind LIKE 'login%'"))
    assert kinds == ["login_failed"] * 5 + ["login_throttled"]  # audited once, by whichever process was first


def test_a_right_password_on_one_process_clears_the_pair_on_the_other(store: Store, other: Store) -> None:
    for _ in range(4):
        assert _login(store, "wang", "guess", "192.0.2.1") == "invalid_credentials"
    assert _login(other, "wang", "demo", "192.0.2.1") == "ok"
    answers = [_login((store, other)[i % 2], "wang", "guess", "192.0.2.1") for i in range(6)]
    assert answers == ["invalid_credentials"] * 5 + ["login_throttled"]  # five afresh, on either


def test_the_table_holds_at_most_two_windows(store: Store, settings: Settings) -> None:
    throttle = LoginThrottle(store.database, settings)
    window = settings.login_window_seconds * 1000
    for i in range(50):
        throttle.attempt(f"u{i}", f"10.0.0.{i}", now_ms=NOW)
    for _ in range(6):
        throttle.attempt("wang", "10.0.1.1", now_ms=NOW)  # the sixth is throttled: a report row
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM login_attempts").fetchone()[0] == 3 * 55
        assert db.execute("SELECT count(*) FROM login_reports").fetchone()[0] == 1
    throttle.attempt("lin", "10.0.2.1", now_ms=NOW + 2 * window - 1)  # not yet older than two windows
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM login_attempts").fetchone()[0] == 3 * 56
    throttle.attempt("lin", "10.0.2.1", now_ms=NOW + 3 * window)
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM login_attempts").fetchone()[0] == 3 * 2
        assert db.execute("SELECT count(*) FROM login_reports").fetchone()[0] == 0


# -- PostgreSQL: two processes' connections on one database -------------------------------------


@pytest.fixture
def pg_throttles(pg_url: str, settings: Settings) -> Iterator[list[LoginThrottle]]:
    """Two throttles, each on a database opened as a process opens it (its own connections)."""
    dbs = [PgDatabase(pg_url, readers=1, writers=4) for _ in range(2)]
    yield [LoginThrottle(db, settings) for db in dbs]  # type: ignore[arg-type]
    for db in dbs:
        db.close()


def test_postgres_counts_concurrent_guesses_on_two_processes_once(pg_throttles: list[LoginThrottle]) -> None:
    # Regression (issue 16): count-then-decide must be atomic per key across processes: 40 attempts
    # at once over two processes' connections, exactly 5 checked, one throttled key reported once.
    attempts = _together(40, lambda i: pg_throttles[i % 2].attempt("wang", "192.0.2.1", now_ms=NOW + i))
    assert sum(a.wait == 0 for a in attempts) == 5
    assert sum(a.report for a in attempts) == 1
    assert {a.keys for a in attempts if a.wait} == {("pair",)}


def test_postgres_shares_the_limits_and_the_take_back(pg_throttles: list[LoginThrottle]) -> None:
    first, second = pg_throttles
    for i in range(20):  # one username from many addresses, over both processes
        assert (first, second)[i % 2].attempt("zhao", f"10.0.1.{i}", now_ms=NOW).wait == 0
    assert second.attempt("zhao", "10.0.2.1", now_ms=NOW).wait == 300
    for _ in range(4):
        first.attempt("wang", "10.0.0.9", now_ms=NOW)
    second.succeeded("wang", "10.0.0.9", second.attempt("wang", "10.0.0.9", now_ms=NOW))
    for _ in range(5):  # the pair starts afresh on both
        assert first.attempt("wang", "10.0.0.9", now_ms=NOW).wait == 0
    assert second.attempt("wang", "10.0.0.9", now_ms=NOW).wait == 300


def test_postgres_a_sign_in_does_not_wait_for_a_push(pg_url: str, pg_throttles: list[LoginThrottle]) -> None:
    # A push holds the version counter's row lock to its commit (postgres/rows.py): the throttle must
    # not take it, or every sign-in would queue behind every push of every process.
    import psycopg

    with psycopg.connect(pg_url) as push:
        push.execute("SELECT value FROM meta WHERE key = 'version' FOR UPDATE")
        done = threading.Event()
        thread = threading.Thread(target=lambda: (pg_throttles[0].attempt("wang", "192.0.2.1"), done.set()))
        thread.start()
        assert done.wait(60), "the sign-in waited for the push's lock"
        push.rollback()
    thread.join()

"""bench/sync_throughput.py runs (issue 15): at a tiny scale, against a real server process, every row
pushed comes back in the pull and the figures print side by side. pouchdb-server joins only with
FIELDSYNC_LONG=1 (its first run installs it with npm); without npm the bench says so and goes on."""

from __future__ import annotations

import os

from bench import _pouch
from bench import sync_throughput as bench

LONG = os.environ.get("FIELDSYNC_LONG") == "1"


def test_the_throughput_bench_runs_at_a_tiny_scale(capsys):
    results = bench.main(["--rows", "60", "--batch", "25", *([] if LONG else ["--no-peer"])])
    out = capsys.readouterr().out
    for line in ("push  fieldsync", "push  SQLite ceiling", "pull  fieldsync", "pull  SQLite ceiling"):
        assert line in out
    assert results["push"] > 0 and results["pull"] > 0
    if not LONG:
        assert "pouchdb-server" not in out
    elif _pouch.install() is None:  # the peer's pull asserts that every row came back
        assert results["push_vs_peer"] > 0 and results["pull_vs_peer"] > 0
    else:
        assert "pouchdb-server left out" in out



# Issue 16: --database, the same rows through several clients against 1, 2 ... server processes over PostgreSQL.
def _several_printed(out: str, results: dict[str, float], counts: tuple[int, ...]) -> None:
    assert "2 clients at once" in out
    for name, key in (("SQLite, 1 process", "sqlite"), *((f"PostgreSQL, {c} process", f"pg{c}") for c in counts)):
        line = next(line for line in out.splitlines() if line.startswith(name))
        assert line.count("x") == 2, line  # push and pull, each beside its ratio to SQLite
        assert results[f"{key}_push"] > 0 and results[f"{key}_pull"] > 0


def test_the_bench_starts_its_own_postgresql_and_runs_one_and_two_processes(capsys):
    # Two processes only with FIELDSYNC_LONG=1: the next test runs two on the session's server, and
    # `make test` is near its budget (each process is a server start).
    counts = (1, 2) if LONG else (1,)
    results = bench.main(["--rows", "30", "--batch", "10", "--repeat", "1", "--no-peer", "--database", "auto",
                          "--processes", ",".join(map(str, counts)), "--clients", "2"])
    out = capsys.readouterr().out
    assert "push  fieldsync" in out  # the single-client figures still come first
    _several_printed(out, results, counts)
    assert "pg4_push" not in results


def test_the_bench_makes_its_databases_on_a_given_server_and_drops_them(capsys, postgres):
    import psycopg

    def databases() -> set[str]:
        with psycopg.connect(postgres) as db:
            return {name for (name,) in db.execute("SELECT datname FROM pg_database")}

    before = databases()
    results = bench.main(["--rows", "20", "--batch", "10", "--repeat", "1", "--no-peer",
                          "--database", postgres, "--processes", "2", "--clients", "2"])
    _several_printed(capsys.readouterr().out, results, (2,))
    assert databases() == before

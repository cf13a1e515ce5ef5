"""bench/push_floor.py runs (issue 15): at a tiny scale, the floor the contract sets under a push, its
variants, the real schema and the real push print side by side for both workloads, with positive figures.
No time is asserted."""

from __future__ import annotations

from bench import push_floor as bench


def test_the_floor_bench_runs_at_a_tiny_scale(capsys):
    results = bench.main(["--rows", "40", "--batch", "20", "--clients", "2", "--changes", "20", "--rush-batch", "10",
                          "--devices", "5", "--repeat", "1"])
    out = capsys.readouterr().out
    photos, rush = out.split("\nthe rush:")
    for line in ("(a) SQLite ceiling", "(b) contract floor", "without fsync, the pull indexes",
                 "(c) real schema, raw SQL", "(d) real push, in-process"):
        assert line in photos
    for line in ("(b) contract floor", "without the log", "without fsync, the log, the pull indexes",
                 "(c) real schema, raw SQL", "(d) real push, in-process", "p99 by Little's law"):
        assert line in rush
    assert "(a) SQLite ceiling" not in rush
    for key in ("ceiling", "floor", "floor+fsync", "floor+indexes", "schema", "real"):
        assert results[f"photos_{key}"] > 0 and results[f"photos_{key}_vs_ceiling"] > 0
    for key in ("floor", "floor+log", "floor+fsync+log+indexes", "schema", "real"):
        assert results[f"rush_{key}_ms"] > 0
        assert results[f"rush_{key}_p99_ms"] == 2 * results[f"rush_{key}_ms"]  # two phones
    # The floor writes the log entries the real push wrote for the same changes: two phones checking
    # the same five devices twenty times each lose values to each other.
    assert results["rush_log_entries"] > 0


def test_the_floor_writes_what_the_real_push_wrote(tmp_path):
    """The floor's tuples are the real run's: every change has its receipt, every log entry is written
    once, and the floor's database ends with the real one's rows, receipts and entries."""
    import functools
    import sqlite3

    from bench import morning_rush, push_cpu

    names = ["tech00", "tech01"]
    ids = morning_rush.prepare(tmp_path / "data", names, 5)
    run = bench.real_run(tmp_path / "data", functools.partial(push_cpu.rush_requests, names=names, ids=ids,
                                                              changes=20, batch=10), keep=True)
    assert bench.floor(tmp_path / "floor.db", run.pushes) > 0
    with sqlite3.connect(tmp_path / "data" / "fieldsync.db") as real, sqlite3.connect(tmp_path / "floor.db") as low:
        def count(db, sql):
            return db.execute(sql).fetchone()[0]
        assert count(low, "SELECT count(*) FROM receipts") == 40
        assert count(low, "SELECT count(*) FROM conflicts") == count(real, "SELECT count(*) FROM conflicts") > 0
        assert set(low.execute("SELECT collection, id, fields, clocks FROM rows")) == set(real.execute(
            "SELECT collection, id, fields, clocks FROM rows WHERE collection IN ('device_checks', 'photos')"))
        assert dict(low.execute("SELECT id, acked_seq FROM clients")) == dict(real.execute(
            "SELECT id, acked_seq FROM clients WHERE acked_seq > 0"))

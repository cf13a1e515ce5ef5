"""bench/inspection_period.py runs (session 31, office31, item 1): at a tiny scale, on SQLite, over HTTP and on
PostgreSQL, each read measured without m038's index and with it, the plans saying which index each read took."""

from __future__ import annotations

from bench import inspection_period as bench


def test_the_period_bench_runs_at_a_tiny_scale(tmp_path, pg_url, capsys):
    results = bench.main(["--scale", "1", "--rounds", "2", "--samples", "1", "--data", str(tmp_path),
                          "--database", pg_url])
    for backend in ("SQLite", "PostgreSQL"):
        for name in ("reads", "dashboard"):
            assert [len(results[backend][name][there]) for there in (False, True)] == [2, 2], (backend, name)
    assert [len(results["http"][there]) for there in (False, True)] == [2, 2]
    out = capsys.readouterr().out
    assert "SQLite, index dropped: SEARCH i USING INDEX rows_parent (collection=?)" in out
    assert "SQLite, index there: SEARCH i USING INDEX rows_inspection_period (<expr>=?)" in out
    assert "the six periods" in out and "inspections listed" in out
    for line in ("SQLite, the six periods' reads", "PostgreSQL, the dashboard's inspection list",
                 "SQLite, /console/ over HTTP (server)"):
        assert line in out

"""bench/service.py runs (issue 12, "Speed"): at a tiny scale, against a real server process, its
breach list over HTTP lists the same rows as the plain SQL read of the stored clock columns."""

from __future__ import annotations

from bench import service as bench


def test_the_service_bench_runs_at_a_tiny_scale(tmp_path, capsys):
    results = bench.main(["--scale", "2", "--samples", "3", "--data", str(tmp_path)])
    assert results["requests"] == 2 * bench.REQUESTS_PER_SITE
    assert results["same_rows"] is True and results["breached_on_page"] > 0
    out = capsys.readouterr().out
    for line in ("breach list, HTTP", "breach list, plain SQL", "one request's detail", "clock evaluation in-process"):
        assert line in out


def test_the_history_option_measures_the_call_backs_to_make_it_built(tmp_path, capsys):
    # docs/performance.md's 待回访 figures (s29) come from `--history`: ended requests, each signed, its
    # call-back made in time, late or never; the count it measures is the list's.
    results = bench.main(["--scale", "3", "--history", "40", "--samples", "2", "--data", str(tmp_path)])
    assert results["ended"] == 3 * 40 and results["requests"] == 3 * (40 + bench.REQUESTS_PER_SITE)
    assert 0 < results["to_make"] < 3 * 40 * 0.2
    out = capsys.readouterr().out
    assert "the 待回访 count, every site" in out and "the 待回访 list's first page" in out

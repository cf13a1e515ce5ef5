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

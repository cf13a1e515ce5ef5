"""bench/console.py runs (issue 14, "Speed"): at a tiny scale, against a real server process, the
console's pages and the sheet PDF are measured beside the API calls that feed them."""

from __future__ import annotations

from bench import console as bench


def test_the_console_bench_runs_at_a_tiny_scale(tmp_path, capsys):
    results = bench.main(["--scale", "1", "--samples", "2", "--data", str(tmp_path)])
    assert results["reference_devices"] == 624
    assert results["sheet_bytes"] > 100_000 and results["sheet_cold_s"] > 0 and results["sheet_later_s"] > 0
    for key in ("site_page_ms", "coverage_api_ms", "dashboard_ms", "open_requests_api_ms", "sheet_ms",
                "inspection_api_ms", "seal_push_ms", "sheet_after_seal_ms"):
        median, p95 = results[key]
        assert 0 < median <= p95, key
    out = capsys.readouterr().out
    for line in ("reference site's page", "its API: coverage", "dashboard", "its API: open requests",
                 "inspection sheet PDF", "its API: inspection JSON", "ratio dashboard / open requests",
                 "first request after a seal (rendered ahead"):
        assert line in out

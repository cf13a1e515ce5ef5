"""bench/billing.py runs (issue 13, "Speed"): at a tiny scale, against a real server process, the
monthly report over HTTP has the same numbers as the plain SQL aggregate, and the bills the same
totals as the plain SQL sums of their billed lines."""

from __future__ import annotations

from bench import billing as bench


def test_the_billing_bench_runs_at_a_tiny_scale(tmp_path, capsys):
    results = bench.main(["--scale", "2", "--samples", "3", "--data", str(tmp_path)])
    assert results["visits"] == 2 * bench.VISITS_PER_SITE
    assert results["same_numbers"] is True and results["same_bills"] is True
    # The month has the generated work in it: visits, sealed sheets, call-backs, money billed.
    assert results["technicians"] == 1 and all(n > 0 for n in results["counted"].values())
    assert results["bills_checked"] >= 1
    out = capsys.readouterr().out
    for line in ("monthly report, HTTP JSON", "monthly report, HTTP CSV", "monthly report, plain SQL",
                 "a visit's bill, HTTP", "a visit's bill, plain SQL"):
        assert line in out


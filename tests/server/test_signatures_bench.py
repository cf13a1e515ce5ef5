"""bench/signatures.py --seal runs (issue 15): at a tiny sheet, a customer's signature seals every
check it lists, both as served and with the device rows' read left out, and the read is put back.
No time is asserted."""

from __future__ import annotations

from bench import signatures as bench
from server.storage import signatures as signed


def test_the_seal_bench_seals_the_whole_sheet_both_ways_at_a_tiny_scale(capsys):
    read = signed.device_labels
    bench.seal(devices=6, runs=1)  # asserts that every check was sealed, each time
    out = capsys.readouterr().out
    assert "6 checks; one customer's signature" in out
    assert "as served" in out and "without the device rows' read" in out and "the device rows' read alone" in out
    assert signed.device_labels is read

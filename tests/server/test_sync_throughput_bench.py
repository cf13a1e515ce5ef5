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


"""Two reads walk the index made for them (`EXPLAIN QUERY PLAN` of the very statement each runs),
on a store with bench/billing.py's rows, with and without `ANALYZE` (none is ever run, so the plan
is the schema's at any size): the faults report a range of `rows_visit_recorded`, a signature
blob's sites one probe of each hash's index."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bench import billing as bench
from server.services import Store
from server.settings import Settings
from server.storage import media, service


def _plans(tmp_path: Path, analyze: bool, read: Callable[[Any, str], object]) -> list[str]:
    """The plan of each statement `read(db, sha)` runs, on a store of three sites' month."""
    store = Store(Settings(data_dir=tmp_path))
    try:
        bench.build(store, 3, bench.last_month())
        with store.write() as db:
            if analyze:
                db.execute("ANALYZE")
        with store.read() as db:
            [sha] = db.execute("SELECT json_extract(fields, '$.sheet_sha256') FROM rows"
                               " WHERE collection = 'signatures' AND deleted = 0 LIMIT 1").fetchone()
            run: list[str] = []
            db.set_trace_callback(run.append)  # each statement with its values bound
            read(db, sha)
            db.set_trace_callback(None)
            assert run, "the read ran no statement"
            return [step for sql in run for *_, step in db.execute("EXPLAIN QUERY PLAN " + sql)]
    finally:
        store.close()


@pytest.mark.parametrize("analyze", [False, True])
def test_the_faults_report_reads_a_range_of_its_index(tmp_path: Path, analyze: bool) -> None:
    # Regression (rows index review, finding 1): the faults report walked every visit through
    # rows_parent and parsed each one's JSON, whatever its dates (145 ms for an empty range at
    # 30,000 visits).
    plan = _plans(tmp_path, analyze, lambda db, _: service.recorded_faults(db, "2026-11-01", "2026-11-02"))
    assert plan[0] == "SEARCH v USING INDEX rows_visit_recorded (<expr>>? AND <expr><?)", plan
    assert not [s for s in plan if s.startswith("SCAN")], plan


@pytest.mark.parametrize("analyze", [False, True])
def test_a_signature_blobs_sites_are_two_index_probes(tmp_path: Path, analyze: bool) -> None:
    # Regression (rows index review, finding 2): `image_sha256 = ? OR sheet_sha256 = ?` read every
    # signature (119 ms a blob at 25,651 signatures) instead of probing the two hash indexes.
    plan = _plans(tmp_path, analyze, lambda db, sha: list(media.MediaQueries(db).uploaded_signature_sites(sha)))
    assert "SEARCH r USING INDEX rows_signature_image (<expr>=?)" in plan, plan
    assert "SEARCH r USING INDEX rows_signature_sheet (<expr>=?)" in plan, plan
    assert not [s for s in plan if s.startswith("SCAN")], plan

"""The monthly technician report's query plan (issue 13, "Speed"), on a store with the report's
rows and the m020 indexes: each site's month is a range of an index led by the site, and the
report never scans rows or looks a row's site up in the bounds per row."""

from __future__ import annotations

from bench import billing as bench
from server.domains.callbacks.service import month_bounds
from server.services import Store
from server.settings import Settings
from server.storage import callbacks as q


def _plan(tmp_path, analyze: bool) -> list[str]:
    month = bench.last_month()
    store = Store(Settings(data_dir=tmp_path))
    try:
        bench.build(store, 3, month)
        with store.write() as db:
            if analyze:
                db.execute("ANALYZE")
        with store.read() as db:
            bounds = {site: month_bounds(month, tz) for site, tz in q.site_zones(db).items()}
            return [row[3] for row in db.execute("EXPLAIN QUERY PLAN " + q._report(db), q.report_parameters(bounds, 0))]
    finally:
        store.close()


def test_each_site_month_is_an_index_range_walked_once(tmp_path):
    # Regression (issue 13, "Speed"): the sealed sheets and the call-backs were walked by time alone,
    # each row then scanning the 1,000 sites' bounds (8.7 s of a 14 s report at 1,000 sites).
    for analyze in (False, True):
        plan = _plan(tmp_path / str(analyze), analyze)
        steps = [s for s in plan if not s.startswith("BLOOM FILTER")]
        for index in ("rows_visit_month", "rows_signature_month", "rows_callback_month"):
            [at] = [i for i, s in enumerate(steps) if f"USING INDEX {index} (site_id=? AND" in s]
            assert steps[at - 1] == "SCAN b", (analyze, plan)  # the bounds are the outer loop
        # Visits are found by id in the index that holds what the report reads of them.
        assert sum("SEARCH v USING INDEX rows_visit_seal (id=?" in s for s in steps) == 2, plan
        assert not [s for s in steps if s.startswith("SCAN") and s.split()[1] not in ("b", "vis", "sealed", "called",
                                                                                      "mine", "json_each")], plan

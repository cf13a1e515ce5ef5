"""m038: the inspections of a period (the dashboard asks six) read by one range of `rows_inspection_period`,
not by `json_extract` of every inspection's period (session 31, office31, item 1), on a database upgraded from
the schema before it, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from server.storage.inspections import PERIOD_INDEX, _Queries
from server.storage.sqlite.backend import SQLITE
from server.storage.writes import dialect
from tests.conftest import SITE
from tests.helpers import upgraded

M038 = "m038_inspection_period"
PERIODS = [f"{year}-Q{q}" for year in range(2021, 2027) for q in range(1, 5)]  # 24 quarters
SITES = 40


def _inspections_before_m038(db: Any, mark: str) -> None:
    """A site each with an inspection of every quarter, written as the schema before m038 held them."""
    n = 0
    for s in range(SITES):
        site = f"{SITE[:-4]}{s:04d}"
        for period in PERIODS:
            n += 1
            fields = {"site_id": site, "period": period, "status": "completed" if period < "2026-Q4" else "scheduled"}
            db.execute(f"INSERT INTO rows(collection, id, site_id, parent_id, fields, clocks, version, updated_ms, period)"
                       f" VALUES ({', '.join([mark] * 9)})",
                       ["inspections", f"i-{s}-{period}", site, site, json.dumps(fields), "{}", n, 0, period])


def _read_after_upgrade(database: Any, analyze: str) -> dict[str, Any]:
    """Each of three periods' inspections as `inspections(period)` reads them, the plan of that read, and the
    index's statement run again (idempotent)."""
    try:
        with database.write() as db:
            db.execute(analyze)
            found = {p: sorted(i for i, *_ in _Queries(db, None).inspections(p, None, None))  # type: ignore[arg-type]
                     for p in ("2021-Q1", "2026-Q4", "2027-Q1")}
            run: list[str] = []
            if hasattr(db, "set_trace_callback"):
                db.set_trace_callback(run.append)
                _Queries(db, None).inspections("2026-Q4", None, None)  # type: ignore[arg-type]
                db.set_trace_callback(None)
                plan = [str(step) for sql in run for *_, step in db.execute("EXPLAIN QUERY PLAN " + sql)]
            else:
                # The period as `inspections(period)` spells it (the backend's dialect), so the index and the
                # read cannot drift apart unseen (review of office31).
                sql = ("EXPLAIN SELECT i.id FROM rows i WHERE i.collection = 'inspections' AND i.deleted = 0"
                       f" AND {dialect(db).field('i.fields', 'period')} = ?")
                plan = [str(step) for (step,) in db.execute(sql, ["2026-Q4"])]
            db.execute(PERIOD_INDEX.format(period="json_extract(fields, '$.period')" if run
                                           else "(fields ->> 'period')"))  # m038 again: nothing happens
        return {"found": found, "plan": plan[0] if run else " / ".join(plan)}
    finally:
        database.close()


def _expected(index_line: str) -> dict[str, Any]:
    return {"found": {"2021-Q1": sorted(f"i-{s}-2021-Q1" for s in range(SITES)),
                      "2026-Q4": sorted(f"i-{s}-2026-Q4" for s in range(SITES)), "2027-Q1": []},
            "plan": index_line}


def test_m038_reads_a_sqlite_databases_inspections_of_a_period_by_its_index(tmp_path: Path) -> None:
    # Regression (office31, item 1): `i.collection = 'inspections' AND json_extract(i.fields, '$.period') = ?`
    # walked every inspection of the database (rows_parent's range of the collection) for each period asked:
    # 9,000 at 1,000 sites with two years of history, six times a dashboard.
    found = _read_after_upgrade(upgraded(tmp_path / "fieldsync.db", M038, _inspections_before_m038), "ANALYZE")
    assert found == _expected("SEARCH i USING INDEX rows_inspection_period (<expr>=?)")


def test_m038_reads_a_postgresql_databases_inspections_of_a_period_by_its_index(pg_url: str) -> None:
    found = _read_after_upgrade(upgraded(pg_url, M038, _inspections_before_m038), "ANALYZE rows")
    assert found["found"] == _expected("")["found"]
    assert "rows_inspection_period" in found["plan"], found["plan"]


def test_a_new_database_reads_the_period_by_the_index_too(tmp_path: Path) -> None:
    # A database made by every step (a new server's): the live read, as the server sends it, takes the index.
    database = SQLITE.open(tmp_path / "fieldsync.db")
    try:
        with database.write() as db:
            _inspections_before_m038(db, "?")
        with database.read() as db:
            run: list[str] = []
            db.set_trace_callback(run.append)
            listed = _Queries(db, None).inspections("2026-Q4", None, None)  # type: ignore[arg-type]
            db.set_trace_callback(None)
            plan = [step for sql in run for *_, step in db.execute("EXPLAIN QUERY PLAN " + sql)]
    finally:
        database.close()
    assert sorted(i for i, *_ in listed) == _expected("")["found"]["2026-Q4"]
    assert plan[0] == "SEARCH i USING INDEX rows_inspection_period (<expr>=?)", plan

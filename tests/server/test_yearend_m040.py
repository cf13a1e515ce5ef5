"""m040 (fixyearend32): each request's stored clocks keep the mark of the terms file they were counted with; the
rows stored before it have none, so the first start after the upgrade counts them all again, on either backend."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.storage import service as q
from tests.conftest import SITE
from tests.helpers import upgraded

M040 = "m040_clocks_terms"


def _clocks_before_m040(db: Any, mark: str) -> None:
    for n, request_id in enumerate(("r-2", "r-1")):
        db.execute(f"INSERT INTO service_clocks(request_id, site_id, status, reported_ms, open, breached, computed_ms)"
                   f" VALUES ({', '.join([mark] * 7)})", [request_id, SITE, "received", n, 1, 0, 0])


def _after_upgrade(database: Any) -> tuple[list[tuple[Any, ...]], list[tuple[str, str]]]:
    try:
        with database.write() as db:
            marks = sorted(tuple(r) for r in db.execute("SELECT request_id, terms FROM service_clocks").fetchall())
            q.save_clocks(db, [("r-1", SITE, "received", None, 1, 1, 0, None, None, 0, None, "0123456789abcdef")])
            return marks, q.counted_otherwise(db, "0123456789abcdef")
    finally:
        database.close()


# The rows kept, unmarked; then one counted with a file: the other is still to count.
EXPECTED = ([("r-1", None), ("r-2", None)], [(SITE, "r-2")])


def test_m040_leaves_a_sqlite_databases_clocks_to_count_again_at_the_first_start(tmp_path: Path) -> None:
    assert _after_upgrade(upgraded(tmp_path / "fieldsync.db", M040, _clocks_before_m040)) == EXPECTED


def test_m040_leaves_a_postgresql_databases_clocks_to_count_again_at_the_first_start(pg_url: str) -> None:
    assert _after_upgrade(upgraded(pg_url, M040, _clocks_before_m040)) == EXPECTED

"""The stored clock columns counted again when the terms file changed (session 32, yearend32).

The clocks a request's page shows are counted on read with the terms the server read at start
(`terms_book`); the list, its breach and risk flags and 待回访 read the columns stored with each
request when it last changed (`service.refresh_clocks`). An operator who adds next year's holidays
to `fixtures/service_terms.json` and restarts (docs/operations.md, "Next year's holidays") changed
the first and not the second: on 1 January a repair called in at 17:50 on 31 December stayed in
the breach list, due at 12:30 on New Year's Day, while its page said it was due on 4 January. So a
server that starts (`app.app_state`, as `serve` builds its app; not the commands that only open the
database) counts again the rows whose mark (m040, `service_clocks.terms`, written with every row)
is not its file's (`TermsBook.mark`).

Per row, not one digest for the database (fixyearend32): in a rolling restart a process still on the
old file rewrites a request's clocks with the old calendar after the first process counted it with
the new one; the row keeps the old mark, and the next start on the new file counts it again. In short
writes (`BATCH` requests each, site after site, under the version lock as `refresh_site_clocks`), so a push
waits for one batch, not for the whole recount; a site whose terms the file no longer reads (a calendar
renamed) is skipped (its batch counted again site by site) and named in the log, its rows keep their mark and the next start tries them again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from itertools import groupby
from typing import TYPE_CHECKING

from sync.errors import SyncError

from ...storage import service as q
from .service import refresh_clocks, terms_book

if TYPE_CHECKING:
    from ...services import Store

BATCH = 200  # requests a write counts: how long a push can wait behind the recount (bench/recount.py)


def _batches(stale: list[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    """(site id, request id) up to `size` a batch, site after site (a site with more split)."""
    batch: list[tuple[str, str]] = []
    for site_id, rows in groupby(stale, key=lambda r: r[0]):
        ids = [request_id for _, request_id in rows]
        for start in range(0, len(ids), size):
            if batch and len(batch) + len(ids[start:start + size]) > size:
                yield batch
                batch = []
            batch += [(site_id, request_id) for request_id in ids[start:start + size]]
    if batch:
        yield batch


def recount_if_terms_changed(store: Store, batch: int = BATCH) -> int | None:
    """The stored clocks counted with other terms than the file's counted again; how many, or None when every
    row was counted with this file. Each batch is its own write holding the version lock (a push between the
    read and the write would otherwise be overwritten) and reads again which of its rows are still to count;
    one that a site's terms refuse is counted again site by site, that site skipped."""
    mark = terms_book().mark
    with store.read() as db:
        stale = q.counted_otherwise(db, mark)
    if not stale:
        return None
    counted, skipped = 0, set()
    for pairs in _batches(stale, batch):
        pairs = [(site_id, request_id) for site_id, request_id in pairs if site_id not in skipped]
        try:
            counted += _count(store, [request_id for _, request_id in pairs], mark)
        except SyncError:  # a site's terms the file no longer reads (a calendar renamed): the others are counted
            for site_id, rows in groupby(pairs, key=lambda r: r[0]):
                try:
                    counted += _count(store, [request_id for _, request_id in rows], mark)
                except SyncError as exc:
                    skipped.add(site_id)
                    _skipped(store, site_id, str(exc.detail))
    return counted


def _count(store: Store, request_ids: list[str], mark: str) -> int:
    with store.write(versions=True) as db:
        ids = q.still_otherwise(db, request_ids, mark)
        refresh_clocks(db, ids, store.now_ms())
    return len(ids)


def _skipped(store: Store, site_id: str, why: str) -> None:
    with store.read() as db:
        name = q.live_rows(db, "sites", [site_id]).get(site_id, {}).get("name")
    logging.getLogger("fieldsync").warning(
        "the service terms changed, but the clocks of site %s (%s) were not counted again (tried at the next"
        " start): %s", str(name)[:80], site_id[:64], why[:200])

"""The stored clock columns counted again when the terms file changed (session 32, yearend32).

The clocks a request's page shows are counted on read with the terms the server read at start
(`terms_book`); the list, its breach and risk flags and 待回访 read the columns stored with each
request when it last changed (`service.refresh_clocks`). An operator who adds next year's holidays
to `fixtures/service_terms.json` and restarts (docs/operations.md, "Next year's holidays") changed
the first and not the second: on 1 January a repair called in at 17:50 on 31 December stayed in
the breach list, due at 12:30 on New Year's Day, while its page said it was due on 4 January. So a
server that starts (`app.app_state`, as `serve` builds its app; not the commands that only open the
database) counts every request's columns again once the file differs from the one they were
counted with (its digest in `meta`); an unchanged file costs one read.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING

from sync.errors import SyncError

from ...storage import service as q
from .service import refresh_clocks, terms_book

if TYPE_CHECKING:
    from ...services import Store


def terms_digest() -> str:
    """The terms file as read (`terms_book`), whatever its spacing or key order."""
    data = json.dumps(terms_book().data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(data.encode()).hexdigest()


def recount_if_terms_changed(store: Store) -> int | None:
    """Every request's stored clocks counted again with the terms read now, when they differ from those the
    columns were counted with; how many requests, or None when the terms are the same. The write holds the
    version lock, as a terms change's `refresh_site_clocks` (a push between the read and the write would be
    overwritten); a second process opening at the same time finds the digest stored and counts nothing."""
    digest = terms_digest()
    with store.read() as db:
        if q.terms_counted(db) == digest:
            return None
    try:
        with store.write(versions=True) as db:
            if q.terms_counted(db) == digest:
                return None
            ids = q.every_request(db, digest)
            refresh_clocks(db, ids, store.now_ms())
            return len(ids)
    except SyncError as exc:  # a site's terms the file no longer reads (a calendar renamed): serve, as before
        logging.getLogger("fieldsync").warning("the service terms changed, but the requests' clocks were not counted"
                                               " again (tried at the next start): %s", str(exc.detail)[:200])
        return None

"""The service office's reads and a supervisor's terms (issue 12): a site's response-time terms
and their override, a visit with its contact sheet, the faults report. No SQL here
(`server/storage/sqlite/service.py`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sync import errors as E
from sync import hlc

from ...storage.sqlite import service as q
from ..identity import audit as security
from .schemas import ServiceTerms
from .terms import TermsBook

if TYPE_CHECKING:
    import sqlite3

    from ...services import Caller, Store

# A terms override is small: a few hours, pause reasons, perhaps a calendar of a year's holidays.
MAX_TERMS_BODY_BYTES = 64 * 1024
MAX_TERMS_STRING = 500  # any key or string in an override (a calendar's `source` and `note`)
SHELL = "(fieldsync terms)"  # `set_by` of an override set from the command line


def _check_strings(value: object, where: str = "override") -> None:
    """Every key and string of an override within MAX_TERMS_STRING characters."""
    if isinstance(value, str) and len(value) > MAX_TERMS_STRING:
        raise E.InvalidRequest(f"{where[:200]}: a string of at most {MAX_TERMS_STRING} characters",
                               limit=MAX_TERMS_STRING)
    if isinstance(value, Mapping):
        for key, item in value.items():
            _check_strings(key, where)
            _check_strings(item, f"{where}.{key}")
    elif isinstance(value, list):
        for item in value:
            _check_strings(item, where)


class ServiceOffice:
    def __init__(self, store: Store, book: TermsBook | None = None) -> None:
        self.store = store
        self.book = book or TermsBook()

    # -- terms --------------------------------------------------------------------------------

    def terms(self, site_id: str) -> ServiceTerms:
        with self.store.read() as db:
            return self._terms(db, site_id)

    def _terms(self, db: sqlite3.Connection, site_id: str) -> ServiceTerms:
        found = q.site_terms(db, site_id)
        if found is None:
            raise E.NotFound(f"no site {site_id}")
        site, override, set_by, set_at = found
        contract = self.book.contract(site.get("contract"))
        return ServiceTerms(site_id=site_id, contract=contract, terms=self.book.raw(contract, override),
                            override=override, set_by=set_by, set_at=set_at)

    def set_terms(self, caller: Caller | None, site_id: str, override: dict[str, Any] | None) -> ServiceTerms:
        """Replace a site's override (None or {} removes it), checked whole first, audited.
        `caller` None: from the command line."""
        _check_strings(override)
        override = override or None
        with self.store.write() as db:
            found = q.site_terms(db, site_id)
            if found is None:
                raise E.NotFound(f"no site {site_id}")
            self.book.raw(found[0].get("contract"), override)  # InvalidRequest naming the key
            now = self.store.now_ms()
            q.set_terms_override(db, site_id, override, caller.username if caller else SHELL, hlc.format_ts(now))
            security.audit(db, security.SERVICE_TERMS_CHANGED, username=caller.username if caller else None,
                           client_id=caller.client_id if caller else None,
                           address=caller.address if caller else None, now_ms=now, site_id=site_id,
                           keys=sorted(override or {}))
            answer = self._terms(db, site_id)
        # The requests' stored clock columns follow the new terms: the lead wires svc-api's
        # refresh_site_clocks(self.store, site_id) here (STORED CLOCKS REFRESH after a terms change).
        return answer

"""The service office's reads and a supervisor's terms (issue 12): a site's response-time terms
and their override, a visit with its contact sheet, the faults report. No SQL here
(`server/storage/service.py`)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sync import errors as E
from sync import hlc
from sync.periods import site_zone

from ...storage import service as q
from ..identity import audit as security
from .schemas import (
    FaultCount,
    FaultsReport,
    ServiceTerms,
)
from .service import refresh_site_clocks, terms_book
from .terms import TermsBook

if TYPE_CHECKING:
    from ...services import Caller, Store
    from ...storage.service import Connection

# A terms override is small: a few hours, pause reasons, perhaps a calendar of a year's holidays.
MAX_TERMS_BODY_BYTES = 64 * 1024
MAX_TERMS_STRING = 500  # any key or string in an override (a calendar's `source` and `note`)
# Fault causes are free text: a year can hold thousands of groups, most of them one visit each.
# The report answers the most frequent first; at most 1,000 groups (a few hundred KB).
DEFAULT_FAULT_GROUPS, MAX_FAULT_GROUPS = 100, 1000
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


def store_terms(db: Connection, caller: Caller | None, site_id: str, override: dict[str, Any] | None,
                now: int) -> None:
    """Write a site's checked override in the caller's transaction, audited (`caller` None: the shell)."""
    q.set_terms_override(db, site_id, override, caller.username if caller else SHELL, hlc.format_ts(now))
    security.audit(db, security.SERVICE_TERMS_CHANGED, username=caller.username if caller else None,
                   client_id=caller.client_id if caller else None, address=caller.address if caller else None,
                   now_ms=now, site_id=site_id, keys=sorted(override or {}))


class ServiceOffice:
    def __init__(self, store: Store, book: TermsBook | None = None) -> None:
        self.store = store
        self.book = book or terms_book()  # read once, as the clocks read it: a restart reads an edited file

    # -- terms --------------------------------------------------------------------------------

    def terms(self, site_id: str) -> ServiceTerms:
        with self.store.read() as db:
            return self._terms(db, site_id)

    def _terms(self, db: Connection, site_id: str) -> ServiceTerms:
        found = q.site_terms(db, site_id)
        if found is None:
            raise E.NotFound(f"no site {site_id}")
        site, override, set_by, set_at = found
        contract = self.book.contract(site.get("contract"))
        return ServiceTerms(site_id=site_id, contract=contract, terms=self.book.raw(contract, override),
                            override=override, set_by=set_by, set_at=set_at)

    def check_terms(self, contract: object, override: dict[str, Any] | None) -> None:
        """`InvalidRequest` naming the key for an override `set_terms` would refuse (a new site's,
        checked before anything of the site is written)."""
        _check_strings(override)
        self.book.raw(contract, override or None)

    def set_terms(self, caller: Caller | None, site_id: str, override: dict[str, Any] | None) -> ServiceTerms:
        """Replace a site's override (None or {} removes it), checked whole first, audited, with the site's
        stored clock columns recomputed by the new terms in the same transaction (the version lock, as
        `refresh_site_clocks` takes it): the terms are never stored without their clocks.
        `caller` None: from the command line."""
        _check_strings(override)
        override = override or None
        with self.store.write(versions=True) as db:
            found = q.site_terms(db, site_id)
            if found is None:
                raise E.NotFound(f"no site {site_id}")
            self.book.raw(found[0].get("contract"), override)  # InvalidRequest naming the key
            now = self.store.now_ms()
            store_terms(db, caller, site_id, override, now)
            refresh_site_clocks(db, site_id, now)  # the stored clock columns follow the new terms
            return self._terms(db, site_id)

    # -- the faults report ------------------------------------------------------------------------

    def faults(self, since: str, until: str, limit: int = DEFAULT_FAULT_GROUPS) -> FaultsReport:
        """Visits whose `recorded_at` falls in [since, until) (local dates at each site), counted by
        the device's kind and model and the fault cause, most first: the first `limit` groups."""
        first, end = _day(since, "from"), _day(until, "to")
        if not first < end or (end - first).days > MAX_REPORT_DAYS:
            raise E.InvalidRequest(f"from is before to, at most {MAX_REPORT_DAYS} days apart",
                                   limit=MAX_REPORT_DAYS)
        # Every time zone's local day lies within a day either side of the UTC one.
        wide = (hlc.format_ts(_ms(first - timedelta(days=1))), hlc.format_ts(_ms(end + timedelta(days=1))))
        with self.store.read() as db:
            found = q.recorded_faults(db, *wide)
        counts: Counter[tuple[str | None, str | None, str]] = Counter()
        for at, cause, kind, model, tz in found:
            try:
                day = datetime.fromtimestamp(hlc.parse_ts(at) / 1000, UTC).astimezone(site_zone(tz)).date()
            except ValueError:
                continue  # pushed timestamps are checked; an unreadable one is no visit of the range
            if first <= day < end and isinstance(cause, str) and cause.strip():
                counts[(_text(kind), _text(model), cause.strip())] += 1
        faults = [FaultCount(kind=k, model=m, fault_cause=c, visits=n) for (k, m, c), n in counts.items()]
        faults.sort(key=lambda f: (-f.visits, f.kind or "", f.model or "", f.fault_cause))
        return FaultsReport(from_=first.isoformat(), to=end.isoformat(), faults=faults[:limit],
                            total=counts.total(), groups_left_out=max(len(faults) - limit, 0))


MAX_REPORT_DAYS = 366  # a report spans at most a (leap) year


def _day(text: str, name: str) -> date:
    if not (len(text) == 10 and text[4] == text[7] == "-" and text.replace("-", "").isdigit()):
        raise E.InvalidRequest(f"{name} is a date like 2026-11-01, not {text[:32]!r}", parameter=name)
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise E.InvalidRequest(f"{name} is a date like 2026-11-01, not {text[:32]!r}", parameter=name) from None
    if not 2000 <= day.year <= 2100:
        raise E.InvalidRequest(f"{name} is a date in a year from 2000 to 2100", parameter=name)
    return day


def _ms(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp() * 1000)


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None

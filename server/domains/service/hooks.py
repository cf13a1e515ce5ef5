"""What the server derives for service work (issue 12), in the write transaction.

- A request gets its `number` (`SR-<year>-<5 digits>`, in order of arrival within
  the year of `reported_at` in the site's time zone) and its `status`.
- A visit gets its `visit_no` (the request's visits in order of arrival, from 1) and
  `sheet_no` (`<number>-<visit_no>`).
- An event gets `effective_at`: its `at` corrected by the push's measured client
  offset exactly when the push's HLCs are, then clamped into [the request's start,
  the receive time]; `clock` says which. A clamp of more than `max_clock_skew` is
  logged. Then the request's `status` follows (`sync.collections.service`); an event
  that makes no sense in it is kept, logged, and moves nothing.
- A request whose `assigned_to` the write changes gets a `dispatch` audit entry (`dispatch.py`).

Milestones and warranty (`sync/clocks.py`, `sync/warranty.py`) plug in where the
request's status is derived: they are pure functions of the same events.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sync import hlc
from sync.collections.service import request_status
from sync.merge import LogEntry, RowState
from sync.periods import site_zone
from sync.wire import Change

from ...storage import service as q
from . import dispatch
from .service import refresh_in

if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Store


_OWN = ("service_requests", "service_visits", "service_events")
_TOUCHED = "service/requests_touched"  # the requests whose stored clocks the batch recomputes at its end


def request_number(year: int, n: int) -> str:
    return f"SR-{year}-{n:05d}"


def _local_year(tx: Transaction, site_id: Any, at: str) -> int:
    site = tx.lookup("sites", site_id) if isinstance(site_id, str) else None
    zone = site_zone(site.fields.get("tz") if site is not None else None)
    return datetime.fromtimestamp(hlc.parse_ts(at) / 1000, UTC).astimezone(zone).year


def _created_ms(request: RowState) -> int:
    """When the request was created, as its immutable `reported_at` register's clock says: the
    creating change's HLC, corrected or clamped as every HLC is (parent fields keep no clock)."""
    clock = request.clocks.get("reported_at")
    return hlc.parse(clock[0]).ms if clock else 0


# A site's fields the clocks read: a change recomputes the stored clocks of its requests.
_CLOCK_SITE_FIELDS = ("tz", "zone", "contract")


def _requests_touched(tx: Transaction, before: RowState | None, row: RowState) -> list[str]:
    """The requests whose stored clocks a staged row changes (`service.refresh_in` recomputes them once,
    at the end of the batch: recomputing per row made a push of n events for one request O(n²))."""
    if row.collection == "service_requests":
        return [row.id]
    if row.collection in ("service_visits", "service_events"):
        return [str(row.fields.get("request_id"))]
    if row.collection in ("signatures", "callbacks") and isinstance(row.fields.get("visit_id"), str):
        visit = tx.lookup("service_visits", row.fields["visit_id"])
        return [str(visit.fields.get("request_id"))] if visit is not None else []
    if row.collection == "sites" and before is not None and any(
            before.fields.get(k) != row.fields.get(k) for k in _CLOCK_SITE_FIELDS):
        tx.flush_rows()
        return q.site_requests(tx.db, row.id)
    return []


class ServiceHooks:
    collections: tuple[str, ...] = ("service_requests", "service_visits", "service_events", "signatures", "sites",
                                    "callbacks")

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        pass

    def settle(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if row.deleted or row.collection not in _OWN:
            return
        created = before is None or not before.exists
        if row.collection == "service_requests":
            reported = row.fields.get("reported_at")
            if "number" not in row.fields and isinstance(reported, str):
                year = _local_year(tx, row.fields.get("site_id"), reported)
                tx.server_set(row, "number", request_number(year, tx.next_counter(f"service_seq/{year}")))
            derive_status(tx, row)
        elif row.collection == "service_visits" and created:
            request = tx.lookup("service_requests", str(row.fields.get("request_id")))
            visit_no = tx.next_counter(f"visit_seq/{row.fields.get('request_id')}")
            tx.server_set(row, "visit_no", visit_no)
            if request is not None and request.fields.get("number"):
                tx.server_set(row, "sheet_no", f"{request.fields['number']}-{visit_no}")
        elif row.collection == "service_events" and created:
            _effective_at(tx, row)

    def staged(self, tx: Transaction, before: RowState | None, row: RowState) -> None:
        if row.collection == "service_requests":
            dispatch.record(tx, before, row)
        if row.collection == "service_events" and not row.deleted and (before is None or not before.exists):
            request = tx.lookup("service_requests", str(row.fields.get("request_id")))
            if request is not None and not request.deleted:
                moved = replace(request, fields=dict(request.fields), clocks=dict(request.clocks))
                if derive_status(tx, moved, row.id):
                    tx.put(moved)
        touched = _requests_touched(tx, before, row)
        if touched:
            pending: set[str] = tx.memo.setdefault(_TOUCHED, set())
            pending.update(touched)
            tx.at_end(_TOUCHED, lambda: refresh_in(tx, sorted(pending)))

    def rules(self, tx: Transaction) -> dict[str, Callable[..., Any]]:
        return {}


def _effective_at(tx: Transaction, event: RowState) -> None:
    at = event.fields.get("at")
    request = tx.lookup("service_requests", str(event.fields.get("request_id")))
    if not isinstance(at, str) or request is None:
        return
    reported = request.fields.get("reported_at")
    start = min(hlc.parse_ts(reported) if isinstance(reported, str) else tx.now, _created_ms(request) or tx.now)
    effective, clock = corrected_time(tx, at, start, "the event's time", "the request's")
    tx.server_set(event, "effective_at", effective)
    tx.server_set(event, "clock", clock)


def corrected_time(tx: Transaction, at: str, start: int | None, what: str, whose: str) -> tuple[str, str]:
    """A time a client sent (`at`) as the server keeps it beside what was sent: `(effective, clock)`.

    Corrected by the push's measured client offset exactly when the push's HLCs are, then clamped
    into [`start`, the receive time] (no earlier bound without `start`); `clock` is `as_sent`,
    `corrected` or `clamped`. A clamp of more than `max_clock_skew` goes to the conflict log with
    both times. Service events' `effective_at`, duty calls' too (their `on_duty` follows it).
    """
    skew = tx.store.settings.max_clock_skew_ms
    corrected = tx.caller is not None and abs(tx.offset_ms) > skew
    sent = hlc.parse_ts(at) + (tx.offset_ms if corrected else 0)
    effective = min(sent if start is None else max(sent, start), tx.now)
    clock = "clamped" if effective != sent else "corrected" if corrected else "as_sent"
    if abs(effective - sent) > skew:
        since = "" if start is None else hlc.format_ts(start)
        tx.note(LogEntry("overwritten", "effective_at", hlc.format_ts(sent), hlc.format_ts(effective),
                         reason="clock_clamped",
                         detail=f"{what} {hlc.format_ts(sent)} lies outside {whose}"
                                f" [{since}, {hlc.format_ts(tx.now)}]: kept as {hlc.format_ts(effective)}"))
    return hlc.format_ts(effective), clock


def derive_status(tx: Transaction, request: RowState, new_event: str | None = None) -> bool:
    """Set the request's status from its assignment, events and sealed visit sheets; flag
    `new_event` when it makes no sense. Whether the status changed (the caller stores the row;
    the signatures domain calls this when a seal is set or retracted)."""
    tx.flush_rows()
    events = q.request_events(tx.db, request.id)
    voided = {e.get("note") for e in events if e.get("kind") == "voided"}
    live = [e for e in events if e.get("kind") != "voided" and e["id"] not in voided]
    before_seal = q.events_before_seal(tx.db, request.id)
    status, senseless = request_status(
        bool(request.fields.get("assigned_to")), [str(e.get("kind")) for e in live],
        sealed_after=None if before_seal is None else sum(e["id"] in before_seal for e in live))
    if new_event is not None and any(live[i]["id"] == new_event for i in senseless):
        kind = next(e.get("kind") for e in live if e["id"] == new_event)
        tx.note(LogEntry("lost", "status", request.fields.get("status"), kind, reason="out_of_order",
                         detail=f"event {kind!r} makes no sense in a request that is {status}:"
                                " kept, and the status stays"))
    if request.fields.get("status") == status:
        return False
    tx.server_set(request, "status", status)
    return True

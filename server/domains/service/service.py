"""Service requests: the list, the detail, the desk's new request, and the stored clock columns
(issue 12, "API" and "Speed").

The clocks are a pure function (`sync.clocks.clocks`) of a request, its events, its sealed
visits and the site's terms; the detail computes them live. A list of 20,000 requests cannot,
so what they derive is kept per request (`service_clocks`, m015) and recomputed in the write
transaction of every change to the request, its events, visits or signatures:

- `breach_at`: the earliest moment one of its milestones is (or was) breached, i.e. `due_at`
  plus 1 ms; NULL when none can be before the next event. A milestone stopped by an open
  pause never breaches until `resumed`, which is an event.
- `risk_at`: the earliest moment one becomes at risk (a quarter of its target or less left,
  counted in working time with a calendar).

A request is then breached at `now` exactly when `breach_at <= now`, and at risk when
`risk_at <= now < breach_at` (or `breach_at` is NULL): a query, exact for every `now` until the
request's next event.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

from sync import errors as E
from sync import hlc, schema
from sync.clocks import ENGLISH, Clock, Terms, clocks, dated_ms, explain, first_fixed, open_pause, ts_ms
from sync.collections.service import DESK_KINDS, KIND_ORDER, status_step
from sync.fields import is_uuid
from sync.merge import LogEntry
from sync.periods import site_zone
from sync.warranty import phase

from ...filters import one_of
from ...storage import service as q
from ...storage.base import Connection
from ..scope import in_scope
from . import dispatch
from .listing import MAX_FILTER_CHARS, flag, id_position, keyset, phone_tail
from .schemas import (
    CallbackSummary,
    ExplainedMilestone,
    NewRequest,
    RequestDetail,
    RequestList,
    RequestSummary,
    TimelineEvent,
    VisitSummary,
)
from .terms import TermsBook

# What the desk records at its desk (the console's event form): its own kinds, and a pause (or its end)
# the customer asks for on the phone.
DESK_EVENT_KINDS = (*DESK_KINDS, "paused", "resumed")


def phone_key(phone: str) -> str:
    """A caller's number as numbers are compared: its digits alone, full-width ones as ASCII, last first
    (`storage.service.phone_reversed`: ０７５２-３３５０ １２０, (0752)3350120 and 0752 3350 120 are one; a
    mainland number in its national form: a mobile without its +86, 0086 or 86, a landline given as
    +86 752 3350120 as 0752-3350120), then an extension's digits after `q.EXTENSION` (0755-8888 9999 转 801 and
    +86 755 8888 9999 ext. 801 are 999988885570#801); "" without a digit."""
    return q.phone_reversed(phone) or ""


def desk_kinds(status: str | None) -> list[str]:
    """The desk's event kinds a request in `status` takes: what its page's form offers (the write itself
    decides, `_out_of_order`; a push keeps the others, flagged, moving nothing)."""
    now = status or "received"
    return [kind for kind in DESK_EVENT_KINDS if status_step(now, now, kind) is not None]


def _out_of_order(flag: LogEntry) -> E.SyncError | None:
    """The desk's event refused, in the write's own transaction, when the request's status does not take it:
    a push keeps such an event, logged `out_of_order`, moving nothing; the desk is asked instead, and a seal
    committed a moment before the write (the customer signs while the desk cancels) counts."""
    if flag.reason != "out_of_order":
        return None
    return E.OutOfOrder(f"kind {flag.new_value!r} makes no sense in a request that is {flag.old_value}",
                        request_status=flag.old_value)


if TYPE_CHECKING:
    from ...engine.batch import _Batch as Transaction
    from ...services import Caller, Store

DEFAULT_LIMIT, MAX_LIMIT = 50, 200  # requests per page of the list
DEFAULT_COMPLEXITY = "ordinary"  # service.md: `complexity` defaults to `ordinary`
_ENDED = ("closed", "cancelled")
_STATUSES = schema.COLLECTIONS["service_requests"].field("status").choices  # type: ignore[union-attr]


@cache
def terms_book() -> TermsBook:
    return TermsBook()


@dataclass
class Inputs:
    """Everything one request's clocks read."""

    id: str
    request: dict[str, Any]  # its fields, with `started_at` when the server knows an earlier start
    events: list[dict[str, Any]]
    visits: list[dict[str, Any]]
    signed: dict[str, str]  # sealed visit -> its customer signature's signed_at
    site: dict[str, Any]
    device: dict[str, Any] | None
    terms: Terms
    callbacks: list[dict[str, Any]] = field(default_factory=list)  # of its visits: visit_id, called_at, reached

    def clocks(self, now_ms: int) -> list[Clock]:
        return clocks(self.request, self.events, self.signed, self.callbacks, self.terms, self.site, self.device,
                      now_ms)

    def awaiting_signature_since(self) -> str | None:
        """When a `resolved` request was fixed (its first `fixed` event not voided, by its effective time): since
        then it waits for the customer to sign the visit sheet, which no clock counts. None in any other status,
        and None when every visit's sheet is sealed already: one sealed with an outcome other than `resolved`
        leaves the request `resolved` (service.md), waiting for a revisit, not for a signature."""
        if self.request.get("status") != "resolved" or all(
                v.get("sealed_by") or v["id"] in self.signed for v in self.visits):
            return None
        return first_fixed(self.events)

    def paused_since(self) -> str | None:
        """When the open pause that stops the request's pending clocks began, else None."""
        since = open_pause(self.events, self.terms.pause_reasons)
        return None if since is None else hlc.format_ts(since)


def _created_ms(stored_clocks: Mapping[str, Any]) -> int | None:
    """When the request was created: its immutable `reported_at` register's HLC (stored as the HLC
    alone or as [hlc, writer]; parent fields such as `site_id` keep no clock)."""
    value = stored_clocks.get("reported_at")
    text = value[0] if isinstance(value, list) else value
    try:
        return hlc.parse(text).ms if isinstance(text, str) else None
    except ValueError:
        return None


def _signed(signatures: Iterable[tuple[str, dict[str, Any]]]) -> dict[str, str]:
    """The visits a valid customer signature seals, with its (earliest) `signed_at`."""
    out: dict[str, str] = {}
    for visit_id, sig in signatures:
        at = sig.get("signed_at")
        if (sig.get("signer_role") == "customer" and sig.get("verification") == "valid"
                and not sig.get("retracted_at") and dated_ms(at) is not None
                and (visit_id not in out or ts_ms(at) < ts_ms(out[visit_id]))):  # type: ignore[operator]
            out[visit_id] = at  # type: ignore[assignment]
    return out


def load_inputs(db: Connection, request_ids: list[str]) -> dict[str, Inputs]:
    """The clocks' inputs of the live requests among `request_ids`, read in bulk."""
    requests = q.request_rows(db, request_ids)
    ids = list(requests)
    events: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for parent, event_id, fields in q.children(db, "service_events", ids):
        events[parent].append({"id": event_id, **fields})
    visits: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    request_of: dict[str, str] = {}
    for parent, visit_id, fields in q.children(db, "service_visits", ids):
        visits[parent].append({"id": visit_id, **fields})
        request_of[visit_id] = parent
    signatures: dict[str, list[tuple[str, dict[str, Any]]]] = {i: [] for i in ids}
    for visit_id, _, fields in q.children(db, "signatures", list(request_of)):
        signatures[request_of[visit_id]].append((visit_id, fields))
    callbacks: dict[str, list[dict[str, Any]]] = {i: [] for i in ids}
    for visit_id, _, fields in q.children(db, "callbacks", list(request_of)):
        callbacks[request_of[visit_id]].append(fields)
    site_ids = sorted({str(f.get("site_id")) for f, _ in requests.values()})
    sites = q.live_rows(db, "sites", site_ids)
    devices = q.live_rows(db, "devices", sorted({f["device_id"] for f, _ in requests.values()
                                                  if isinstance(f.get("device_id"), str)}))
    terms = {s: terms_book().terms(sites.get(s, {}).get("contract"), q.terms_override(db, s)) for s in site_ids}
    out = {}
    for request_id, (fields, stored_clocks) in requests.items():
        request = dict(fields)
        reported, created = ts_ms(fields.get("reported_at")), _created_ms(stored_clocks)
        if reported is not None and created is not None and created < reported:
            request["started_at"] = hlc.format_ts(created)  # as the events' clamp takes it
        site_id = str(fields.get("site_id"))
        device = devices.get(fields["device_id"]) if isinstance(fields.get("device_id"), str) else None
        out[request_id] = Inputs(request_id, request, events[request_id], visits[request_id],
                                 _signed(signatures[request_id]), sites.get(site_id, {}), device, terms[site_id],
                                 callbacks[request_id])
    return out


# -- the stored clock columns -------------------------------------------------------------------


class Lasting(NamedTuple):
    """One milestone as stored (`service_milestones`, m018): `status` is `met`, `breached` or
    `not_applicable` for good, or `open`; an open one is breached from `breach_at` (`due_at` plus
    1 ms; None: not before the next event) and at risk from `risk_at`."""

    name: str
    visit_id: str | None  # the sealed visit of a `callback`
    status: str
    breach_at: int | None
    risk_at: int | None
    to_make: bool = False  # a `callback` not `met` whose visit has no reached call-back stored (待回访, m033)


def lasting(inputs: Inputs, now_ms: int) -> list[Lasting]:
    """Each milestone of a request from one evaluation of its clocks at `now_ms`.

    Exact for every later `now` until the next event: a pending milestone's `due_at` moves only
    while a pause is open, and then it neither breaches nor becomes at risk until `resumed`.
    """
    zone = site_zone(inputs.site.get("tz"))
    paused = open_pause(inputs.events, inputs.terms.pause_reasons)
    callbacks = iter(sorted(inputs.signed.items(), key=lambda item: (str(item[1]), item[0])))  # as `clocks` orders them
    out = []
    for clock in inputs.clocks(now_ms):
        m = clock.milestone
        visit_id = next(callbacks)[0] if m.name == "callback" else None
        due = hlc.parse_ts(m.due_at)
        if m.status not in ("pending", "at_risk"):
            out.append(Lasting(m.name, visit_id, m.status, due + 1 if m.status == "breached" else None, None))
            continue
        risky = m.remaining_ms * 4 <= clock.target_ms
        if paused is not None and m.remaining_ms > 0:  # stopped by the open pause
            out.append(Lasting(m.name, visit_id, "open", None, now_ms if risky else None))
            continue
        if risky:
            at = now_ms
        else:  # the first moment at most a quarter of the target is left
            calendar = None if m.name == "callback" else inputs.terms.calendar
            left = m.remaining_ms - clock.target_ms // 4
            at = now_ms + left if calendar is None else calendar.add(zone, now_ms, left)
        out.append(Lasting(m.name, visit_id, "open", due + 1, at))
    reached = {c.get("visit_id") for c in inputs.callbacks if c.get("reached") is True}
    return [m._replace(to_make=True) if m.name == "callback" and m.status != "met" and m.visit_id not in reached
            else m for m in out]


def derived(inputs: Inputs, now_ms: int, each: list[Lasting] | None = None) -> tuple[bool, int | None, int | None]:
    """(breached, breach_at, risk_at) of a request: the earliest of its milestones' (`lasting`)."""
    each = lasting(inputs, now_ms) if each is None else each
    breach = [m.breach_at for m in each if m.breach_at is not None]
    risk = [m.risk_at for m in each if m.risk_at is not None]
    return any(m.status == "breached" for m in each), min(breach, default=None), min(risk, default=None)


def clock_row(inputs: Inputs, now_ms: int, each: list[Lasting] | None = None) -> tuple[Any, ...]:
    """The request's `service_clocks` row."""
    breached, breach_at, risk_at = derived(inputs, now_ms, each)
    fields = inputs.request
    status = fields.get("status")
    return (inputs.id, fields.get("site_id"), status, fields.get("assigned_to"),
            ts_ms(fields.get("reported_at")) or 0, int(status not in _ENDED), int(breached), breach_at, risk_at,
            now_ms, q.phone_reversed(fields.get("caller_phone")), terms_book().mark)


def refresh_clocks(db: Connection, request_ids: list[str], now_ms: int) -> None:
    """Recompute these requests' stored clock rows and milestones (a deleted request loses them)."""
    found = load_inputs(db, request_ids)
    for gone in set(request_ids) - set(found):
        q.drop_clocks(db, gone)
    rows, milestones = [], []
    for request_id in sorted(found):
        each = lasting(found[request_id], now_ms)
        rows.append(clock_row(found[request_id], now_ms, each))
        milestones.append((request_id, [(m.name, m.visit_id, m.status, m.breach_at, 1 if m.to_make else None) for m in each]))
    q.save_clocks(db, rows)
    q.save_milestones(db, milestones)


def refresh_in(tx: Transaction, request_ids: list[str]) -> None:
    """In a write transaction: what is staged is written first, so the reads see it."""
    tx.flush_rows()
    refresh_clocks(tx.db, request_ids, tx.now)


def backfill_milestones(store: Store) -> None:
    """Once, after m018: the milestones of the requests stored before it (the version lock, as
    a terms change's `refresh_site_clocks`)."""
    with store.write(versions=True) as db:
        ids = q.backfill_pending(db)
        if ids:
            refresh_clocks(db, ids, store.now_ms())


def refresh_site_clocks(db: Connection, site_id: str, now_ms: int) -> int:
    """Recompute every request of a site (after a supervisor changed its terms, in that write); how many.

    The write holds the version lock, as a push does: on PostgreSQL (READ COMMITTED) a push committed
    between this read of the rows and its write of the clocks (a call-back reached) would otherwise
    be overwritten by what was read before it (`to_make` 1: on 待回访 until the next write)."""
    ids = q.site_requests(db, site_id)
    refresh_clocks(db, ids, now_ms)
    return len(ids)


# -- the routes' work ----------------------------------------------------------------------------


def _str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _complexity(fields: Mapping[str, Any]) -> str:
    """A request's `complexity`, `ordinary` when none was given (the contract's default, as the clocks take it)."""
    return _str(fields.get("complexity")) or DEFAULT_COMPLEXITY


class ServiceRequests:
    def __init__(self, store: Store) -> None:
        self.store = store

    def list(self, caller: Caller, *, site_id: str | None = None, status: str | None = None,
             assigned_to: str | None = None, breached: str | None = None, at_risk: str | None = None,
             open_: str | None = None, limit: int = DEFAULT_LIMIT, after: str | None = None,
             callback_due: str | None = None, caller_phone: str | None = None) -> RequestList:
        """`callback_due=true`: signed or closed with a sealed visit that has no reached call-back stored,
        the oldest due first (`false`: the others, in the list's order). `caller_phone`: the caller's number
        ends with its digits (at least `TAIL_DIGITS`; spaces, dashes, full-width digits as `phone_reversed`)."""
        chosen = one_of("status", status, _STATUSES)
        tail = None if caller_phone is None else phone_tail(caller_phone)
        flags = {name: flag(name, value) for name, value in
                 (("breached", breached), ("at_risk", at_risk), ("open", open_), ("callback_due", callback_due))}
        if site_id is not None and not is_uuid(site_id):
            raise E.InvalidFilter(f"site_id {site_id[:MAX_FILTER_CHARS]!r} is not a site id", parameter="site_id")
        if site_id is not None and not in_scope(caller, site_id):
            raise E.NotFound(f"no site {site_id}")
        if assigned_to is not None and not 0 < len(assigned_to) <= MAX_FILTER_CHARS:
            raise E.InvalidFilter(f"assigned_to is a username of 1 to {MAX_FILTER_CHARS} characters",
                                  parameter="assigned_to", limit=MAX_FILTER_CHARS)
        if not 1 <= limit <= MAX_LIMIT:
            raise E.InvalidRequest(f"limit is 1 to {MAX_LIMIT}", limit=MAX_LIMIT)
        now = self.store.now_ms()
        sites = None if caller.sites is None else sorted(caller.sites)
        with self.store.read() as db:
            position = None if after is None else keyset(after) or id_position(
                db, caller, after, bool(flags["callback_due"]))
            found = q.list_requests(db, sites=sites, site_id=site_id, status=chosen, assigned_to=assigned_to,
                                    open_=flags["open"], breached=flags["breached"], at_risk=flags["at_risk"],
                                    callback_due=flags["callback_due"], now_ms=now, after=position, limit=limit + 1,
                                    phone_tail=tail)
            page = [request_id for request_id, _ in found[:limit]]
            inputs = load_inputs(db, page)
        summaries = [self._summary(inputs[i], now) for i in page if i in inputs]
        last = found[limit - 1] if len(found) > limit else None
        return RequestList(requests=summaries, next=None if last is None else f"{last[1]}.{last[0]}")

    def callbacks_due(self, caller: Caller) -> int:
        """How many of the caller's requests `callback_due=true` lists (the dashboard's 待回访)."""
        with self.store.read() as db:
            return q.count_callbacks_due(db, sites=None if caller.sites is None else sorted(caller.sites),
                                         now_ms=self.store.now_ms())

    def duplicates(self, caller: Caller, site_id: str, device_id: str | None, phone: str | None,
                   limit: int = 5) -> tuple[RequestSummary, ...]:
        """The open requests of a site in the caller's scope about this device or from this phone number
        (compared by `phone_key`), oldest call first: what the desk's new call may repeat."""
        if not in_scope(caller, site_id):
            raise E.NotFound(f"no site {site_id[:64]}")
        now = self.store.now_ms()
        with self.store.read() as db:
            ids = q.open_duplicates(db, site_id, device_id, q.phone_reversed(phone), limit)
            inputs = load_inputs(db, ids)
        return tuple(self._summary(inputs[i], now) for i in ids if i in inputs)

    @staticmethod
    def _summary(inputs: Inputs, now: int) -> RequestSummary:
        f = inputs.request
        return RequestSummary(
            id=inputs.id, number=_str(f.get("number")), status=_str(f.get("status")), site_id=_str(f.get("site_id")),
            device_id=_str(f.get("device_id")), kind=_str(f.get("kind")), complexity=_complexity(f),
            reported_at=_str(f.get("reported_at")), assigned_to=_str(f.get("assigned_to")),
            milestones=[c.milestone for c in inputs.clocks(now)], device_code=_str((inputs.device or {}).get("code")),
            paused_since=inputs.paused_since(), awaiting_signature_since=inputs.awaiting_signature_since())

    def detail(self, caller: Caller, request_id: str, explained: Mapping[str, str] = ENGLISH) -> RequestDetail:
        """A request in the caller's scope; its milestones explained in `explained`'s words
        (`sync.clocks.ENGLISH` for the API, the sheets' Chinese for the printed sheet)."""
        with self.store.read() as db:
            inputs = load_inputs(db, [request_id]).get(request_id) if is_uuid(request_id) else None
            dispatches = dispatch.history(db, request_id) if inputs is not None else []
        if inputs is None or not in_scope(caller, _str(inputs.request.get("site_id"))):
            raise E.NotFound(f"no service request {request_id[:64]}")
        now = self.store.now_ms()
        f = inputs.request
        milestones = [ExplainedMilestone(**{k: getattr(c.milestone, k) for k in c.milestone.__struct_fields__},
                                         explanation=explain(c, explained)) for c in inputs.clocks(now)]
        voided = {e.get("note") for e in inputs.events if e.get("kind") == "voided"}
        events = [TimelineEvent(
            id=e["id"], kind=_str(e.get("kind")), at=_str(e.get("at")), effective_at=_str(e.get("effective_at")),
            clock=_str(e.get("clock")), by=_str(e.get("by")), reason=_str(e.get("reason")), note=_str(e.get("note")),
            visit_id=_str(e.get("visit_id")), voided=e["id"] in voided,
        ) for e in sorted(inputs.events, key=lambda e: (str(e.get("effective_at") or e.get("at")),
                                                        KIND_ORDER.get(str(e.get("kind")), 0), e["id"]))]
        visits = [VisitSummary(
            id=v["id"], visit_no=_int(v.get("visit_no")), sheet_no=_str(v.get("sheet_no")),
            technician=_str(v.get("technician")), planned_at=_str(v.get("planned_at")),
            outcome=_str(v.get("outcome")), work_done=_str(v.get("work_done")),
            fault_cause=_str(v.get("fault_cause")), recorded_by=_str(v.get("recorded_by")),
            recorded_at=_str(v.get("recorded_at")), warranty_void=_str(v.get("warranty_void")),
            sealed_by=_str(v.get("sealed_by")),
        ) for v in sorted(inputs.visits, key=lambda v: (_int(v.get("visit_no")) or 0, v["id"]))]
        reported = dated_ms(f.get("reported_at")) or now  # the day of the call; a stored time past the years: today
        on = datetime.fromtimestamp(reported / 1000, UTC).astimezone(site_zone(inputs.site.get("tz"))).date()
        warranty = phase(inputs.device, inputs.site, on, void=any(v.warranty_void for v in visits))
        return RequestDetail(
            id=inputs.id, number=_str(f.get("number")), status=_str(f.get("status")),
            site_id=_str(f.get("site_id")), device_id=_str(f.get("device_id")),
            reported_at=_str(f.get("reported_at")), channel=_str(f.get("channel")), kind=_str(f.get("kind")),
            caller_name=_str(f.get("caller_name")), caller_phone=_str(f.get("caller_phone")),
            description=_str(f.get("description")), complexity=_complexity(f),
            assigned_to=_str(f.get("assigned_to")), visits=visits, events=events, milestones=milestones,
            warranty=warranty, device_code=_str((inputs.device or {}).get("code")),
            callbacks=sorted((CallbackSummary(**{k: c.get(k) for k in CallbackSummary.__struct_fields__})
                              for c in inputs.callbacks), key=lambda c: str(c.called_at)),
            paused_since=inputs.paused_since(), dispatches=dispatches)

    def open(self, caller: Caller, new: NewRequest) -> RequestDetail:
        """A new request, merged as the caller's push would be (same checks, same reasons)."""
        fields = {name: getattr(new, name) for name in new.__struct_fields__ if getattr(new, name) is not None}
        fields.setdefault("reported_at", hlc.format_ts(self.store.now_ms()))
        request_id = str(uuid.uuid4())
        self.store.write_server_changes([("service_requests", request_id, fields, False)], caller=caller)
        return self.detail(caller, request_id)

    def assignees(self, site_ids: Iterable[str]) -> tuple[str, ...]:
        """Whom the desk may dispatch a request of these sites to (members with an enabled account)."""
        with self.store.read() as db:
            return tuple(sorted({name for site_id in site_ids for name in q.assignees(db, site_id)}))

    def assign(self, caller: Caller, request_id: str, username: str) -> RequestDetail:
        """Dispatch: assign (or reassign) a request to a member of its site, merged as the desk's push
        of `assigned_to` would be (another site's request is 404, a non-member `invalid_field`)."""
        self.detail(caller, request_id)
        self.store.write_server_changes([("service_requests", request_id, {"assigned_to": username}, False)],
                                        caller=caller)
        return self.detail(caller, request_id)

    def record_callback(self, caller: Caller, request_id: str, visit_id: str, reached: bool, rating: str | None,
                        comment: str | None) -> RequestDetail:
        """The desk's call-back after one of the request's visits, merged as its push of the row would be."""
        if visit_id not in {v.id for v in self.detail(caller, request_id).visits}:
            raise E.NotFound(f"no visit {visit_id[:64]} of service request {request_id[:64]}")
        return self._add(caller, request_id, "callbacks", {
            "visit_id": visit_id, "called_at": hlc.format_ts(self.store.now_ms()), "called_by": caller.username,
            "reached": reached, "rating": rating, "comment": comment})

    def record_event(self, caller: Caller, request_id: str, kind: str, reason: str | None,
                     note: str | None) -> RequestDetail:
        """An event the desk records at its desk (a cancel, a close, a pause the customer asked for), at
        the server's now in the caller's name, merged as its push of the row would be."""
        self.detail(caller, request_id)  # 404 outside the caller's scope
        return self._add(caller, request_id, "service_events", {
            "request_id": request_id, "kind": kind, "at": hlc.format_ts(self.store.now_ms()),
            "by": caller.username, "reason": reason, "note": note}, refuse=_out_of_order)

    def _add(self, caller: Caller, request_id: str, collection: str, fields: dict[str, Any],
             refuse: Callable[[LogEntry], E.SyncError | None] | None = None) -> RequestDetail:
        """A new row of the request's, its null fields left out; the request as it then stands."""
        self.store.write_server_changes(
            [(collection, str(uuid.uuid4()), {k: v for k, v in fields.items() if v is not None}, False)],
            caller=caller, refuse=refuse)
        return self.detail(caller, request_id)

"""The technician's service work (issue 12, item 5): requests with live countdowns, their
timeline, events, visits and the visit report, and a request opened on site; all read from
and written to the local database, so it works in a basement with no signal.

The countdowns are `sync.clocks.clocks`, the server's own code, over the rows this phone
holds and the site's terms as the server last handed them (`refresh_terms`, at each sync,
kept in the replica). Times the phone records (`at`, `reported_at`) are its own clock, as
the contract wants; the server corrects them at push. To show what the server will show,
the phone counts with the server's clock as the last sync anchored it (`server_now`) and
corrects its own unsent events the way the server will (past `CLOCK_SKEW_MS`).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sync import errors as E
from sync import hlc
from sync.clocks import ENGLISH, Terms, clocks, explain, terms_from_raw, ts_ms
from sync.collections.service import KIND_ORDER, request_status
from sync.periods import site_zone
from sync.wire import Scalar

from . import clock
from .clock import CLOCK_SKEW_MS
from .labels import zone_of
from .session import EpochChanged, Session
from .views import AssignmentNews, EventView, MilestoneView, RequestDetail, RequestSummary, VisitView
from .workflow import Workflow

MAX_TERMS_BYTES = 256 * 1024  # a site's terms as the server answers them; a bigger answer is not cached
MAX_TERMS_SITES = 100  # sites whose terms one sync fetches: those with requests first, then the stalest
ENDED = ("closed", "cancelled")


def _local(text: Any, zone: Any) -> str | None:
    """A protocol timestamp as the site's local `YYYY-MM-DD HH:MM`; None when unreadable."""
    ms = ts_ms(text)
    return None if ms is None else datetime.fromtimestamp(ms / 1000, zone).strftime("%Y-%m-%d %H:%M")


class ServiceWork(Workflow):
    """Service requests on the phone; a base class of `Client`, as `Workflow` is."""

    session: Session

    # -- the site's terms, fetched at sync and kept for offline use ----------------------------

    def refresh_terms(self) -> int:
        """Fetch `GET /api/sites/{site_id}/service-terms` for this phone's sites and keep each
        site's `contract` and `terms`; returns how many were stored.

        An older server answers 404: the terms already kept stay (none: no countdowns) and no
        other site is asked in this sync. Terms this SDK cannot read, or an answer over
        `MAX_TERMS_BYTES`, are not kept either. At most `MAX_TERMS_SITES` sites a sync.
        """
        fetched = self.db.terms_fetched()
        busy = {str(r["fields"].get("site_id")) for r in self.rows("service_requests")}
        sites = sorted((s["id"] for s in self.rows("sites")),
                       key=lambda site: (site not in busy, fetched.get(site, 0), site))
        stored = 0
        for site_id in sites[:MAX_TERMS_SITES]:
            try:
                resp = self.session.request("GET", f"/api/sites/{site_id}/service-terms")
            except (E.NotFound, EpochChanged):
                # A server from before these terms, or one restored since the pull (the next sync
                # recovers): keep what this phone has.
                return stored
            except E.Forbidden:
                continue  # no longer this user's site: the next pull removes it
            if len(resp.content) > MAX_TERMS_BYTES:
                continue
            try:
                body = resp.json()
                contract, terms = body["contract"], body["terms"]
                terms_from_raw(contract, terms)  # kept only when this SDK can count with them
            except (ValueError, KeyError, TypeError, E.InvalidRequest):
                continue
            self.db.set_terms(site_id, contract, terms, self.wall())
            stored += 1
        return stored

    def site_terms(self, site_id: str) -> Terms | None:
        """The site's terms as last fetched; None when this phone has none."""
        cached = self.db.terms(site_id)
        if cached is None:
            return None
        try:
            return terms_from_raw(cached[0], cached[1])
        except E.InvalidRequest:
            return None

    def server_now(self) -> int:
        """The server's clock as this phone estimates it: the last sync's anchor plus the time since boot
        (`client_sdk/clock.py`), which stays right when the technician sets his clock after the sync. After a
        reboot (no anchor), its own clock plus the offset the last pull measured, the only measure left."""
        anchored = clock.anchored_now(self.db.meta("time_anchor"), self.boot())
        return anchored if anchored is not None else self.wall() + self.db.meta_int("clock_offset_ms")

    # -- reads ----------------------------------------------------------------------------------

    def my_requests(self, include_all: bool = False, now_ms: int | None = None) -> list[RequestSummary]:
        """The requests assigned to me, and the open ones (not closed or cancelled) at my sites; with
        `include_all`, every request this phone holds. Most urgent first: the nearest due time of a
        milestone still running, then the oldest call."""
        now = self.server_now() if now_ms is None else now_ms
        me = self.db.meta("username")
        events: dict[str, list[dict[str, Any]]] = {}
        for event in self.rows("service_events"):
            events.setdefault(str(event["fields"].get("request_id")), []).append(event)
        visits: dict[str, list[dict[str, Any]]] = {}
        for visit in self.rows("service_visits"):
            visits.setdefault(str(visit["fields"].get("request_id")), []).append(visit)
        pending = self.outbox.pending_ids("service_requests")
        waiting = {str(e["fields"].get("request_id")) for e in self.outbox.pending()
                   if e["collection"] in ("service_events", "service_visits") and e["fields"].get("request_id")}
        out = []
        sites: dict[str, tuple[dict[str, Any], Terms | None]] = {}
        for request in self.rows("service_requests"):
            summary = self._summary(request, events.get(request["id"], []), visits.get(request["id"], []), now,
                                    request["id"] in pending or request["id"] in waiting, sites)
            if include_all or summary.open or summary.assigned_to == me:
                out.append(summary)

        def urgency(r: RequestSummary) -> tuple[bool, str, str, str]:
            running = [m.due_at for m in r.milestones or () if m.status in ("pending", "at_risk", "breached")
                       and m.done_at is None]
            return (not r.open, min(running, default="9999"), str(r.reported_at or ""), r.id)

        return sorted(out, key=urgency)

    def request(self, request_id: str, now_ms: int | None = None,
                catalogue: Mapping[str, str] = ENGLISH) -> RequestDetail:
        """A request with its timeline (events in time order, voided ones marked), its visits and
        milestones (each with the server's one-line explanation in `catalogue`'s words: the technician's
        English, or the printed sheet's Chinese, `words("clocks", "zh")`, for the customer's screen)."""
        request = self._request(request_id)
        now = self.server_now() if now_ms is None else now_ms
        events = [e for e in self.rows("service_events") if e["fields"].get("request_id") == request_id]
        visits = [v for v in self.rows("service_visits") if v["fields"].get("request_id") == request_id]
        waiting_events = self.outbox.pending_ids("service_events")
        waiting_visits = self.outbox.pending_ids("service_visits")
        summary = self._summary(request, events, visits, now,
                                request_id in self.outbox.pending_ids("service_requests")
                                or bool({e["id"] for e in events} & waiting_events)
                                or bool({v["id"] for v in visits} & waiting_visits), {}, catalogue)
        zone = zone_of(self.db, request["fields"].get("site_id"))
        voided = {str(e["fields"].get("note")) for e in events if e["fields"].get("kind") == "voided"}
        server_now = self.server_now()
        offset = server_now - self.wall()
        timeline = sorted(events, key=lambda e: (self._effective(e, request, offset, server_now) or 0,
                                                 KIND_ORDER.get(str(e["fields"].get("kind")), 0), e["id"]))
        return RequestDetail(
            **{f: getattr(summary, f) for f in summary.__struct_fields__},
            events=[EventView(
                id=e["id"], kind=e["fields"].get("kind"), at=e["fields"].get("at"),
                at_local=_local(e["fields"].get("at"), zone), effective_at=e["fields"].get("effective_at"),
                clock=e["fields"].get("clock"), by=e["fields"].get("by"), reason=e["fields"].get("reason"),
                note=e["fields"].get("note"), visit_id=e["fields"].get("visit_id"), voided=e["id"] in voided,
                pending=e["id"] in waiting_events) for e in timeline],
            visits=[VisitView(
                id=v["id"], visit_no=v["fields"].get("visit_no"), sheet_no=v["fields"].get("sheet_no"),
                pending=v["id"] in waiting_visits, sealed=v["fields"].get("sealed_by") is not None,
                **{f: v["fields"].get(f) for f in ("technician", "planned_at", "outcome", "work_done", "fault_cause",
                                                   "recorded_by", "recorded_at", "warranty_void")})
                for v in sorted(visits, key=lambda v: (v["fields"].get("visit_no") or 1 << 30, v["id"]))],
        )

    def assignment_news(self) -> AssignmentNews:
        """What a sync may tell of the desk's dispatch and a supervisor's reassignment, as the pulled rows show
        them, open requests only (not closed or cancelled): those assigned to me since I was last told and those
        taken off me since. Reads only: the caller records what it told with `assignment_told(news.mine)` once
        the lines are out, so a line lost to a broken pipe or a killed phone is told by the next sync. A phone
        that never told anything (a new one, or the first sync after the upgrade that brought this) has `first`
        set: it says how many are his in one line rather than one line for each request he already has."""
        me = self.db.meta("username")
        recorded = self.db.meta("assigned_told")
        told = set(json.loads(recorded or "[]"))
        mine = {r["id"]: r for r in self.rows("service_requests")
                if r["fields"].get("assigned_to") == me and r["fields"].get("status") not in ENDED}
        gone = sorted((found for request_id in told - set(mine)
                       if (found := self.get("service_requests", request_id)) is not None and not found["deleted"]
                       and found["fields"].get("status") not in ENDED), key=lambda r: str(r["fields"].get("number")))
        new = sorted((r for request_id, r in mine.items() if request_id not in told),
                     key=lambda r: str(r["fields"].get("number")))
        return AssignmentNews(new=new, gone=gone, mine=sorted(mine), first=recorded is None)

    def assignment_told(self, mine: Iterable[str]) -> None:
        """The technician was told of the requests `assignment_news` found (`news.mine`, the open ones assigned
        to him): the next sync tells only what changes from these."""
        self.db.set_meta(assigned_told=json.dumps(sorted(mine)))

    def _live(self, collection: str, row_id: str, what: str) -> dict[str, Any]:
        """A row this phone holds, not deleted; else NotFound naming it as `what`."""
        found = self.get(collection, row_id)
        if found is None or found["deleted"]:
            raise E.NotFound(f"no {what} {row_id} on this client; sync first")
        return found

    def _request(self, request_id: str) -> dict[str, Any]:
        return self._live("service_requests", request_id, "service request")

    def _effective(self, event: Mapping[str, Any], request: Mapping[str, Any], offset: int,
                   server_now: int) -> int | None:
        """When the server holds (or will hold) that the event happened: its `effective_at` once
        synced; before that its `at`, corrected by the `offset` of `server_now` past `CLOCK_SKEW_MS` and
        clamped into [the call, now], as the server's push will."""
        fields = event["fields"]
        known = ts_ms(fields.get("effective_at"))
        at = ts_ms(fields.get("at"))
        if known is not None or at is None:
            return known
        corrected = at + (offset if abs(offset) > CLOCK_SKEW_MS else 0)
        start = ts_ms(request["fields"].get("reported_at"))
        return min(max(corrected, start if start is not None else corrected), server_now)

    def _summary(self, request: dict[str, Any], events: list[dict[str, Any]], visits: list[dict[str, Any]],
                 now: int, pending: bool, memo: dict[str, tuple[dict[str, Any], Terms | None]],
                 catalogue: Mapping[str, str] = ENGLISH) -> RequestSummary:
        f = request["fields"]
        site_fields, terms = self._site(str(f.get("site_id")), memo)
        device = self.get("devices", str(f.get("device_id"))) if f.get("device_id") else None
        zone = site_zone(site_fields.get("tz"))
        status = self._status(request, events, visits)
        milestones = None
        if terms is not None:
            server_now = self.server_now()
            offset = server_now - self.wall()
            timed = [{**e["fields"], "id": e["id"], "effective_at": hlc.format_ts(ms)}
                     for e in events if (ms := self._effective(e, request, offset, server_now)) is not None]
            found = clocks({**f, "status": status}, timed, self._signed(visits), self._callbacks(visits), terms, site_fields,
                           device["fields"] if device else None, now)
            milestones = [MilestoneView(
                name=c.milestone.name, status=c.milestone.status, due_at=c.milestone.due_at,
                due_local=_local(c.milestone.due_at, zone) or "", done_at=c.milestone.done_at,
                done_local=_local(c.milestone.done_at, zone),
                remaining_ms=c.milestone.remaining_ms, paused_ms=c.milestone.paused_ms, explanation=explain(c, catalogue))
                for c in found]
        return RequestSummary(
            id=request["id"], number=f.get("number"), site_id=f.get("site_id"), site_name=site_fields.get("name"),
            device_id=f.get("device_id"), device_code=device["fields"].get("code") if device else None,
            kind=f.get("kind"), channel=f.get("channel"), complexity=f.get("complexity") or "ordinary",
            reported_at=f.get("reported_at"), reported_local=_local(f.get("reported_at"), zone),
            caller_name=f.get("caller_name"), caller_phone=f.get("caller_phone"), description=f.get("description"),
            assigned_to=f.get("assigned_to"), status=status, open=status not in ENDED, milestones=milestones,
            pending=pending,
        )

    def _site(self, site_id: str, memo: dict[str, tuple[dict[str, Any], Terms | None]]) -> tuple[
            dict[str, Any], Terms | None]:
        """A site's fields and terms, read once per listing (`memo`)."""
        if site_id not in memo:
            site = self.get("sites", site_id)
            memo[site_id] = (site["fields"] if site else {}), self.site_terms(site_id)
        return memo[site_id]

    def _status(self, request: dict[str, Any], events: list[dict[str, Any]], visits: list[dict[str, Any]]) -> str:
        """The server's rule over the events in the order the server got them (pulled ones by
        version), this phone's unsent ones after them, in the order they happened."""
        ordered = sorted(events, key=lambda e: (e["version"] == 0, e["version"], str(e["fields"].get("at")), e["id"]))
        voided = {e["fields"].get("note") for e in ordered if e["fields"].get("kind") == "voided"}
        kinds = [str(e["fields"].get("kind")) for e in ordered
                 if e["fields"].get("kind") != "voided" and e["id"] not in voided]
        signed = request["fields"].get("status") == "signed" or any(
            v["fields"].get("sealed_by") and v["fields"].get("outcome") == "resolved" for v in visits)
        return request_status(bool(request["fields"].get("assigned_to")), kinds, signed)[0]

    def _signed(self, visits: Iterable[dict[str, Any]]) -> dict[str, str]:
        """{visit id: its sealing signature's `signed_at`} of the visits the server has sealed."""
        out = {}
        for visit in visits:
            sealed = visit["fields"].get("sealed_by")
            signature = self.get("signatures", str(sealed)) if sealed else None
            if signature is not None and signature["fields"].get("signed_at"):
                out[visit["id"]] = str(signature["fields"]["signed_at"])
        return out

    def _callbacks(self, visits: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        ids = {v["id"] for v in visits}
        return [c["fields"] for c in self.rows("callbacks") if c["fields"].get("visit_id") in ids] if ids else []

    # -- writes (queued in the outbox, sent by the next sync) ----------------------------------

    def _now_text(self) -> str:
        return hlc.format_ts(self.wall())

    def record_event(self, request_id: str, kind: str, reason: str | None = None, note: str | None = None,
                     visit_id: str | None = None) -> str:
        """Record that something happened, now by this phone's clock (`at`); returns the event's id.

        Events are never changed: a wrong one is voided by a supervisor. Refused on the spot as
        the server would: an unknown kind, a `paused` without a reason of `PAUSE_REASONS` (or a
        reason on another kind), `cancelled`/`closed` by a technician.
        """
        self._request(request_id)
        fields: dict[str, Scalar] = {"request_id": request_id, "kind": kind, "at": self._now_text(),
                                     "by": self.actor().username}
        fields.update({k: v for k, v in (("reason", reason), ("note", note), ("visit_id", visit_id)) if v is not None})
        event_id = str(uuid.uuid4())
        self.create("service_events", event_id, fields)
        return event_id

    def start_visit(self, request_id: str, planned_at: str | None = None) -> str:
        """Start a visit of the request under my name; returns its id (its sheet number comes at sync)."""
        self._request(request_id)
        fields: dict[str, Scalar] = {"request_id": request_id, "technician": self.actor().username}
        if planned_at is not None:
            fields["planned_at"] = planned_at
        visit_id = str(uuid.uuid4())
        self.create("service_visits", visit_id, fields)
        return visit_id

    def record_visit_report(self, visit_id: str, outcome: str, work_done: str | None = None,
                            fault_cause: str | None = None, warranty_void: str | None = None) -> int:
        """The visit's result (outcome, work done, fault cause; by me, now) and its `warranty_void`
        (None: none); returns the seq. The result group is written whole, as one register."""
        self._live("service_visits", visit_id, "visit")
        return self.write("service_visits", visit_id, {
            "outcome": outcome, "work_done": work_done, "fault_cause": fault_cause,
            "recorded_by": self.actor().username, "recorded_at": self.record_time(), "warranty_void": warranty_void})

    def open_request(self, site_id: str, description: str, device_id: str | None = None, kind: str = "repair",
                     caller_name: str | None = None, caller_phone: str | None = None,
                     complexity: str | None = None) -> str:
        """Open a request on site (a fault found during other work): channel `on_site`, reported now
        by this phone's clock; returns its id (its number comes at sync)."""
        self._live("sites", site_id, "site")
        fields: dict[str, Scalar] = {"site_id": site_id, "reported_at": self.record_time(), "channel": "on_site",
                                     "kind": kind, "description": description}
        fields.update({k: v for k, v in (("device_id", device_id), ("caller_name", caller_name),
                                         ("caller_phone", caller_phone), ("complexity", complexity)) if v is not None})
        request_id = str(uuid.uuid4())
        self.create("service_requests", request_id, fields)
        return request_id

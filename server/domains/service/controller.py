"""The service routes (issue 12): requests (the list, a request's detail, the desk's new request),
and the office's (terms, visits, the faults report).

Thin: guards check role and scope, each handler makes one call.
"""

from __future__ import annotations

from typing import Annotated

from litestar import get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from ...http.controller import DomainController
from ...http.deps import CallerDep, StrictBody, from_state
from ...http.guards import desk_or_supervisor, site_in_scope, supervisor_only
from ...http.problems import problem_responses
from .office import DEFAULT_FAULT_GROUPS, MAX_FAULT_GROUPS, MAX_TERMS_BODY_BYTES, ServiceOffice
from .schemas import FaultsReport, NewRequest, RequestDetail, RequestList, ServiceTerms, TermsOverride
from .service import DEFAULT_LIMIT, ServiceRequests

RequestsDep = NamedDependency[ServiceRequests]


class RequestsController(DomainController):
    path = "/api/service-requests"
    tags = ["service"]  # noqa: RUF012 (Litestar reads it from the class)
    dependencies = {"requests": from_state("service_requests")}  # noqa: RUF012

    @get("/", responses=problem_responses(400, 401, 404), sync_to_thread=True)
    def list_requests(
        self,
        requests: RequestsDep,
        caller: CallerDep,
        site_id: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        assigned_to: FromQuery[str | None] = None,
        breached: FromQuery[str | None] = None,
        at_risk: FromQuery[str | None] = None,
        open_: Annotated[str | None, QueryParameter(name="open")] = None,
        limit: FromQuery[int] = DEFAULT_LIMIT,
        after: FromQuery[str | None] = None,
        callback_due: FromQuery[str | None] = None,
        caller_phone: FromQuery[str | None] = None,
    ) -> RequestList:
        """Service requests in the caller's scope with their milestones, oldest call first.

        `breached=true`: a milestone is breached now; `at_risk=true`: one is at risk and none
        breached; `open=true`: neither closed nor cancelled; `callback_due=true`: signed or closed with
        a sealed visit no reached call-back is stored for, the oldest due first; `caller_phone`: the
        caller's number ends with its digits (the whole number or its last four or more; spaces, dashes
        and full-width digits as typed are ignored). A bad value is `400 invalid_filter`.
        Pages of `limit` (1 to 200); `after` is the previous page's `next`.
        """
        return requests.list(caller, site_id=site_id, status=status, assigned_to=assigned_to, breached=breached,
                             at_risk=at_risk, open_=open_, limit=limit, after=after,
                             callback_due=callback_due, caller_phone=caller_phone)

    @post("/", status_code=201, responses=problem_responses(400, 401, 403, 413), sync_to_thread=True,
          guards=[desk_or_supervisor])
    def open_request(self, data: StrictBody[NewRequest], requests: RequestsDep, caller: CallerDep) -> RequestDetail:
        """Open a request from a customer's call (service desk, supervisors), merged as a push is:
        a value the collection refuses is a problem with the push's reason as `code`
        (`invalid_field`, `unknown_parent`, `forbidden`), and nothing is written."""
        return requests.open(caller, data)

    @get("/{request_id:str}", responses=problem_responses(401, 404), sync_to_thread=True)
    def request_detail(self, request_id: FromPath[str], requests: RequestsDep, caller: CallerDep) -> RequestDetail:
        """A request with its visits, its event timeline (`at` beside `effective_at`), its milestones
        each with a one-line explanation, and its device's warranty on the day of the call."""
        return requests.detail(caller, request_id)
# -- the service office: terms, visits, the faults report (svc-more) ------------------------------

OfficeDep = NamedDependency[ServiceOffice]


class ServiceTermsController(DomainController):
    path = "/api/sites/{site_id:str}/service-terms"
    tags = ["service"]  # noqa: RUF012 (Litestar reads it from the class)
    dependencies = {"office": from_state("office")}  # noqa: RUF012

    @get("/", responses=problem_responses(401, 404), sync_to_thread=True, guards=[site_in_scope])
    def get_terms(self, site_id: FromPath[str], office: OfficeDep) -> ServiceTerms:
        """A site's response-time terms: its contract's with its override, the calendar inlined
        (what a phone caches to count the clocks offline)."""
        return office.terms(site_id)

    @put("/", responses=problem_responses(400, 401, 403, 404, 413), sync_to_thread=True,
         guards=[site_in_scope, supervisor_only], request_max_body_size=MAX_TERMS_BODY_BYTES)
    def set_terms(self, site_id: FromPath[str], data: StrictBody[TermsOverride], office: OfficeDep,
                  caller: CallerDep) -> ServiceTerms:
        """Set a site's override of its contract's terms (supervisors); `null` removes it."""
        return office.set_terms(caller, site_id, data.override)


class FaultsController(DomainController):
    path = "/api/reports"
    tags = ["service"]  # noqa: RUF012
    dependencies = {"office": from_state("office")}  # noqa: RUF012

    @get("/faults", responses=problem_responses(400, 401, 403), sync_to_thread=True, guards=[desk_or_supervisor])
    def faults(self, office: OfficeDep, since: Annotated[str, QueryParameter(name="from")],
               until: Annotated[str, QueryParameter(name="to")],
               limit: Annotated[int, QueryParameter(ge=1, le=MAX_FAULT_GROUPS)] = DEFAULT_FAULT_GROUPS) -> FaultsReport:
        """Visits by fault cause, device kind and model, most first (supervisors, service desk): those
        whose `result.recorded_at` falls in [from, to), local dates, at most 366 days apart; the first
        `limit` groups (1 to 1,000, default 100), `groups_left_out` says how many more there are."""
        return office.faults(since, until, limit)

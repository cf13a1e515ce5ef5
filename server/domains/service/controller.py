"""The service routes (issue 12). Thin: guards check role and scope, each handler makes one call."""

from __future__ import annotations

from typing import Annotated

from litestar import get, put
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter

from ...http.controller import DomainController
from ...http.deps import CallerDep, StrictBody, from_state
from ...http.guards import desk_or_supervisor, site_in_scope, supervisor_only
from ...http.problems import problem_responses
from .office import MAX_TERMS_BODY_BYTES, ServiceOffice
from .schemas import FaultsReport, ServiceTerms, TermsOverride, VisitSheet

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


class VisitsController(DomainController):
    path = "/api/visits"
    tags = ["service"]  # noqa: RUF012
    dependencies = {"office": from_state("office")}  # noqa: RUF012

    @get("/{visit_id:str}", responses=problem_responses(401, 404), sync_to_thread=True)
    def visit(self, visit_id: FromPath[str], office: OfficeDep, caller: CallerDep) -> VisitSheet:
        """A visit's contact sheet: the visit with its `result`, its request's number and status, its
        charge lines (none before issue 13) and its signatures, retracted ones marked."""
        return office.visit(caller, visit_id)


class FaultsController(DomainController):
    path = "/api/reports"
    tags = ["service"]  # noqa: RUF012
    dependencies = {"office": from_state("office")}  # noqa: RUF012

    @get("/faults", responses=problem_responses(400, 401, 403), sync_to_thread=True, guards=[desk_or_supervisor])
    def faults(self, office: OfficeDep, since: Annotated[str, QueryParameter(name="from")],
               until: Annotated[str, QueryParameter(name="to")]) -> FaultsReport:
        """Visits by fault cause, device kind and model, most first (supervisors, service desk): those
        whose `result.recorded_at` falls in [from, to), local dates, at most 366 days apart."""
        return office.faults(since, until)

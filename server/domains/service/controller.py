"""The service routes (issue 12). Thin: guards check role and scope, each handler makes one call."""

from __future__ import annotations

from litestar import get, put
from litestar.di import NamedDependency
from litestar.params import FromPath

from ...http.controller import DomainController
from ...http.deps import CallerDep, StrictBody, from_state
from ...http.guards import site_in_scope, supervisor_only
from ...http.problems import problem_responses
from .office import MAX_TERMS_BODY_BYTES, ServiceOffice
from .schemas import ServiceTerms, TermsOverride

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

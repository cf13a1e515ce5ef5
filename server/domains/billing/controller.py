"""The billing routes (issue 13): a visit's contact sheet and its bill, a site's annual quote.

Thin: guards check scope and role, the handler makes one call into `Billing`.
"""

from __future__ import annotations

from litestar import get
from litestar.di import NamedDependency
from litestar.params import FromPath

from sync.pricing import Bill

from ...http.controller import DomainController
from ...http.deps import CallerDep, from_state
from ...http.guards import desk_or_supervisor, site_in_scope
from ...http.problems import problem_responses
from .schemas import AnnualQuote, FeeSchedules, VisitDetail
from .service import Billing

BillingDep = NamedDependency[Billing]


class BillingController(DomainController):
    tags = ["service"]  # noqa: RUF012 (Litestar reads it from the class)
    dependencies = {"billing": from_state("billing")}  # noqa: RUF012

    @get("/api/fee-schedules", responses=problem_responses(401), sync_to_thread=True)
    def fee_schedules(self, billing: BillingDep, caller: CallerDep) -> FeeSchedules:
        """The fee book as the server prices with it (every schedule, the device-kind map) and its
        tax rate in basis points: a phone caches it to show the customer the bill offline."""
        return billing.fee_schedules()

    @get("/api/visits/{visit_id:str}", responses=problem_responses(401, 404), sync_to_thread=True)
    def visit(self, visit_id: FromPath[str], billing: BillingDep, caller: CallerDep) -> VisitDetail:
        """A service visit's contact sheet: the visit, its charge lines (priced, with `billed`),
        its signatures."""
        return billing.visit(caller, visit_id)

    @get("/api/visits/{visit_id:str}/bill", responses=problem_responses(401, 404), sync_to_thread=True)
    def bill(self, visit_id: FromPath[str], billing: BillingDep, caller: CallerDep) -> Bill:
        """The visit's itemised bill in fen: each line's list amount, whether it is covered and
        billed, the subtotal of the billed lines, tax at the server's rate, the total."""
        return billing.bill(caller, visit_id)

    @get("/api/sites/{site_id:str}/annual-quote", responses=problem_responses(401, 403, 404),
         sync_to_thread=True, guards=[site_in_scope, desk_or_supervisor])
    def annual_quote(self, site_id: FromPath[str], billing: BillingDep) -> AnnualQuote:
        """The site's annual maintenance quote in fen (supervisors, service desk), beside the
        yearly price of its contract."""
        return billing.annual_quote(site_id)

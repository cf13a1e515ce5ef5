"""The monthly technician report (issue 13): supervisors and the service desk.

Thin: a guard checks the role, the handler makes one call into `TechnicianReports`.
"""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from ...http.controller import DomainController
from ...http.deps import CallerDep, from_state
from ...http.guards import desk_or_supervisor
from ...http.problems import problem_responses
from .service import TechnicianReports, as_csv

ReportsDep = NamedDependency[TechnicianReports]


class ReportsController(DomainController):
    path = "/api/reports"
    tags = ["service"]  # noqa: RUF012 (Litestar reads it from the class)
    dependencies = {"reports": from_state("technician_reports")}  # noqa: RUF012

    @get("/technicians", responses=problem_responses(400, 401, 403), sync_to_thread=True,
         guards=[desk_or_supervisor])
    def technicians(self, reports: ReportsDep, caller: CallerDep, month: FromQuery[str],
                    fmt: Annotated[str | None, QueryParameter(name="format")] = None) -> Response[Any]:
        """The month's scores per technician (`month=2026-M11`, each site's local month):
        visits, sealed sheets, call-backs, points, coverage and milestone met rates, integers
        only. `format=csv`: the same as CSV, UTF-8 with a BOM."""
        chosen, report = reports.month(caller, month, fmt)
        if chosen == "csv":
            return Response(as_csv(report), media_type="text/csv", headers={
                "content-disposition": f'attachment; filename="technicians-{report.month}.csv"'})
        return Response(msgspec.json.encode(report), media_type="application/json")

"""The duty routes (issue 13): who is on duty, and the month's duty log (JSON or CSV)."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from ...filters import one_of
from ...http.controller import DomainController
from ...http.deps import CallerDep, from_state
from ...http.problems import problem_responses
from .schemas import OnDuty
from .service import Duty, duty_rules_data, log_csv

DutyDep = NamedDependency[Duty]


class DutyController(DomainController):
    path = "/api/duty"
    tags = ["duty"]  # noqa: RUF012 (Litestar reads it from the class)
    dependencies = {"duty": from_state("duty")}  # noqa: RUF012

    @get("/", responses=problem_responses(400, 401), sync_to_thread=True)
    def on_duty(self, duty: DutyDep, caller: CallerDep, at: FromQuery[str | None] = None) -> OnDuty:
        """Who is on duty at `at` (a timestamp; now when absent): the month's rostered technician
        during the on-call hours while the office is closed, else null."""
        return duty.who(at)

    @get("/rules", responses=problem_responses(401), sync_to_thread=True)
    def rules(self, caller: CallerDep) -> dict[str, Any]:
        """The duty rules as `sync.duty` reads them (the roster's zone, the office hours' calendar
        inlined, the default on-call hours): a phone caches them to name who is on duty offline."""
        return duty_rules_data()

    @get("/log", responses=problem_responses(400, 401), sync_to_thread=True)
    def duty_log(self, duty: DutyDep, caller: CallerDep, month: FromQuery[str | None] = None,
                 format_: Annotated[str | None, QueryParameter(name="format")] = None) -> Response[Any]:
        """The month's duty calls in the caller's scope and the follow-up calls still unresolved
        (`{"month", "calls", "unresolved"}`); `format=csv`: the same as CSV, UTF-8 with a BOM."""
        log = duty.log(caller, month)
        if one_of("format", format_, ("json", "csv")) != "csv":
            return Response(log)
        return Response(log_csv(log), media_type="text/csv",
                        headers={"Content-Disposition": f'attachment; filename="duty-log-{log.month}.csv"'})

"""The inspections routes: plans, scheduling, coverage, a device's history, lists and sheets.

Thin: guards check role and scope, the handler makes one call into `Inspections`.
"""

from __future__ import annotations

from litestar import get, post, put
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from ...http.controller import DomainController
from ...http.deps import CallerDep, from_state
from ...http.guards import site_in_scope, supervisor_only
from ...http.problems import problem_responses
from .schemas import Coverage, DeviceHistory, GenerateRequest, GenerateResult, InspectionList, Plan, Sheet
from .service import Inspections

InspectionsDep = NamedDependency[Inspections]


class InspectionsController(DomainController):
    path = "/api"
    tags = ["inspections"]  # noqa: RUF012 (Litestar reads it from the class)
    dependencies = {"inspections": from_state("inspections")}  # noqa: RUF012

    @get("/sites/{site_id:str}/plan", responses=problem_responses(401, 403, 404), sync_to_thread=True,
         guards=[site_in_scope, supervisor_only])
    def get_plan(self, site_id: FromPath[str], inspections: InspectionsDep) -> Plan:
        """A site's maintenance plan: frequency, due day, default technician."""
        return inspections.get_plan(site_id)

    @put("/sites/{site_id:str}/plan", responses=problem_responses(400, 401, 403, 404, 413), sync_to_thread=True,
         guards=[site_in_scope, supervisor_only])
    def set_plan(self, site_id: FromPath[str], data: JSONBody[Plan], inspections: InspectionsDep) -> Plan:
        """Set a site's maintenance plan (supervisors); the technician must be a member of the site."""
        return inspections.set_plan(site_id, data)

    @post("/inspections/generate", status_code=200, responses=problem_responses(400, 401, 403, 413),
          sync_to_thread=True, guards=[supervisor_only])
    def generate(self, data: JSONBody[GenerateRequest], inspections: InspectionsDep) -> GenerateResult:
        """Create one inspection per planned site for a period; running it again creates nothing."""
        return inspections.generate(data.period)

    @get("/sites/{site_id:str}/coverage", responses=problem_responses(400, 401, 404), sync_to_thread=True)
    def coverage(
        self,
        site_id: FromPath[str],
        period: FromQuery[str],
        inspections: InspectionsDep,
        caller: CallerDep,
        system: FromQuery[str | None] = None,
        kind: FromQuery[str | None] = None,
    ) -> Coverage:
        """Which devices of a site were serviced in a period, and what is wrong with the rest.

        `kind` takes a comma-separated list, e.g. `dome_camera,bullet_camera`. An unknown
        `system` or `kind` is `400 invalid_filter`, listing the valid ones in `valid`.
        """
        return inspections.coverage(caller, site_id, period, system, kind)

    @get("/devices/{device_id:str}/history", responses=problem_responses(401, 404), sync_to_thread=True)
    def device_history(self, device_id: FromPath[str], inspections: InspectionsDep, caller: CallerDep) -> DeviceHistory:
        """A device's checks across periods, newest first."""
        return inspections.device_history(caller, device_id)

    @get("/inspections", responses=problem_responses(400, 401), sync_to_thread=True)
    def list_inspections(
        self,
        inspections: InspectionsDep,
        caller: CallerDep,
        period: FromQuery[str | None] = None,
        site_id: FromQuery[str | None] = None,
        status: FromQuery[str | None] = None,
        overdue: FromQuery[bool | None] = None,
    ) -> InspectionList:
        """Inspections with progress (`checked`/`total`) and whether overdue, due first."""
        return inspections.summaries(caller, period, site_id, status, overdue)

    @get("/inspections/{inspection_id:str}", responses=problem_responses(401, 404), sync_to_thread=True)
    def inspection_sheet(self, inspection_id: FromPath[str], inspections: InspectionsDep, caller: CallerDep) -> Sheet:
        """The periodic maintenance sheet: the inspection, every device's check, and counts."""
        return inspections.sheet(caller, inspection_id)

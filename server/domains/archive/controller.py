"""The archive routes (issue 14): a site's devices imported from a spreadsheet, and the look-ups.

Thin: guards check scope then role, each handler makes one call.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import anyio
from litestar import Request, get, post
from litestar.datastructures import UploadFile
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from sync import errors as E

from ...filters import one_of
from ...http.controller import DomainController
from ...http.deps import CallerDep, StrictBody, from_state
from ...http.guards import site_in_scope, supervisor_only
from ...http.problems import problem_responses
from ..inspections.schemas import SiteList
from ..inspections.service import DEFAULT_SITES, Inspections
from ..service.office import MAX_TERMS_BODY_BYTES
from .schemas import Found, ImportReport, NewSite, NewSiteAnswer
from .service import Archive
from .spreadsheet import MAX_IMPORT_BYTES

ArchiveDep = NamedDependency[Archive]
InspectionsDep = NamedDependency[Inspections]
# The file, and a multipart envelope's boundaries and headers around it.
MAX_IMPORT_BODY_BYTES = MAX_IMPORT_BYTES + 64 * 1024


class ArchiveController(DomainController):
    path = "/api"
    tags = ["archive"]  # noqa: RUF012 (Litestar reads it from the class)
    # The inspections service's too, for the site list (the console's sites page's), which goes beside
    # `POST /api/sites`: Litestar serves one path from one controller.
    dependencies = {"archive": from_state("archive"), "inspections": from_state("inspections")}  # noqa: RUF012

    @post("/sites/{site_id:str}/import", status_code=200, request_max_body_size=MAX_IMPORT_BODY_BYTES,
          guards=[site_in_scope, supervisor_only], responses=problem_responses(400, 401, 403, 404, 413, 422))
    async def import_devices(
        self,
        request: Request[Any, Any, Any],
        site_id: FromPath[str],
        archive: ArchiveDep,
        caller: CallerDep,
        dry_run: FromQuery[str | None] = None,
        retire: FromQuery[str | None] = None,
    ) -> ImportReport:
        """Import the site's devices from an .xlsx or CSV file (supervisors): the body is the file, or a
        multipart form with it in the field `file`. `dry_run=true` writes nothing; `retire=true` retires
        the active devices the file no longer lists. Bad rows: `422 invalid_import` with `errors`."""
        dry, retiring = _flag("dry_run", dry_run), _flag("retire", retire)
        data = await _file(request)
        return await anyio.to_thread.run_sync(
            partial(archive.import_devices, caller, site_id, data, dry_run=dry, retire=retiring))

    @get("/sites", responses=problem_responses(400, 401), sync_to_thread=True)
    def list_sites(self, inspections: InspectionsDep, caller: CallerDep, limit: FromQuery[int] = DEFAULT_SITES,
                   after: FromQuery[str | None] = None) -> SiteList:
        """The caller's sites by name (a technician's: those he is a member of), with their customer archive.
        Pages of `limit` (1 to 500, default 100); `after` is the previous page's `next`."""
        return inspections.site_page(caller, limit, after)

    @post("/sites", status_code=201, request_max_body_size=MAX_TERMS_BODY_BYTES, guards=[supervisor_only],
          responses=problem_responses(400, 401, 403, 409, 413), sync_to_thread=True)
    def register_site(self, data: StrictBody[NewSite], archive: ArchiveDep, caller: CallerDep) -> NewSiteAnswer:
        """Register a customer's site (supervisors), with its contract, optional terms override and the
        technicians who serve it; their phones get it on their next pull. The customer's other site of
        the same name: `409 site_exists`."""
        return archive.register_site(caller, data)

    @get("/lookup", responses=problem_responses(400, 401, 404), sync_to_thread=True)
    def lookup(
        self,
        archive: ArchiveDep,
        caller: CallerDep,
        sheet_no: FromQuery[str | None] = None,
        number: FromQuery[str | None] = None,
        site_id: FromQuery[str | None] = None,
        code: FromQuery[str | None] = None,
    ) -> Found:
        """What a person names by its number: a sheet by `sheet_no`, a service request by `number`, a
        device by `site_id` and `code`; answers its collection, id, site and API path. Not in your sites: 404."""
        return archive.lookup(caller, sheet_no=sheet_no, number=number, site_id=site_id, code=code)


def _flag(name: str, value: str | None) -> bool:
    return one_of(name, value, ("true", "false")) == "true"


async def _file(request: Request[Any, Any, Any]) -> bytes:
    """The uploaded file: the body itself, or the `file` field of a multipart form (the console's)."""
    if request.content_type[0] != "multipart/form-data":
        return await request.body()
    upload = (await request.form()).get("file")
    if not isinstance(upload, UploadFile):
        raise E.InvalidRequest("a multipart upload carries the file in a field named file")
    return await upload.read()

"""The printable sheets' routes (issue 14): a periodic maintenance sheet and a visit's contact sheet as PDF.

Thin: the handler makes one call into `Sheets`; scope is the JSON sheets' (another site's is 404).
"""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from litestar.params import FromPath

from ...http.controller import DomainController
from ...http.deps import CallerDep, from_state
from ...http.problems import problem_responses
from .service import Sheets

SheetsDep = NamedDependency[Sheets]
PDF = "application/pdf"


def pdf_response(data: bytes, name: str, headers: dict[str, str] | None = None) -> Response[bytes]:
    """A sheet's PDF, shown inline as `<name>.pdf` (the API's routes and the console's)."""
    return Response(data, media_type=PDF, headers={"Content-Disposition": f'inline; filename="{name}.pdf"',
                                                   **(headers or {})})


class SheetsController(DomainController):
    path = "/api"
    dependencies = {"sheets": from_state("sheets")}  # noqa: RUF012 (Litestar reads it from the class)

    @get("/inspections/{inspection_id:str}/sheet.pdf", responses=problem_responses(401, 404, 429, 503), media_type=PDF,
         sync_to_thread=True, tags=["inspections"])
    def inspection_pdf(self, inspection_id: FromPath[str], sheets: SheetsDep, caller: CallerDep) -> Response[bytes]:
        """The periodic maintenance sheet (定期维护单) as PDF, in Chinese, with the customer's signature and
        the seal: the signed sheet's hash and a QR code of `GET /api/signatures/{id}`."""
        return pdf_response(sheets.inspection_pdf(caller, inspection_id), "inspection")

    @get("/visits/{visit_id:str}/sheet.pdf", responses=problem_responses(401, 404, 429), media_type=PDF,
         sync_to_thread=True, tags=["service"])
    def visit_pdf(self, visit_id: FromPath[str], sheets: SheetsDep, caller: CallerDep) -> Response[bytes]:
        """A visit's technical service contact sheet (技术服务联络单) as PDF: the call, the work, the lines
        with consent and amounts in yuan, the milestones met or missed, the signatures."""
        return pdf_response(sheets.visit_pdf(caller, visit_id), "visit")

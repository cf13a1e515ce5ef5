"""The signatures routes: one signature as a printed seal opens it; a supervisor retracts a bogus one."""

from __future__ import annotations

from litestar import get, post
from litestar.di import NamedDependency
from litestar.params import FromPath

from ...http.controller import DomainController
from ...http.deps import CallerDep
from ...http.problems import problem_responses
from ...services import Store
from . import service
from .schemas import SignatureCheck, SignatureInfo


class SignaturesController(DomainController):
    @get("/api/signatures/{signature_id:str}", responses=problem_responses(401, 404), sync_to_thread=True,
         tags=["inspections"])
    def signature(self, signature_id: FromPath[str], store: NamedDependency[Store], caller: CallerDep) -> SignatureCheck:
        """One signature (in scope): who signed, whether it verified, whether it was retracted, and the
        sheet it signed. The QR code of a printed sheet's seal opens it."""
        return service.check(store, caller, signature_id)

    @post("/api/signatures/{signature_id:str}/retract", status_code=200, responses=problem_responses(401, 403, 404),
          sync_to_thread=True, tags=["inspections"])
    def retract_signature(
        self, signature_id: FromPath[str], store: NamedDependency[Store], caller: CallerDep
    ) -> SignatureInfo:
        """Retract a bogus signature (supervisors): kept and marked, it no longer seals anything."""
        return service.retract(store, caller, signature_id)

"""The sync routes: push a batch, pull a page, read the conflict log.

Thin: the handler checks the protocol headers and makes one call into the `Store`.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, get, post
from litestar.di import NamedDependency
from litestar.params import FromQuery, QueryParameter

from sync.wire import ConflictPage, PullResponse, PushRequest, PushResponse

from ..http.controller import DomainController
from ..http.deps import MAX_ID, CallerDep, StrictBody, app_version, authenticated, check_protocol
from ..http.problems import problem_responses
from ..services import Store

StoreDep = NamedDependency[Store]


class SyncController(DomainController):
    """`/sync/push`, `/sync/pull` and `/api/conflicts`: the engine, over HTTP."""

    @post("/sync/push", status_code=200, responses=problem_responses(400, 401, 403, 409, 413), sync_to_thread=True,
          guards=[authenticated], tags=["sync"])
    def push(self, data: StrictBody[PushRequest], request: Request[Any, Any, Any], store: StoreDep,
             caller: CallerDep) -> PushResponse:
        """Apply a batch of changes in one transaction and return a result for each."""
        return store.push(caller, data, app_version(request))

    @get("/sync/pull", responses=problem_responses(400, 401, 410, 426), sync_to_thread=True, tags=["sync"])
    def pull(
        self,
        request: Request[Any, Any, Any],
        store: StoreDep,
        caller: CallerDep,
        cursor: FromQuery[str | None] = None,
        limit: Annotated[int | None, QueryParameter(ge=1, le=100_000)] = None,
    ) -> PullResponse:
        """One page of rows changed since the cursor, in version order."""
        check_protocol(request)
        return store.pull(caller, cursor, limit)

    @get("/api/conflicts", responses=problem_responses(400, 401), sync_to_thread=True, tags=["supervisor"])
    def conflicts(
        self,
        store: StoreDep,
        caller: CallerDep,
        collection: FromQuery[str | None] = None,
        row_id: FromQuery[str | None] = None,
        site_id: FromQuery[str | None] = None,
        after: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
        no_op: FromQuery[bool | None] = None,
    ) -> ConflictPage:
        """Values that lost or were overwritten, and rejected changes and fields.

        Supervisors see all of it; a technician sees the entries that concern them.
        `no_op=false` leaves out the entries where both sides wrote the same value.
        """
        return store.conflicts(caller, collection, row_id, site_id, after, limit, no_op)

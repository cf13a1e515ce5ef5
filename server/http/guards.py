"""Role and scope, checked before a handler runs (and before its body is read): one copy each.

Scope comes first: a site outside a technician's scope is 404 whatever they
asked to do with it, so they learn nothing about sites that are not theirs;
then the role (403). List the guards in that order.
"""

from __future__ import annotations

from typing import Any

from litestar.connection import ASGIConnection
from litestar.handlers import BaseRouteHandler

from sync import errors as E
from sync.schema import SERVICE_DESK, SUPERVISOR

from ..domains.scope import in_scope
from .deps import caller_of


async def site_in_scope(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """404 for the route's `{site_id}` when it is not among the caller's sites."""
    site_id = connection.path_params["site_id"]
    if not in_scope(await caller_of(connection), site_id):
        raise E.NotFound(f"no site {site_id}")


async def supervisor_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    if (await caller_of(connection)).role != SUPERVISOR:
        raise E.Forbidden("only supervisors may do this")


async def desk_or_supervisor(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """The service desk's and supervisors' routes (issue 12): a technician gets 403."""
    if (await caller_of(connection)).role not in (SUPERVISOR, SERVICE_DESK):
        raise E.Forbidden("only the service desk and supervisors may do this")

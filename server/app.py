"""The Litestar app: thin handlers that decode a Struct, call the store once, return a Struct."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Litestar, Request, delete, get, patch, post
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath, FromQuery, QueryParameter
from litestar.response import Redirect
from litestar.types import Message, Scope

from sync.wire import (
    RefreshRequest,
    TokenRequest,
    TokenResponse,
)

from .apidocs import RENDER_PLUGINS
from .domains.identity.access import (
    Access,
    AuditPage,
    ClientList,
    MemberList,
    MemberRequest,
    UserState,
    UserUpdate,
)
from .domains.inspections.controller import InspectionsController
from .domains.inspections.service import Inspections
from .domains.media.controller import (
    MediaController,
    add_tus_headers,
    media_state,
    start_media,
    stop_media,
)
from .domains.signatures.controller import SignaturesController
from .engine.controller import SyncController
from .http.deps import (
    DEPENDENCIES,
    MAX_ID,
    CallerDep,
    FieldsyncRequest,
    StrictBody,
    address,
    app_version,
    authenticated,
    check_protocol,
    from_state,
)
from .http.problems import EPOCH_HEADER, EXCEPTION_HANDLERS, problem_responses
from .services import Store
from .settings import Settings
from .transport import body_timeout, proxy_networks

StoreDep = NamedDependency[Store]
AccessDep = NamedDependency[Access]


async def add_epoch_header(message: Message, scope: Scope) -> None:
    """Every response says which database it came from (it changes when one is restored).

    Set per response from the app's own store: a static response header would be
    fixed on the module-level handlers by the first app built in the process.
    """
    if message["type"] == "http.response.start":
        store = scope["app"].state.get("store")
        if store is not None:
            MutableScopeHeaders.from_message(message)[EPOCH_HEADER] = store.server_epoch


@post("/auth/token", status_code=200, responses=problem_responses(400, 401, 403, 413, 426, 429), sync_to_thread=True, tags=["identity"])
def token(data: StrictBody[TokenRequest], request: Request[Any, Any, Any], store: StoreDep) -> TokenResponse:
    """Sign in: enrol a new client, or sign an existing client of yours in again."""
    check_protocol(request)
    return store.login(data, app_version(request), address(request))


@post("/auth/refresh", status_code=200, responses=problem_responses(400, 403, 413, 426), sync_to_thread=True, tags=["identity"])
def refresh(data: StrictBody[RefreshRequest], request: Request[Any, Any, Any], store: StoreDep) -> TokenResponse:
    """Sign a client in again with its refresh credential, or enrol a new client in its place (`enrol`)."""
    check_protocol(request)
    return store.refresh(data, app_version(request), address(request))


@delete("/api/clients/{client_id:str}", status_code=204, responses=problem_responses(401, 404), sync_to_thread=True, tags=["identity"])
def revoke_client(client_id: FromPath[str], store: StoreDep, caller: CallerDep) -> None:
    """Revoke a client (a lost phone): its tokens answer 401 and it cannot sign in again."""
    store.revoke_client(caller, client_id)


@patch("/api/users/{username:str}", responses=problem_responses(400, 401, 403, 404, 413), sync_to_thread=True, guards=[authenticated], tags=["identity"])
def update_user(username: FromPath[str], data: StrictBody[UserUpdate], access: AccessDep, caller: CallerDep) -> UserState:
    """Set a user's password, or disable or re-enable them (supervisors): every client and token of
    the user is revoked at once (a lost phone)."""
    return access.update_user(caller, username, data)


@get("/api/sites/{site_id:str}/members", responses=problem_responses(401, 404), sync_to_thread=True, tags=["access"])
def list_members(site_id: FromPath[str], access: AccessDep, caller: CallerDep) -> MemberList:
    """The technicians who are members of a site (supervisors; technicians for their own sites)."""
    return access.members(caller, site_id)


@post("/api/sites/{site_id:str}/members", status_code=200, responses=problem_responses(400, 401, 403, 404, 413), sync_to_thread=True, guards=[authenticated], tags=["access"])
def add_member(site_id: FromPath[str], data: StrictBody[MemberRequest], access: AccessDep, caller: CallerDep) -> MemberList:
    """Make a technician a member of a site (supervisors). Adding a member again changes nothing."""
    return access.add_member(caller, site_id, data.username)


@delete("/api/sites/{site_id:str}/members/{username:str}", status_code=204, responses=problem_responses(401, 403, 404), sync_to_thread=True, tags=["access"])
def remove_member(site_id: FromPath[str], username: FromPath[str], access: AccessDep, caller: CallerDep) -> None:
    """End a technician's membership of a site (supervisors): their next pull removes the site."""
    access.remove_member(caller, site_id, username)


@get("/api/clients", responses=problem_responses(400, 401), sync_to_thread=True, tags=["identity"])
def list_clients(access: AccessDep, caller: CallerDep, username: FromQuery[str | None] = None) -> ClientList:
    """Enrolled clients: user, name, last sync, clock offset, app version, revoked.

    Supervisors see every client; a technician sees their own.
    """
    return access.clients(caller, username)


@get("/api/audit", responses=problem_responses(400, 401, 403), sync_to_thread=True, tags=["access"])
def audit(
    access: AccessDep,
    caller: CallerDep,
    kind: FromQuery[str | None] = None,
    username: FromQuery[str | None] = None,
    after: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
) -> AuditPage:
    """Sign-ins, failed and throttled sign-ins, revocations, membership changes and
    forbidden changes, oldest first (supervisors)."""
    return access.audit(caller, kind, username, after, limit)


@get("/", include_in_schema=False, sync_to_thread=False)
def home() -> Redirect:
    """The API docs, until there is a console to point at."""
    return Redirect("/schema", status_code=302)


# Handlers and controllers, in the order OpenAPI lists their paths.
ROUTES: list[HTTPRouteHandler | type[Controller]] = [
    home, token, refresh, SyncController, revoke_client, update_user,
    InspectionsController, SignaturesController,
    list_members, add_member, remove_member, list_clients, audit,
    MediaController,
]


def create_app(settings: Settings, store: Store | None = None) -> Litestar:
    store = store or Store(settings)
    return Litestar(
        route_handlers=ROUTES,
        request_class=FieldsyncRequest,
        dependencies={name: from_state(name) for name in ("store", "access")}
        | DEPENDENCIES,
        state=State({"store": store, "inspections": Inspections(store), "access": Access(store),
                     "proxies": proxy_networks(settings.trusted_proxies), **media_state(store, settings)}),
        middleware=[body_timeout(settings)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=settings.max_body_bytes,
        before_send=[add_epoch_header, add_tus_headers],
        on_startup=[start_media],
        on_shutdown=[stop_media, store.close],
        openapi_config=OpenAPIConfig(
            title="fieldsync",
            version="1.0.0",
            description="Offline-first sync for after-sales service of low-voltage systems. Protocol v1.",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
            ),
            security=[{"bearer": []}],
            render_plugins=RENDER_PLUGINS,
        ),
    )

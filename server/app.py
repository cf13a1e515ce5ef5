"""The Litestar app: thin handlers that decode a Struct, call the store once, return a Struct."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Litestar, Request, delete, get, post
from litestar.datastructures import ResponseHeader, State
from litestar.di import NamedDependency, Provide
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter

from sync import MIN_PROTOCOL, PROTOCOL_VERSION
from sync import errors as E
from sync.wire import ConflictPage, PullResponse, PushRequest, PushResponse, TokenRequest, TokenResponse

from .problems import EPOCH_HEADER, EXCEPTION_HANDLERS
from .settings import Settings
from .store import Caller, Store

StoreDep = NamedDependency[Store]
CallerDep = NamedDependency[Caller]


def provide_store(state: State) -> Store:
    return state.store  # type: ignore[no-any-return]


def provide_caller(request: Request[Any, Any, Any], store: StoreDep) -> Caller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise E.Unauthorized("send Authorization: Bearer <token>")
    return store.authenticate(token.strip())


def _check_protocol(request: Request[Any, Any, Any]) -> None:
    sent = request.headers.get("fieldsync-protocol")
    if sent is None:
        return
    if not sent.strip().isdigit():
        raise E.InvalidRequest(f"Fieldsync-Protocol must be a number, not {sent!r}")
    if int(sent) < MIN_PROTOCOL:
        raise E.ProtocolUnsupported(
            f"protocol {sent} is no longer served; the oldest served is {MIN_PROTOCOL}", min_protocol=MIN_PROTOCOL
        )
    if int(sent) > PROTOCOL_VERSION:
        raise E.InvalidRequest(f"protocol {sent} is newer than this server's {PROTOCOL_VERSION}")


def _app_version(request: Request[Any, Any, Any]) -> str | None:
    return request.headers.get("fieldsync-app")


@post("/auth/token", status_code=200, sync_to_thread=True, tags=["identity"])
def token(data: JSONBody[TokenRequest], request: Request[Any, Any, Any], store: StoreDep) -> TokenResponse:
    """Sign in: enrol a new client, or sign an existing client of yours in again."""
    _check_protocol(request)
    return store.login(data, _app_version(request))


@post("/sync/push", status_code=200, sync_to_thread=True, tags=["sync"])
def push(data: JSONBody[PushRequest], request: Request[Any, Any, Any], store: StoreDep, caller: CallerDep) -> PushResponse:
    """Apply a batch of changes in one transaction and return a result for each."""
    return store.push(caller, data, _app_version(request))


@get("/sync/pull", sync_to_thread=True, tags=["sync"])
def pull(
    request: Request[Any, Any, Any],
    store: StoreDep,
    caller: CallerDep,
    cursor: FromQuery[str | None] = None,
    limit: Annotated[int | None, QueryParameter(ge=1, le=100_000)] = None,
) -> PullResponse:
    """One page of rows changed since the cursor, in version order."""
    _check_protocol(request)
    return store.pull(caller, cursor, limit)


@get("/api/conflicts", sync_to_thread=True, tags=["supervisor"])
def conflicts(
    store: StoreDep,
    caller: CallerDep,
    collection: FromQuery[str | None] = None,
    row_id: FromQuery[str | None] = None,
    site_id: FromQuery[str | None] = None,
    after: Annotated[int, QueryParameter(ge=0)] = 0,
    limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
) -> ConflictPage:
    """Values that lost or were overwritten, and rejected changes and fields.

    Supervisors see all of it; a technician sees the entries that concern them.
    """
    return store.conflicts(caller, collection, row_id, site_id, after, limit)


@delete("/api/clients/{client_id:str}", status_code=204, sync_to_thread=True, tags=["identity"])
def revoke_client(client_id: FromPath[str], store: StoreDep, caller: CallerDep) -> None:
    """Revoke a client (a lost phone): its tokens answer 401 and it cannot sign in again."""
    store.revoke_client(caller, client_id)


def create_app(settings: Settings, store: StoreDep | None = None) -> Litestar:
    store = store or Store(settings)
    return Litestar(
        route_handlers=[token, push, pull, conflicts, revoke_client],
        dependencies={
            "store": Provide(provide_store, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=True),
        },
        state=State({"store": store}),
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=settings.max_body_bytes,
        response_headers=[ResponseHeader(name=EPOCH_HEADER, value=store.server_epoch)],
        on_shutdown=[store.close],
        openapi_config=OpenAPIConfig(
            title="fieldsync",
            version="1.0.0",
            description="Offline-first sync for after-sales service of low-voltage systems. Protocol v1.",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
            ),
            security=[{"bearer": []}],
        ),
    )

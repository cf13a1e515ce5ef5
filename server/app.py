"""The Litestar app: thin handlers that decode a Struct, call the store once, return a Struct."""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import anyio
import msgspec
from litestar import Litestar, Request, delete, get, patch, post, put
from litestar.connection import ASGIConnection
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import NamedDependency, Provide
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig, ResponseSpec
from litestar.openapi.spec import Components, SecurityScheme
from litestar.params import FromPath, FromQuery, JSONBody, QueryParameter, RawBody
from litestar.response import Redirect
from litestar.types import Message, Scope

from sync import MIN_PROTOCOL, PROTOCOL_VERSION
from sync import errors as E
from sync.wire import (
    APP_HEADER,
    PROTOCOL_HEADER,
    ConflictPage,
    PullResponse,
    PushRequest,
    PushResponse,
    RefreshRequest,
    TokenRequest,
    TokenResponse,
)

from . import sealing
from .access import (
    Access,
    AuditPage,
    ClientList,
    MemberList,
    MemberRequest,
    UserState,
    UserUpdate,
    require_site,
)
from .apidocs import RENDER_PLUGINS
from .blob_routes import BLOB_DEPENDENCIES, BLOB_ROUTES, add_tus_headers, blob_state, start_blobs, stop_blobs
from .inspections import (
    Coverage,
    DeviceHistory,
    GenerateRequest,
    GenerateResult,
    InspectionList,
    Inspections,
    Plan,
    Sheet,
)
from .problems import EPOCH_HEADER, EXCEPTION_HANDLERS, problem_responses
from .sealing import SignatureInfo
from .settings import Settings
from .store import Caller, Store
from .transport import body_timeout, client_address, proxy_networks

StoreDep = NamedDependency[Store]
InspectionsDep = NamedDependency[Inspections]
CallerDep = NamedDependency[Caller]
AccessDep = NamedDependency[Access]


def provide_store(state: State) -> Store:
    return state.store  # type: ignore[no-any-return]


def provide_inspections(state: State) -> Inspections:
    return state.inspections  # type: ignore[no-any-return]


def provide_access(state: State) -> Access:
    return state.access  # type: ignore[no-any-return]


def _address(request: Request[Any, Any, Any]) -> str | None:
    # The ASGI peer, or behind a trusted reverse proxy the address it forwarded (docs/security.md).
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), request.app.state.proxies)


def require_supervisor(caller: Caller) -> None:
    if caller.role != "supervisor":
        raise E.Forbidden("only supervisors may do this")


async def add_epoch_header(message: Message, scope: Scope) -> None:
    """Every response says which database it came from (it changes when one is restored).

    Set per response from the app's own store: a static response header would be
    fixed on the module-level handlers by the first app built in the process.
    """
    if message["type"] == "http.response.start":
        store = scope["app"].state.get("store")
        if store is not None:
            MutableScopeHeaders.from_message(message)[EPOCH_HEADER] = store.server_epoch


def _authenticate(request: Request[Any, Any, Any], store: Store) -> Caller:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise E.Unauthorized("send Authorization: Bearer <token>")
    return store.authenticate(token.strip(), _address(request))


_CALLER_KEY = "fieldsync_caller"


def provide_caller(request: Request[Any, Any, Any], store: StoreDep) -> Caller:
    known = request.state.get(_CALLER_KEY)
    return known if isinstance(known, Caller) else _authenticate(request, store)


async def caller_before_body(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard for the routes that take a body: the caller is resolved before a byte of it is read.

    Litestar reads and decodes a handler's body before it resolves its
    dependencies, so without this an anonymous client could make the server
    hold (up to `max_body_bytes`) and parse a body it then refuses with a 401.
    """
    store = connection.app.state.store
    caller = await anyio.to_thread.run_sync(_authenticate, connection, store)
    connection.state[_CALLER_KEY] = caller


def _check_protocol(request: Request[Any, Any, Any]) -> None:
    sent = request.headers.get(PROTOCOL_HEADER)
    if sent is None:
        return
    # isascii(): isdigit() also accepts "²", which int() then refuses (a 500).
    if not (sent.strip().isascii() and sent.strip().isdigit()):
        raise E.InvalidRequest(f"{PROTOCOL_HEADER} must be a number, not {sent!r}")
    if int(sent) < MIN_PROTOCOL:
        raise E.ProtocolUnsupported(
            f"protocol {sent} is no longer served; the oldest served is {MIN_PROTOCOL}", min_protocol=MIN_PROTOCOL
        )
    if int(sent) > PROTOCOL_VERSION:
        raise E.InvalidRequest(f"protocol {sent} is newer than this server's {PROTOCOL_VERSION}")


MAX_APP_CHARS = 128  # `Fieldsync-App`, kept with the client and in the audit trail


def _app_version(request: Request[Any, Any, Any]) -> str | None:
    app = request.headers.get(APP_HEADER)
    if app is not None and len(app) > MAX_APP_CHARS:
        raise E.InvalidRequest(f"{APP_HEADER} is at most {MAX_APP_CHARS} characters", limit=MAX_APP_CHARS)
    return app


# Ids and `after` positions beyond this are no one's (and SQLite's integers end at 2**63).
MAX_ID = 2**53 - 1

_T = TypeVar("_T")
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def strict(kind: type[_T], body: bytes) -> _T:
    """Decode a body strictly: Litestar's own conversion would turn "1" into 1.

    The `data` parameters stay in the handlers so that OpenAPI documents the
    body; the handlers use this decoding of the same bytes.
    """
    decoder = _DECODERS.setdefault(kind, msgspec.json.Decoder(kind))
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        raise E.InvalidRequest(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise E.MalformedJson(str(exc)) from None
    except RecursionError:
        # msgspec recurses into unknown fields too, so `{"a": {"a": ...}}` gets here.
        raise _too_deep() from None


def _too_deep() -> E.MalformedJson:
    return E.MalformedJson("the JSON nests too deeply to be a request of this API")


class FieldsyncRequest(Request[Any, Any, Any]):
    """Litestar's request, whose JSON decoding (every `data` parameter) answers deep nesting as malformed.

    Litestar decodes a body into plain Python objects before converting it to the
    parameter's type, and msgspec raises RecursionError, not a DecodeError, past
    its nesting limit: a 500 on every JSON endpoint, before authentication.
    """

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise _too_deep() from None


@post("/auth/token", status_code=200, responses=problem_responses(400, 401, 403, 413, 426, 429), sync_to_thread=True, tags=["identity"])
def token(
    data: JSONBody[TokenRequest], body: RawBody, request: Request[Any, Any, Any], store: StoreDep
) -> TokenResponse:
    """Sign in: enrol a new client, or sign an existing client of yours in again."""
    _check_protocol(request)
    return store.login(strict(TokenRequest, body), _app_version(request), _address(request))


@post("/auth/refresh", status_code=200, responses=problem_responses(400, 403, 413, 426), sync_to_thread=True, tags=["identity"])
def refresh(
    data: JSONBody[RefreshRequest], body: RawBody, request: Request[Any, Any, Any], store: StoreDep
) -> TokenResponse:
    """Sign a client in again with its refresh credential, or enrol a new client in its place (`enrol`)."""
    _check_protocol(request)
    return store.refresh(strict(RefreshRequest, body), _app_version(request), _address(request))


@post("/sync/push", status_code=200, responses=problem_responses(400, 401, 403, 409, 413), sync_to_thread=True, guards=[caller_before_body], tags=["sync"])
def push(
    data: JSONBody[PushRequest], body: RawBody, request: Request[Any, Any, Any], store: StoreDep, caller: CallerDep
) -> PushResponse:
    """Apply a batch of changes in one transaction and return a result for each."""
    return store.push(caller, strict(PushRequest, body), _app_version(request))


@get("/sync/pull", responses=problem_responses(400, 401, 410, 426), sync_to_thread=True, tags=["sync"])
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


@get("/api/conflicts", responses=problem_responses(400, 401), sync_to_thread=True, tags=["supervisor"])
def conflicts(
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


@delete("/api/clients/{client_id:str}", status_code=204, responses=problem_responses(401, 404), sync_to_thread=True, tags=["identity"])
def revoke_client(client_id: FromPath[str], store: StoreDep, caller: CallerDep) -> None:
    """Revoke a client (a lost phone): its tokens answer 401 and it cannot sign in again."""
    store.revoke_client(caller, client_id)


@patch("/api/users/{username:str}", responses=problem_responses(400, 401, 403, 404, 413), sync_to_thread=True, guards=[caller_before_body], tags=["identity"])
def update_user(
    username: FromPath[str], data: JSONBody[UserUpdate], body: RawBody, access: AccessDep, caller: CallerDep
) -> UserState:
    """Set a user's password, or disable or re-enable them (supervisors): every client and token of
    the user is revoked at once (a lost phone)."""
    return access.update_user(caller, username, strict(UserUpdate, body))


@get("/api/sites/{site_id:str}/plan", responses=problem_responses(401, 403, 404), sync_to_thread=True, tags=["inspections"])
def get_plan(site_id: FromPath[str], inspections: InspectionsDep, caller: CallerDep) -> Plan:
    """A site's maintenance plan: frequency, due day, default technician."""
    require_site(caller, site_id)
    require_supervisor(caller)
    return inspections.get_plan(site_id)


@put("/api/sites/{site_id:str}/plan", responses=problem_responses(400, 401, 403, 404, 413), sync_to_thread=True, guards=[caller_before_body], tags=["inspections"])
def set_plan(site_id: FromPath[str], data: JSONBody[Plan], inspections: InspectionsDep, caller: CallerDep) -> Plan:
    """Set a site's maintenance plan (supervisors); the technician must be a member of the site."""
    require_site(caller, site_id)
    require_supervisor(caller)
    return inspections.set_plan(site_id, data)


@post("/api/inspections/generate", status_code=200, responses=problem_responses(400, 401, 403, 413), sync_to_thread=True, guards=[caller_before_body], tags=["inspections"])
def generate(data: JSONBody[GenerateRequest], inspections: InspectionsDep, caller: CallerDep) -> GenerateResult:
    """Create one inspection per planned site for a period; running it again creates nothing."""
    require_supervisor(caller)
    return inspections.generate(data.period)


@get("/api/sites/{site_id:str}/coverage", responses=problem_responses(400, 401, 404), sync_to_thread=True, tags=["inspections"])
def coverage(
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


@get("/api/devices/{device_id:str}/history", responses=problem_responses(401, 404), sync_to_thread=True, tags=["inspections"])
def device_history(device_id: FromPath[str], inspections: InspectionsDep, caller: CallerDep) -> DeviceHistory:
    """A device's checks across periods, newest first."""
    return inspections.device_history(caller, device_id)


@get("/api/inspections", responses=problem_responses(400, 401), sync_to_thread=True, tags=["inspections"])
def list_inspections(
    inspections: InspectionsDep,
    caller: CallerDep,
    period: FromQuery[str | None] = None,
    site_id: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    overdue: FromQuery[bool | None] = None,
) -> InspectionList:
    """Inspections with progress (`checked`/`total`) and whether overdue, due first."""
    return inspections.list(caller, period, site_id, status, overdue)


@get("/api/inspections/{inspection_id:str}", responses=problem_responses(401, 404), sync_to_thread=True, tags=["inspections"])
def inspection_sheet(inspection_id: FromPath[str], inspections: InspectionsDep, caller: CallerDep) -> Sheet:
    """The periodic maintenance sheet: the inspection, every device's check, and counts."""
    return inspections.sheet(caller, inspection_id)


@post("/api/signatures/{signature_id:str}/retract", status_code=200, responses=problem_responses(401, 403, 404), sync_to_thread=True, tags=["inspections"])
def retract_signature(signature_id: FromPath[str], store: StoreDep, caller: CallerDep) -> SignatureInfo:
    """Retract a bogus signature (supervisors): kept and marked, it no longer seals anything."""
    return sealing.retract(store, caller, signature_id)


@get("/api/sites/{site_id:str}/members", responses=problem_responses(401, 404), sync_to_thread=True, tags=["access"])
def list_members(site_id: FromPath[str], access: AccessDep, caller: CallerDep) -> MemberList:
    """The technicians who are members of a site (supervisors; technicians for their own sites)."""
    return access.members(caller, site_id)


@post("/api/sites/{site_id:str}/members", status_code=200, responses=problem_responses(400, 401, 403, 404, 413), sync_to_thread=True, guards=[caller_before_body], tags=["access"])
def add_member(
    site_id: FromPath[str], data: JSONBody[MemberRequest], body: RawBody, access: AccessDep, caller: CallerDep
) -> MemberList:
    """Make a technician a member of a site (supervisors). Adding a member again changes nothing."""
    return access.add_member(caller, site_id, strict(MemberRequest, body).username)


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


ROUTES = [
    home, token, refresh, push, pull, conflicts, revoke_client, update_user,
    get_plan, set_plan, generate, coverage, device_history, list_inspections, inspection_sheet, retract_signature,
    list_members, add_member, remove_member, list_clients, audit,
]
ROUTES += BLOB_ROUTES


# Problems the upload and blob handlers (server/blob_routes.py) may answer, for the OpenAPI
# description; a handler missing here is declared with every status a client error can have.
_BLOB_PROBLEMS: dict[str, tuple[int, ...]] = {
    "upload_options": (),
    "create_upload": (400, 401, 412, 413, 415, 429),
    "upload_offset": (401, 404, 410, 412),
    "append_upload": (400, 401, 404, 409, 410, 412, 413, 415, 422, 423),
    "get_blob": (401, 404),
    "get_thumbnail": (400, 401, 404, 422),
    "missing_blobs": (401, 404),
}
_ANY_PROBLEM = (400, 401, 403, 404, 409, 410, 413, 415, 422, 429)


# Handlers that answer with headers only: Litestar would describe their `Response[None]` as JSON.
_NO_BODY = {"upload_options", "create_upload", "upload_offset", "append_upload"}


def _declare_problems() -> None:
    for handler in ROUTES:
        if handler.responses is None:
            name = handler.handler_name
            responses = problem_responses(*_BLOB_PROBLEMS.get(name, _ANY_PROBLEM))
            if name in _NO_BODY:
                responses[handler.status_code] = ResponseSpec(
                    data_container=None, description="No body: the answer is in the headers")
            handler.responses = responses


def create_app(settings: Settings, store: Store | None = None) -> Litestar:
    store = store or Store(settings)
    _declare_problems()
    return Litestar(
        route_handlers=ROUTES,
        request_class=FieldsyncRequest,
        dependencies={
            "store": Provide(provide_store, sync_to_thread=False),
            "inspections": Provide(provide_inspections, sync_to_thread=False),
            "access": Provide(provide_access, sync_to_thread=False),
            "caller": Provide(provide_caller, sync_to_thread=True),
            **BLOB_DEPENDENCIES,
        },
        state=State({"store": store, "inspections": Inspections(store), "access": Access(store),
                     "proxies": proxy_networks(settings.trusted_proxies), **blob_state(store, settings)}),
        middleware=[body_timeout(settings)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=settings.max_body_bytes,
        before_send=[add_epoch_header, add_tus_headers],
        on_startup=[start_blobs],
        on_shutdown=[stop_blobs, store.close],
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

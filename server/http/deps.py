"""What handlers are given: the caller, strictly decoded bodies, the protocol headers, the services.

The caller is resolved once per request, by whichever comes first: a guard
(`authenticated`, and the role and scope guards, which run before Litestar
reads a byte of the body) or the `caller` dependency.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeAlias, TypeVar
from urllib.parse import parse_qsl

import anyio
import msgspec
from litestar import Request
from litestar.connection import ASGIConnection
from litestar.di import NamedDependency, Provide
from litestar.enums import RequestEncodingType, ScopeType
from litestar.handlers import BaseRouteHandler
from litestar.params import Body
from litestar.types import ASGIApp, Receive, Scope, Send

from sync import MIN_PROTOCOL, PROTOCOL_VERSION
from sync import errors as E
from sync.fields import unstorable
from sync.wire import APP_HEADER, PROTOCOL_HEADER

from ..domains.identity.service import Caller
from ..transport import client_address, forwarded_https

_T = TypeVar("_T")

CallerDep = NamedDependency[Caller]

# Ids and `after` positions beyond this are no one's (and SQLite's integers end at 2**63).
MAX_ID = 2**53 - 1
MAX_APP_CHARS = 128  # `Fieldsync-App`, kept with the client and in the audit trail


class _Strict:
    """Marks a body to be decoded strictly (see `StrictBody`)."""


_STRICT = _Strict()
# A JSON body decoded once, strictly: Litestar's own conversion would turn "1" into 1.
# The handler's `data` parameter still documents the body in OpenAPI.
StrictBody: TypeAlias = Annotated[_T, Body(media_type=RequestEncodingType.JSON), _STRICT]
_DECODERS: dict[type[Any], msgspec.json.Decoder[Any]] = {}


def strict(kind: type[_T], body: bytes) -> _T:
    """`body` decoded as `kind`, strictly; a bad body is a 400 problem, never a 500."""
    decoder = _DECODERS.setdefault(kind, msgspec.json.Decoder(kind))
    try:
        return decoder.decode(body)  # type: ignore[no-any-return]
    except msgspec.ValidationError as exc:
        _well_formed(body)  # the wrong shape of what is not JSON at all is still malformed_json
        raise E.InvalidRequest(str(exc)) from None
    except msgspec.DecodeError as exc:
        raise E.MalformedJson(str(exc)) from None
    except RecursionError:
        # msgspec recurses into unknown fields too, so `{"a": {"a": ...}}` gets here.
        raise _too_deep() from None


def _well_formed(body: bytes) -> None:
    """Raise `MalformedJson` unless `body` is JSON (of any shape); on the error path only."""
    try:
        msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise E.MalformedJson(str(exc)) from None
    except RecursionError:
        raise _too_deep() from None


def _refuse_nul(body: bytes) -> None:
    """Raise `InvalidRequest` where a JSON string of `body` holds NUL (`\\u0000`): no field of this API
    takes one, PostgreSQL's text cannot hold one, and in a stored `json` row it would fail every read
    of a field of that row. A `\\\\u0000` (a backslash, then `u0000`) is text, and passes."""
    at = body.find(b"\\u0000")
    while at >= 0:
        start = at
        while start and body[start - 1] == 0x5C:  # the backslashes just before this one
            start -= 1
        if (at - start) % 2 == 0:
            raise E.InvalidRequest("a string holds the NUL character (\\u0000), which no field takes")
        at = body.find(b"\\u0000", at + 1)


def _too_deep() -> E.MalformedJson:
    return E.MalformedJson("the JSON nests too deeply to be a request of this API")


class FieldsyncRequest(Request[Any, Any, Any]):
    """Litestar's request, decoding a `StrictBody` strictly and answering deep nesting as malformed.

    Litestar decodes a body into plain Python objects before converting it to the
    parameter's type, and msgspec raises RecursionError, not a DecodeError, past
    its nesting limit: a 500 on every JSON endpoint, before authentication. For a
    `StrictBody` this returns the Struct itself, which Litestar's conversion then
    passes through unchanged: the body is decoded once.
    """

    async def json(self) -> Any:
        field = self.route_handler.parsed_data_field
        _refuse_nul(await self.body())
        if field is not None and _STRICT in field.metadata:
            return strict(field.annotation, await self.body())
        try:
            return await super().json()
        except RecursionError:
            raise _too_deep() from None


def refuse_unstorable(app: ASGIApp) -> ASGIApp:
    """ASGI middleware: a query or path parameter (name or value) holding what a database cannot store
    (a NUL, `%00`) is a 400 naming it, before a guard or handler reads it. Only JSON bodies are bounded
    by wire types; a parameter looked up in PostgreSQL with a NUL in it was a 500 (issue 16)."""

    async def checked(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP:
            _check_parameters(scope)
        await app(scope, receive, send)

    return checked


def _check_parameters(scope: Scope) -> None:
    for name, value in scope.get("path_params", {}).items():
        if isinstance(value, str) and (what := unstorable(value)):
            raise _unstorable("path", name, what)
    query = scope.get("query_string", b"")
    if b"%00" in query or b"\x00" in query:  # decoded with replacement, a query holds no other unstorable text
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if what := unstorable(name):
                raise _unstorable("query", name.replace("\x00", "")[:64], what)
            if what := unstorable(value):
                raise _unstorable("query", name[:64], what)


def _unstorable(kind: str, name: str, what: str) -> E.InvalidRequest:
    return E.InvalidRequest(f"the {kind} parameter {name!r} holds {what}, which no parameter takes", parameter=name)


def address(request: ASGIConnection[Any, Any, Any, Any]) -> str | None:
    """The ASGI peer, or behind a trusted reverse proxy the address it forwarded (docs/security.md)."""
    peer = request.client.host if request.client else None
    return client_address(peer, request.headers.get("x-forwarded-for"), request.app.state.proxies)


def is_https(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """Whether the browser reached us over https: directly, or through a trusted proxy that says so
    (the trust `address` gives X-Forwarded-For, and no other; docs/security.md)."""
    peer = connection.client.host if connection.client else None
    return connection.url.scheme == "https" or forwarded_https(
        peer, connection.headers.get("x-forwarded-proto"), connection.app.state.proxies)


def _authenticate(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    scheme, _, token = connection.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise E.Unauthorized("send Authorization: Bearer <token>")
    caller: Caller = connection.app.state.store.authenticate(token.strip(), address(connection))
    return caller


_CALLER_KEY = "fieldsync_caller"


def provide_caller(request: Request[Any, Any, Any]) -> Caller:
    """The caller, in a worker thread already (an upload's PATCH reads it with its headers)."""
    known = request.state.get(_CALLER_KEY)
    return known if isinstance(known, Caller) else _authenticate(request)


async def caller_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Caller:
    """The caller, for a guard: resolved in a worker thread (it reads the database), once per request."""
    known = connection.state.get(_CALLER_KEY)
    if isinstance(known, Caller):
        return known
    caller = await anyio.to_thread.run_sync(_authenticate, connection)
    connection.state[_CALLER_KEY] = caller
    return caller


async def authenticated(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """A guard for the routes that take a body: the caller is resolved before a byte of it is read.

    Litestar reads and decodes a handler's body before it resolves its
    dependencies, so without this an anonymous client could make the server
    hold (up to `max_body_bytes`) and parse a body it then refuses with a 401.
    """
    await caller_of(connection)


def check_protocol(request: Request[Any, Any, Any]) -> None:
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


def app_version(request: Request[Any, Any, Any]) -> str | None:
    app = request.headers.get(APP_HEADER)
    if app is not None and len(app) > MAX_APP_CHARS:
        raise E.InvalidRequest(f"{APP_HEADER} is at most {MAX_APP_CHARS} characters", limit=MAX_APP_CHARS)
    if app is not None and (what := unstorable(app)):  # HTTP servers refuse a NUL byte; an ASGI one may not
        raise E.InvalidRequest(f"{APP_HEADER} holds {what}", parameter=APP_HEADER)
    return app


def from_state(key: str) -> Provide:
    """A dependency that hands out the app's service under `key` in its state (built by `create_app`)."""

    def provide(request: Request[Any, Any, Any]) -> Any:
        return request.app.state[key]

    return Provide(provide, sync_to_thread=False)


async def _caller(request: Request[Any, Any, Any]) -> Caller:
    """The `caller` dependency, on the event loop: the caller a guard resolved is handed over without
    a trip of its own to a worker thread (a small push's fixed cost, issue 15); one not resolved yet
    is resolved in a worker thread by `caller_of`, as the guards do."""
    return await caller_of(request)


DEPENDENCIES = {"caller": Provide(_caller)}


def remember_caller(connection: ASGIConnection[Any, Any, Any, Any], caller: Caller) -> None:
    """Set the request's caller found another way (the console's cookie): the guards then use it."""
    connection.state[_CALLER_KEY] = caller

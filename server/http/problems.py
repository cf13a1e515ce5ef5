"""Every error becomes an RFC 9457 problem body with a stable `code`, here and only here."""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Request, Response
from litestar.datastructures import MutableScopeHeaders
from litestar.exceptions import HTTPException, SerializationException, ValidationException
from litestar.openapi.datastructures import ResponseSpec
from litestar.types import Message, Scope

from sync import errors as E
from sync.wire import EPOCH_HEADER

from .info import ServerInfo, server_info

PROBLEM = "application/problem+json"
log = logging.getLogger("fieldsync")

# Litestar's own HTTP errors, by status, as the SyncError the protocol names.
_BY_STATUS: dict[int, type[E.SyncError]] = {
    400: E.InvalidRequest,
    401: E.Unauthorized,
    403: E.Forbidden,
    404: E.NotFound,
    405: E.MethodNotAllowed,
    413: E.BodyTooLarge,
    415: E.UnsupportedMediaType,
    429: E.TooManyRequests,
}



class Problem(msgspec.Struct, kw_only=True):
    """An RFC 9457 problem body, as every error is sent (for the OpenAPI description).

    Some problems add fields: `limit` (the limit a request went over),
    `retry_after`, `acked_seq`, `min_protocol`, `parameter` and `valid`, and others named in
    docs/sync-protocol.md.
    """

    type: str
    title: str
    status: int
    detail: str
    code: str
    limit: int | None = None
    parameter: str | None = None  # invalid_filter: the query parameter
    valid: list[str] | None = None  # invalid_filter: its valid values


_STATUS_TEXT = {
    400: "Invalid request (malformed JSON, wrong types, bad parameters)",
    401: "No token, or an unknown, revoked or expired token (or wrong credentials)",
    403: "An action the caller's role may not take",
    404: "No such object in the caller's scope",
    405: "Method not allowed",
    409: "Conflict with the server's state (seq_gap, seq_reused, offset_mismatch, user_exists)",
    410: "Gone (cursor_expired, upload_failed)",
    412: "Precondition failed (Tus-Resumable)",
    413: "Over a size limit; the body names it in `limit`",
    415: "Unsupported media type",
    422: "The content failed its checks",
    423: "Locked; retry later",
    426: "Protocol no longer served",
    429: "Too many requests; see Retry-After",
    503: "The database (database_unavailable, PostgreSQL only) or the photo storage (storage_unavailable)"
         " is unavailable; nothing was kept, retry after Retry-After",
    507: "The photo storage is full (storage_full); nothing was kept, retry after Retry-After",
}


def problem_responses(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI response declarations for the problems a route may answer.

    400 is always among them: it replaces Litestar's own description of a
    validation error, which this server answers as a problem body too. So is 503: any
    request may meet a PostgreSQL connection that broke (`storage/postgres/connection.py`).
    """
    return {
        status: ResponseSpec(data_container=Problem, description=_STATUS_TEXT[status], media_type=PROBLEM,
                             generate_examples=False)
        for status in sorted({400, 503, *statuses})
    }


def problem_response(error: E.SyncError, request: Request[Any, Any, Any] | None = None) -> Response[dict[str, object]]:
    headers = {}
    info = server_info(request.app) if request is not None else None
    if info is not None:
        headers[EPOCH_HEADER] = info.epoch
    if "retry_after" in error.extra:
        headers["Retry-After"] = str(error.extra["retry_after"])
    # Every text of the body bounded, whatever it quotes: a 60,000-character path came back whole in a 404's
    # detail, and Litestar's own refusals quote the whole query string.
    limit = info.max_detail_chars if info is not None else ServerInfo.max_detail_chars
    body = {k: E.clip(v, limit) if isinstance(v, str) else v for k, v in error.problem().items()}
    return Response(body, status_code=error.status, media_type=PROBLEM, headers=headers)


def on_sync_error(request: Request[Any, Any, Any], exc: E.SyncError) -> Response[dict[str, object]]:
    return problem_response(exc, request)


def sync_error_of(request: Request[Any, Any, Any], exc: HTTPException) -> E.SyncError:
    """Litestar's own HTTP error as the SyncError the protocol names (with its reasons and limit)."""
    cls = _BY_STATUS.get(exc.status_code)
    if cls is None:
        cls = E.ServerError if exc.status_code >= 500 else E.InvalidRequest
    detail = exc.detail
    # A body msgspec could not parse (malformed or truncated) reaches here as a
    # ClientException raised from Litestar's SerializationException.
    if "malformed" in str(exc.detail).lower() or isinstance(exc.__cause__, SerializationException):
        cls = E.MalformedJson
    if isinstance(exc, ValidationException):
        extra = exc.extra if isinstance(exc.extra, list) else []
        reasons = "; ".join(f"{e.get('key') or e.get('source') or ''}: {e.get('message')}" for e in extra if isinstance(e, dict))
        detail = f"{exc.detail}: {reasons}" if reasons else exc.detail
    if cls is E.NotFound and detail == "Not Found":  # no route: Litestar's words said nothing more
        detail = "nothing is served at this path; the API's routes are described at /schema"
    elif cls is E.MethodNotAllowed and (allow := allowed(exc)):
        detail = f"this path does not take {request.method}; it takes {allow}"
    error = cls(detail)
    info = server_info(request.app)
    if cls is E.BodyTooLarge and info is not None:
        # A route's own limit (the service terms' 64 KiB), else the server's.
        error.extra["limit"] = request.route_handler.resolve_request_max_body_size() or info.max_body_bytes
    if cls is E.ServerError:
        error.status = exc.status_code  # type: ignore[misc]
    return error


def allowed(exc: HTTPException) -> str:
    """The methods a path takes, as Litestar's 405 names them (its `Allow`; RFC 9110 requires it in a 405)."""
    named = str((exc.headers or {}).get("allow") or "")
    return ", ".join(sorted(m.strip() for m in named.split(",") if m.strip()))  # in one order, run to run


async def allow_every_method(message: Message, scope: Scope) -> None:
    """Litestar's own `OPTIONS` answer names the methods of its path's handlers as first registered: a path
    whose handlers came in two registrations (`HEAD` and `PATCH /files/{id}`, `GET` and `POST /api/sites`)
    said `Allow: HEAD, OPTIONS` while its 405 listed `PATCH` too. Now it names them all, as the 405 does."""
    if message["type"] != "http.response.start" or scope.get("method") != "OPTIONS":
        return
    headers = MutableScopeHeaders.from_message(message)
    handler = scope.get("route_handler")
    if "allow" in headers and handler is not None and len(handler.paths) == 1:
        methods = scope["app"].route_handler_method_map.get(next(iter(handler.paths)))
        if methods:
            headers["Allow"] = ", ".join(sorted(methods))


def on_http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, object]]:
    answer = problem_response(sync_error_of(request, exc), request)
    if allow := allowed(exc):
        answer.headers["Allow"] = allow  # a 405's problem dropped it
    return answer


def on_undecodable(request: Request[Any, Any, Any], exc: UnicodeDecodeError) -> Response[dict[str, object]]:
    # msgspec raises UnicodeDecodeError for invalid UTF-8 in a JSON string, and
    # Litestar lets it through unwrapped: the client sent it, so it is a 400, not a 500.
    return problem_response(E.MalformedJson(f"the body is not valid UTF-8: {exc.reason}"), request)


def unexpected(exc: Exception) -> E.ServerError:
    """An exception no handler expected, logged with its traceback, as the 500 the client is told."""
    log.exception("unexpected error", exc_info=exc)
    return E.ServerError("an unexpected error occurred; the request changed nothing")


def on_unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, object]]:
    return problem_response(unexpected(exc), request)


EXCEPTION_HANDLERS = {
    E.SyncError: on_sync_error,
    HTTPException: on_http_error,
    UnicodeDecodeError: on_undecodable,
    Exception: on_unexpected,
}
__all__ = ["EPOCH_HEADER", "EXCEPTION_HANDLERS", "PROBLEM", "Problem", "allow_every_method", "allowed", "problem_response",
           "problem_responses", "sync_error_of", "unexpected"]

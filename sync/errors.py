"""The SyncError family: every error the protocol names, with its stable code.

The server maps these to RFC 9457 problem bodies in one place
(`server/http/problems.py`); the client SDK turns problem bodies back into the same
classes with `from_problem`.
"""

from __future__ import annotations

from typing import Any, ClassVar, overload


@overload
def clip(text: str, limit: int) -> str: ...
@overload
def clip(text: str | None, limit: int) -> str | None: ...
def clip(text: str | None, limit: int) -> str | None:
    """A message bounded to `limit` characters, ending in `…` when cut (it may quote what a client sent)."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"


class SyncError(Exception):
    status: ClassVar[int] = 400
    code: ClassVar[str] = "invalid_request"
    title: ClassVar[str] = "The request is not valid"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        self.detail = detail or self.title
        self.extra = extra
        super().__init__(self.detail)

    def problem(self) -> dict[str, Any]:
        body = {
            "type": f"urn:fieldsync:problem:{self.code}",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
            "code": self.code,
        }
        body.update(self.extra)
        return body


class InvalidRequest(SyncError):
    pass


class InvalidFilter(InvalidRequest):
    code = "invalid_filter"
    title = "A query filter has a value that is not one of its valid values"


class MalformedJson(SyncError):
    code = "malformed_json"
    title = "The body is not valid JSON"


class SeqNotConsecutive(SyncError):
    code = "seq_not_consecutive"
    title = "Change seq numbers must be consecutive and ascending"


class InvalidCursor(SyncError):
    code = "invalid_cursor"
    title = "The cursor was not issued by this server"


class Unauthorized(SyncError):
    status = 401
    code = "unauthorized"
    title = "A valid bearer token is required"


class TokenExpired(SyncError):
    status = 401
    code = "token_expired"
    title = "The token expired; sign in again with your client_id"


class InvalidCredentials(SyncError):
    status = 401
    code = "invalid_credentials"
    title = "Wrong username or password"


class Forbidden(SyncError):
    status = 403
    code = "forbidden"
    title = "Your role may not do this"


class ClientMismatch(SyncError):
    status = 403
    code = "client_mismatch"
    title = "The push names another client than the token's"


class ClientUnavailable(SyncError):
    status = 403
    code = "client_unavailable"
    title = "This client cannot sign in again; enrol a new one"


class AccountDisabled(SyncError):
    status = 403
    code = "account_disabled"
    title = "This account is disabled; ask a supervisor"


class NotFound(SyncError):
    status = 404
    code = "not_found"
    title = "Not found"


class MethodNotAllowed(SyncError):
    status = 405
    code = "method_not_allowed"
    title = "Method not allowed"


class SeqGap(SyncError):
    status = 409
    code = "seq_gap"
    title = "Changes are missing before this batch; resend from acked_seq + 1"


class SeqReused(SyncError):
    status = 409
    code = "seq_reused"
    title = "A seq number was reused with another change; enrol a new client"


class CursorExpired(SyncError):
    status = 410
    code = "cursor_expired"
    title = "The cursor is older than the tombstone horizon; take a fresh snapshot"


class TooManyChanges(SyncError):
    status = 413
    code = "too_many_changes"
    title = "Too many changes in one push"


class RequestTimeout(SyncError):
    status = 408
    code = "request_timeout"
    title = "The request was not sent in time; send it again"


class BodyTooLarge(SyncError):
    status = 413
    code = "body_too_large"
    title = "The request body is too large"


class UnsupportedMediaType(SyncError):
    status = 415
    code = "unsupported_media_type"
    title = "Unsupported media type"


class ProtocolUnsupported(SyncError):
    status = 426
    code = "protocol_unsupported"
    title = "This protocol version is no longer served; update the app"


class TooManyRequests(SyncError):
    status = 429
    code = "too_many_requests"
    title = "Too many requests; retry later"


class TooManyClients(TooManyRequests):
    code = "too_many_clients"
    title = "This user has as many clients as allowed; revoke one no longer used, then sign in again"


class LoginThrottled(TooManyRequests):
    code = "login_throttled"
    title = "Too many failed sign-ins; retry after Retry-After seconds"


class OutOfOrder(SyncError):
    status = 409
    code = "out_of_order"
    title = "The event makes no sense in the request's current state"


class UserExists(SyncError):
    status = 409
    code = "user_exists"
    title = "There is already a user with this username"


class UserDisabled(SyncError):
    """A disabled account made a member of a site (a crafted form or request: the console offers only enabled
    technicians); nothing written. Enabling the account first lets it be added."""

    status = 409
    code = "user_disabled"
    title = "The user's account is disabled"


class WeakPassword(SyncError):
    code = "weak_password"
    title = "The password is too weak"


class ServerError(SyncError):
    status = 500
    code = "server_error"
    title = "The server failed; nothing was changed"


class DatabaseUnavailable(SyncError):
    """The database broke under a request (a restart, a terminated connection, the network) or cannot be
    reached: the request's transaction did not commit, or its answer was lost with the connection (a push's
    retry is then answered from its receipts). The server reconnects on the next request."""

    status = 503
    code = "database_unavailable"
    title = "The database is unavailable; retry after Retry-After seconds"



# -- uploads and blobs (tus at /files, /blobs) -----------------------------------


class TusVersionUnsupported(SyncError):
    status = 412
    code = "tus_version_unsupported"
    title = "Send Tus-Resumable: 1.0.0"


class UploadGone(SyncError):
    status = 410
    code = "upload_failed"
    title = "This upload failed or expired; create a new one"


class UploadOffsetMismatch(SyncError):
    status = 409
    code = "offset_mismatch"
    title = "Upload-Offset is not the upload's current offset; ask with HEAD and resume from there"


class UploadLocked(SyncError):
    status = 423
    code = "upload_locked"
    title = "Another request is appending to this upload; retry later"


class UploadTooLarge(SyncError):
    status = 413
    code = "upload_too_large"
    title = "The upload is larger than Tus-Max-Size"


class UploadExceedsLength(SyncError):
    status = 413
    code = "upload_exceeds_length"
    title = "The body goes past Upload-Length; nothing of it was kept"


class DigestMismatch(SyncError):
    status = 422
    code = "digest_mismatch"
    title = "The bytes do not have the SHA-256 the upload declared; the upload is discarded"


class InvalidImage(SyncError):
    status = 422
    code = "invalid_image"
    title = "The bytes are not a complete JPEG or PNG image of the declared type; the upload is discarded"


class ImageTooLarge(SyncError):
    status = 422
    code = "image_too_large"
    title = "The image has more pixels than the server accepts; the upload is discarded"


class InvalidSheet(SyncError):
    status = 422
    code = "invalid_sheet"
    title = "The sheet snapshot is not the protocol's JSON; the upload is discarded"


class InvalidImport(InvalidRequest):
    """A customer archive file that cannot be read as a device list, or with bad rows (`errors`, issue 14)."""

    status = 422
    code = "invalid_import"
    title = "The file is not a device list this server can import; nothing was imported"


# -- the blob store failing under a request (a bucket unreachable, a blob directory not writable) ----


class StorageUnavailable(SyncError):
    """The blob store did not answer or refused the write; nothing of the request was kept (`retry_after`)."""

    status = 503
    code = "storage_unavailable"
    title = "The server cannot reach its photo storage; nothing was kept, try again later"


class StorageFull(SyncError):
    """The blob store has no room left; nothing of the request was kept (`retry_after`)."""

    status = 507
    code = "storage_full"
    title = "The server's photo storage is full; nothing was kept, try again later"


class SiteExists(SyncError):
    """A new site with the name of one the same customer already has (`site_id` names it)."""

    status = 409
    code = "site_exists"
    title = "The customer already has a site of that name"


# -- a change refused by the merge, outside a push (issue 12: the desk's POST /api/service-requests) --


class InvalidField(InvalidRequest):
    code = "invalid_field"
    title = "A field has a value its collection does not accept"


class UnknownParent(InvalidRequest):
    code = "unknown_parent"
    title = "A row this one names does not exist"


def rejection(reason: str | None, detail: str | None) -> SyncError:
    """The problem for a change the merge rejected, with the push's stable reason as its code."""
    cls = {"forbidden": Forbidden, "invalid_field": InvalidField, "unknown_parent": UnknownParent}.get(
        str(reason), InvalidRequest)
    return cls(detail, reason=reason)


def _all_subclasses(cls: type[SyncError]) -> list[type[SyncError]]:
    out: list[type[SyncError]] = []
    for sub in cls.__subclasses__():
        out.append(sub)
        out.extend(_all_subclasses(sub))
    return out


_ALL_ERRORS: list[type[SyncError]] = [SyncError, *_all_subclasses(SyncError)]
ERRORS_BY_CODE: dict[str, type[SyncError]] = {cls.code: cls for cls in _ALL_ERRORS}


def from_problem(status: int, body: dict[str, Any]) -> SyncError:
    """Rebuild the SyncError a problem body describes (for the client SDK)."""
    cls = ERRORS_BY_CODE.get(str(body.get("code")), SyncError)
    extra = {k: v for k, v in body.items() if k not in {"type", "title", "status", "detail", "code"}}
    error = cls(str(body.get("detail") or cls.title), **extra)
    error.http_status = status  # type: ignore[attr-defined]
    return error


# Reasons a single change is rejected, in the order of precedence the protocol gives.
REJECT_ORDER = (
    "invalid_hlc",
    "unknown_collection",
    "unknown_parent",
    "forbidden",
    "immutable",
    "sealed",
    "incomplete",
    "invalid_field",
)

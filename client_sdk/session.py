"""The client's HTTP session: headers, sign-in and re-sign-in, the epoch check, and
the one reading of a problem body.

Every call to the server goes through here, rows (`request`) and tus uploads
(`tus`) alike, so a 401 signs the client in again the same way wherever it
happens, and an error answer becomes the same `sync.errors` class. What a
sign-in does to the local state (a new client id, a renumbered outbox, a fresh
snapshot) is the client's business: the session hands the server's answer to
the `adopt` callback it was given.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import msgspec

from sync import PROTOCOL_VERSION
from sync import errors as E
from sync.wire import (
    APP_HEADER,
    EPOCH_HEADER,
    PROTOCOL_HEADER,
    TUS_VERSION,
    RefreshRequest,
    TokenRequest,
    TokenResponse,
)

from .replica import Replica

__version__ = "0.1.0"
APP = f"fieldsync-client/{__version__}"

_token_response = msgspec.json.Decoder(TokenResponse)
encode = msgspec.json.Encoder().encode

# adopt(answer, renumber): store a sign-in; see Client._adopt.
Adopt = Callable[[TokenResponse, str | None], None]
# (username, password, client_name), typed by the technician for one call and never stored.
Credentials = tuple[str, str, str]


class EpochChanged(Exception):
    """The server answered with another `server_epoch`: it was restored from a backup."""

    def __init__(self, epoch: str) -> None:
        super().__init__(epoch)
        self.epoch = epoch


class _Epoch(msgspec.Struct):
    server_epoch: str = ""


_epoch_decoder = msgspec.json.Decoder(_Epoch)


def epoch_of(resp: httpx.Response) -> str:
    """The server epoch of an answer: from its body when it has one (a success's), else the header.

    The body wins because it is read from the store that answered; the header
    is fixed when the app is built, each app its own (`server/http/info.py`), and
    is all an error answer has.
    """
    try:
        epoch = _epoch_decoder.decode(resp.content).server_epoch
    except (msgspec.DecodeError, msgspec.ValidationError):
        epoch = ""
    return epoch or resp.headers.get(EPOCH_HEADER, "")


def problem_body(resp: httpx.Response) -> dict[str, Any] | None:
    """The RFC 9457 body of an error answer, or None when it has none (a proxy's HTML page)."""
    try:
        body = resp.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def problem(resp: httpx.Response) -> E.SyncError:
    """The `sync.errors` class an error answer stands for."""
    body = problem_body(resp)
    error = E.from_problem(resp.status_code, body if body is not None else {
        "detail": f"HTTP {resp.status_code}: {resp.text[:200]}"})
    error.served = body is not None  # type: ignore[attr-defined]  # the server's problem body, no proxy's page
    return error


def refusal(resp: httpx.Response) -> str:
    """An error answer in one line, as kept beside a failed upload: status, code and detail."""
    body = problem_body(resp)
    if body is not None and body.get("detail"):
        return f"{resp.status_code} {body.get('code') or ''}: {body['detail']}".strip()
    return f"HTTP {resp.status_code}"


class Session:
    """Calls to the server on behalf of the client whose database is `db`."""

    def __init__(self, http: httpx.Client, db: Replica, adopt: Adopt) -> None:
        self.http = http
        self.db = db
        self._adopt = adopt

    def headers(self, auth: bool = True) -> dict[str, str]:
        headers = {
            PROTOCOL_HEADER: str(PROTOCOL_VERSION),
            APP_HEADER: APP,
            "Content-Type": "application/json",
        }
        if auth:
            token = self.db.meta("token")
            if token is None:
                signed_out = self.db.meta("signed_out")
                raise E.ClientUnavailable(signed_out) if signed_out else E.Unauthorized("sign in first")
            headers["Authorization"] = f"Bearer {token}"
        return headers

    # -- signing in ---------------------------------------------------------------

    def token(self, client_id: str | None, credentials: Credentials) -> TokenResponse:
        """POST /auth/token with the password just typed; raises SyncError."""
        username, password, client_name = credentials
        body = TokenRequest(username=username, password=password, client_name=client_name, client_id=client_id)
        return self._sign_in("/auth/token", encode(body))

    def refresh(self, enrol: bool) -> TokenResponse:
        """POST /auth/refresh: this client again, or with `enrol` a new client in its place.

        Refused (the client was revoked, its user's password changed or the account
        disabled, or the credential expired): the client is signed out. It stops
        syncing, keeps its outbox, and waits for the technician to sign in again.
        """
        client_id, secret = self.db.meta("client_id"), self.db.meta("refresh_token")
        if client_id is None or secret is None:
            raise E.Unauthorized("sign in again with your password")
        try:
            return self._sign_in("/auth/refresh", encode(RefreshRequest(
                client_id=client_id, refresh_token=secret, enrol=enrol)))
        except E.ClientUnavailable as exc:
            pending = self.db.pending_count()
            detail = (f"this client was signed out at the server ({exc.detail}); its {pending} unsent"
                      " change(s) are kept here until you sign in again with your password")
            self.db.set_meta(token=None, refresh_token=None, signed_out=detail)
            raise E.ClientUnavailable(detail, pending=pending) from None

    def _sign_in(self, path: str, body: bytes) -> TokenResponse:
        resp = self.http.post(path, content=body, headers=self.headers(auth=False))
        if resp.status_code >= 400:
            raise problem(resp)
        answer = _token_response.decode(resp.content)
        answer.server_epoch = epoch_of(resp)
        return answer

    def can_sign_in(self) -> bool:
        return self.db.meta("refresh_token") is not None

    def sign_in_again(self) -> None:
        """After a 401 (the token expired or was revoked): this client again, by its refresh credential."""
        answer = self.refresh(enrol=False)
        stored = self.db.meta("server_epoch")
        if stored and answer.server_epoch and answer.server_epoch != stored:
            raise EpochChanged(answer.server_epoch)
        self._adopt(answer, None)

    def reenrol(self) -> None:
        """Enrol a new client in this one's place and resend the pending changes renumbered (seq_reused)."""
        self._adopt(self.refresh(enrol=True), "pending")

    def recover(self, epoch: str, credentials: Credentials | None = None) -> None:
        """The server was restored: enrol anew, resend all still held, take a fresh snapshot."""
        answer = self.token(None, credentials) if credentials else self.refresh(enrol=True)
        answer.server_epoch = answer.server_epoch or epoch
        self._adopt(answer, "all")

    # -- calls ----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        body: Callable[[], bytes] | None = None,
        params: Callable[[], dict[str, Any]] | None = None,
    ) -> httpx.Response:
        """An authenticated call; signs in again once on 401; raises SyncError or EpochChanged.

        `body` and `params` are built at each attempt, from the state after any
        re-sign-in (which may have enrolled a new client and renumbered the outbox).
        """
        signed_in_again = False
        while True:
            resp = self.http.request(
                method,
                path,
                content=body() if body else None,
                params=params() if params else None,
                headers=self.headers(),
            )
            # Every answer carries the epoch, errors too (docs/sync-protocol.md, "Common rules"): a restored
            # server's first answer may be a 409 seq_gap or a 401, and what they would have the phone do
            # (rewind and resend as the old client, sign in again) is wrong for a server that is not the same.
            epoch = epoch_of(resp)
            stored = self.db.meta("server_epoch")
            if epoch and stored and epoch != stored:
                raise EpochChanged(epoch)
            if resp.status_code == 401 and not signed_in_again and self.can_sign_in():
                signed_in_again = True
                self.sign_in_again()
                continue
            if resp.status_code >= 400:
                raise problem(resp)
            if epoch and not stored:
                self.db.set_meta(server_epoch=epoch)
            return resp

    def tus(self, method: str, url: str, headers: dict[str, str] | None = None,
            content: bytes | None = None, timeout: float | None = None) -> httpx.Response:
        """One authenticated tus request; signs in again once on 401. The caller reads the status. `timeout`
        (s): shorter than the client's own."""
        for attempt in (1, 2):
            sent = self.headers()
            sent.pop("Content-Type", None)
            sent["Tus-Resumable"] = TUS_VERSION
            sent.update(headers or {})
            resp = (self.http.request(method, url, headers=sent, content=content) if timeout is None else
                    self.http.request(method, url, headers=sent, content=content, timeout=timeout))
            if resp.status_code == 401 and attempt == 1 and self.can_sign_in():
                try:
                    self.sign_in_again()
                except EpochChanged as exc:
                    self.recover(exc.epoch)
                continue
            return resp
        return resp

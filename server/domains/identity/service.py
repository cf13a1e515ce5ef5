"""Identity: who a request is (`Caller`), sign-in, refresh, revocation, accounts and memberships.

Every outcome that matters to security is audited in the transaction that makes it.
The SQL is in `storage/identity.py`.
"""

from __future__ import annotations

import hmac
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from sync import errors as E
from sync import hlc, schema
from sync.merge import Actor
from sync.wire import MAX_PASSWORD_CHARS, RefreshRequest, TokenRequest, TokenResponse, UserInfo

from ...settings import Settings
from ...storage import identity as q
from ...storage.base import Connection, Connections
from ...storage.scope import memberships
from . import audit as A
from .passwords import (
    DUMMY_HASH,
    check_password,
    check_password_strength,
    hash_password,
    new_token,
    token_hash,
)
from .quotas import check_new_client
from .throttle import LoginThrottle

CONSOLE_APP = "console"  # the `app` of the clients that console sign-ins enrol

_TOKEN_TOUCH_MS = 60_000


@dataclass(frozen=True)
class Caller:
    """An authenticated request: user, role, client, and the sites in scope."""

    user_id: str
    username: str
    name: str
    role: str
    client_id: str
    sites: frozenset[str] | None  # None: every site (supervisors)
    address: str | None = None  # the client's network address, for the audit trail

    @property
    def actor(self) -> Actor:
        return Actor(self.client_id, self.username, self.role, self.sites)


class _Who(TypedDict):
    username: str | None
    client_id: str | None
    address: str | None


def _by(by: Caller | None) -> _Who:
    """Who did it, for the audit trail (None: the server itself, or a command on the server)."""
    return {"username": by.username if by else None, "client_id": by.client_id if by else None,
            "address": by.address if by else None}


def set_member(db: Connection, site_id: str, username: str, member: bool, now_ms: int,
               by: Caller | None = None, via: str | None = None) -> bool:
    """Add or end a membership in the caller's write transaction, audited; False if nothing changed.
    `via`: the command that did it from the shell, named in the audit entry's detail."""
    user_id = q.user_id_of(db, username)
    if user_id is None:
        raise E.NotFound(f"no user {username}")
    if member and q.disabled_at(db, username) is not None:
        # Read in the write transaction: an account disabled meanwhile is not added after it (a crafted form
        # or request added one: the console offers enabled technicians only). Taking one off stays possible.
        raise E.UserDisabled(f"{username}'s account is disabled; enable it first (PATCH /api/users/{username}"
                             ' {"disabled": false}) to make them a member of a site')
    changed = q.set_member(db, site_id, user_id, member, hlc.format_ts(now_ms))
    if changed:
        shell: dict[str, Any] = {"via": via} if via else {}
        A.audit(db, A.MEMBER_ADDED if member else A.MEMBER_REMOVED, **_by(by), site_id=site_id, member=username,
                **shell)
    return changed


class Identity:
    def __init__(self, db: Connections, settings: Settings, server_epoch: str,
                 now_ms: Callable[[], int] = hlc.wall_ms) -> None:
        self._db = db
        self.settings = settings
        self.server_epoch = server_epoch
        self.now_ms = now_ms
        self.throttle = LoginThrottle(db, settings)
        self.touched: dict[str, int] = {}  # token hash -> when this process last saw it used

    def create_user(self, username: str, name: str, role: str, password: str, *, demo: bool = False,
                    sites: Sequence[str] = (), by: Caller | None = None) -> str:
        """Create an account, a technician with their memberships of `sites`, in one transaction.
        Outside demo mode (`Settings.demo`, or `demo=True` for the published demo accounts) the
        password must pass `check_password_strength`. Audited, but for the demo's accounts; `by`: the
        supervisor (None: `fieldsync add-user`)."""
        if not (demo or self.settings.demo):
            check_password_strength(password, username, self.settings)
        if role not in schema.ROLES:
            raise E.InvalidRequest(f"role must be one of {', '.join(schema.ROLES)}")
        if sites and role != schema.TECHNICIAN:
            raise E.InvalidRequest("sites are for technicians: supervisors and the desk see every site")
        user_id = str(uuid.uuid5(schema.NS, f"user/{username}"))
        new_hash = hash_password(password)  # slow: outside the lock
        with self._db.write(versions=bool(sites)) as db:  # memberships take versions
            if q.user_id_of(db, username) is not None:
                raise E.UserExists(f"there is already a user {username}")
            stamp = hlc.format_ts(self.now_ms())
            q.insert_user(db, user_id, username, name, role, new_hash, stamp)
            for site_id in dict.fromkeys(sites):
                q.set_member(db, site_id, user_id, True, stamp)
            if not demo:
                A.audit(db, A.USER_CREATED, **_by(by), member=username, role=role, sites=list(dict.fromkeys(sites)))
        return user_id

    def add_member(self, site_id: str, username: str, by: Caller | None = None, via: str | None = None) -> bool:
        """Make a technician a member of a site; False if they already were.

        `by`: the supervisor who did it, for the audit trail (None: the server itself, or `via` a command).
        """
        return self._set_member(site_id, username, True, by, via)

    def remove_member(self, site_id: str, username: str, by: Caller | None = None, via: str | None = None) -> bool:
        """End a technician's membership of a site; False if they were not a member."""
        return self._set_member(site_id, username, False, by, via)

    def _set_member(self, site_id: str, username: str, member: bool, by: Caller | None, via: str | None) -> bool:
        with self._db.write(versions=True) as db:
            return set_member(db, site_id, username, member, self.now_ms(), by, via)

    def members(self, site_id: str) -> list[str]:
        with self._db.read() as db:
            return q.members(db, site_id)

    def login(self, req: TokenRequest, app: str | None = None, address: str | None = None,
              console: bool = False) -> TokenResponse:
        """Sign in with a password. Throttled (`LoginThrottle`): the attempt is counted before
        the password is checked; every outcome is audited, a throttled one at most once per
        throttled key and window."""
        attempt = self.throttle.attempt(req.username, address)
        if attempt.wait:
            if attempt.report:
                with self._db.write() as db:
                    A.audit(db, A.LOGIN_THROTTLED, username=req.username, address=address,
                            client_id=req.client_id, retry_after=attempt.wait, keys=list(attempt.keys))
            raise E.LoginThrottled(
                f"too many failed sign-ins for this username or address; retry in {attempt.wait} s",
                retry_after=attempt.wait, limit=attempt.limit,
                window_seconds=self.settings.login_window_seconds,
            )
        with self._db.read() as db:
            user = q.credentials(db, req.username)
        if not check_password(req.password, user[3] if user else DUMMY_HASH) or user is None:
            with self._db.write() as db:
                A.audit(db, A.LOGIN_FAILED, username=req.username, address=address,
                        client_id=req.client_id, known_user=user is not None)
            raise E.InvalidCredentials()
        self.throttle.succeeded(req.username, address, attempt)
        user_id, name, role, verified_hash = user
        now = self.now_ms()
        # A console sign-in may revoke older sessions: revocations take versions (`revoke_client`).
        with self._db.write(versions=console and req.client_id is None) as db:
            # Read again in the writing transaction: a password changed or an account disabled
            # since the check above (PATCH /api/users) must not get a token.
            current_hash, disabled_at = q.password_state(db, user_id)
            if current_hash != verified_hash:
                raise E.InvalidCredentials()
            if disabled_at is not None:
                A.audit(db, A.LOGIN_FAILED, username=req.username, address=address,
                        client_id=req.client_id, known_user=True, disabled=True)
                raise E.AccountDisabled()
            if req.client_id is None:
                if console:
                    self._forget_console_sessions(db, user_id, req.username, address, now)
                check_new_client(db, user_id, self.settings)
                client_id = q.enrol(db, user_id, req.client_name or "client", now, app)
            else:
                client_id = req.client_id
                owner = q.client_owner(db, client_id)
                if owner is None or owner[0] != user_id:
                    raise E.ClientUnavailable(f"client {client_id} is not one of {req.username}'s clients")
                if owner[1] is not None:
                    raise E.ClientUnavailable(f"client {client_id} was revoked")
            token, refresh = self._issue(db, client_id, now, refresh=True)
            A.audit(db, A.LOGIN, username=req.username, client_id=client_id, address=address,
                    now_ms=now, enrolled=req.client_id is None, app=app)
        return TokenResponse(
            token=token,
            client_id=client_id,
            user=UserInfo(id=user_id, name=name, role=role, username=req.username),
            server_epoch=self.server_epoch,
            refresh_token=refresh,
        )

    def refresh(self, req: RefreshRequest, app: str | None = None, address: str | None = None) -> TokenResponse:
        """Sign a client in again with its refresh credential, no password (issue 9 #2).

        The credential dies with its client (revoked, or every client of a user whose
        password changed or who was disabled) and after `refresh_idle_seconds` unused.
        With `enrol`, a new client of the same user takes the old one's place (the
        old one is revoked): how a client starts a new seq after seq_reused or a restore.
        """
        now = self.now_ms()
        with self._db.read() as db:  # an anonymous made-up credential never waits for the writer
            self._refreshable(db, req, now)
        with self._db.write(versions=req.enrol) as db:  # revocations take versions (`revoke_client`)
            user_id, client_name, username, name, role = self._refreshable(db, req, now)
            client_id = req.client_id
            if req.enrol:
                client_id = q.enrol(db, user_id, client_name, now, app)
                q.revoke(db, hlc.format_ts(now), "id = ?", req.client_id)
            token, refresh = self._issue(db, client_id, now, refresh=req.enrol)
            A.audit(db, A.LOGIN, username=username, client_id=client_id, address=address, now_ms=now,
                    enrolled=req.enrol, app=app, refreshed=True,
                    **({"replaced": req.client_id} if req.enrol else {}))
        return TokenResponse(token=token, client_id=client_id,
                             user=UserInfo(id=user_id, name=name, role=role, username=username),
                             server_epoch=self.server_epoch, refresh_token=refresh)

    def _refreshable(self, db: Connection, req: RefreshRequest, now: int) -> tuple[str, str, str, str, str]:
        """The client's user id and name, and its user's username, name and role, if its
        refresh credential is valid; else ClientUnavailable."""
        row = q.refresh_state(db, req.client_id)
        if row is None or row[3] is None or not hmac.compare_digest(row[3], token_hash(req.refresh_token)):
            raise E.ClientUnavailable("this client was revoked or its sign-in is no longer valid")
        user_id, client_name, revoked_at, _, used_ms, username, name, role, disabled_at = row
        if revoked_at is not None or disabled_at is not None:
            raise E.ClientUnavailable("this client was revoked; sign in with your password")
        if now - (used_ms or 0) > self.settings.refresh_idle_seconds * 1000:
            raise E.ClientUnavailable("this client's sign-in expired unused; sign in with your password")
        return user_id, client_name, username, name, role

    @staticmethod
    def _issue(db: Connection, client_id: str, now: int, refresh: bool) -> tuple[str, str]:
        """A new token for the client, and with `refresh` a new refresh credential in place of its old one."""
        token = new_token()
        q.add_token(db, token_hash(token), client_id, now)
        secret = new_token() if refresh else ""
        q.set_refresh(db, client_id, token_hash(secret) if secret else None, now)
        return token, secret

    def update_user(
        self, username: str, *, password: str | None = None, disabled: bool | None = None, by: Caller | None = None
    ) -> int:
        """Set a new password and/or disable or re-enable an account (issue 9 #2); either revokes
        every client and token of the user at once. Returns how many clients were revoked.

        `by`: the supervisor who did it, for the audit trail (None: `fieldsync passwd`).
        """
        if password is None and disabled is None:
            raise E.InvalidRequest("send a new password, or disabled: true or false")
        if password is not None:
            if len(password) > MAX_PASSWORD_CHARS:
                raise E.InvalidRequest(f"a password is at most {MAX_PASSWORD_CHARS} characters",
                                       limit=MAX_PASSWORD_CHARS)
            if not self.settings.demo:
                check_password_strength(password, username, self.settings)
        new_hash = hash_password(password) if password is not None else None  # slow: outside the lock
        with self._db.write(versions=True) as db:  # revocations take versions (`revoke_client`)
            user_id = q.user_id_of(db, username)
            if user_id is None:
                raise E.NotFound(f"no user {username}")
            if disabled and by is not None and by.user_id == user_id:
                raise E.InvalidRequest("a supervisor cannot disable their own account")
            stamp = hlc.format_ts(self.now_ms())
            if new_hash is not None:
                q.set_password(db, user_id, new_hash)
            if disabled is not None:
                q.set_disabled(db, user_id, stamp if disabled else None)
            revoked = q.revoke(db, stamp, "user_id = ?", user_id)
            if new_hash is not None:
                A.audit(db, A.PASSWORD_CHANGED, **_by(by), member=username, revoked_clients=revoked)
            if disabled is not None:
                A.audit(db, A.USER_DISABLED if disabled else A.USER_ENABLED, **_by(by),
                        member=username, revoked_clients=revoked)
        return revoked

    def authenticate(self, token: str, address: str | None = None) -> Caller:
        digest = token_hash(token)
        with self._db.read() as db:
            row = q.token_holder(db, digest)
            if row is None or row[1] is not None or row[3] is not None or row[8] is not None:
                raise E.Unauthorized("the token is unknown or revoked")
            # Supervisors and the service desk read every site; a technician only their own.
            sites = None if row[7] != schema.TECHNICIAN else frozenset(memberships(db, row[4]))
        now = self.now_ms()
        last_used = max(row[0], self.touched.get(digest, 0))
        if now - last_used > self.settings.token_idle_seconds * 1000:
            raise E.TokenExpired("the token expired after being idle; sign in again with your client_id")
        if now - last_used > _TOKEN_TOUCH_MS:
            self.touched[digest] = now
            with self._db.write() as db:
                q.touch_token(db, digest, now)
        return Caller(row[4], row[5], row[6], row[7], row[2], sites, address)

    def _forget_console_sessions(self, db: Connection, user_id: str, username: str, address: str | None,
                                 now: int) -> None:
        """A browser is closed far more often than it is signed out of, and each console sign-in
        enrols a client: without this, a supervisor's eleventh forgotten session would make
        the next sign-in 429 too_many_clients. Older console sessions past the newest few are
        revoked (and audited) instead; phones are never touched."""
        keep = self.settings.console_sessions_per_user - 1
        for client_id in q.console_sessions_past(db, user_id, CONSOLE_APP, keep):
            q.revoke(db, hlc.format_ts(now), "id = ?", client_id)
            A.audit(db, A.CLIENT_REVOKED, username=username, address=address, revoked_client=client_id,
                    owner=username, reason="console_session_replaced")

    def revoke_client(self, caller: Caller, client_id: str) -> None:
        # Revocations take the version counter's lock (PostgreSQL), as a push does before it reads its
        # client's row: a push whose token was checked before this commits first, or finds its client
        # revoked and applies nothing (`engine/push.py`).
        with self._db.write(versions=True) as db:
            owner = q.client_owner(db, client_id)
            if owner is None or (caller.role != schema.SUPERVISOR and owner[0] != caller.user_id):
                raise E.NotFound(f"no client {client_id}")
            if q.revoke(db, hlc.format_ts(self.now_ms()), "id = ?", client_id):
                A.audit(db, A.CLIENT_REVOKED, username=caller.username, client_id=caller.client_id,
                        address=caller.address, revoked_client=client_id, owner=q.username_of(db, owner[0]))

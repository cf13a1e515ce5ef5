"""The server's storage: one writer connection for every write, a pool of readers.

Every push runs in one `BEGIN IMMEDIATE` transaction on the writer: receipts,
`acked_seq`, rows, versions and the conflict log commit together or not at all.
Pulls read a consistent snapshot on a reader connection and never wait for a
push.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import queue
import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import msgspec

from sync import PROTOCOL_VERSION, hlc, schema
from sync import errors as E
from sync.merge import (
    Actor,
    LogEntry,
    RowState,
    Rules,
    apply_change,
    outside_scope,
    parent_of,
    period_of,
    site_of,
)
from sync.schema import COLLECTIONS, GLOBAL_COLLECTIONS
from sync.wire import (
    MAX_PASSWORD_CHARS,
    Change,
    ChangeResult,
    Conflict,
    ConflictPage,
    PullResponse,
    PushRequest,
    PushResponse,
    RefreshRequest,
    Row,
    TokenRequest,
    TokenResponse,
    UserInfo,
)

from . import auth as A
from . import security
from .blobs import BlobStore, FileBlobStore
from .db import connect, migrate, select_in
from .filters import one_of
from .quotas import check_new_client
from .sealing import SheetCache, preload
from .settings import Settings

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.decode
_result_decoder = msgspec.json.Decoder(ChangeResult)
_TOKEN_TOUCH_MS = 60_000
INITIAL_HLC = str(hlc.Hlc(0, 0, hlc.SERVER_NODE))


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


@dataclass(frozen=True)
class Cursor:
    """Where a client's pull stands. Opaque to clients: `v1.<version>` plus optional tags,
    then a MAC (`encode_cursor`).

    `version`: rows up to here were delivered. `snapshot`: a snapshot from 0 is
    still being taken (its pages never expire). `scope`: the version whose
    memberships the client's rows reflect (default: `version`). `target` and
    `offset`: a scope catch-up in progress, towards the memberships at `target`,
    `offset` entries in. None of these ever widens what a page may hold: the
    caller's current memberships bound every page (`Store._scoped_page`).
    """

    version: int = 0
    snapshot: bool = False
    scope: int | None = None
    target: int = 0
    offset: int = 0

    @property
    def scope_version(self) -> int:
        return self.version if self.scope is None else self.scope

    def payload(self) -> str:
        tags = ["s"] if self.snapshot else []
        if self.scope is not None and self.scope != self.version:
            tags.append(f"t{self.scope}")
        if self.target:
            tags += [f"u{self.target}", f"o{self.offset}"]
        return ".".join(["v1", str(self.version), *tags])


MAX_CURSOR_CHARS = 200  # a cursor the server issues is under 100 characters
_NOT_ISSUED = "this cursor was not issued by this server to this user; pull from cursor 0"


def _cursor_mac(secret: bytes, user_id: str, payload: str) -> str:
    """HMAC-SHA256 over the user and the payload, truncated to 16 bytes: a cursor cannot be
    edited, made up, or replayed by another user."""
    digest = hmac.new(secret, f"{user_id}\n{payload}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def encode_cursor(cursor: Cursor, secret: bytes, user_id: str) -> str:
    payload = cursor.payload()
    return f"{payload}.{_cursor_mac(secret, user_id, payload)}"


def _number(text: str) -> int:
    # isascii(): isdigit() also accepts digits such as "²" and "٣" that int() rejects or reads.
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        raise ValueError(text)
    return int(text)


def decode_cursor(cursor: str | None, secret: bytes, user_id: str) -> Cursor:
    """The cursor `encode_cursor` gave this user; anything else is `invalid_cursor`
    (None, "" and "0" ask for a snapshot)."""
    if cursor in (None, "", "0"):
        return Cursor(0, snapshot=True)
    assert cursor is not None
    payload, _, mac = cursor.rpartition(".")
    if len(cursor) > MAX_CURSOR_CHARS or not hmac.compare_digest(
        mac.encode("utf-8", "replace"), _cursor_mac(secret, user_id, payload).encode()
    ):
        raise E.InvalidCursor(_NOT_ISSUED)
    parts = payload.split(".")
    try:
        if len(parts) < 2 or parts[0] != "v1":
            raise ValueError(payload)
        fields: dict[str, Any] = {"version": _number(parts[1])}
        for tag in parts[2:]:
            if tag == "s":
                fields["snapshot"] = True
            elif tag[:1] in ("t", "u", "o"):
                fields[{"t": "scope", "u": "target", "o": "offset"}[tag[0]]] = _number(tag[1:])
            else:
                raise ValueError(tag)
    except ValueError:
        # Signed by this server, yet not readable: a server bug, never a client's doing.
        raise E.InvalidCursor(_NOT_ISSUED) from None
    return Cursor(**fields)


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.writer = connect(settings.db_path)
        migrate(self.writer)
        self._lock = threading.Lock()
        self._readers: queue.LifoQueue[sqlite3.Connection] = queue.LifoQueue()
        for _ in range(settings.read_connections):
            self._readers.put(connect(settings.db_path))
        meta = self._meta(self.writer)
        self.server_epoch = meta["server_epoch"]
        # Signs pull cursors; in the database, so it survives restarts, is shared by every
        # process on this database and travels with its backups (server/db.py m011).
        self.cursor_secret = bytes.fromhex(meta["cursor_secret"])
        self.clock = hlc.Clock(hlc.SERVER_NODE, meta["hlc"] or None)
        self.clock.now()
        self._touched: dict[str, int] = {}
        self._window: list[str] | None = None
        self.throttle = security.LoginThrottle(settings)
        # Photos, signature images and sheet snapshots (server/uploads.py puts them in).
        self.blobs: BlobStore = FileBlobStore(settings.data_dir / "blobs")
        # Sheets parsed once per hash, before a push takes the writer lock (server/sealing.py).
        self.sheets = SheetCache()

    def close(self) -> None:
        with self._lock:
            self.writer.close()
        while not self._readers.empty():
            self._readers.get_nowait().close()

    # -- connections -------------------------------------------------------

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """The one writer, in a BEGIN IMMEDIATE transaction; rolled back on any error."""
        with self._lock:
            conn = self.writer
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A reader holding one snapshot for the whole block."""
        conn = self._readers.get()
        try:
            conn.execute("BEGIN")
            try:
                yield conn
            finally:
                conn.execute("COMMIT")
        finally:
            self._readers.put(conn)

    @staticmethod
    def _meta(conn: sqlite3.Connection) -> dict[str, str]:
        return dict(conn.execute("SELECT key, value FROM meta").fetchall())

    def now_ms(self) -> int:
        return hlc.wall_ms()

    # -- users, clients, tokens ---------------------------------------------

    def create_user(self, username: str, name: str, role: str, password: str, *, demo: bool = False) -> str:
        """Create an account. Outside demo mode (`Settings.demo`, or `demo=True` for the
        published demo accounts) the password must pass `security.check_password_strength`."""
        if not (demo or self.settings.demo):
            security.check_password_strength(password, username, self.settings)
        if role not in schema.ROLES:
            raise E.InvalidRequest(f"role must be one of {', '.join(schema.ROLES)}")
        user_id = str(uuid.uuid5(schema.NS, f"user/{username}"))
        with self.write() as db:
            if db.execute("SELECT 1 FROM users WHERE username = ?", [username]).fetchone():
                raise E.InvalidRequest(f"there is already a user {username}")
            db.execute(
                "INSERT INTO users(id, username, name, role, password_hash, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?)",
                [user_id, username, name, role, A.hash_password(password), hlc.format_ts(self.now_ms())],
            )
        return user_id

    def add_member(self, site_id: str, username: str, by: Caller | None = None) -> bool:
        """Make a technician a member of a site; False if they already were.

        `by`: the supervisor who did it, for the audit trail (None: the server itself).
        """
        return self._set_member(site_id, username, True, by)

    def remove_member(self, site_id: str, username: str, by: Caller | None = None) -> bool:
        """End a technician's membership of a site; False if they were not a member."""
        return self._set_member(site_id, username, False, by)

    def _set_member(self, site_id: str, username: str, member: bool, by: Caller | None = None) -> bool:
        with self.write() as db:
            user = db.execute("SELECT id FROM users WHERE username = ?", [username]).fetchone()
            if user is None:
                raise E.NotFound(f"no user {username}")
            if member:
                changed = db.execute(
                    "INSERT OR IGNORE INTO memberships(site_id, user_id) VALUES (?, ?)", [site_id, user[0]]
                ).rowcount
            else:
                changed = db.execute(
                    "DELETE FROM memberships WHERE site_id = ? AND user_id = ?", [site_id, user[0]]
                ).rowcount
            if changed:
                # A scope change takes a place in the version sequence, so that every
                # cursor is either before it or after it.
                version = int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0]) + 1
                db.execute("UPDATE meta SET value = ? WHERE key = 'version'", [str(version)])
                db.execute(
                    "INSERT INTO scope_events(version, user_id, site_id, member, at) VALUES (?, ?, ?, ?, ?)",
                    [version, user[0], site_id, int(member), hlc.format_ts(self.now_ms())],
                )
                security.audit(
                    db, security.MEMBER_ADDED if member else security.MEMBER_REMOVED,
                    username=by.username if by else None, client_id=by.client_id if by else None,
                    address=by.address if by else None, site_id=site_id, member=username,
                )
            return bool(changed)

    def members(self, site_id: str) -> list[str]:
        with self.read() as db:
            return [u for (u,) in db.execute(
                "SELECT u.username FROM memberships m JOIN users u ON u.id = m.user_id"
                " WHERE m.site_id = ? ORDER BY u.username", [site_id])]

    def login(self, req: TokenRequest, app: str | None = None, address: str | None = None) -> TokenResponse:
        """Sign in with a password. Throttled (`security.LoginThrottle`): the attempt is
        counted before the password is checked; every outcome is audited, a throttled
        one at most once per throttled key and window."""
        attempt = self.throttle.attempt(req.username, address)
        if attempt.wait:
            if attempt.report:
                with self.write() as db:
                    security.audit(db, security.LOGIN_THROTTLED, username=req.username, address=address,
                                   client_id=req.client_id, retry_after=attempt.wait, keys=list(attempt.keys))
            raise E.LoginThrottled(
                f"too many failed sign-ins for this username or address; retry in {attempt.wait} s",
                retry_after=attempt.wait, limit=attempt.limit,
                window_seconds=self.settings.login_window_seconds,
            )
        with self.read() as db:
            user = db.execute(
                "SELECT id, name, role, password_hash FROM users WHERE username = ?", [req.username]
            ).fetchone()
        if not A.check_password(req.password, user[3] if user else A.DUMMY_HASH) or user is None:
            with self.write() as db:
                security.audit(db, security.LOGIN_FAILED, username=req.username, address=address,
                               client_id=req.client_id, known_user=user is not None)
            raise E.InvalidCredentials()
        self.throttle.succeeded(req.username, address, attempt)
        user_id, name, role, verified_hash = user
        now = self.now_ms()
        with self.write() as db:
            # Read again in the writing transaction: a password changed or an account disabled
            # since the check above (PATCH /api/users) must not get a token.
            current = db.execute("SELECT password_hash, disabled_at FROM users WHERE id = ?", [user_id]).fetchone()
            if current[0] != verified_hash:
                raise E.InvalidCredentials()
            if current[1] is not None:
                security.audit(db, security.LOGIN_FAILED, username=req.username, address=address,
                               client_id=req.client_id, known_user=True, disabled=True)
                raise E.AccountDisabled()
            if req.client_id is None:
                check_new_client(db, user_id, self.settings)
                client_id = self._enrol(db, user_id, req.client_name or "client", now, app)
            else:
                client_id = req.client_id
                row = db.execute(
                    "SELECT user_id, revoked_at FROM clients WHERE id = ?", [client_id]
                ).fetchone()
                if row is None or row[0] != user_id:
                    raise E.ClientUnavailable(f"client {client_id} is not one of {req.username}'s clients")
                if row[1] is not None:
                    raise E.ClientUnavailable(f"client {client_id} was revoked")
            token, refresh = self._issue(db, client_id, now, refresh=True)
            security.audit(db, security.LOGIN, username=req.username, client_id=client_id, address=address,
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
        with self.read() as db:  # an anonymous made-up credential never waits for the writer
            self._refreshable(db, req, now)
        with self.write() as db:
            user_id, client_name, username, name, role = self._refreshable(db, req, now)
            client_id = req.client_id
            if req.enrol:
                client_id = self._enrol(db, user_id, client_name, now, app)
                self._revoke(db, hlc.format_ts(now), "id = ?", req.client_id)
            token, refresh = self._issue(db, client_id, now, refresh=req.enrol)
            security.audit(db, security.LOGIN, username=username, client_id=client_id, address=address, now_ms=now,
                           enrolled=req.enrol, app=app, refreshed=True,
                           **({"replaced": req.client_id} if req.enrol else {}))
        return TokenResponse(token=token, client_id=client_id,
                             user=UserInfo(id=user_id, name=name, role=role, username=username),
                             server_epoch=self.server_epoch, refresh_token=refresh)

    def _refreshable(self, db: sqlite3.Connection, req: RefreshRequest, now: int) -> tuple[str, str, str, str, str]:
        """The client's user id and name, and its user's username, name and role, if its
        refresh credential is valid; else ClientUnavailable."""
        row = db.execute(
            "SELECT c.user_id, c.name, c.revoked_at, c.refresh_hash, c.refresh_used_ms, u.username, u.name,"
            " u.role, u.disabled_at FROM clients c JOIN users u ON u.id = c.user_id WHERE c.id = ?",
            [req.client_id],
        ).fetchone()
        if row is None or row[3] is None or not hmac.compare_digest(row[3], A.token_hash(req.refresh_token)):
            raise E.ClientUnavailable("this client was revoked or its sign-in is no longer valid")
        user_id, client_name, revoked_at, _, used_ms, username, name, role, disabled_at = row
        if revoked_at is not None or disabled_at is not None:
            raise E.ClientUnavailable("this client was revoked; sign in with your password")
        if now - (used_ms or 0) > self.settings.refresh_idle_seconds * 1000:
            raise E.ClientUnavailable("this client's sign-in expired unused; sign in with your password")
        return user_id, client_name, username, name, role

    @staticmethod
    def _revoke(db: sqlite3.Connection, stamp: str, clients: str, value: str) -> int:
        """Revoke the clients `WHERE <clients>` (a SQL condition on `clients` with one parameter):
        their tokens and refresh credentials die. Returns how many were not revoked before."""
        db.execute(f"UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL"
                   f" AND client_id IN (SELECT id FROM clients WHERE {clients})", [stamp, value])
        return int(db.execute(f"UPDATE clients SET revoked_at = ?, refresh_hash = NULL"
                              f" WHERE revoked_at IS NULL AND {clients}", [stamp, value]).rowcount)

    @staticmethod
    def _enrol(db: sqlite3.Connection, user_id: str, name: str, now: int, app: str | None) -> str:
        client_id = str(uuid.uuid4())
        db.execute(
            "INSERT INTO clients(id, user_id, name, created_at, app) VALUES (?, ?, ?, ?, ?)",
            [client_id, user_id, name, hlc.format_ts(now), app],
        )
        return client_id

    @staticmethod
    def _issue(db: sqlite3.Connection, client_id: str, now: int, refresh: bool) -> tuple[str, str]:
        """A new token for the client, and with `refresh` a new refresh credential in place of its old one."""
        token = A.new_token()
        db.execute(
            "INSERT INTO tokens(token_hash, client_id, created_at, last_used_ms) VALUES (?, ?, ?, ?)",
            [A.token_hash(token), client_id, hlc.format_ts(now), now],
        )
        secret = A.new_token() if refresh else ""
        if secret:
            db.execute("UPDATE clients SET refresh_hash = ?, refresh_used_ms = ? WHERE id = ?",
                       [A.token_hash(secret), now, client_id])
        else:
            db.execute("UPDATE clients SET refresh_used_ms = ? WHERE id = ?", [now, client_id])
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
                security.check_password_strength(password, username, self.settings)
        new_hash = A.hash_password(password) if password is not None else None  # slow: outside the lock
        with self.write() as db:
            user = db.execute("SELECT id FROM users WHERE username = ?", [username]).fetchone()
            if user is None:
                raise E.NotFound(f"no user {username}")
            if disabled and by is not None and by.user_id == user[0]:
                raise E.InvalidRequest("a supervisor cannot disable their own account")
            stamp = hlc.format_ts(self.now_ms())
            if new_hash is not None:
                db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [new_hash, user[0]])
            if disabled is not None:
                db.execute("UPDATE users SET disabled_at = ? WHERE id = ?", [stamp if disabled else None, user[0]])
            revoked = self._revoke(db, stamp, "user_id = ?", user[0])
            actor = {"username": by.username if by else None, "client_id": by.client_id if by else None,
                     "address": by.address if by else None}
            if new_hash is not None:
                security.audit(db, security.PASSWORD_CHANGED, **actor, member=username, revoked_clients=revoked)
            if disabled is not None:
                security.audit(db, security.USER_DISABLED if disabled else security.USER_ENABLED, **actor,
                               member=username, revoked_clients=revoked)
        return revoked

    def authenticate(self, token: str, address: str | None = None) -> Caller:
        digest = A.token_hash(token)
        with self.read() as db:
            row = db.execute(
                "SELECT t.last_used_ms, t.revoked_at, c.id, c.revoked_at, u.id, u.username, u.name, u.role,"
                " u.disabled_at FROM tokens t JOIN clients c ON c.id = t.client_id JOIN users u ON u.id = c.user_id"
                " WHERE t.token_hash = ?",
                [digest],
            ).fetchone()
            if row is None or row[1] is not None or row[3] is not None or row[8] is not None:
                raise E.Unauthorized("the token is unknown or revoked")
            sites = None
            if row[7] != schema.SUPERVISOR:
                sites = frozenset(
                    r[0] for r in db.execute("SELECT site_id FROM memberships WHERE user_id = ?", [row[4]])
                )
        now = self.now_ms()
        last_used = max(row[0], self._touched.get(digest, 0))
        if now - last_used > self.settings.token_idle_seconds * 1000:
            raise E.TokenExpired("the token expired after being idle; sign in again with your client_id")
        if now - last_used > _TOKEN_TOUCH_MS:
            self._touched[digest] = now
            with self.write() as db:
                db.execute("UPDATE tokens SET last_used_ms = ? WHERE token_hash = ?", [now, digest])
        return Caller(row[4], row[5], row[6], row[7], row[2], sites, address)

    def revoke_client(self, caller: Caller, client_id: str) -> None:
        with self.write() as db:
            row = db.execute("SELECT user_id FROM clients WHERE id = ?", [client_id]).fetchone()
            if row is None or (caller.role != schema.SUPERVISOR and row[0] != caller.user_id):
                raise E.NotFound(f"no client {client_id}")
            revoked = self._revoke(db, hlc.format_ts(self.now_ms()), "id = ?", client_id)
            if revoked:
                owner = db.execute("SELECT username FROM users WHERE id = ?", [row[0]]).fetchone()[0]
                security.audit(db, security.CLIENT_REVOKED, username=caller.username, client_id=caller.client_id,
                               address=caller.address, revoked_client=client_id, owner=owner)

    # -- push ---------------------------------------------------------------

    def push(self, caller: Caller, req: PushRequest, app: str | None = None) -> PushResponse:
        changes = req.changes
        limit = self.settings.max_changes_per_push
        if len(changes) > limit:
            raise E.TooManyChanges(f"{len(changes)} changes; at most {limit} per push", limit=limit)
        if req.client_id != caller.client_id:
            raise E.ClientMismatch(f"the token belongs to client {caller.client_id}")
        if req.protocol < 1 or req.protocol > PROTOCOL_VERSION:
            raise E.InvalidRequest(f"protocol {req.protocol} is not one this server knows")
        try:
            client_ms = hlc.parse_ts(req.client_time)
        except ValueError as exc:
            raise E.InvalidRequest(f"client_time: {exc}") from None
        for i, change in enumerate(changes):
            if change.seq < 1 or change.seq != changes[0].seq + i:
                raise E.SeqNotConsecutive(
                    f"change {i} has seq {change.seq}; seqs start at 1 and rise by one within a batch"
                )
        preload(self, changes)  # outside the writer lock: verifying then only compares
        with self.write() as db:
            now = self.now_ms()
            offset = now - client_ms
            acked = db.execute("SELECT acked_seq FROM clients WHERE id = ?", [caller.client_id]).fetchone()[0]
            replayed = [c for c in changes if c.seq <= acked]
            fresh = changes[len(replayed):]
            results = self._replayed_results(db, caller.client_id, replayed)
            if fresh and fresh[0].seq != acked + 1:
                raise E.SeqGap(f"the server has acknowledged up to seq {acked}", acked_seq=acked)
            if fresh:
                batch = _Batch(db, self, now, caller)
                batch.prefetch(fresh)
                actor = caller.actor
                for change in fresh:
                    results.append(self._apply(batch, change, caller, actor, offset, now))
                batch.flush(caller)
                acked = fresh[-1].seq
            db.execute(
                "UPDATE clients SET acked_seq = ?, last_sync_at = ?, clock_offset_ms = ?,"
                " app = coalesce(?, app) WHERE id = ?",
                [acked, hlc.format_ts(now), offset, app, caller.client_id],
            )
            db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [self.clock.last])
            version = int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])
        return PushResponse(
            acked_seq=acked,
            version=version,
            results=results,
            server_time=hlc.format_ts(now),
            server_hlc=self.clock.last,
            server_epoch=self.server_epoch,
            clock_offset_ms=offset,
        )

    def _replayed_results(
        self, db: sqlite3.Connection, client_id: str, replayed: Sequence[Change]
    ) -> list[ChangeResult]:
        if not replayed:
            return []
        receipts = {
            seq: (sent, result)
            for seq, sent, result in db.execute(
                "SELECT seq, hlc, result FROM receipts WHERE client_id = ? AND seq BETWEEN ? AND ?",
                [client_id, replayed[0].seq, replayed[-1].seq],
            )
        }
        results = []
        for change in replayed:
            sent, result = receipts[change.seq]
            if sent != change.hlc:
                raise E.SeqReused(
                    f"seq {change.seq} was acknowledged with another change; enrol a new client"
                    " and resend the outbox renumbered"
                )
            results.append(_result_decoder.decode(result))
        return results

    def _apply(
        self, batch: _Batch, change: Change, caller: Caller, actor: Actor, offset: int, now: int
    ) -> ChangeResult:
        clock_flag = None
        try:
            stamp = hlc.parse(change.hlc)
            if stamp.node != caller.client_id:
                raise ValueError(f"HLC node {stamp.node} is not the pushing client")
        except ValueError as exc:
            detail = clip(str(exc), self.settings.max_detail_chars)
            result = ChangeResult(seq=change.seq, status="rejected", reason="invalid_hlc", detail=detail)
            batch.log(change, caller, [LogEntry("rejected", None, None, dict(change.fields),
                                                 reason="invalid_hlc", detail=detail)])
            batch.receipt(change, result)
            return result
        skew = self.settings.max_clock_skew_ms
        effective = change.hlc
        if abs(offset) > skew:
            stamp = hlc.Hlc(min(max(stamp.ms + offset, 0), 10**13 - 1), stamp.counter, stamp.node)
            effective, clock_flag = str(stamp), "corrected"
        if stamp.ms > now + skew:
            effective, clock_flag = self.clock.now(now), "clamped"
        if clock_flag is None:
            self.clock.observe(stamp, now)
        row = batch.lookup(change.collection, change.id)
        outcome = apply_change(
            row, change.collection, change.id, dict(change.fields), change.delete, effective, actor,
            batch.lookup, batch.rules,
        )
        if outcome.status != "rejected" and outcome.changed and outcome.row is not None:
            batch.settle(row, outcome.row)
        batch.log(change, caller, outcome.log, effective)
        hidden = outside_scope(row, actor)
        if outcome.status == "rejected" and (outcome.reason == "forbidden" or hidden):
            # A permission rejection is audited in the push's own transaction, like its log entry;
            # a write to another site's row (answered as if it did not exist) with its true site.
            security.audit(batch.db, security.PUSH_FORBIDDEN, username=caller.username, client_id=caller.client_id,
                           address=caller.address, now_ms=now, collection=change.collection, row_id=change.id,
                           seq=change.seq, detail=clip(outcome.detail, self.settings.max_detail_chars),
                           **({"site_id": row.site_id} if hidden and row is not None else {}))
        if outcome.status == "rejected":
            result = ChangeResult(
                seq=change.seq, status="rejected", reason=outcome.reason,
                detail=clip(outcome.detail, self.settings.max_detail_chars), clock=clock_flag,
            )
        else:
            result = ChangeResult(
                seq=change.seq,
                status=outcome.status,
                rejected_fields=outcome.rejected_fields or None,
                clock=clock_flag,
            )
        batch.receipt(change, result)
        return result

    def write_server_changes(
        self,
        changes: Sequence[tuple[str, str, dict[str, Any], bool | None]],
        initial: Sequence[tuple[str, str, dict[str, Any]]] = (),
    ) -> int:
        """The server's own writes (demo data, scheduler): merged like any change, HLC node `srv`.

        `initial` values are written at the lowest possible HLC, so that any
        client's write of the same register wins, even one made offline before
        the server wrote (an inspection's first `scheduled` status).
        """
        with self.write() as db:
            now = self.now_ms()
            batch = _Batch(db, self, now)
            batch.prefetch([Change(seq=0, collection=c, id=i, hlc="", fields=f) for c, i, f, _ in changes])
            actor = Actor.server()
            stamped = [(c, i, f, d, self.clock.now(now)) for c, i, f, d in changes]
            stamped += [(c, i, f, None, INITIAL_HLC) for c, i, f in initial]
            for collection, row_id, fields, delete, stamp in stamped:
                row = batch.lookup(collection, row_id)
                outcome = apply_change(
                    row, collection, row_id, fields, delete, stamp, actor, batch.lookup, batch.rules
                )
                if outcome.status == "rejected":
                    raise E.InvalidRequest(f"{collection} {row_id}: {outcome.reason}: {outcome.detail}")
                if outcome.changed and outcome.row is not None:
                    batch.settle(row, outcome.row)
            batch.flush(None)
            db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [self.clock.last])
            return batch.version

    # -- pull ---------------------------------------------------------------

    def pull(self, caller: Caller, cursor: str | None, limit: int | None) -> PullResponse:
        """One page: first any scope catch-up (sites gained or lost since the cursor), then rows by version."""
        at = decode_cursor(cursor, self.cursor_secret, caller.user_id)
        size = min(max(limit or self.settings.default_pull_limit, 1), self.settings.max_pull_limit)
        self._ensure_window()
        with self.read() as db:
            meta = self._meta(db)
            top = int(meta["version"])
            # A snapshot's own pages never expire: it brings every live row, and the
            # client drops what it did not bring when the snapshot completes.
            if not at.snapshot and at.version < int(meta["horizon_version"]):
                raise E.CursorExpired(
                    "rows were deleted and forgotten since this cursor; push, then pull from cursor 0"
                )
            user = None if caller.role == schema.SUPERVISOR else caller.user_id
            rows, has_more, after = self._scoped_page(db, user, at, size, top)
            acked = db.execute("SELECT acked_seq FROM clients WHERE id = ?", [caller.client_id]).fetchone()[0]
        return PullResponse(
            rows=rows,
            cursor=encode_cursor(after, self.cursor_secret, caller.user_id),
            has_more=has_more,
            acked_seq=acked,
            server_time=hlc.format_ts(self.now_ms()),
            server_hlc=self.clock.last,
            server_epoch=self.server_epoch,
            version=after.version,
        )

    # -- the sync window ------------------------------------------------------------

    def window_periods(self) -> list[str]:
        """The periods clients receive: the current and the previous quarter, half and month.

        Computed in the users' default time zone (Asia/Shanghai); sites in other
        zones differ at most by hours around a period's start.
        """
        from sync.periods import period_bounds, period_of

        today = self.today()
        periods = set()
        for frequency in ("quarterly", "half_yearly", "monthly"):
            current = period_of(today, frequency)
            periods.add(current)
            periods.add(period_of(period_bounds(current)[0] - timedelta(days=1), frequency))
        return sorted(periods)

    def today(self) -> date:
        from sync.periods import site_today

        return site_today(None)

    def _ensure_window(self) -> None:
        """Record the window when it moves (a new period began), at a place in the version sequence."""
        periods = self.window_periods()
        if periods == self._window:
            return
        encoded = _json_encode(periods).decode()
        with self.write() as db:
            last = db.execute("SELECT periods FROM window_events ORDER BY version DESC LIMIT 1").fetchone()
            if last is None or last[0] != encoded:
                version = int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0]) + 1
                db.execute("UPDATE meta SET value = ? WHERE key = 'version'", [str(version)])
                db.execute("INSERT INTO window_events(version, periods, at) VALUES (?, ?, ?)",
                           [version, encoded, hlc.format_ts(self.now_ms())])
        self._window = periods

    @staticmethod
    def _window_at(db: sqlite3.Connection, version: int) -> set[str] | None:
        """The periods in the window at `version`; None before the first window (every period)."""
        found = db.execute(
            "SELECT periods FROM window_events WHERE version <= ? ORDER BY version DESC LIMIT 1", [version]
        ).fetchone()
        return None if found is None else set(_json_decode(found[0]))

    @staticmethod
    def _sites_at(db: sqlite3.Connection, user_id: str | None, version: int) -> set[str] | None:
        """The sites a user was a member of once every scope event up to `version` had
        happened; None for a supervisor (every site)."""
        if user_id is None:
            return None
        sites: set[str] = set()
        for site_id, member in db.execute(
            "SELECT site_id, member FROM scope_events WHERE user_id = ? AND version <= ? ORDER BY version",
            [user_id, version],
        ):
            (sites.add if member else sites.discard)(site_id)
        return sites

    @staticmethod
    def _memberships(db: sqlite3.Connection, user_id: str | None) -> set[str]:
        """The sites a user is a member of in this snapshot (the newest there is)."""
        return {r for (r,) in db.execute("SELECT site_id FROM memberships WHERE user_id = ?", [user_id])}

    @staticmethod
    def _scope_filter(sites: set[str] | None, window: set[str] | None) -> tuple[str, list[Any]]:
        """SQL (and its arguments) for rows inside a scope: some sites, some periods."""
        where, args = "", []
        if sites is not None:
            # A row without a site reaches everyone only when its collection is global by declaration:
            # a row whose site could not be found is nobody's, not everybody's.
            where += (f" AND (site_id IN ({','.join('?' * len(sites))})"
                      f" OR (site_id IS NULL AND collection IN ({','.join('?' * len(GLOBAL_COLLECTIONS))})))")
            args += [*sorted(sites), *GLOBAL_COLLECTIONS]
        if window is not None:
            where += f" AND (period IS NULL OR period IN ({','.join('?' * len(window))}))"
            args += sorted(window)
        return where, args

    def _stream(
        self, db: sqlite3.Connection, sites: set[str] | None, window: set[str] | None, at: Cursor, size: int,
        top: int,
    ) -> tuple[list[Row], bool, Cursor]:
        where, args = self._scope_filter(sites, window)
        found = db.execute(
            f"SELECT collection, id, fields, deleted, version FROM rows WHERE version > ?{where}"
            " ORDER BY version LIMIT ?",
            [at.version, *args, size + 1],
        ).fetchall()
        has_more = len(found) > size
        found = found[:size]
        reached = found[-1][4] if has_more else max(top, at.version)
        scope = at.scope if at.scope is not None and at.scope > reached else None
        rows = [
            Row(collection=c, id=i, fields=_json_decode(f), deleted=bool(d), version=v)
            for c, i, f, d, v in found
        ]
        return rows, has_more, Cursor(reached, at.snapshot and has_more, scope)

    def _scoped_page(
        self, db: sqlite3.Connection, user_id: str | None, at: Cursor, size: int, top: int
    ) -> tuple[list[Row], bool, Cursor]:
        """One page of the caller's scope: their sites (every site for a supervisor) and the
        sync window's periods. When the scope changed since the cursor's, rows that left it
        arrive once as `removed` and older rows that entered it come whole, in pages of
        their own, before the version stream goes on."""
        target = at.target or top
        then = at.scope_version
        sites_then = self._sites_at(db, user_id, then)
        # The cursor's tags only say what the client holds and what to catch up with; the
        # memberships as they stand now bound what may come whole, whatever the tags say
        # (issue 9: a cursor from before a removal brought the site back). A site of
        # `sites_then` outside them only ever leaves as `removed` rows.
        sites_now = self._sites_at(db, user_id, target)
        if sites_now is not None:
            sites_now &= self._memberships(db, user_id)
        window_then, window_now = self._window_at(db, then), self._window_at(db, target)
        if not at.target and sites_then == sites_now and window_then == window_now:
            return self._stream(db, sites_now, window_now, at, size, top)
        if at.version == 0:
            # Nothing delivered yet: the stream from 0 brings exactly the scope at `target`.
            return self._stream(db, sites_now, window_now, Cursor(0, at.snapshot, target), size, top)
        entries = self._scope_changes(db, at.version, sites_then, sites_now, window_then, window_now)
        if at.offset >= len(entries):
            # Nothing to catch up with (a snapshot from 0 brings what entered the scope anyway).
            return self._stream(db, sites_now, window_now, Cursor(at.version, at.snapshot, target), size, top)
        page = entries[at.offset:at.offset + size]
        full = {
            (c, i): (f, d, v)
            for removed, c, i, _ in page if not removed
            for f, d, v in db.execute(
                "SELECT fields, deleted, version FROM rows WHERE collection = ? AND id = ?", [c, i])
        }
        rows = [
            Row(collection=c, id=i, removed=True) if removed
            else Row(collection=c, id=i, fields=_json_decode(full[(c, i)][0]), deleted=bool(full[(c, i)][1]),
                     version=full[(c, i)][2])
            for removed, c, i, _ in page
        ]
        if at.offset + size < len(entries):
            return rows, True, Cursor(at.version, at.snapshot, at.scope, target, at.offset + size)
        # Caught up: the client's rows now reflect the scope at `target`.
        return rows, True, Cursor(at.version, at.snapshot, target if target > at.version else None)

    def _scope_changes(
        self,
        db: sqlite3.Connection,
        delivered: int,
        sites_then: set[str] | None,
        sites_now: set[str] | None,
        window_then: set[str] | None,
        window_now: set[str] | None,
    ) -> list[tuple[bool, str, str, int]]:
        """(removed, collection, id, version) of every row that left or entered the scope,
        in a fixed order so that a catch-up can page through it. A row that left is sent as
        removed whatever its version (the client may hold an older copy); a row that entered
        is sent whole only up to `delivered` (later ones come with the version stream)."""
        all_sites = sorted({r for (r,) in db.execute("SELECT id FROM rows WHERE collection = 'sites'")})
        then = set(all_sites) if sites_then is None else sites_then
        now = set(all_sites) if sites_now is None else sites_now
        entries: list[tuple[bool, str, str, int]] = []

        def rows_of(site_id: str, extra: str, args: list[Any]) -> list[tuple[str, str, int]]:
            return db.execute(
                f"SELECT collection, id, version FROM rows WHERE site_id = ?{extra} ORDER BY version",
                [site_id, *args],
            ).fetchall()

        def in_window(window: set[str] | None) -> tuple[str, list[Any]]:
            if window is None:
                return "", []
            return f" AND (period IS NULL OR period IN ({','.join('?' * len(window))}))", sorted(window)

        left_window = None if window_then is None else sorted(window_then - (window_now or window_then))
        for site_id in sorted(then - now):  # a lost site: everything of it the client may hold
            entries += [(True, *r) for r in rows_of(site_id, *in_window(window_then))]
        for site_id in sorted(then & now):  # a kept site: the periods that left the window
            if window_now is not None and window_then != window_now:
                if window_then is None:
                    extra = f" AND period IS NOT NULL AND period NOT IN ({','.join('?' * len(window_now))})"
                    entries += [(True, *r) for r in rows_of(site_id, extra, sorted(window_now))]
                elif left_window:
                    extra = f" AND period IN ({','.join('?' * len(left_window))})"
                    entries += [(True, *r) for r in rows_of(site_id, extra, left_window)]
        for site_id in sorted(now - then):  # a gained site: its rows in the window, up to the cursor
            extra, args = in_window(window_now)
            entries += [(False, *r) for r in rows_of(site_id, extra + " AND version <= ?", [*args, delivered])]
        if window_then is not None and window_now is not None:
            entered = sorted(window_now - window_then)
            for site_id in sorted(then & now) if entered else []:  # periods that entered the window
                extra = f" AND period IN ({','.join('?' * len(entered))}) AND version <= ?"
                entries += [(False, *r) for r in rows_of(site_id, extra, [*entered, delivered])]
        return entries

    # -- conflict log ---------------------------------------------------------

    def conflicts(
        self,
        caller: Caller,
        collection: str | None = None,
        row_id: str | None = None,
        site_id: str | None = None,
        after: int = 0,
        limit: int = 200,
        no_op: bool | None = None,
    ) -> ConflictPage:
        """A page of the conflict log; `no_op=False` leaves out the entries where both sides
        wrote the same value (`no_op=True` lists only those)."""
        collection = one_of("collection", collection, COLLECTIONS)
        where, args = ["k.id > ?"], [after]
        for column, value in (("k.collection", collection), ("k.row_id", row_id), ("k.site_id", site_id)):
            if value is not None:
                where.append(f"{column} = ?")
                args.append(value)
        if caller.role != schema.SUPERVISOR:
            # A technician sees what concerns them: their own values that lost or were overwritten,
            # and only of the sites they are a member of now (issue 9: an ex-member kept reading
            # the new values of registers he once wrote). An entry of no site is shown only to
            # its own pusher.
            where.append("(k.user_id = ? OR oc.user_id = ?)"
                         " AND (k.site_id IN (SELECT value FROM json_each(?)) OR (k.site_id IS NULL AND k.user_id = ?))")
            args += [caller.user_id, caller.user_id, _json_encode(sorted(caller.sites or ())).decode(),
                     caller.user_id]
        size = min(max(limit, 1), 1000)
        budget = self.settings.max_conflict_page_bytes
        items: list[Conflict] = []
        more = False
        used = 0
        with self.read() as db:
            found = db.execute(
                "SELECT k.id, k.at, k.kind, k.collection, k.row_id, k.register, k.reason, k.detail,"
                " k.site_id, k.client_id, u.username, k.hlc, k.seq, k.old_value, k.new_value,"
                " k.other_client_id, ou.username, k.other_hlc"
                " FROM conflicts k LEFT JOIN users u ON u.id = k.user_id"
                " LEFT JOIN clients oc ON oc.id = k.other_client_id LEFT JOIN users ou ON ou.id = oc.user_id"
                f" WHERE {' AND '.join(where)} ORDER BY k.id LIMIT ?",
                # Read row by row: with the no_op filter, entries left out do not count.
                [*args, size + 1 if no_op is None else -1],
            )
            for r in found:  # row by row: a page stops at `size` entries or `budget` bytes of them
                if len(items) == size:
                    more = True
                    break
                item = Conflict(
                    id=r[0], at=r[1], kind=r[2], collection=r[3], row_id=r[4], register=r[5], reason=r[6],
                    detail=r[7], site_id=r[8], client_id=r[9], user=r[10], hlc=r[11], seq=r[12],
                    old_value=_json_decode(r[13]) if r[13] is not None else None,
                    new_value=_json_decode(r[14]) if r[14] is not None else None,
                    other_client_id=r[15], other_user=r[16], other_hlc=r[17],
                )
                item.no_op = item.kind in ("lost", "overwritten") and _same(item.old_value, item.new_value)
                if no_op is not None and item.no_op != no_op:
                    continue
                used += len(_json_encode(item)) + 1 + _LABEL_ROOM
                if items and used > budget:
                    more = True
                    break
                items.append(item)
            _label(db, items)
        return ConflictPage(
            conflicts=items,
            next_after=items[-1].id if more else None,
            server_epoch=self.server_epoch,
        )

    # -- tombstones -----------------------------------------------------------

    def purge_tombstones(self, now_ms: int | None = None) -> int:
        """Forget rows deleted longer ago than the horizon; older cursors then get 410."""
        now = self.now_ms() if now_ms is None else now_ms
        cutoff = now - int(self.settings.tombstone_horizon_days * 86_400_000)
        with self.write() as db:
            top = db.execute(
                "SELECT max(version), count(*) FROM rows WHERE deleted = 1 AND updated_ms < ?", [cutoff]
            ).fetchone()
            if not top[1]:
                return 0
            db.execute("DELETE FROM rows WHERE deleted = 1 AND updated_ms < ?", [cutoff])
            db.execute(
                "UPDATE meta SET value = max(CAST(value AS INTEGER), ?) WHERE key = 'horizon_version'", [top[0]]
            )
            return int(top[1])


_sorted_json = msgspec.json.Encoder(order="sorted").encode
_LABEL_ROOM = 220  # bytes a page keeps for each entry's label (a text field is at most 200 characters)


def _same(a: Any, b: Any) -> bool:
    """The same JSON value: `false` is not `0`, and a group's fields may come in any order."""
    return _sorted_json(a) == _sorted_json(b)


def _label(db: sqlite3.Connection, items: list[Conflict]) -> None:
    """Name each entry's row as a person knows it: a device's code (for a device, its checks and
    photos), a sheet number (an inspection, its signatures and photos of no device), a site's name.

    Only from rows of the entry's own site: an entry logged for a row outside its pusher's scope
    has no site, and its label must not name what is there.
    """
    def rows(ids: set[str]) -> dict[str, tuple[str, str | None, dict[str, Any]]]:
        return {i: (c, site, _json_decode(f)) for i, c, site, f in select_in(
            db, "SELECT id, collection, site_id, fields FROM rows WHERE id IN ({marks})", sorted(ids))}

    found = rows({c.row_id for c in items})
    refs = {str(f.get(key)) for _, _, f in found.values() for key in ("device_id", "inspection_id") if f.get(key)}
    found.update(rows(refs - found.keys()))

    def name(row_id: object, collection: str, site: str | None) -> str | None:
        row = found.get(str(row_id))
        if row is None or row[0] != collection or row[1] != site:
            return None
        fields = row[2]
        value = {"sites": "name", "devices": "code", "inspections": "sheet_no",
                 "checklist_templates": "kind"}.get(collection)
        if value is not None:
            return clip(str(fields.get(value) or "") or None, 200)
        if fields.get("device_id"):
            return name(fields["device_id"], "devices", site)
        return name(fields.get("inspection_id"), "inspections", site)

    for item in items:
        item.label = name(item.row_id, item.collection, item.site_id)


def clip(text: str | None, limit: int) -> str | None:
    """A message bounded to `limit` characters (it may quote what a client sent)."""
    if text is None or len(text) <= limit:
        return text
    return text[:limit - 1] + "…"


def _has_junk(collection: str, fields: Any, limit: int) -> bool:
    """Whether a rejected change holds a value over `limit` characters of JSON that is no valid
    value of its field. Valid values are bounded by the schema and kept whole: a change
    rejected for who sent it (a removed member's check) can then be recovered from the log."""
    spec = COLLECTIONS.get(collection)
    for name, value in (fields or {}).items():
        field = spec.field(name) if spec is not None else None
        if len(_json_encode(value)) > limit and (field is None or not field.valid(value)):
            return True
    return False


def _logged(value: Any, limit: int | None) -> str:
    """A value as the conflict log keeps it: its JSON, or past `limit` characters of it, only
    `{"truncated": true, "length": <characters>, "sha256": <of the JSON>}`."""
    text = _json_encode(value).decode()
    if limit is None or len(text) <= limit:
        return text
    digest = hashlib.sha256(text.encode()).hexdigest()
    return _json_encode({"truncated": True, "length": len(text), "sha256": digest}).decode()


def _encode_clocks(clocks: dict[str, list[str]]) -> str:
    """Clocks as stored: the HLC alone when its node is the writer (nearly always), else [hlc, writer]."""
    return _json_encode(
        {reg: h if h.split("-", 2)[2] == writer else [h, writer] for reg, (h, writer) in clocks.items()}
    ).decode()


def _decode_clocks(text: str | bytes) -> dict[str, list[str]]:
    return {
        reg: [value, value.split("-", 2)[2]] if isinstance(value, str) else value
        for reg, value in _json_decode(text).items()
    }


def _parent_ids(collection: str, fields: dict[str, Any]) -> tuple[str | None, str | None]:
    """The derived columns: the row's parent (what its site is found through) and its device."""
    device = fields.get("device_id")
    return parent_of(collection, fields), device if isinstance(device, str) else None


class _Batch:
    """The rows one transaction reads and writes, loaded in bulk and written in bulk."""

    def __init__(self, db: sqlite3.Connection, store: Store, now: int, caller: Caller | None = None) -> None:
        self.db = db
        self.store = store
        self.now = now
        self.caller = caller  # the pushing client; None for the server's own writes
        self.rows: dict[tuple[str, str], RowState | None] = {}
        self.dirty: dict[tuple[str, str], RowState] = {}
        self.assigned: dict[tuple[str, str], int] = {}
        self.receipts: list[tuple[int, str, bytes]] = []
        self.conflicts: list[tuple[Any, ...]] = []
        self.creators: list[tuple[str, str, str | None, str | None]] = []  # row_creators, written at flush
        self.changes: list[Change] = []  # what this batch was asked to apply (for bulk lookups)
        self.memo: dict[str, Any] = {}  # per-batch caches of the modules that settle rows
        self.version = int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])
        self.at = hlc.format_ts(now)
        self.rules = Rules(template_items=self.template_items, unchecked=self.unchecked, is_member=self.is_member,
                           signature_refusal=self.signature_refusal)
        self.signatures_created = 0
        self.check_writes = 0  # device_checks rows staged so far (server/sealing.py caches by it)
        self._templates: dict[str, dict[str, str]] | None = None
        self._unchecked: dict[str, int] = {}

    def prefetch(self, changes: Sequence[Change]) -> None:
        self.changes.extend(changes)
        wanted: dict[str, set[str]] = {}
        for change in changes:
            wanted.setdefault(change.collection, set()).add(change.id)
            spec = COLLECTIONS.get(change.collection)
            if spec is None:
                continue
            for name, pspec in spec.parents.items():
                value = change.fields.get(name)
                if isinstance(value, str) and pspec.parent in schema.ROW_PARENTS:
                    wanted.setdefault(pspec.parent, set()).add(value)
        self._load(wanted)

    def _load(self, wanted: dict[str, set[str]]) -> None:
        for collection, ids in wanted.items():
            for key in ids:
                self.rows[(collection, key)] = None
            for r in select_in(
                self.db,
                "SELECT id, site_id, fields, clocks, deleted, version FROM rows WHERE collection = ? AND id IN ({marks})",
                sorted(ids),
                [collection],
            ):
                self.rows[(collection, r[0])] = RowState(
                    collection, r[0], _json_decode(r[2]), _decode_clocks(r[3]), bool(r[4]), r[1], r[5]
                )

    def lookup(self, collection: str, row_id: str) -> RowState | None:
        key = (collection, row_id)
        if key not in self.rows:
            self._load({collection: {row_id}})
        return self.rows[key]

    def put(self, row: RowState) -> None:
        """Stage a row write. A row written again in the same transaction keeps the
        version it got here: the transaction commits as one, so no pull can see between."""
        key = (row.collection, row.id)
        if key not in self.assigned:
            self.version += 1
            self.assigned[key] = self.version
        row.version = self.assigned[key]
        self.rows[key] = row
        self.dirty[key] = row
        self.check_writes += row.collection == "device_checks"

    # -- what the server derives from a write, in the same transaction ----------

    def settle(self, before: RowState | None, row: RowState) -> None:
        """Store a merged row, with what the server derives from it.

        An inspection gets its sheet number when it first appears (however it
        was created) and `completed_at` when it is completed; an inspection is
        completed by the server as soon as every active device has an outcome.
        A signature is verified when it is created and may seal checks and sign
        its inspection (server/sealing.py).
        """
        if row.collection == "inspections" and not row.deleted:
            period = row.fields.get("period")
            if "sheet_no" not in row.fields and period:
                self._server_set(row, "sheet_no", self._next_sheet_no(period))
            if row.fields.get("status") in ("completed", "signed") and "completed_at" not in row.fields:
                self._server_set(row, "completed_at", self.at)
            if row.fields.get("status") == "completed":
                from .sealing import mark_signed

                mark_signed(self, row)  # every check already sealed: completing signs it
        if row.collection == "signatures" and not row.deleted and (before is None or not before.exists):
            from .sealing import verify

            self.signatures_created += 1
            verify(self, row)  # at its place in the batch: after the changes before it
        if row.collection in ("photos", "signatures"):
            from .media import settle_blob_row

            settle_blob_row(self, before, row)
        self.put(row)
        if row.collection == "devices":
            self._unchecked.clear()
            if row.site_id and (row.deleted or row.fields.get("status", "active") != "active"):
                # Retiring a site's last unchecked device completes its open inspections.
                self._write_rows()
                for (inspection_id,) in self.db.execute(
                    "SELECT id FROM rows WHERE collection = 'inspections' AND parent_id = ? AND deleted = 0"
                    " AND coalesce(json_extract(fields, '$.status'), 'scheduled') NOT IN ('completed', 'signed')",
                    [row.site_id],
                ).fetchall():
                    if self.unchecked(inspection_id) == 0:
                        self._complete(inspection_id)
        elif row.collection == "device_checks":
            inspection_id = row.fields.get("inspection_id")
            if inspection_id in self._unchecked:
                self._track_check(before, row)
            if isinstance(inspection_id, str) and self.unchecked(inspection_id) == 0:
                self._complete(inspection_id)

    def _server_set(self, row: RowState, name: str, value: Any) -> None:
        row.fields[name] = value
        row.clocks[name] = [self.store.clock.now(self.now), hlc.SERVER_NODE]

    # For server/sealing.py, which derives seals inside this transaction.
    def server_set(self, row: RowState, name: str, value: Any) -> None:
        self._server_set(row, name, value)

    def flush_rows(self) -> None:
        self._write_rows()

    def _next_sheet_no(self, period: str) -> str:
        from sync.periods import sheet_no

        key = f"sheet_seq/{period}"
        self.db.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, '0')", [key])
        self.db.execute("UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = ?", [key])
        number = int(self.db.execute("SELECT value FROM meta WHERE key = ?", [key]).fetchone()[0])
        return sheet_no(period, number)

    def _complete(self, inspection_id: str) -> None:
        inspection = self.lookup("inspections", inspection_id)
        if inspection is None or inspection.deleted:
            return
        if inspection.fields.get("status") in ("completed", "signed"):
            return
        outcome = apply_change(
            inspection, "inspections", inspection_id, {"status": "completed"}, None,
            self.store.clock.now(self.now), Actor.server(), self.lookup,
        )
        if outcome.changed and outcome.row is not None:
            self.settle(inspection, outcome.row)

    def is_member(self, site_id: str, username: str) -> bool:
        """Whether a user is a member of a site now (an inspection is assigned to members only)."""
        return self.db.execute(
            "SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.site_id = ? AND u.username = ?",
            [site_id, username],
        ).fetchone() is not None

    def signature_refusal(self, inspection_id: str, fields: dict[str, Any]) -> str | None:
        """Why a client's new signature is refused: past a limit (issue 9, finding 3), or a
        customer's whose image its creator has not uploaded (finding 17)."""
        settings = self.store.settings
        if self.signatures_created >= settings.max_signatures_per_push:
            return f"at most {settings.max_signatures_per_push} signatures per push; send the rest in the next one"
        self._write_rows()
        held = self.db.execute(
            "SELECT count(*) FROM rows WHERE collection = 'signatures' AND parent_id = ? AND deleted = 0"
            " AND json_extract(fields, '$.retracted_at') IS NULL",
            [inspection_id],
        ).fetchone()[0]
        if held >= settings.max_signatures_per_inspection:
            return (f"inspection {inspection_id} holds {held} signatures, at most"
                    f" {settings.max_signatures_per_inspection}; a supervisor may retract bogus ones")
        image = fields.get("image_sha256")
        if fields.get("signer_role") == "customer" and self.caller is not None and not (
            self.db.execute(
                "SELECT 1 FROM blob_owners o JOIN blobs b ON b.sha256 = o.sha256 WHERE o.sha256 = ?"
                " AND o.user_id = ? AND b.content_type IN ('image/jpeg', 'image/png')",
                [image, self.caller.user_id],
            ).fetchone() and self.store.blobs.exists(str(image))
        ):
            return "signatures.image_sha256: upload the customer's signature image before pushing the signature"
        return None

    def template_items(self, device_id: str) -> dict[str, str] | None:
        if self._templates is None:
            self._templates = {}
            for (fields,) in self.db.execute(
                "SELECT fields FROM rows WHERE collection = 'checklist_templates' AND deleted = 0"
            ):
                template = _json_decode(fields)
                try:
                    items = _json_decode(template.get("items") or "[]")
                    self._templates[template.get("kind")] = {i["key"]: i["type"] for i in items}
                except (msgspec.DecodeError, KeyError, TypeError):
                    continue
        device = self.lookup("devices", device_id)
        return None if device is None else self._templates.get(device.fields.get("kind", ""))

    def unchecked(self, inspection_id: str) -> int:
        """Active devices of the inspection's site without an outcome, this batch included."""
        if inspection_id not in self._unchecked:
            inspection = self.lookup("inspections", inspection_id)
            if inspection is None or inspection.site_id is None:
                return 0
            self._write_rows()
            self._unchecked[inspection_id] = self.db.execute(
                "SELECT count(*) FROM rows d WHERE d.collection = 'devices' AND d.parent_id = ?"
                " AND d.deleted = 0 AND coalesce(json_extract(d.fields, '$.status'), 'active') = 'active'"
                " AND d.id NOT IN (SELECT c.device_id FROM rows c WHERE c.collection = 'device_checks'"
                " AND c.parent_id = ? AND c.deleted = 0 AND json_extract(c.fields, '$.outcome') IS NOT NULL)",
                [inspection.site_id, inspection_id],
            ).fetchone()[0]
        return self._unchecked[inspection_id]

    def _track_check(self, before: RowState | None, after: RowState) -> None:
        device = self.lookup("devices", str(after.fields.get("device_id")))
        if device is None or device.deleted or device.fields.get("status", "active") != "active":
            return
        # Only the inspection's own site's devices are counted by `unchecked`: a check
        # naming another site's device must not lower the count (it once completed
        # an inspection with a device still unchecked).
        inspection = self.lookup("inspections", str(after.fields["inspection_id"]))
        if inspection is None or device.site_id != inspection.site_id:
            return
        had = before is not None and not before.deleted and before.fields.get("outcome") is not None
        has = not after.deleted and after.fields.get("outcome") is not None
        self._unchecked[str(after.fields["inspection_id"])] += int(had) - int(has)

    def receipt(self, change: Change, result: ChangeResult) -> None:
        self.receipts.append((change.seq, change.hlc, _json_encode(result)))

    def log(self, change: Change, caller: Caller | None, entries: list[LogEntry], hlc_: str | None = None) -> None:
        if not entries:
            return
        row = self.rows.get((change.collection, change.id))
        if caller is not None and outside_scope(row, caller.actor):
            row = None  # logged as for a row that does not exist: nothing of its site
        site = row.site_id if row is not None else None
        if site is None and change.collection in COLLECTIONS:
            # A rejected creation has no row; its parent still says which site it was for.
            site = site_of(change.collection, change.id, change.fields, self.lookup)
        settings = self.store.settings
        for e in entries:
            # What lost or was overwritten passed the schema's limits; what was rejected may be
            # anything a client sent, so it is kept whole only up to a bound (issue 9).
            bound = {"rejected_field": settings.max_logged_field_chars,
                     "rejected": settings.max_logged_change_chars}.get(e.kind)
            if e.kind == "rejected" and _has_junk(change.collection, e.new_value, settings.max_logged_field_chars):
                bound = settings.max_logged_field_chars
            self.conflicts.append((
                self.at, e.kind, change.collection, change.id, site, e.register, e.reason,
                clip(e.detail, settings.max_detail_chars),
                caller.client_id if caller else "srv", caller.user_id if caller else None,
                hlc_ or change.hlc, change.seq,
                None if e.old_value is None else _json_encode(e.old_value).decode(),
                None if e.new_value is None else _logged(e.new_value, bound),
                e.other_writer, e.other_hlc,
            ))

    def flush(self, caller: Caller | None) -> None:
        self._write_rows()
        self.db.execute("UPDATE meta SET value = ? WHERE key = 'version'", [str(self.version)])
        if self.receipts and caller is not None:
            self.db.executemany(
                "INSERT INTO receipts(client_id, seq, hlc, result) VALUES (?, ?, ?, ?)",
                [(caller.client_id, seq, sent, result.decode()) for seq, sent, result in self.receipts],
            )
        if self.conflicts:
            self.db.executemany(
                "INSERT INTO conflicts(at, kind, collection, row_id, site_id, register, reason, detail,"
                " client_id, user_id, hlc, seq, old_value, new_value, other_client_id, other_hlc)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                self.conflicts,
            )

    def _period_of(self, row: RowState) -> str | None:
        """The maintenance period a row belongs to, for the sync window (parents never change)."""
        return period_of(row.collection, row.fields, self.lookup)

    def _write_rows(self) -> None:
        """Write the rows changed so far; a row written again later is simply upserted again."""
        if self.creators:
            self.db.executemany(
                "INSERT OR REPLACE INTO row_creators(collection, row_id, user_id, client_id) VALUES (?, ?, ?, ?)",
                self.creators,
            )
            self.creators.clear()
        if not self.dirty:
            return
        values = []
        for row in self.dirty.values():
            parent, device = _parent_ids(row.collection, row.fields)
            values.append((
                row.collection, row.id, row.site_id, parent, device,
                _json_encode(row.fields).decode(), _encode_clocks(row.clocks),
                int(row.deleted), row.version, self.now, self._period_of(row),
            ))
        self.db.executemany(
            "INSERT INTO rows(collection, id, site_id, parent_id, device_id, fields, clocks, deleted,"
            " version, updated_ms, period) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(collection, id) DO UPDATE SET fields = excluded.fields,"
            " clocks = excluded.clocks, deleted = excluded.deleted, version = excluded.version,"
            " updated_ms = excluded.updated_ms",
            values,
        )
        self.dirty.clear()

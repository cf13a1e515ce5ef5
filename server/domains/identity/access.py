"""Who sees what: site members, enrolled clients, and the audit trail (issue 5).

Supervisors manage members and read the audit trail; a technician reads the
members of their own sites and their own clients. The routes' guards check
scope (404) then role (403) before these run (server/http/guards.py): a
technician learns nothing about a site that is not theirs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Literal

import msgspec

from sync import errors as E
from sync import schema
from sync.wire import MAX_USERNAME_CHARS, Id, Password

from ...filters import one_of
from ...storage import identity as q
from .audit import KINDS
from .service import Caller

if TYPE_CHECKING:
    from ...services import Store

_decode = msgspec.json.decode


class MemberRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    username: str


class UserUpdate(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """PATCH /api/users/{username}: a new password, and/or disable or re-enable the account."""

    password: Password | None = None
    disabled: bool | None = None


# A new account's username: what people type to sign in, so plain and lower case ("Lin" and "lin"
# would be two accounts); its name: any text but control characters.
MAX_NAME_CHARS = 200  # as any text field of the schema
NewUsername = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_USERNAME_CHARS,
                                          pattern=r"^[a-z0-9][a-z0-9._-]*$")]
DisplayName = Annotated[str, msgspec.Meta(min_length=1, max_length=MAX_NAME_CHARS, pattern=r"^[^\x00-\x1f\x7f]+$")]


def account_refusal(username: str, name: str) -> str | None:
    """Why POST /api/users would refuse this username or name, or None: `fieldsync add-user`
    checks the same rules, so the shell cannot make a username people cannot type."""
    for value, rule, why in ((username, NewUsername, "a username is 1-64 lower-case letters, digits, '.', '_'"
                              " or '-', starting with a letter or digit"),
                             (name, DisplayName, "a name is 1-200 characters, none a control one")):
        try:
            msgspec.convert(value, rule)
        except msgspec.ValidationError:
            return why
    return None


MAX_USER_SITES = 500  # sites a new technician is made a member of at once


class NewUser(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """POST /api/users: an account; a technician may be made a member of `sites` at once."""

    username: NewUsername
    name: DisplayName
    role: Literal["technician", "supervisor", "service_desk"]
    password: Password
    sites: Annotated[list[Id], msgspec.Meta(max_length=MAX_USER_SITES)] = []


class User(msgspec.Struct, kw_only=True):
    username: str
    name: str
    role: str
    disabled: bool
    sites: list[str]  # the sites a technician is a member of


class UserList(msgspec.Struct, kw_only=True):
    users: list[User]


class UserState(msgspec.Struct, kw_only=True):
    username: str
    disabled: bool
    revoked_clients: int  # clients this change revoked (every client of the user that was not yet)


class MemberList(msgspec.Struct, kw_only=True):
    site_id: str
    members: list[str]


class ClientInfo(msgspec.Struct, kw_only=True):
    id: str
    user: str
    name: str
    created_at: str
    last_sync_at: str | None
    clock_offset_ms: int | None  # server time minus client time at the last push
    app: str | None  # Fieldsync-App of the last sign-in or push
    acked_seq: int
    revoked_at: str | None


class ClientList(msgspec.Struct, kw_only=True):
    clients: list[ClientInfo]


class AuditEntry(msgspec.Struct, kw_only=True):
    id: int
    at: str
    kind: str
    username: str | None
    client_id: str | None
    address: str | None
    detail: dict[str, Any]


class AuditPage(msgspec.Struct, kw_only=True):
    entries: list[AuditEntry]
    next_after: int | None = None


class Access:
    def __init__(self, store: Store) -> None:
        self.store = store

    # -- members ------------------------------------------------------------------

    def _site_exists(self, site_id: str) -> bool:
        with self.store.read() as db:
            return q.site_exists(db, site_id)

    def find_site(self, ref: str) -> tuple[str, str]:
        """The (id, name) of the site whose id or name is `ref`, for people who know sites by name."""
        with self.store.read() as db:
            found = q.sites_named(db, ref)
        if not found:
            raise E.NotFound(f"no site named or with id {ref[:200]!r}")
        if len(found) > 1 and found[0][0] != ref:
            raise E.InvalidRequest(f"several sites are named {ref[:200]!r}; give one of their ids: "
                                   + ", ".join(i for i, _ in found[:10]))
        return found[0][0], found[0][1]

    def members(self, site_id: str) -> MemberList:
        if not self._site_exists(site_id):
            raise E.NotFound(f"no site {site_id}")
        return MemberList(site_id=site_id, members=self.store.members(site_id))

    def add_member(self, caller: Caller | None, site_id: str, username: str, via: str | None = None) -> MemberList:
        """Idempotent: adding a member again changes nothing. `caller` None: `via` a command on the server."""
        if not self._site_exists(site_id):
            raise E.NotFound(f"no site {site_id}")
        with self.store.read() as db:
            role = q.role_of(db, username)
        if role is None:
            raise E.NotFound(f"no user {username}")
        if role != schema.TECHNICIAN:
            # Supervisors see every site already; membership is a technician's scope.
            raise E.InvalidRequest(f"{username} is not a technician")
        self.store.add_member(site_id, username, by=caller, via=via)
        return MemberList(site_id=site_id, members=self.store.members(site_id))

    def remove_member(self, caller: Caller | None, site_id: str, username: str, via: str | None = None) -> bool:
        """Idempotent: removing someone who is not a member changes nothing (False)."""
        if not self._site_exists(site_id):
            raise E.NotFound(f"no site {site_id}")
        return self.store.remove_member(site_id, username, by=caller, via=via)

    # -- users ----------------------------------------------------------------------

    def users(self) -> UserList:
        with self.store.read() as db:
            found = q.users(db)
        return UserList(users=[User(username=u, name=n, role=r, disabled=d is not None, sites=s)
                               for u, n, r, d, s in found])

    def create_user(self, caller: Caller, new: NewUser) -> User:
        """Supervisors: an account, and a technician's memberships, at once or not at all."""
        for site_id in new.sites:
            if not self._site_exists(site_id):
                raise E.NotFound(f"no site {site_id}")
        self.store.create_user(new.username, new.name, new.role, new.password, sites=new.sites, by=caller)
        return User(username=new.username, name=new.name, role=new.role, disabled=False,
                    sites=sorted(set(new.sites)))

    def update_user(self, caller: Caller, username: str, update: UserUpdate) -> UserState:
        """Supervisors: a lost phone's user gets a new password or is disabled; every client
        and token of theirs is revoked at once (issue 9 #2)."""
        revoked = self.store.update_user(username, password=update.password, disabled=update.disabled, by=caller)
        with self.store.read() as db:
            disabled = q.disabled_at(db, username)
        return UserState(username=username, disabled=disabled is not None, revoked_clients=revoked)

    # -- clients ------------------------------------------------------------------

    def clients(self, caller: Caller, username: str | None = None) -> ClientList:
        """Supervisors: every client (or one user's); a technician: their own."""
        with self.store.read() as db:
            found = q.clients(db, None if caller.role == schema.SUPERVISOR else caller.user_id, username)
        return ClientList(clients=[
            ClientInfo(id=r[0], user=r[1], name=r[2], created_at=r[3], last_sync_at=r[4], clock_offset_ms=r[5],
                       app=r[6], acked_seq=r[7], revoked_at=r[8])
            for r in found
        ])

    # -- audit ----------------------------------------------------------------------

    def audit(self, kind: str | None = None, username: str | None = None, after: int = 0, limit: int = 200) -> AuditPage:
        kind = one_of("kind", kind, KINDS)
        size = min(max(limit, 1), 1000)
        with self.store.read() as db:
            found = q.audit_entries(db, after, kind, username, size + 1)
        entries = [
            AuditEntry(id=r[0], at=r[1], kind=r[2], username=r[3], client_id=r[4], address=r[5],
                       detail=_decode(r[6]))
            for r in found[:size]
        ]
        return AuditPage(entries=entries, next_after=entries[-1].id if len(found) > size else None)

"""The identity routes: sign-in, lost phones (revoke a client, change a user), members, clients, audit.

Thin: guards check scope, then role (404 before 403), before a byte of a body is
read; the handler makes one call into the `Store` or `Access`. Three controllers,
not one, only to keep the paths in the order the API documents them.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, delete, get, patch, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, QueryParameter

from sync.wire import RefreshRequest, TokenRequest, TokenResponse

from ...http.controller import DomainController
from ...http.deps import MAX_ID, CallerDep, StrictBody, address, app_version, check_protocol, from_state
from ...http.guards import site_in_scope, supervisor_only
from ...http.problems import problem_responses
from ...services import Store
from .access import (
    Access,
    AuditPage,
    ClientList,
    MemberList,
    MemberRequest,
    NewUser,
    User,
    UserList,
    UserState,
    UserUpdate,
)

StoreDep = NamedDependency[Store]
AccessDep = NamedDependency[Access]


class SignInController(DomainController):
    """`/auth/token` and `/auth/refresh`: public, the credentials in the body are what authenticates."""

    tags = ["identity"]  # noqa: RUF012 (Litestar reads it from the class)

    @post("/auth/token", status_code=200, responses=problem_responses(400, 401, 403, 413, 426, 429),
          sync_to_thread=True)
    def token(self, data: StrictBody[TokenRequest], request: Request[Any, Any, Any], store: StoreDep) -> TokenResponse:
        """Sign in: enrol a new client, or sign an existing client of yours in again."""
        check_protocol(request)
        return store.login(data, app_version(request), address(request))

    @post("/auth/refresh", status_code=200, responses=problem_responses(400, 403, 413, 426), sync_to_thread=True)
    def refresh(self, data: StrictBody[RefreshRequest], request: Request[Any, Any, Any],
                store: StoreDep) -> TokenResponse:
        """Sign a client in again with its refresh credential, or enrol a new client in its place (`enrol`)."""
        check_protocol(request)
        return store.refresh(data, app_version(request), address(request))


class LostPhoneController(DomainController):
    """A lost phone: revoke its client, or change its user's password or disable them."""

    tags = ["identity"]  # noqa: RUF012
    dependencies = {"access": from_state("access")}  # noqa: RUF012

    @delete("/api/clients/{client_id:str}", status_code=204, responses=problem_responses(401, 404),
            sync_to_thread=True)
    def revoke_client(self, client_id: FromPath[str], store: StoreDep, caller: CallerDep) -> None:
        """Revoke a client (a lost phone): its tokens answer 401 and it cannot sign in again."""
        store.revoke_client(caller, client_id)

    @get("/api/users", responses=problem_responses(401, 403), sync_to_thread=True, guards=[supervisor_only])
    def list_users(self, access: AccessDep) -> UserList:
        """Every account: username, name, role, disabled, and a technician's sites (supervisors)."""
        return access.users()

    @post("/api/users", status_code=201, responses=problem_responses(400, 401, 403, 404, 409, 413),
          sync_to_thread=True, guards=[supervisor_only])
    def create_user(self, data: StrictBody[NewUser], access: AccessDep, caller: CallerDep) -> User:
        """Create an account (supervisors), a technician a member of `sites` at once; the password rule
        applies. A username already taken is `409 user_exists`; nothing is written on a refusal."""
        return access.create_user(caller, data)

    @patch("/api/users/{username:str}", responses=problem_responses(400, 401, 403, 404, 413), sync_to_thread=True,
           guards=[supervisor_only])
    def update_user(self, username: FromPath[str], data: StrictBody[UserUpdate], access: AccessDep,
                    caller: CallerDep) -> UserState:
        """Set a user's password, or disable or re-enable them (supervisors): every client and token of
        the user is revoked at once (a lost phone)."""
        return access.update_user(caller, username, data)


class AccessController(DomainController):
    """Who sees what: a site's members, enrolled clients, the audit trail."""

    path = "/api"
    tags = ["access"]  # noqa: RUF012
    dependencies = {"access": from_state("access")}  # noqa: RUF012

    @get("/sites/{site_id:str}/members", responses=problem_responses(401, 404), sync_to_thread=True,
         guards=[site_in_scope])
    def list_members(self, site_id: FromPath[str], access: AccessDep) -> MemberList:
        """The technicians who are members of a site (supervisors; technicians for their own sites)."""
        return access.members(site_id)

    @post("/sites/{site_id:str}/members", status_code=200, responses=problem_responses(400, 401, 403, 404, 409, 413),
          sync_to_thread=True, guards=[site_in_scope, supervisor_only])
    def add_member(self, site_id: FromPath[str], data: StrictBody[MemberRequest], access: AccessDep,
                   caller: CallerDep) -> MemberList:
        """Make a technician a member of a site (supervisors). Adding a member again changes nothing; a disabled
        account is `409 user_disabled`, nothing written."""
        return access.add_member(caller, site_id, data.username)

    @delete("/sites/{site_id:str}/members/{username:str}", status_code=204, responses=problem_responses(401, 403, 404),
            sync_to_thread=True, guards=[site_in_scope, supervisor_only])
    def remove_member(self, site_id: FromPath[str], username: FromPath[str], access: AccessDep,
                      caller: CallerDep) -> None:
        """End a technician's membership of a site (supervisors): their next pull removes the site."""
        access.remove_member(caller, site_id, username)

    @get("/clients", responses=problem_responses(400, 401), sync_to_thread=True, tags=["identity"])
    def list_clients(self, access: AccessDep, caller: CallerDep, username: FromQuery[str | None] = None) -> ClientList:
        """Enrolled clients: user, name, last sync, clock offset, app version, revoked.

        Supervisors see every client; a technician sees their own.
        """
        return access.clients(caller, username)

    @get("/audit", responses=problem_responses(400, 401, 403), sync_to_thread=True, guards=[supervisor_only])
    def audit(
        self,
        access: AccessDep,
        kind: FromQuery[str | None] = None,
        username: FromQuery[str | None] = None,
        after: Annotated[int, QueryParameter(ge=0, le=MAX_ID)] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=1000)] = 200,
    ) -> AuditPage:
        """Sign-ins, failed and throttled sign-ins, revocations, membership changes and
        forbidden changes, oldest first (supervisors)."""
        return access.audit(kind, username, after, limit)

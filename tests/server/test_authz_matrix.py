"""The authorisation matrix: every endpoint of the app, for every kind of caller.

Callers: no token, a revoked token, a technician of another site, a technician
of the site, a supervisor, the service desk (issue 12: reads every site like a
supervisor, and is refused what only supervisors may change). Without a valid token: 401. An object outside the
caller's scope: 404. An action the caller's role may not take: 403.

The table is checked against `create_app(...).routes`: an endpoint added
without a row here fails `test_the_matrix_covers_every_route`.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image

from bench import _tus as tus
from server.domains.inspections.schemas import Plan
from sync import hlc
from tests.conftest import SITE, Session

ROLES = ("anonymous", "revoked", "other_site", "technician", "service_desk", "supervisor")
Request = tuple[str, dict[str, Any]]  # (url, keyword arguments for the HTTP client)


@dataclass
class World:
    """The objects the requests name: all of them at wang's site, or wang's own."""

    http: Any
    sessions: dict[str, Session | None]
    site: dict[str, str]
    photo_sha: str
    upload: str  # wang's unfinished upload
    spare_client: str  # another client of wang's
    signature: str  # wang's own signature of the inspection

    def auth(self, role: str) -> dict[str, str]:
        session = self.sessions[role]
        return {} if session is None else dict(session.headers)


@dataclass
class Rule:
    """How to call an endpoint, and the status each authenticated role gets.

    `public`: the endpoint needs no token; every role gets `technician`'s status.
    `desk`: the service desk's status, where it differs from the supervisor's.
    `signed_out`: what a caller without a valid token gets (the console's pages redirect to sign-in).
    """

    build: Callable[[World, str], Request]
    technician: int
    other_site: int
    supervisor: int
    public: bool = False
    desk: int | None = None
    signed_out: int = 401
    expect: dict[str, int] = field(init=False)

    def __post_init__(self) -> None:
        if self.public:
            self.expect = dict.fromkeys(ROLES, self.technician)
        else:
            self.expect = {"anonymous": self.signed_out, "revoked": self.signed_out, "other_site": self.other_site,
                           "technician": self.technician, "supervisor": self.supervisor,
                           "service_desk": self.supervisor if self.desk is None else self.desk}


def _get(url: str, **params: Any) -> Callable[[World, str], Request]:
    return lambda w, role: (url.format(**w.site, sha=w.photo_sha, upload=w.upload, spare=w.spare_client,
                                       signature=w.signature),
                            {"params": params} if params else {})


def _json(url: str, body: dict[str, Any]) -> Callable[[World, str], Request]:
    return lambda w, role: (url.format(**w.site), {"json": body})


def _push(w: World, role: str) -> Request:
    session = w.sessions[role]
    client_id = session.client_id if session else "00000000-0000-4000-8000-000000000000"
    return "/sync/push", {"json": {"protocol": 1, "client_id": client_id,
                                   "client_time": hlc.format_ts(hlc.wall_ms()), "changes": []}}


def _console(url: str) -> Callable[[World, str], Request]:
    """A console page, the role's session in the console's cookie (the same token; the API's header is
    ignored there), redirects not followed."""

    def build(w: World, role: str) -> Request:
        session = w.sessions[role]
        token = session.headers["Authorization"].split(" ", 1)[1] if session else ""
        return url.format(**w.site), {"headers": {"Cookie": f"fieldsync_console={token}"},
                                      "follow_redirects": False}

    return build


def _token(w: World, role: str) -> Request:
    return "/auth/token", {"json": {"username": "wang", "password": "demo", "client_name": "matrix"}}


def _create_upload(w: World, role: str) -> Request:
    data = role.encode() * 10
    return "/files", {"headers": {**tus.TUS, "Upload-Length": str(len(data)),
                                  "Upload-Metadata": tus.metadata(hashlib.sha256(data).hexdigest(), "image/jpeg")}}


def _head_upload(w: World, role: str) -> Request:
    return f"/files/{w.upload}", {"headers": dict(tus.TUS)}


def _patch_upload(w: World, role: str) -> Request:
    target = w.upload
    if role == "technician":
        # The owner appends to an upload of their own, made for this request (appending changes it).
        r = tus.create(w.http, w.auth(role), b"\x00" * 10, "image/jpeg")
        target = r.headers["location"].rsplit("/", 1)[-1]
    return f"/files/{target}", {"headers": {**tus.PATCH, "Upload-Offset": "0"}, "content": b"\x00" * 4}


def _new_request(w: World, role: str) -> Request:
    return "/api/service-requests", {"json": {"site_id": w.site["site"], "channel": "hotline", "kind": "repair"}}


SCHEMA = Rule(_get("/schema/openapi.json"), 200, 200, 200, public=True)

# (method, path as the app declares it) -> rule
MATRIX: dict[tuple[str, str], Rule] = {
    ("POST", "/auth/token"): Rule(_token, 200, 200, 200, public=True),
    # Public like a sign-in: the refresh credential is what authenticates; a made-up one is 403.
    ("POST", "/auth/refresh"): Rule(_json("/auth/refresh", {"client_id": "x", "refresh_token": "y"}),
                                    403, 403, 403, public=True),
    ("POST", "/sync/push"): Rule(_push, 200, 200, 200),
    ("GET", "/sync/pull"): Rule(_get("/sync/pull"), 200, 200, 200),
    ("GET", "/api/conflicts"): Rule(_get("/api/conflicts"), 200, 200, 200),  # a technician: their own entries
    ("GET", "/api/clients"): Rule(_get("/api/clients"), 200, 200, 200),  # a technician: their own clients
    ("DELETE", "/api/clients/{client_id:str}"): Rule(_get("/api/clients/{spare}"), 204, 404, 204, desk=404),
    ("GET", "/api/audit"): Rule(_get("/api/audit"), 403, 403, 200, desk=403),
    ("GET", "/api/sites/{site_id:str}/plan"): Rule(_get("/api/sites/{site}/plan"), 403, 404, 200, desk=403),
    ("PUT", "/api/sites/{site_id:str}/plan"): Rule(
        _json("/api/sites/{site}/plan", {"frequency": "quarterly", "due_day": 20, "technician": "wang"}),
        403, 404, 200, desk=403),
    ("POST", "/api/inspections/generate"): Rule(_json("/api/inspections/generate", {"period": "2026-Q4"}),
                                                403, 403, 200, desk=403),
    ("GET", "/api/sites/{site_id:str}/coverage"): Rule(_get("/api/sites/{site}/coverage", period="2026-Q4"),
                                                       200, 404, 200),
    ("GET", "/api/devices/{device_id:str}/history"): Rule(_get("/api/devices/{cam1}/history"), 200, 404, 200),
    ("GET", "/api/inspections"): Rule(_get("/api/inspections"), 200, 200, 200),  # filtered to the caller's sites
    ("GET", "/api/sites"): Rule(_get("/api/sites"), 200, 200, 200),  # the caller's sites (test_site_list.py)
    ("GET", "/api/inspections/{inspection_id:str}"): Rule(_get("/api/inspections/{inspection}"), 200, 404, 200),
    ("GET", "/api/inspections/{inspection_id:str}/missing-blobs"): Rule(
        _get("/api/inspections/{inspection}/missing-blobs"), 200, 404, 200),
    ("POST", "/api/signatures/{signature_id:str}/retract"): Rule(_get("/api/signatures/{signature}/retract"),
                                                                403, 404, 200, desk=403),
    ("GET", "/api/sites/{site_id:str}/members"): Rule(_get("/api/sites/{site}/members"), 200, 404, 200),
    ("POST", "/api/sites/{site_id:str}/members"): Rule(_json("/api/sites/{site}/members", {"username": "wang"}),
                                                       403, 404, 200, desk=403),
    ("DELETE", "/api/sites/{site_id:str}/members/{username:str}"): Rule(_get("/api/sites/{site}/members/qian"),
                                                                       403, 404, 204, desk=403),
    # Accounts (issue 14): supervisors list and create them; the matrix's new user is made once, last.
    ("GET", "/api/users"): Rule(_get("/api/users"), 403, 403, 200, desk=403),
    ("POST", "/api/users"): Rule(_json("/api/users", {"username": "matrix", "name": "M", "role": "technician",
                                                      "password": "correct horse battery"}), 403, 403, 201, desk=403),
    # qian: a user no other request of the matrix signs in as (a change revokes their clients).
    ("PATCH", "/api/users/{username:str}"): Rule(_json("/api/users/qian", {"disabled": False}), 403, 403, 200, desk=403),
    # Uploads belong to the user who made them: anyone else's is 404, supervisors' included.
    ("OPTIONS", "/files"): Rule(_get("/files"), 204, 204, 204, public=True),
    ("POST", "/files"): Rule(_create_upload, 201, 201, 201),
    ("HEAD", "/files/{upload_id:str}"): Rule(_head_upload, 200, 404, 404),
    ("PATCH", "/files/{upload_id:str}"): Rule(_patch_upload, 204, 404, 404),
    ("GET", "/blobs/{sha256:str}"): Rule(_get("/blobs/{sha}"), 200, 404, 200),
    ("GET", "/blobs/{sha256:str}/thumbnail"): Rule(_get("/blobs/{sha}/thumbnail", size=320), 200, 404, 200),
    # Service requests (issue 12): in scope to read; the desk and supervisors open them.
    ("GET", "/api/service-requests"): Rule(_get("/api/service-requests"), 200, 200, 200),  # the caller's sites
    ("POST", "/api/service-requests"): Rule(_new_request, 403, 403, 201),
    ("GET", "/api/service-requests/{request_id:str}"): Rule(_get("/api/service-requests/{request}"), 200, 404, 200),
    # A site's service terms (issue 12): read in scope, set by supervisors.
    ("GET", "/api/sites/{site_id:str}/service-terms"): Rule(_get("/api/sites/{site}/service-terms"), 200, 404, 200),
    ("PUT", "/api/sites/{site_id:str}/service-terms"): Rule(
        _json("/api/sites/{site}/service-terms", {"override": None}), 403, 404, 200, desk=403),
    # The monthly technician report (issue 13): supervisors and the service desk.
    ("GET", "/api/reports/technicians"): Rule(_get("/api/reports/technicians", month="2026-M11"), 403, 403, 200),
    # Duty (issue 13): any signed-in role; the log holds the caller's sites' calls and their own.
    ("GET", "/api/duty"): Rule(_get("/api/duty", at="2026-11-07T13:00:00.000Z"), 200, 200, 200),
    ("GET", "/api/duty/log"): Rule(_get("/api/duty/log", month="2026-M11"), 200, 200, 200),
    ("GET", "/api/duty/rules"): Rule(_get("/api/duty/rules"), 200, 200, 200),  # what a phone caches
    # The fee book a phone caches to price a bill offline: any signed-in role.
    ("GET", "/api/fee-schedules"): Rule(_get("/api/fee-schedules"), 200, 200, 200),
    # Charges (issue 13): a visit's sheet and bill in scope; the annual quote is the desk's and supervisors'.
    ("GET", "/api/visits/{visit_id:str}"): Rule(_get("/api/visits/{visit}"), 200, 404, 200),
    ("GET", "/api/visits/{visit_id:str}/bill"): Rule(_get("/api/visits/{visit}/bill"), 200, 404, 200),
    ("GET", "/api/sites/{site_id:str}/annual-quote"): Rule(_get("/api/sites/{site}/annual-quote"), 403, 404, 200),
    # Printable sheets (issue 14): in scope, as the JSON sheets; the seal's signature likewise.
    ("GET", "/api/inspections/{inspection_id:str}/sheet.pdf"): Rule(_get("/api/inspections/{inspection}/sheet.pdf"),
                                                                   200, 404, 200),
    ("GET", "/api/visits/{visit_id:str}/sheet.pdf"): Rule(_get("/api/visits/{visit}/sheet.pdf"), 200, 404, 200),
    ("GET", "/api/signatures/{signature_id:str}"): Rule(_get("/api/signatures/{signature}"), 200, 404, 200),
    ("GET", "/api/reports/faults"): Rule(_get("/api/reports/faults", **{"from": "2026-11-01", "to": "2026-12-01"}),
                                         403, 403, 200),
    # The console (issue 14): HTML over the same services and guards; without a session, the sign-in form.
    ("GET", "/console/login"): Rule(_get("/console/login"), 200, 200, 200, public=True),
    # A post without the form's CSRF token and this site's Origin is refused, whoever sends it.
    ("POST", "/console/login"): Rule(_console("/console/login"), 403, 403, 403, public=True),
    ("POST", "/console/logout"): Rule(_console("/console/logout"), 403, 403, 403, signed_out=303),
    ("GET", "/console"): Rule(_console("/console/"), 200, 200, 200, signed_out=303),
    ("GET", "/console/sites"): Rule(_console("/console/sites"), 200, 200, 200, signed_out=303),
    ("GET", "/console/inspections"): Rule(_console("/console/inspections"), 200, 200, 200, signed_out=303),
    ("GET", "/console/sites/{site_id:str}"): Rule(_console("/console/sites/{site}"), 200, 404, 200, signed_out=303),
    # console-desk: the desk's pages; its posts are refused without the session's CSRF token (403 for all).
    ("GET", "/console/service-requests"): Rule(_console("/console/service-requests"), 200, 200, 200, signed_out=303),
    ("POST", "/console/service-requests"): Rule(_console("/console/service-requests"), 403, 403, 403,
                                                signed_out=303),
    ("GET", "/console/service-requests/{request_id:str}"): Rule(
        _console("/console/service-requests/{request}"), 200, 404, 200, signed_out=303),
    ("POST", "/console/service-requests/{request_id:str}/dispatch"): Rule(
        _console("/console/service-requests/{request}/dispatch"), 403, 403, 403, signed_out=303),
    ("POST", "/console/service-requests/{request_id:str}/callbacks"): Rule(
        _console("/console/service-requests/{request}/callbacks"), 403, 403, 403, signed_out=303),
    ("POST", "/console/service-requests/{request_id:str}/events"): Rule(
        _console("/console/service-requests/{request}/events"), 403, 403, 403, signed_out=303),
    ("GET", "/console/visits/{visit_id:str}"): Rule(_console("/console/visits/{visit}"), 200, 404, 200,
                                                    signed_out=303),
    ("GET", "/console/visits/{visit_id:str}/sheet.pdf"): Rule(_console("/console/visits/{visit}/sheet.pdf"), 200,
                                                              404, 200, signed_out=303),
    # The supervisor's console pages (issue 14): the API's roles (a technician: their duty log, clients and
    # conflict entries; the scores' CSV and the users page are 403); every post without its CSRF token is 403.
    ("GET", "/console/reports"): Rule(_console("/console/reports"), 200, 200, 200, signed_out=303),
    ("GET", "/console/reports/technicians.csv"): Rule(_console("/console/reports/technicians.csv"), 403, 403, 200,
                                                      signed_out=303),
    ("GET", "/console/reports/duty-log.csv"): Rule(_console("/console/reports/duty-log.csv"), 200, 200, 200,
                                                   signed_out=303),
    # s27-office5: the duty roster's form is a supervisor's; without the form's CSRF token, refused for all.
    ("POST", "/console/reports/duty-roster"): Rule(_console("/console/reports/duty-roster"), 403, 403, 403,
                                                   signed_out=303),
    ("GET", "/console/conflicts"): Rule(_console("/console/conflicts"), 200, 200, 200, signed_out=303),
    ("GET", "/console/clients"): Rule(_console("/console/clients"), 200, 200, 200, signed_out=303),
    ("POST", "/console/clients/{client_id:str}/revoke"): Rule(_console("/console/clients/{cam1}/revoke"),
                                                             403, 403, 403, signed_out=303),
    ("GET", "/console/users"): Rule(_console("/console/users"), 403, 403, 200, desk=403, signed_out=303),
    # s29-userspage: a user's page (his sites, their forms, a password and disable) is a supervisor's, as the list.
    ("GET", "/console/users/{username:str}"): Rule(_console("/console/users/wang"), 403, 403, 200, desk=403,
                                                   signed_out=303),
    ("POST", "/console/users"): Rule(_console("/console/users"), 403, 403, 403, signed_out=303),
    ("POST", "/console/users/{username:str}/password"): Rule(_console("/console/users/qian/password"),
                                                            403, 403, 403, signed_out=303),
    ("POST", "/console/users/{username:str}/disabled"): Rule(_console("/console/users/qian/disabled"),
                                                            403, 403, 403, signed_out=303),
    # s28-members: a site's members in the console are a supervisor's (the role before the form: the desk and
    # the site's technician 403, another site's technician 404 first); without the form's CSRF token, 403.
    ("POST", "/console/sites/{site_id:str}/members"): Rule(_console("/console/sites/{site}/members"), 403, 404, 403,
                                                           signed_out=303),
    ("POST", "/console/sites/{site_id:str}/members/{username:str}/remove"): Rule(
        _console("/console/sites/{site}/members/wang/remove"), 403, 404, 403, signed_out=303),
    ("POST", "/console/memberships"): Rule(_console("/console/memberships"), 403, 403, 403, signed_out=303),
    ("POST", "/console/memberships/remove"): Rule(_console("/console/memberships/remove"), 403, 403, 403,
                                                  signed_out=303),
    # console-site: a device's history, an inspection's sheet and its PDF, a photo's thumbnail for the session.
    ("GET", "/console/sites/{site_id:str}/devices/{device_id:str}"): Rule(
        _console("/console/sites/{site}/devices/{cam1}"), 200, 404, 200, signed_out=303),
    ("GET", "/console/inspections/{inspection_id:str}"): Rule(
        _console("/console/inspections/{inspection}"), 200, 404, 200, signed_out=303),
    ("GET", "/console/inspections/{inspection_id:str}/sheet.pdf"): Rule(
        _console("/console/inspections/{inspection}/sheet.pdf"), 200, 404, 200, signed_out=303),
    # Reassigning an inspection is a supervisor's; without the form's CSRF token, refused for all.
    ("POST", "/console/inspections/{inspection_id:str}/assign"): Rule(
        _console("/console/inspections/{inspection}/assign"), 403, 403, 403, signed_out=303),
    ("GET", "/console/blobs/{sha256:str}"): Rule(
        lambda w, role: _console(f"/console/blobs/{w.photo_sha}")(w, role), 200, 404, 200, signed_out=303),
    ("GET", "/console/blobs/{sha256:str}/thumbnail"): Rule(
        lambda w, role: _console(f"/console/blobs/{w.photo_sha}/thumbnail")(w, role), 200, 404, 200,
        signed_out=303),
    # The customer archive in the console (issue 14): supervisors only; another site is 404 first. A post
    # without the session's CSRF token is refused whoever sends it (its success is in test_console_archive.py).
    ("GET", "/console/sites/new"): Rule(_console("/console/sites/new"), 403, 403, 200, desk=403, signed_out=303),
    ("POST", "/console/sites/new"): Rule(_console("/console/sites/new"), 403, 403, 403, signed_out=303),
    ("GET", "/console/sites/{site_id:str}/import"): Rule(_console("/console/sites/{site}/import"), 403, 404, 200,
                                                         desk=403, signed_out=303),
    ("POST", "/console/sites/{site_id:str}/import"): Rule(_console("/console/sites/{site}/import"), 403, 404, 403,
                                                          signed_out=303),
    ("POST", "/console/sites/{site_id:str}/import/apply"): Rule(_console("/console/sites/{site}/import/apply"),
                                                                403, 404, 403, signed_out=303),
    ("GET", "/console/lookup"): Rule(_console("/console/lookup?q=CAM-001"), 303, 404, 303, signed_out=303),
    # The customer archive (issue 14): supervisors import a site's devices (a dry run here, so the matrix
    # changes nothing); anyone signed in looks a number up, in their own sites.
    ("POST", "/api/sites/{site_id:str}/import"): Rule(
        lambda w, role: (f"/api/sites/{w.site['site']}/import",
                         {"params": {"dry_run": "true"}, "content": "编号\r\nCAM-001\r\n".encode()}),
        403, 404, 200, desk=403),
    ("GET", "/api/lookup"): Rule(_get("/api/lookup", sheet_no="PM-2026Q4-0001"), 200, 404, 200),
    # A new customer's site: supervisors only (no site in the path, so another site's technician gets 403 too).
    ("POST", "/api/sites"): Rule(_json("/api/sites", {"name": "Matrix park", "customer": "ACME", "contract": "annual"}),
                                 403, 403, 201, desk=403),
    # The OpenAPI description and its page are public; `/` leads to the page.
    ("GET", "/"): Rule(_get("/"), 200, 200, 200, public=True),
    ("GET", "/favicon.ico"): Rule(_get("/favicon.ico"), 204, 204, 204, public=True),
    **{("GET", path): SCHEMA for path in ("/schema", "/schema/openapi.json")},
    ("GET", "/schema/{path:str}"): Rule(_get("/schema/nothing-here"), 404, 404, 404, public=True),
}


def _endpoints(app: Any) -> set[tuple[str, str]]:
    """(method, path) of every handler, except Litestar's automatic CORS preflight (OPTIONS) answers."""
    return {
        (method, route.path)
        for route in app.routes
        for handler in route.route_handlers
        if handler.handler_name != "options_handler"
        for method in handler.http_methods
    }


def test_the_matrix_covers_every_route(http):
    endpoints = _endpoints(http.app)
    assert sorted(endpoints - MATRIX.keys()) == []  # an endpoint without a rule
    assert sorted(MATRIX.keys() - endpoints) == []  # a rule for an endpoint that is gone


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


@pytest.fixture
def world(site, store, http, lin, wang, zhao, chen) -> World:
    store.create_user("qian", "Qian", "technician", "demo", demo=True)
    store.add_member(SITE, "qian")
    from server.domains.inspections.service import Inspections

    Inspections(store).set_plan(SITE, Plan(technician="wang"))
    # A photo of wang's, its bytes uploaded: its blob is stored.
    data = _jpeg()
    sha = hashlib.sha256(data).hexdigest()
    created = tus.create(http, wang.headers, data, "image/jpeg")
    assert tus.patch(http, wang.headers, created.headers["location"], 0, data).status_code == 204
    photo = "6f1d2d0e-4a8b-4c3e-9a51-0c1a2b3c4d5e"
    [result] = wang.push([wang.change("photos", photo, {
        "inspection_id": site["inspection"], "device_id": site["cam1"], "sha256": sha,
        "content_type": "image/jpeg", "bytes": len(data), "stage": "after"}, delete=False)]).json()["results"]
    assert result["status"] == "applied"
    signature = "7a2e3f40-5b6c-4d7e-8f90-a1b2c3d4e5f6"
    [result] = wang.push([wang.change("signatures", signature, {
        "inspection_id": site["inspection"], "signer_name": "Wang", "signer_role": "technician",
        "signed_at": "2026-11-20T03:00:00.000Z", "sheet_sha256": "ab" * 32})]).json()["results"]
    assert result["status"] == "applied"
    # A service request at wang's site with a visit of wang's (issue 12).
    request, visit = "8b3f4a51-6c7d-4e8f-9a01-b2c3d4e5f607", "9c4a5b62-7d8e-4f90-8b12-c3d4e5f6a718"
    results = chen.push([chen.change("service_requests", request, {
        "site_id": SITE, "reported_at": "2026-11-20T01:00:00.000Z", "channel": "hotline", "kind": "repair"})]).json()
    assert results["results"][0]["status"] == "applied"
    [result] = wang.push([wang.change("service_visits", visit, {"request_id": request})]).json()["results"]
    assert result["status"] == "applied"
    site = {**site, "visit": visit}
    pending = tus.create(http, wang.headers, b"\x01" * 10, "image/jpeg").headers["location"].rsplit("/", 1)[-1]
    revoked = Session(http, "wang")
    assert lin.http.delete(f"/api/clients/{revoked.client_id}", headers=lin.headers).status_code == 204
    spare = Session(http, "wang")
    request = "8b3f4051-6c7d-4e8f-9a01-b2c3d4e5f607"  # a service request at wang's site
    store.write_server_changes([("service_requests", request, {
        "site_id": SITE, "reported_at": "2026-11-20T02:00:00.000Z", "channel": "hotline", "kind": "repair"}, False)])
    visit = "9c4a5162-7d8e-4f90-8b12-c3d4e5f60718"  # a visit of that request
    store.write_server_changes([("service_visits", visit, {"request_id": request, "technician": "wang"}, False)])
    site = {**site, "request": request, "visit": visit}
    return World(http=http, sessions={"anonymous": None, "revoked": revoked, "other_site": zhao,
                                      "technician": wang, "service_desk": chen, "supervisor": lin},
                 site=site, photo_sha=sha, upload=pending, spare_client=spare.client_id, signature=signature)


def test_every_endpoint_answers_every_caller_as_the_rules_say(world):
    got: dict[tuple[str, str, str], int] = {}
    want: dict[tuple[str, str, str], int] = {}
    problems = []
    for (method, path), rule in MATRIX.items():
        for role in ROLES:  # the supervisor last: some of its requests change what they name
            url, kwargs = rule.build(world, role)
            kwargs["headers"] = {**kwargs.get("headers", {}), **world.auth(role)}
            r = world.http.request(method, url, **kwargs)
            got[(method, path, role)] = r.status_code
            want[(method, path, role)] = rule.expect[role]
            if r.status_code in (401, 403, 404) and method != "HEAD" and not path.startswith(("/schema", "/console")):
                body = r.json()
                if body.get("status") != r.status_code or not body.get("code"):
                    problems.append((method, path, role, body))
    assert {k: v for k, v in got.items() if want[k] != v} == {}
    assert problems == []


def test_role_and_scope_are_checked_before_the_body_is_read(http, wang):
    # Issue 11: role and scope are Litestar guards (server/http/guards.py), run before a byte of
    # the body is read. A technician's body to a supervisor's route is refused unread, whatever it
    # holds, and for a site not theirs with 404 (scope) before 403 (role).
    from tests.conftest import OTHER_SITE
    from tests.helpers import problem

    for method, path, status, code in [
        ("POST", "/api/inspections/generate", 403, "forbidden"),
        ("PUT", f"/api/sites/{SITE}/plan", 403, "forbidden"),
        ("PUT", f"/api/sites/{OTHER_SITE}/plan", 404, "not_found"),
        # The identity routes' checks moved from Access into the same guards.
        ("PATCH", "/api/users/wang", 403, "forbidden"),
        ("POST", f"/api/sites/{SITE}/members", 403, "forbidden"),
        ("POST", f"/api/sites/{OTHER_SITE}/members", 404, "not_found"),
    ]:
        for body in (b"{nope", b'{"period": 7}', b"[" * 100_000):
            r = http.request(method, path, content=body, headers={**wang.headers, "content-type": "application/json"})
            problem(r, status, code)
    # Query parameters too: a technician's bad `limit` to the audit trail is refused for the role.
    problem(http.get("/api/audit", params={"limit": "0"}, headers=wang.headers), 403, "forbidden")

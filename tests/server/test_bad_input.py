"""Requests a client can get wrong: each is a problem body, never a 500, and changes nothing."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from litestar.testing import TestClient

from server.app import create_app
from server.domains.service.schemas import NewRequest
from server.http.problems import PROBLEM, problem_response
from server.services import Store
from server.settings import Settings
from sync import errors as E
from sync import hlc, schema
from sync.fields import wire_type
from tests.conftest import OTHER_SITE, SITE
from tests.helpers import problem as _problem
from tests.servers import serving

TS = "2026-11-20T17:30:00.000Z"


def _envelope(session: Any, changes: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"protocol": 1, "client_id": session.client_id, "client_time": hlc.format_ts(hlc.wall_ms()),
            "changes": changes if changes is not None else []}


def _raw_push(session: Any, body: bytes) -> Any:
    return session.http.post("/sync/push", content=body,
                             headers={**session.headers, "content-type": "application/json"})


@pytest.fixture
def primed(site, wang, lin):
    """Some state to keep: a pushed change of wang's, so acked_seq, receipts and rows are not empty."""
    r = wang.push([wang.change("devices", site["cam1"], {"location": "lobby"})])
    assert r.status_code == 200
    return site


# -- bodies that cannot be decoded --------------------------------------------------------------


MALFORMED = [
    b'{"protocol": 1,}',
    b"nope",
    b"\xff\xfe",
    # Regression: msgspec's "Input data was truncated" did not say "malformed", so it was invalid_request.
    b'{"protocol": 1, "changes": [',
    # Regression: invalid UTF-8 inside a string raised UnicodeDecodeError through Litestar: a 500.
    b'{"protocol": 1, "client_id": "\xff"}',
    # Regression (issue 9, finding 11): past msgspec's nesting limit, RecursionError was a 500 and a
    # logged traceback on every JSON endpoint, before authentication; in an array and in an unknown field.
    b"[" * 100_000 + b"]" * 100_000,
    b'{"protocol": 1, "pad": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_001,
]


def test_malformed_json(primed, wang, dump):
    # One test walks many cases: each server test pays for three scrypt sign-ups.
    before = dump()
    for body in MALFORMED:
        _problem(_raw_push(wang, body), 400, "malformed_json")
    assert dump() == before


def _json_endpoints(app: Any) -> list[tuple[str, str]]:
    """Every (method, path) whose OpenAPI description takes a JSON body, path parameters filled in."""
    import re

    found = []
    for path, item in app.openapi_schema.to_schema()["paths"].items():
        for method, operation in item.items():
            if "application/json" in operation.get("requestBody", {}).get("content", {}):
                found.append((method.upper(), re.sub(r"\{[^}]+\}", "x", path)))
    return found


def _body_limits(app: Any) -> dict[tuple[str, str], int | None]:
    """The body limit of each (method, path) whose route sets its own (the app's otherwise)."""
    import re

    return {(method, re.sub(r"\{[^}]+\}", "x", route.path)): handler.resolve_request_max_body_size()
            for route in app.routes for handler in route.route_handlers
            for method in getattr(handler, "http_methods", ())}


def test_malformed_json_on_every_json_endpoint(http, lin, caplog):
    """Each malformed body, on every JSON endpoint, with and without a token: never a 500, no traceback."""
    endpoints = _json_endpoints(http.app)
    assert {("POST", "/sync/push"), ("POST", "/auth/token"), ("POST", "/api/inspections/generate")} <= set(endpoints)
    limits = _body_limits(http.app)
    for method, path in endpoints:
        for body in MALFORMED:
            for headers in ({}, lin.headers):
                r = http.request(method, path, content=body, headers={**headers, "content-type": "application/json"})
                if headers and len(body) > (limits.get((method, path)) or len(body)):
                    _problem(r, 413, "body_too_large")  # a route's own limit comes before parsing
                elif headers or path in ("/auth/token", "/auth/refresh"):  # public: no token needed
                    _problem(r, 400, "malformed_json")
                else:  # anonymous on an endpoint that needs a token: refused before the body is read
                    _problem(r, 401, "unauthorized")
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"], caplog.text[-2000:]


def test_malformed_json_at_sign_in(http):
    _problem(http.post("/auth/token", content=b'{"username": "\xff"}', headers={"content-type": "application/json"}),
             400, "malformed_json")
    _problem(http.post("/auth/token", content=b'{"username": ', headers={"content-type": "application/json"}),
             400, "malformed_json")


_CHANGE = {"seq": 2, "collection": "devices", "id": "x", "hlc": "1764201600000-0000-srv"}


WRONG_TYPES = [
    {"changes": {"seq": 1}},
    {"changes": [[2, "devices"]]},
    {"changes": [{**_CHANGE, "seq": [2]}]},
    {"changes": [{**_CHANGE, "seq": 2.5}]},
    {"changes": [{**_CHANGE, "fields": {"location": 1.5}}]},
    {"changes": [{**_CHANGE, "fields": {"location": {"nested": 1}}}]},
    {"changes": [{**_CHANGE, "fields": {"location": [1]}}]},
    {"changes": [{**_CHANGE, "fields": ["location"]}]},
    {"changes": [{**_CHANGE, "delete": "maybe"}]},
    {"changes": [{**_CHANGE, "collection": None}]},
    {"client_id": 7},
    {"client_time": None},
    {"protocol": "one"},
]


def test_wrong_types(primed, wang, dump):
    before = dump()
    for patch in WRONG_TYPES:
        _problem(wang.http.post("/sync/push", headers=wang.headers, json={**_envelope(wang), **patch}),
                 400, "invalid_request")
    assert dump() == before


# Strings and maps past the wire bounds (issue 9, finding 5): the whole push is a 400, nothing stored.
OVERSIZED = [
    {"changes": [{**_CHANGE, "collection": "c" * 65}]},
    {"changes": [{**_CHANGE, "id": "i" * 129}]},
    {"changes": [{**_CHANGE, "hlc": "1764201600000-0000-" + "n" * 50}]},
    {"changes": [{**_CHANGE, "fields": {"item." + "k" * 124: 1}}]},
    {"changes": [{**_CHANGE, "fields": {f"f{i}": 1 for i in range(257)}}]},
    {"changes": [{**_CHANGE, "fields": {"location": "x" * 65_537}}]},
    {"client_id": "c" * 129},
    {"client_time": "2026-11-20T17:30:00.000Z" + " " * 41},
]


def test_oversized_strings(primed, wang, dump):
    before = dump()
    for patch in OVERSIZED:
        _problem(wang.http.post("/sync/push", headers=wang.headers, json={**_envelope(wang), **patch}),
                 400, "invalid_request")
    # The app's name is kept with the client and in the audit trail: bounded too.
    body = _problem(wang.http.post("/sync/push", headers={**wang.headers, "Fieldsync-App": "a" * 129},
                                   json=_envelope(wang)), 400, "invalid_request")
    assert body["limit"] == 128
    assert dump() == before


def test_missing_envelope_fields(primed, wang, dump):
    before = dump()
    for missing in ["client_id", "client_time", "changes"]:
        body = _envelope(wang, [{**_CHANGE}])
        del body[missing]
        detail = _problem(wang.http.post("/sync/push", headers=wang.headers, json=body), 400, "invalid_request")
        assert missing in detail["detail"]
    assert dump() == before


def test_missing_change_fields(primed, wang, dump):
    before = dump()
    for missing in ["seq", "collection", "id", "hlc"]:
        change = {**_CHANGE}
        del change[missing]
        _problem(wang.http.post("/sync/push", headers=wang.headers, json=_envelope(wang, [change])),
                 400, "invalid_request")
    assert dump() == before


def test_not_an_object(primed, wang, dump):
    before = dump()
    _problem(wang.http.post("/sync/push", headers=wang.headers, json=[1, 2]), 400, "invalid_request")
    _problem(_raw_push(wang, b""), 400, "invalid_request")
    assert dump() == before


def test_unknown_protocol_number_in_the_body(primed, wang, dump):
    before = dump()
    for number in (0, 2):
        _problem(wang.http.post("/sync/push", headers=wang.headers, json={**_envelope(wang), "protocol": number}),
                 400, "invalid_request")
    assert dump() == before


# -- limits ------------------------------------------------------------------------------------


def test_too_many_changes(primed, wang, dump):
    changes = [wang.change("devices", primed["cam1"], {"location": f"l{i}"}) for i in range(1001)]
    before = dump()
    body = _problem(wang.push(changes), 413, "too_many_changes")
    assert body["limit"] == 1000
    assert dump() == before
    # A thousand are fine.
    wang.seq = 1
    ok = wang.push([wang.change("devices", primed["cam1"], {"location": f"l{i}"}) for i in range(1000)])
    assert ok.status_code == 200 and ok.json()["acked_seq"] == 1001


@pytest.fixture
def small(new_settings: Callable[..., Settings]) -> Iterator[tuple[TestClient[Any], Store]]:
    settings = new_settings("small", max_body_bytes=2048)
    store = Store(settings)
    store.create_user("wang", "Wang", "technician", "demo", demo=True)
    with serving(settings, store) as client:
        yield client, store
    store.close()


def test_body_over_the_size_limit(small):
    client, store = small
    login = client.post("/auth/token", json={"username": "wang", "password": "demo"}).json()
    headers = {"Authorization": f"Bearer {login['token']}"}
    note = "x" * 4096
    body = {"protocol": 1, "client_id": login["client_id"], "client_time": hlc.format_ts(hlc.wall_ms()),
            "changes": [{"seq": 1, "collection": "devices", "id": "x", "hlc": "1764201600000-0000-srv",
                         "fields": {"note": note}}]}
    _problem(client.post("/sync/push", headers=headers, json=body), 413, "body_too_large")
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM receipts").fetchone()[0] == 0
        assert db.execute("SELECT acked_seq FROM clients").fetchone()[0] == 0
    # Under the limit, the same client is served.
    del body["changes"][0]["fields"]["note"]
    assert client.post("/sync/push", headers=headers, json=body).status_code == 200


# -- envelope rules --------------------------------------------------------------------------------


def test_push_naming_another_client(primed, wang, lin, dump):
    before = dump()
    body = {**_envelope(wang, [lin.change("devices", primed["cam1"], {"location": "x"})]),
            "client_id": lin.client_id}
    _problem(wang.http.post("/sync/push", headers=wang.headers, json=body), 403, "client_mismatch")
    assert dump() == before


def test_seq_not_consecutive(primed, wang, dump):
    before = dump()
    for seqs in [[2, 4], [3, 2], [2, 2], [0, 1], [-1], [0]]:
        changes = [{**_CHANGE, "seq": s} for s in seqs]
        _problem(wang.http.post("/sync/push", headers=wang.headers, json=_envelope(wang, changes)),
                 400, "seq_not_consecutive")
    assert dump() == before


BAD_CLIENT_TIMES = [
    "yesterday", "2026-11-20T17:30:00Z", "2026-11-20T17:30:00.000+08:00", "2026-11-31T17:30:00.000Z",
    "2026-11-20T17:30:00.000Z\n", "",
    # Arabic-Indic digits: `\d` matched them until the timestamp pattern became ASCII-only.
    "\u0662\u0660\u0662\u0666-11-20T17:30:00.000Z",
    # Regression (s24, client times past the local calendar): the end of 9999 made the push's measured offset
    # correct a duty call's time to before the year 1: a 500. The years 1970 (a reset phone's clock) to 2100.
    "9999-12-31T23:59:59.999Z", "2101-01-01T00:00:00.000Z", "1969-12-31T23:59:59.999Z",
]


def test_bad_client_time(primed, wang, dump):
    before = dump()
    for client_time in BAD_CLIENT_TIMES:
        body = {**_envelope(wang, [{**_CHANGE}]), "client_time": client_time}
        _problem(wang.http.post("/sync/push", headers=wang.headers, json=body), 400, "invalid_request")
    assert dump() == before


# -- tokens ----------------------------------------------------------------------------------------


BAD_AUTH = [
    {},
    {"Authorization": "Bearer"},
    {"Authorization": "Bearer   "},
    {"Authorization": "Bearer not-a-token"},
    {"Authorization": "Basic d2FuZzpkZW1v"},
    {"Authorization": "not-a-token"},
]


def test_no_or_bad_token(primed, http, wang, dump):
    before = dump()
    for headers in BAD_AUTH:
        _problem(http.post("/sync/push", headers=headers, json=_envelope(wang, [{**_CHANGE}])), 401, "unauthorized")
        _problem(http.get("/sync/pull", headers=headers), 401, "unauthorized")
        _problem(http.get("/api/conflicts", headers=headers), 401, "unauthorized")
    assert dump() == before


def test_wrong_password_or_unknown_user(http, store):
    for username, password in [("wang", "wrong"), ("nobody", "demo"), ("wang", "")]:
        _problem(http.post("/auth/token", json={"username": username, "password": password}),
                 401, "invalid_credentials")
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM clients").fetchone()[0] == 0


# Regression (issue 16, pull bytes): a NUL (`\u0000`) in any JSON string was a 500 on PostgreSQL (its text
# holds none), and with `rows.fields` as `json` a stored one would fail every read of a field of its row.
# Refused whole (400) on every JSON endpoint, nothing written; a backslash followed by `u0000` is text.
NUL_STRINGS = [
    ("/sync/push", {"changes": [{**_CHANGE, "seq": 1, "collection": "sites", "id": "s\x00"}]}),
    ("/sync/push", {"changes": [{**_CHANGE, "seq": 1, "collection": "sites", "fields": {"name": "A\x00"}}]}),
    ("/sync/push", {"changes": [{**_CHANGE, "seq": 1, "collection": "sites", "fields": {"na\x00me": "A"}}]}),
    ("/sync/push", {"client_id": "c\x00"}),
    ("/auth/token", {"username": "wang\x00", "password": "demo"}),
]


def test_a_nul_in_a_string_is_refused_everywhere(http, lin, dump):
    before = dump()
    for path, patch in NUL_STRINGS:
        body = {**_envelope(lin), **patch} if path == "/sync/push" else patch
        _problem(http.post(path, headers=lin.headers, json=body), 400, "invalid_request")
    assert dump() == before
    text = "C:\\u0000 \\\\u0000"  # backslashes and `u0000`, no NUL: kept as sent
    site = str(uuid.uuid4())
    assert lin.push([lin.change("sites", site, {"name": text})]).json()["results"][0]["status"] == "applied"
    assert [r["fields"]["name"] for r in lin.pull("0", 1000).json()["rows"] if r["id"] == site] == [text]


def _tus_metadata(**values: str) -> dict[str, str]:
    given = {"sha256": "0" * 64, "content_type": "image/jpeg", **values}
    return {"Tus-Resumable": "1.0.0", "Upload-Length": "10", "Upload-Metadata": ",".join(
        f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in given.items())}


# Regression (issue 16, closing note): a NUL in client text that is no JSON body was a 500 on PostgreSQL
# (28 parameters of the route table, a tus file name) and stored on SQLite. Each input class once; every
# route's every parameter is swept on PostgreSQL in test_unstorable_input.py, with forms and spreadsheet cells.
NUL_ELSEWHERE = [
    ("GET", f"/api/lookup?site_id={SITE}&code=a%00b", {}, "code"),  # a query parameter's value
    ("GET", f"/api/lookup?site_id={SITE}&code=x&c%00de=1", {}, "cde"),  # a query parameter's name
    ("GET", "/api/devices/a%00b/history", {}, "device_id"),  # a path parameter
    ("POST", "/files", _tus_metadata(filename="a\x00b.jpg"), "filename"),  # tus Upload-Metadata
    ("POST", "/auth/token", {"Fieldsync-App": "fieldsync\x00/1"}, "Fieldsync-App"),  # a header kept with the client
]


def test_a_nul_in_a_parameter_or_header_is_refused(http, lin, dump):
    before = dump()
    for method, url, headers, name in NUL_ELSEWHERE:
        sign_in = {"username": "wang", "password": "demo"} if url == "/auth/token" else None
        body = _problem(http.request(method, url, headers={**lin.headers, **headers}, json=sign_in), 400,
                        "invalid_request")
        assert name in body["detail"] and "NUL" in body["detail"], body
    assert dump() == before


# Regression (issue 9, finding 4): five 7 MB usernames grew the database by 98 MB in one second, with no
# credentials. Sign-in strings are bounded before anything else (400), and nothing is written.
SIGN_IN_OVERSIZED = [
    ("/auth/token", {"username": "u" * 65, "password": "demo"}),
    ("/auth/token", {"username": "wang", "password": "p" * 257}),
    ("/auth/token", {"username": "wang", "password": "demo", "client_name": "n" * 129}),
    ("/auth/token", {"username": "wang", "password": "demo", "client_id": "c" * 129}),
    ("/auth/refresh", {"client_id": "c" * 129, "refresh_token": "t"}),
    ("/auth/refresh", {"client_id": "c", "refresh_token": "t" * 129}),
]


def test_oversized_sign_in_strings(http, store):
    def written() -> tuple[Any, ...]:
        with store.read() as db:
            return tuple(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in ("audit", "clients", "tokens"))

    before = written()
    for path, body in SIGN_IN_OVERSIZED:
        _problem(http.post(path, json=body), 400, "invalid_request")
    for _ in range(5):
        _problem(http.post("/auth/token", json={"username": "u" * 7_000_000, "password": "x"}), 400,
                 "invalid_request")
    assert written() == before


def test_sign_in_again_with_own_client(http, wang):
    again = http.post("/auth/token", json={"username": "wang", "password": "demo", "client_id": wang.client_id})
    assert again.status_code == 200, again.text
    assert again.json()["client_id"] == wang.client_id
    headers = {"Authorization": f"Bearer {again.json()['token']}"}
    assert http.get("/sync/pull", headers=headers).status_code == 200
    assert http.get("/sync/pull", headers=wang.headers).status_code == 200


def test_sign_in_with_another_users_client(http, wang, zhao, store):
    _problem(http.post("/auth/token", json={"username": "zhao", "password": "demo", "client_id": wang.client_id}),
             403, "client_unavailable")
    _problem(http.post("/auth/token", json={"username": "zhao", "password": "demo",
                                            "client_id": "00000000-0000-4000-8000-000000000000"}),
             403, "client_unavailable")
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM clients").fetchone()[0] == 2


def test_revoked_client(primed, http, wang, lin, zhao, dump):
    # A technician may not revoke someone else's client: it is outside their scope.
    _problem(http.delete(f"/api/clients/{wang.client_id}", headers=zhao.headers), 404, "not_found")
    assert http.get("/sync/pull", headers=wang.headers).status_code == 200
    r = http.delete(f"/api/clients/{wang.client_id}", headers=lin.headers)
    assert r.status_code == 204, r.text
    before = dump()
    _problem(wang.pull(), 401, "unauthorized")
    _problem(wang.push([wang.change("devices", primed["cam1"], {"location": "x"})]), 401, "unauthorized")
    _problem(http.post("/auth/token", json={"username": "wang", "password": "demo", "client_id": wang.client_id}),
             403, "client_unavailable")
    assert dump() == before
    # The user may enrol a new client.
    fresh = http.post("/auth/token", json={"username": "wang", "password": "demo"})
    assert fresh.status_code == 200 and fresh.json()["client_id"] != wang.client_id


def test_technician_revokes_own_client(http, wang):
    assert http.delete(f"/api/clients/{wang.client_id}", headers=wang.headers).status_code == 204
    _problem(wang.pull(), 401, "unauthorized")


# -- protocol header ------------------------------------------------------------------------------


def test_old_protocol_on_pull_and_login_is_426(http, wang):
    body = _problem(http.get("/sync/pull", headers={**wang.headers, "Fieldsync-Protocol": "0"}),
                    426, "protocol_unsupported")
    assert body["min_protocol"] == 1
    body = _problem(http.post("/auth/token", headers={"Fieldsync-Protocol": "0"},
                              json={"username": "wang", "password": "demo"}), 426, "protocol_unsupported")
    assert body["min_protocol"] == 1
    assert http.get("/sync/pull", headers={**wang.headers, "Fieldsync-Protocol": "1"}).status_code == 200


def test_bad_protocol_header(http, wang):
    for value in ["abc", "2", "-1", ""]:
        _problem(http.get("/sync/pull", headers={**wang.headers, "Fieldsync-Protocol": value}),
                 400, "invalid_request")


def _raw_asgi(app: Any, method: str, path: str, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, dict[str, Any]]:
    """One request straight into the ASGI app, with header bytes no HTTP client library would send."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
             "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
             "headers": headers, "client": ("127.0.0.1", 1234), "server": ("testserver", 80), "state": {}}
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    content = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(content)


def test_protocol_header_with_a_non_ascii_digit(settings, store):
    # Regression: "²".isdigit() is True and int("²") raises: a 500. ASGI servers decode
    # header bytes as Latin-1, so the byte 0xB2 arrives as "²".
    status, body = _raw_asgi(create_app(settings, store), "POST", "/auth/token",
                             [(b"content-type", b"application/json"), (b"fieldsync-protocol", b"\xb2")],
                             json.dumps({"username": "wang", "password": "demo"}).encode())
    assert (status, body["code"]) == (400, "invalid_request")


# -- no 500 for anything a client can send ---------------------------------------------------------

_json = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.text(max_size=8)),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(change=st.fixed_dictionaries({"seq": st.just(1)}, optional={
    "collection": st.sampled_from(["devices", "device_checks", "sites", "signatures", "nope"]),
    "id": st.one_of(st.text(max_size=40), st.uuids().map(str)),
    "hlc": st.one_of(st.text(max_size=30), st.just("1764201600000-0000-srv"), st.just("<own>")),
    "fields": st.one_of(_json, st.dictionaries(st.sampled_from(["site_id", "location", "item.a", "outcome",
                                                                  "checked_at", "inspection_id", "x"]), _json)),
    "delete": _json,
}))
def test_no_change_shape_gives_a_500(site, wang, change):
    change = {**change, "seq": wang.seq + 1}
    if change.get("hlc") == "<own>":
        change["hlc"] = wang.clock.now()
    r = wang.http.post("/sync/push", headers=wang.headers, json=_envelope(wang, [change]))
    assert r.status_code < 500, r.text
    if r.status_code == 200:
        assert r.json()["acked_seq"] == change["seq"]
        wang.seq += 1


_ZONES = ("Asia/Shanghai", "Pacific/Kiritimati", "Etc/GMT+12", "UTC")  # the local day furthest east and west
_TIMESTAMP_FIELDS = [(name, spec) for c in schema.COLLECTIONS.values() for name, spec in c.fields.items()
                     if spec.type == "timestamp" and spec.writers]


@settings(max_examples=300, deadline=None)
@given(at=st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999_000)),
       field=st.sampled_from(_TIMESTAMP_FIELDS), zone=st.sampled_from(_ZONES))
def test_a_time_past_the_validators_has_a_local_date(at, field, zone):
    # Regression (s24, client times past the local calendar): any RFC 3339 time a client sent was valid, and
    # the end of 9999 (or the year 0) has no local date: the sheets, the console and the duty roster raised.
    from server.domains.duty.service import duty_rules
    from server.domains.sheets.service import local
    from sync.periods import FREQUENCIES, period_bounds, period_of, site_zone
    from sync.workhours import local_date

    name, spec = field
    text = at.isoformat(timespec="milliseconds") + "Z"
    in_years = 1970 <= at.year <= 2100
    wire = msgspec.json.Decoder(wire_type(spec))
    assert spec.valid(text) is in_years, name
    try:
        wire.decode(json.dumps(text).encode())
        decoded = True
    except msgspec.ValidationError:
        decoded = False
    assert decoded is in_years, name
    if in_years:  # what the server and the phone do with a valid time raises nothing
        day = local_date(hlc.parse_ts(text), site_zone(zone))
        for frequency in FREQUENCIES:
            period_bounds(period_of(day, frequency))
        assert local(text, zone)
        duty_rules().month(hlc.parse_ts(text))


# -- query filters (issue 10, finding 6) -----------------------------------------------------------

# The refused filters, times, archive flags, new sites and request lists: test_bad_input_refusals.py.


def test_list_filters_ignore_spaces_around_commas(site, lin):
    # Regression (issue 10, finding 6): `kind=a, b` silently dropped b (61 cameras instead of 117).
    path = f"/api/sites/{site['site']}/coverage"
    for kind in ("dome_camera,bullet_camera", "dome_camera, bullet_camera", " dome_camera ,bullet_camera ,"):
        found = lin.http.get(path, params={"period": "2026-Q4", "kind": kind, "system": " video"},
                             headers=lin.headers)
        assert found.status_code == 200, found.text
        assert sorted(d["code"] for d in found.json()["devices"]) == ["CAM-001", "CAM-002"]
    assert lin.http.get("/api/inspections", params={"status": " scheduled "}, headers=lin.headers).json()[
        "inspections"][0]["id"] == site["inspection"]


def test_the_valid_kinds_name_nothing_of_another_site(site, wang, store):
    store.write_server_changes([
        ("sites", OTHER_SITE, {"name": "Other park", "tz": "Asia/Shanghai"}, False),
        ("devices", "5d0c1e7a-0000-4000-8000-000000000001", {"site_id": OTHER_SITE, "system": "telephone", "kind": "secret_intercom",
                                   "code": "TEL-001", "status": "active"}, False),
    ])
    body = _problem(wang.http.get(f"/api/sites/{site['site']}/coverage", headers=wang.headers,
                                  params={"period": "2026-Q4", "kind": "secret_intercom"}), 400, "invalid_filter")
    assert "secret_intercom" not in body["valid"]
    assert body["valid"] == ["bullet_camera", "dome_camera"]


# -- the error family -------------------------------------------------------------------------------


def _subclasses(cls: type[E.SyncError]) -> list[type[E.SyncError]]:
    found = []
    for sub in cls.__subclasses__():
        found += [sub, *_subclasses(sub)]
    return found


ERRORS = _subclasses(E.SyncError)


def test_every_error_has_its_own_code():
    assert len(ERRORS) >= 20
    codes = [cls.code for cls in ERRORS]
    assert len(codes) == len(set(codes)), codes
    for code in ["malformed_json", "seq_not_consecutive", "invalid_cursor", "unauthorized", "invalid_credentials",
                 "client_mismatch", "client_unavailable", "seq_gap", "seq_reused", "cursor_expired",
                 "too_many_changes", "body_too_large", "protocol_unsupported"]:
        assert code in codes


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_problem_shape_of_every_error(cls):
    error = cls("something specific", acked_seq=7)
    body = error.problem()
    assert body == {"type": f"urn:fieldsync:problem:{cls.code}", "title": cls.title, "status": cls.status,
                    "detail": "something specific", "code": cls.code, "acked_seq": 7}
    assert 400 <= cls.status < 600
    assert cls.code.replace("_", "").isalpha() and cls.code.islower()
    assert cls.title and cls("").detail == cls.title
    response = problem_response(error)
    assert response.status_code == cls.status
    assert response.media_type == PROBLEM
    again = E.from_problem(cls.status, json.loads(json.dumps(body)))
    assert type(again) is cls
    assert (again.detail, again.extra) == ("something specific", {"acked_seq": 7})


# -- service work (issue 12): every new field and event kind, each change refused whole ------------

_REQ = {"site_id": "{site}", "reported_at": TS, "channel": "hotline", "kind": "repair"}
_EVT = {"request_id": "{request}", "kind": "arrived", "at": TS}
_VISIT = {"request_id": "{request}"}
_SIG = {"signer_name": "Wang", "signer_role": "technician", "signed_at": TS, "sheet_sha256": "ab" * 32}
_CALL = {"visit_id": "{visit}", "called_at": TS, "reached": True}
_LINE = {"visit_id": "{visit}", "item": "labour", "quantity": 30}
_PART = {"visit_id": "{visit}", "item": "part", "quantity": 1, "unit_price_fen": 15_000}
# (who pushes, collection, fields, reason): one bad value of each new field, each rule once.
BAD_SERVICE_CHANGES = [
    ("chen", "service_requests", {**_REQ, "site_id": "not-a-uuid"}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "device_id": "{unknown}"}, "unknown_parent"),
    ("chen", "service_requests", {**_REQ, "reported_at": "yesterday"}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "reported_at": None}, "invalid_field"),
    # Regression (contract service.md "Numbers", "Charges"; no 500 for what a client sends): the end of 9999
    # has no local date in Shanghai, so the request's number (and a visit's schedule) were a 500.
    ("chen", "service_requests", {**_REQ, "reported_at": "9999-12-31T23:59:59.999Z"}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "reported_at": "1969-12-31T23:59:59.999Z"}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "channel": "pigeon"}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "kind": "party"}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "caller_name": "x" * 201}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "caller_phone": "1" * 41}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "description": "x" * 2_001}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "complexity": "easy"}, "invalid_field"),
    ("chen", "service_requests", {**_REQ, "assigned_to": "zhao"}, "invalid_field"),  # not a member of the site
    ("wang", "service_requests", {**_REQ, "assigned_to": "wang"}, "forbidden"),  # dispatch is the desk's
    ("chen", "service_requests", {**_REQ, "number": "SR-2026-00001"}, "forbidden"),
    ("chen", "service_requests", {**_REQ, "status": "closed"}, "forbidden"),
    ("wang", "service_visits", {**_VISIT, "request_id": "{unknown}"}, "unknown_parent"),
    ("chen", "service_visits", _VISIT, "forbidden"),  # visits are the field's
    ("wang", "service_visits", {**_VISIT, "planned_at": "soon"}, "invalid_field"),
    ("wang", "service_visits", {**_VISIT, "planned_at": "9999-12-31T23:59:59.999Z"}, "invalid_field"),
    ("wang", "service_visits", {**_VISIT, "outcome": "resolved", "recorded_at": "2101-01-01T00:00:00.000Z"},
     "invalid_field"),
    # Regression (s24, client times past the local calendar): a customer's signature, a call-back, a consent, an
    # event at the end of 9999 made the sheet's PDF and the console's pages a 500; every timestamp a client sends
    # now lies in the years 2000 to 2100 (`sync.fields.is_timestamp`).
    ("wang", "service_events", {**_EVT, "at": "0000-01-01T00:00:00.000Z"}, "invalid_field"),
    ("wang", "signatures", {**_SIG, "visit_id": "{visit}", "signed_at": "9999-12-31T23:59:59.999Z"}, "invalid_field"),
    ("wang", "signatures", {**_SIG, "inspection_id": "{inspection}", "signed_at": "0001-01-01T00:00:00.000Z"},
     "invalid_field"),
    ("chen", "callbacks", {**_CALL, "called_at": "1969-12-31T23:59:59.999Z"}, "invalid_field"),
    ("wang", "charge_lines", {**_PART, "decision": "agreed", "decided_at": "9999-12-31T23:59:59.999Z"},
     "invalid_field"),
    ("wang", "service_visits", {**_VISIT, "outcome": "maybe"}, "invalid_field"),
    ("wang", "service_visits", {**_VISIT, "work_done": "x" * 2_001}, "invalid_field"),
    ("wang", "service_visits", {**_VISIT, "recorded_by": "zhao"}, "forbidden"),
    ("wang", "service_visits", {**_VISIT, "warranty_void": "cosmic_rays"}, "invalid_field"),
    ("wang", "service_visits", {**_VISIT, "visit_no": 1}, "forbidden"),
    ("wang", "service_visits", {**_VISIT, "sheet_no": "SR-2026-00001-1"}, "forbidden"),
    ("wang", "service_visits", {**_VISIT, "sealed_by": "{unknown}"}, "forbidden"),
    ("wang", "service_events", {**_EVT, "kind": "teleported"}, "invalid_field"),
    ("wang", "service_events", {**_EVT, "kind": None}, "invalid_field"),
    ("wang", "service_events", {**_EVT, "at": None}, "invalid_field"),
    ("wang", "service_events", {**_EVT, "at": "2026-13-01T00:00:00.000Z"}, "invalid_field"),
    ("wang", "service_events", {**_EVT, "kind": "paused"}, "invalid_field"),  # a pause needs its reason
    ("wang", "service_events", {**_EVT, "kind": "paused", "reason": "lunch"}, "invalid_field"),
    ("wang", "service_events", {**_EVT, "reason": "no_site_access"}, "invalid_field"),  # only with `paused`
    ("wang", "service_events", {**_EVT, "visit_id": "{unknown}"}, "unknown_parent"),
    ("wang", "service_events", {**_EVT, "by": "zhao"}, "forbidden"),
    ("wang", "service_events", {**_EVT, "note": "x" * 2_001}, "invalid_field"),
    ("wang", "service_events", {**_EVT, "kind": "cancelled"}, "forbidden"),
    ("wang", "service_events", {**_EVT, "kind": "closed"}, "forbidden"),
    ("wang", "service_events", {**_EVT, "kind": "voided", "note": "{unknown}"}, "forbidden"),
    ("lin", "service_events", {**_EVT, "kind": "voided", "note": "{unknown}"}, "invalid_field"),  # no such event
    ("wang", "service_events", {**_EVT, "effective_at": TS}, "forbidden"),
    ("wang", "service_events", {**_EVT, "clock": "as_sent"}, "forbidden"),
    # A signature signs exactly one sheet: an inspection's or a visit's.
    ("wang", "signatures", _SIG, "invalid_field"),
    ("wang", "signatures", {**_SIG, "inspection_id": "{inspection}", "visit_id": "{visit}"}, "invalid_field"),
    ("wang", "signatures", {**_SIG, "visit_id": "{unknown}"}, "unknown_parent"),
    # Call-backs (issue 13): the desk's and supervisors' only.
    ("wang", "callbacks", _CALL, "forbidden"),
    ("chen", "callbacks", {**_CALL, "visit_id": "{unknown}"}, "unknown_parent"),
    ("chen", "callbacks", {**_CALL, "called_at": "today"}, "invalid_field"),
    ("chen", "callbacks", {**_CALL, "called_at": None}, "invalid_field"),
    ("chen", "callbacks", {**_CALL, "reached": "yes"}, "invalid_field"),
    ("chen", "callbacks", {**_CALL, "reached": None}, "invalid_field"),
    ("chen", "callbacks", {**_CALL, "rating": "meh"}, "invalid_field"),
    ("chen", "callbacks", {**_CALL, "reached": False, "rating": "satisfied"}, "invalid_field"),  # not reached
    ("chen", "callbacks", {**_CALL, "called_by": "x" * 201}, "invalid_field"),
    ("chen", "callbacks", {**_CALL, "comment": "x" * 2_001}, "invalid_field"),
    ("chen", "callbacks", {**_CALL, "points": 5}, "forbidden"),
    ("lin", "devices", {"site_id": "{site}", "warranty_from": "2026-02-30"}, "invalid_field"),
    ("lin", "devices", {"site_id": "{site}", "warranty_months": "twelve"}, "invalid_field"),
    ("wang", "devices", {"site_id": "{site}", "warranty_months": 24}, "forbidden"),
    # Regression (s24-plans, device dates past the calendar): a warranty from the end of 9999 made the console's
    # device page a 500 (its end date overflows); every date a client sends lies in the years 1900 to 2100.
    ("lin", "devices", {"site_id": "{site}", "warranty_from": "9999-12-31"}, "invalid_field"),
    ("lin", "devices", {"site_id": "{site}", "installed_on": "1899-12-31"}, "invalid_field"),
    # Charge lines (issue 13): every field bounded, the server's prices its own.
    ("wang", "charge_lines", {**_LINE, "visit_id": "{unknown}"}, "unknown_parent"),
    ("wang", "charge_lines", {**_LINE, "visit_id": None}, "invalid_field"),
    ("chen", "charge_lines", _LINE, "forbidden"),  # lines are the field's
    ("wang", "charge_lines", {**_LINE, "item": "massage"}, "invalid_field"),
    ("wang", "charge_lines", {**_LINE, "item": None}, "invalid_field"),
    ("wang", "charge_lines", {**_LINE, "quantity": None}, "invalid_field"),
    ("wang", "charge_lines", {**_LINE, "quantity": 0}, "invalid_field"),
    ("wang", "charge_lines", {**_LINE, "quantity": 1_441}, "invalid_field"),
    ("wang", "charge_lines", {**_LINE, "quantity": "30"}, "invalid_field"),
    ("wang", "charge_lines", {**_PART, "unit_price_fen": -1}, "invalid_field"),
    ("wang", "charge_lines", {**_PART, "unit_price_fen": 10_000_001}, "invalid_field"),
    ("wang", "charge_lines", {**_PART, "unit_price_fen": None}, "invalid_field"),  # a part has its price
    ("wang", "charge_lines", {**_LINE, "unit_price_fen": 100}, "invalid_field"),  # only a part has one
    ("wang", "charge_lines", {**_LINE, "description": "x" * 501}, "invalid_field"),
    ("wang", "charge_lines", {**_PART, "decision": "maybe"}, "invalid_field"),
    ("wang", "charge_lines", {**_PART, "decision": "agreed", "decided_by": "x" * 201}, "invalid_field"),
    ("wang", "charge_lines", {**_PART, "decision": "agreed", "decided_at": "now"}, "invalid_field"),
    ("wang", "charge_lines", {**_LINE, "amount_fen": 0}, "forbidden"),
    ("wang", "charge_lines", {**_LINE, "covered": True}, "forbidden"),
    ("wang", "charge_lines", {**_LINE, "sealed_by": "{unknown}"}, "forbidden"),
    ("lin", "sites", {"contract_price_fen": "300000"}, "invalid_field"),
    ("wang", "sites", {"contract_price_fen": 30_000_000}, "forbidden"),
]


def test_a_device_at_the_ends_of_the_dates_has_its_page(http, site, lin):
    # Regression (s24-plans, device dates past the calendar): the last date a client may send, with the longest
    # warranty, still has an end date, so the console's device page shows it (9999-12-31 was a 500).
    from tests.server.test_console_site import sign_in

    for fields in ({"warranty_from": "2100-12-31", "warranty_months": 1_200}, {"installed_on": "1900-01-01"}):
        assert lin.push([lin.change("devices", site["cam1"], fields)]).json()["results"][0]["status"] == "applied"
        page = sign_in(http, "lin").get(f"/console/sites/{site['site']}/devices/{site['cam1']}")
        assert page.status_code == 200, page.text
    assert "2200-12-30" in page.text  # the warranty's end, 1,200 months from the last day of 2100


def test_bad_service_changes_are_rejected_whole(site, wang, lin, chen, dump):
    sessions = {"wang": wang, "lin": lin, "chen": chen}
    request = str(uuid.uuid4())
    assert chen.push([chen.change("service_requests", request, {**_REQ, "site_id": site["site"]})]).json()[
        "results"][0]["status"] == "applied"
    visit = str(uuid.uuid4())
    assert wang.push([wang.change("service_visits", visit, {"request_id": request})]).json()[
        "results"][0]["status"] == "applied"
    values = {"{site}": site["site"], "{request}": request, "{visit}": visit, "{inspection}": site["inspection"],
              "{unknown}": str(uuid.uuid4())}
    wrong = []
    for who, collection, fields, reason in BAD_SERVICE_CHANGES:
        session = sessions[who]
        row_id = str(uuid.uuid4())
        sent = {k: values.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
        before = dump()["rows"]
        [result] = session.push([session.change(collection, row_id, sent)]).json()["results"]
        if (result["status"], result.get("reason")) != ("rejected", reason) or dump()["rows"] != before:
            wrong.append((who, collection, fields, result))
    assert wrong == []


def test_bad_new_requests_get_the_reason_a_push_gets(site, chen, dump):
    # POST /api/service-requests merges as a push does: each bad request row of the table above is
    # refused with the push's reason as its code, and nothing is written (a null is "not given").
    values = {"{site}": site["site"], "{unknown}": str(uuid.uuid4())}
    before = dump()
    rows = [(f, reason) for who, collection, f, reason in BAD_SERVICE_CHANGES
            if who == "chen" and collection == "service_requests" and None not in f.values()
            and set(f) <= set(NewRequest.__struct_fields__)]  # server fields: the next test
    assert len(rows) >= 5
    for fields, reason in rows:
        sent = {k: values.get(v, v) if isinstance(v, str) else v for k, v in fields.items()}
        _problem(chen.http.post("/api/service-requests", headers=chen.headers, json=sent), 400, reason)
    assert dump() == before


# -- a site's service terms (issue 12: PUT /api/sites/{site_id}/service-terms) ------------------------

# (body, status, code, what the detail names): each kind of bad override once; none is stored.
BAD_TERMS: list[tuple[Any, int, str, str]] = [
    ({"override": {"on_site_hourz": {"urban": 2}}}, 400, "invalid_request", "on_site_hourz"),
    ({"override": {"on_site_hours": {"urban": 0}}}, 400, "invalid_request", "on_site_hours.urban"),
    ({"override": {"on_site_hours": {"urban": 8_761}}}, 400, "invalid_request", "on_site_hours.urban"),
    ({"override": {"on_site_hours": {"urban": 2.5}}}, 400, "invalid_request", "on_site_hours.urban"),
    ({"override": {"on_site_hours": {"downtown": 2}}}, 400, "invalid_request", "on_site_hours"),
    ({"override": {"fix_hours": "fast"}}, 400, "invalid_request", "fix_hours"),
    ({"override": {"restore_hours": True}}, 400, "invalid_request", "restore_hours"),
    ({"override": {"pause_reasons": ["lunch"]}}, 400, "invalid_request", "pause_reasons"),
    ({"override": {"callback": "yes"}}, 400, "invalid_request", "callback"),
    ({"override": {"calendar": "cn-2099"}}, 400, "invalid_request", "calendar"),
    ({"override": {"calendar": {"week": 1}}}, 400, "invalid_request", "calendar"),
    ({"override": {"calendar": 5}}, 400, "invalid_request", "calendar"),
    ({"override": {"calendar": {"week": {"mon": ["08:30-17:30"]}, "source": "x" * 501}}}, 400, "invalid_request",
     "override.calendar.source"),
    ({"override": {"x" * 10_000: 1}}, 400, "invalid_request", "at most 500"),
    ({"override": "fast"}, 400, "invalid_request", "override"),
    ({"override": {}, "extra": 1}, 400, "invalid_request", "extra"),
    ({}, 400, "invalid_request", "override"),
    ({"override": {"note": "x" * 70_000}}, 413, "body_too_large", ""),
]


def test_bad_service_terms_are_refused_and_nothing_is_stored(site, lin):
    # Regression (issue 12, svc-more): an override is checked whole before it is stored or audited.
    url = f"/api/sites/{site['site']}/service-terms"
    wrong = []
    for body, status, code, named in BAD_TERMS:
        got = _problem(lin.http.put(url, json=body, headers=lin.headers), status, code)
        if named not in got["detail"] or len(got["detail"]) > 1_000:
            wrong.append((body if len(str(body)) < 200 else str(body)[:200], got["detail"][:300]))
        if status == 413:
            assert got["limit"] == 64 * 1024
    assert wrong == []
    terms = lin.http.get(url, headers=lin.headers).json()
    assert (terms["override"], terms["set_by"]) == (None, None)
    entries = lin.http.get("/api/audit", params={"kind": "service_terms_changed"}, headers=lin.headers).json()
    assert entries["entries"] == []
# -- duty (issue 13): every new field, each change refused whole ----------------------------------

_ROSTER = {"month": "2026-M12", "technician": "wang"}
_CALL = {"received_at": TS, "outcome": "solved_by_phone"}
BAD_DUTY_CHANGES = [
    ("wang", "duty_roster", _ROSTER, "forbidden"),  # the roster is the supervisors'
    ("chen", "duty_roster", _ROSTER, "forbidden"),
    ("lin", "duty_roster", {**_ROSTER, "month": "2026-Q4"}, "invalid_field"),  # a month, not a quarter
    ("lin", "duty_roster", {**_ROSTER, "month": "2026-M13"}, "invalid_field"),
    ("lin", "duty_roster", {**_ROSTER, "technician": None}, "invalid_field"),
    ("lin", "duty_roster", {**_ROSTER, "technician": "x" * 201}, "invalid_field"),
    ("lin", "duty_roster", {**_ROSTER, "from": "8am"}, "invalid_field"),
    ("lin", "duty_roster", {**_ROSTER, "until": "22:30:00"}, "invalid_field"),
    ("lin", "duty_roster", {**_ROSTER, "from": "23:00"}, "invalid_field"),  # after `until`
    ("lin", "duty_roster", {**_ROSTER, "id": "{random}"}, "invalid_field"),  # not the month's id
    ("wang", "duty_calls", {**_CALL, "received_at": None}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "received_at": "tonight"}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "caller_name": "x" * 201}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "caller_phone": "1" * 41}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "summary": "x" * 2_001}, "invalid_field"),
    # Regression (s24, client times past the local calendar): the year 0 was a 500 on push.
    ("wang", "duty_calls", {**_CALL, "received_at": "0000-01-01T00:00:00.000Z"}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "duration_s": -1}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "duration_s": 14_401}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "duration_s": "long"}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "outcome": "hung_up"}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "site_id": "{unknown}"}, "unknown_parent"),
    ("wang", "duty_calls", {**_CALL, "request_id": "not-a-uuid"}, "invalid_field"),
    ("wang", "duty_calls", {**_CALL, "request_id": "{unknown}"}, "unknown_parent"),
    ("wang", "duty_calls", {**_CALL, "follows_id": "{unknown}"}, "unknown_parent"),
    ("wang", "duty_calls", {**_CALL, "follows_id": "{self}"}, "unknown_parent"),  # not itself
    ("wang", "duty_calls", {**_CALL, "on_duty": "wang"}, "forbidden"),
    ("wang", "duty_calls", {**_CALL, "logged_by": "zhao"}, "forbidden"),
]


def test_bad_duty_changes_are_rejected_whole(site, wang, lin, chen, dump):
    from sync.duty import roster_id
    from sync.fields import is_month

    sessions = {"wang": wang, "lin": lin, "chen": chen}
    wrong = []
    for who, collection, fields, reason in BAD_DUTY_CHANGES:
        session = sessions[who]
        month = fields.get("month")
        row_id = roster_id(month) if collection == "duty_roster" and is_month(month) else str(uuid.uuid4())
        values = {"{site}": site["site"], "{unknown}": str(uuid.uuid4()), "{self}": row_id, "{random}": row_id}
        if fields.get("id") == "{random}":
            row_id = str(uuid.uuid4())
        sent = {k: values.get(v, v) if isinstance(v, str) else v for k, v in fields.items() if k != "id"}
        before = dump()["rows"]
        [result] = session.push([session.change(collection, row_id, sent)]).json()["results"]
        if (result["status"], result.get("reason")) != ("rejected", reason) or dump()["rows"] != before:
            wrong.append((who, collection, fields, result))
    assert wrong == []


# -- the faults report's dates (issue 12: GET /api/reports/faults?from=&to=) -----------------------------

# (query, the parameter the problem names, or None): each kind of bad range once, and of bad limit.
BAD_FAULT_RANGES: list[tuple[dict[str, str], str | None]] = [
    ({"from": "2026-11-01"}, None),  # no `to`
    ({"from": "2026-11-1", "to": "2026-12-01"}, "from"),
    ({"from": "2026-11-01", "to": "20261201"}, "to"),
    ({"from": "2026-02-30", "to": "2026-03-01"}, "from"),
    ({"from": "1999-12-31", "to": "2000-01-02"}, "from"),
    ({"from": "2026-11-01", "to": "2026-11-01"}, None),  # empty
    ({"from": "2026-12-01", "to": "2026-11-01"}, None),  # backwards
    ({"from": "2026-01-01", "to": "2027-01-03"}, None),  # 367 days
    ({"from": "x" * 10_000, "to": "2026-12-01"}, "from"),
    ({"from": "2026-11-01", "to": "2026-12-01", "limit": "0"}, None),
    ({"from": "2026-11-01", "to": "2026-12-01", "limit": "1001"}, None),  # at most 1,000 groups
    ({"from": "2026-11-01", "to": "2026-12-01", "limit": "many"}, None),
]


def test_bad_fault_report_ranges_are_a_400(site, lin):
    # Regression (issue 12, svc-more): a report's range is two local dates at most 366 days apart.
    wrong = []
    for params, parameter in BAD_FAULT_RANGES:
        got = _problem(lin.http.get("/api/reports/faults", params=params, headers=lin.headers), 400, "invalid_request")
        if (got.get("parameter") != parameter and parameter is not None) or len(got["detail"]) > 1_000:
            wrong.append((params if len(str(params)) < 100 else "long", got))
    assert wrong == []
    assert lin.http.get("/api/reports/faults", params={"from": "2026-01-01", "to": "2027-01-02"},
                        headers=lin.headers).status_code == 200  # 366 days: a leap year's worth


# -- accounts (issue 14: POST /api/users, the console's users page) ----------------------------------

STRONG = "correct horse battery"
BAD_NEW_USERS = [
    # Regression (issue 14, users): a username taken is a 409 with its own code, not a 400.
    ({"username": "wang", "name": "W", "role": "technician", "password": STRONG}, 409, "user_exists"),
    # The password rule of `fieldsync add-user` outside the demo.
    ({"username": "sun", "name": "S", "role": "technician", "password": "demo"}, 400, "weak_password"),
    ({"username": "sun", "name": "S", "role": "technician", "password": "sun-sun-sun-sun"}, 400, "weak_password"),
    # Bounds: a username people type, a name of at most 200 characters without control characters.
    ({"username": "Sun", "name": "S", "role": "technician", "password": STRONG}, 400, "invalid_request"),
    ({"username": "s" * 65, "name": "S", "role": "technician", "password": STRONG}, 400, "invalid_request"),
    ({"username": "", "name": "S", "role": "technician", "password": STRONG}, 400, "invalid_request"),
    ({"username": "sun", "name": "S" * 201, "role": "technician", "password": STRONG}, 400, "invalid_request"),
    ({"username": "sun", "name": "S\nadmin", "role": "technician", "password": STRONG}, 400, "invalid_request"),
    ({"username": "sun", "name": "S", "role": "root", "password": STRONG}, 400, "invalid_request"),
    ({"username": "sun", "name": "S", "role": "technician", "password": "p" * 257}, 400, "invalid_request"),
    ({"username": "sun", "name": "S", "role": "technician", "password": STRONG, "sites": ["x"] * 501},
     400, "invalid_request"),
    ({"username": "sun", "name": "S", "role": "technician", "password": STRONG, "admin": True}, 400, "invalid_request"),
    # Sites are a technician's scope; an unknown site is 404 and the account is not made either.
    ({"username": "sun", "name": "S", "role": "supervisor", "password": STRONG, "sites": [SITE]},
     400, "invalid_request"),
    ({"username": "sun", "name": "S", "role": "technician", "password": STRONG, "sites": [SITE, "no-such-site"]},
     404, "not_found"),
]


def test_a_refused_account_leaves_nothing_behind(site, http, lin, dump):
    # One test walks every case: each server test pays for its sign-ins.
    before, users = dump(), http.get("/api/users", headers=lin.headers).json()
    for body, status, code in BAD_NEW_USERS:
        answer = _problem(http.post("/api/users", json=body, headers=lin.headers), status, code)
        assert body["password"] not in str(answer)
    assert dump() == before and http.get("/api/users", headers=lin.headers).json() == users
    assert http.get("/api/audit", params={"kind": "user_created"}, headers=lin.headers).json()["entries"] == []

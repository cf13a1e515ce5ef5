"""Requests a client can get wrong that the server refuses and that read nothing but what a fresh site
holds: unknown filter values, bad times in a query string, the archive's flags and look-ups, bad new
sites, bad request lists and new requests of another shape. Each is a problem body, never a 500, and
(where `dump` is asked) changes nothing.

Moved from test_bad_input.py, the same tests with the same assertions: there each case built a server,
its app and signed-in sessions of its own (about 0.3 s of CPU a case, 76 cases). Here the cases share
one server, built once for the module over its own data (tests/shared_server.py);
a case that wrote where it should refuse still fails on its own `dump`, before the next case runs.
"""

from __future__ import annotations

import uuid

import pytest

from server.domains.archive.schemas import MAX_MEMBERS
from server.domains.archive.sites import MAX_CONTRACT_PRICE_FEN, MAX_TZ_CHARS
from server.domains.identity.audit import KINDS
from sync import schema
from tests.conftest import OTHER_SITE
from tests.helpers import problem as _problem

# The module's one server, under the names of tests/conftest.py's fixtures (`lin`, `site`, ...).
from tests.shared_server import (  # noqa: F401
    shared_chen,
    shared_http,
    shared_lin,
    shared_settings,
    shared_site,
    shared_store,
    shared_wang,
)

# -- query filters (issue 10, finding 6) -----------------------------------------------------------

_SYSTEMS = sorted(schema.COLLECTIONS["devices"].field("system").choices)  # type: ignore[union-attr]
_STATUSES = sorted(schema.COLLECTIONS["inspections"].field("status").choices)  # type: ignore[union-attr]
_REQUEST_STATUSES = sorted(schema.COLLECTIONS["service_requests"].field("status").choices)  # type: ignore[union-attr]

# Regression (issue 10, finding 6): each of these answered 200 with nothing, or with part of what was asked.
BAD_FILTERS = [
    ("/api/sites/{site}/coverage", {"period": "2026-Q4", "kind": "dome_cam"}, "kind",
     ["bullet_camera", "dome_camera"]),
    ("/api/sites/{site}/coverage", {"period": "2026-Q4", "kind": "dome_camera,bulet_camera"}, "kind",
     ["bullet_camera", "dome_camera"]),
    ("/api/sites/{site}/coverage", {"period": "2026-Q4", "system": "vidoe"}, "system", _SYSTEMS),
    ("/api/sites/{site}/coverage", {"period": "2026-Q4", "system": "video,access"}, "system", _SYSTEMS),
    ("/api/inspections", {"status": "done"}, "status", _STATUSES),
    ("/api/conflicts", {"collection": "device"}, "collection", sorted(schema.COLLECTIONS)),
    ("/api/audit", {"kind": "logins"}, "kind", sorted(KINDS)),
    ("/api/inspections", {"status": "x" * 10_000}, "status", _STATUSES),
    ("/api/service-requests", {"status": "open"}, "status", _REQUEST_STATUSES),
    ("/api/service-requests", {"breached": "yes"}, "breached", ["false", "true"]),
    ("/api/service-requests", {"at_risk": "1"}, "at_risk", ["false", "true"]),
    ("/api/service-requests", {"open": "x" * 10_000}, "open", ["false", "true"]),
    ("/api/reports/technicians", {"month": "2026-M11", "format": "xlsx"}, "format", ["csv", "json"]),
]


@pytest.mark.parametrize(("path", "params", "parameter", "valid"), BAD_FILTERS)
def test_unknown_filter_values_are_a_400_listing_the_valid_ones(site, lin, path, params, parameter, valid):
    body = _problem(lin.http.get(path.format(site=site["site"]), params=params, headers=lin.headers),
                    400, "invalid_filter")
    assert body["parameter"] == parameter
    assert body["valid"] == valid
    assert len(body["detail"]) < 1000  # a long wrong value is quoted clipped


# A time in a query string (`GET /api/duty?at=`, server.filters.time_of): RFC 3339, years 1970 to 2100 in UTC.
BAD_QUERY_TIMES = [
    "tonight",  # not a time
    "2026-11-07",  # a date without a time
    "2026-11-07T13:00:00",  # no zone: whose 13:00?
    "2026-11-07T13:00Z",  # no seconds
    "2026-11-07T13:00:00.1234567891Z",  # a fraction past nanoseconds
    "2026-02-30T13:00:00Z",  # no such day
    "2026-11-07T24:00:00Z",  # no such hour
    "2026-11-07T13:00:00+24:00",  # no such offset
    "1969-12-31T23:59:59Z",  # before 1970
    "2100-12-31T23:00:00-05:00",  # 2101 in UTC
    "9999-12-31T23:59:59-23:59",  # past the calendar's last day once in UTC
    "２０２６-11-07T13:00:00Z",  # full-width digits
    "2026-11-07T13:00:00Z" + "0" * 10_000,  # long: quoted clipped
]


@pytest.mark.parametrize("at", BAD_QUERY_TIMES)
def test_a_bad_time_in_a_query_string_is_a_400(site, wang, at):
    body = _problem(wang.http.get("/api/duty", params={"at": at}, headers=wang.headers), 400, "invalid_filter")
    assert body["parameter"] == "at"
    assert len(body["detail"]) < 300


# The customer archive (issue 14): its flags and look-ups; files that are no device list are in test_import.py.
BAD_ARCHIVE = [
    ("POST", "/api/sites/{site}/import", {"dry_run": "yes"}, 400, "invalid_filter"),
    ("POST", "/api/sites/{site}/import", {"retire": "x" * 10_000}, 400, "invalid_filter"),
    ("GET", "/api/lookup", {}, 400, "invalid_filter"),
    ("GET", "/api/lookup", {"sheet_no": "PM-2026Q4-0001", "number": "SR-2026-00001"}, 400, "invalid_filter"),
    ("GET", "/api/lookup", {"code": "CAM-001"}, 400, "invalid_filter"),
    ("GET", "/api/lookup", {"number": "x" * 10_000}, 400, "invalid_filter"),
    ("GET", "/api/lookup", {"site_id": "x" * 10_000, "code": "CAM-001"}, 400, "invalid_filter"),
]


@pytest.mark.parametrize(("method", "path", "params", "status", "code"), BAD_ARCHIVE)
def test_bad_archive_flags_and_look_ups(site, lin, dump, method, path, params, status, code):
    before = dump()
    body = _problem(lin.http.request(method, path.format(site=site["site"]), params=params, headers=lin.headers,
                                     content=b"code\r\nCAM-009\r\n"), status, code)
    assert len(body["detail"]) < 200
    assert dump() == before


# A new site (issue 14, POST /api/sites): each field's bound once; the site, its members and its audit entry
# are all or nothing.
BAD_SITES = [
    ({"name": "  "}, 400, "invalid_field"),
    ({"customer": ""}, 400, "invalid_field"),
    ({"name": "x" * 201}, 400, "invalid_field"),
    ({"address": "x" * 501}, 400, "invalid_field"),
    ({"contract": "forever"}, 400, "invalid_field"),
    ({"zone": "moon"}, 400, "invalid_field"),
    ({"tz": "Nowhere/Land"}, 400, "invalid_field"),
    ({"tz": "../../etc/passwd"}, 400, "invalid_field"),
    ({"tz": "x" * (MAX_TZ_CHARS + 1)}, 400, "invalid_field"),
    ({"accepted_on": "2026-02-30"}, 400, "invalid_field"),
    ({"contract_price_fen": -1}, 400, "invalid_field"),
    ({"contract_price_fen": MAX_CONTRACT_PRICE_FEN + 1}, 400, "invalid_field"),
    ({"contract_price_fen": 12.5}, 400, "invalid_request"),
    ({"warranty_months": 0}, 400, "invalid_field"),
    ({"warranty_months": 1201}, 400, "invalid_field"),
    ({"members": ["nobody"]}, 400, "invalid_field"),
    ({"members": ["lin"]}, 400, "invalid_field"),  # a supervisor: membership is a technician's scope
    ({"members": ["wang"] * (MAX_MEMBERS + 1)}, 400, "invalid_request"),
    ({"members": ["w" * 65]}, 400, "invalid_request"),
    ({"service_terms": {"on_site_hours": {"urban": 0, "suburban": 4}}}, 400, "invalid_request"),
    ({"service_terms": {"pause_reasons": ["x" * 501]}}, 400, "invalid_request"),
    ({"owner": "lin"}, 400, "invalid_request"),  # mass assignment: no field but the declared ones
    ({"service_terms": {"calendar": {"note": "x" * 70_000}}}, 413, "body_too_large"),
]


@pytest.mark.parametrize(("fields", "status", "code"), BAD_SITES, ids=lambda v: str(v)[:40])
def test_a_bad_new_site_is_refused_whole(lin, dump, fields, status, code):
    from tests.server.test_new_site import EAST

    before = dump()
    body = _problem(lin.http.post("/api/sites", json={**EAST, **fields}, headers=lin.headers), status, code)
    assert len(body["detail"]) < 600
    assert dump() == before


def test_an_archive_file_over_the_limit_is_a_413_before_it_is_read(site, lin, dump):
    from server.domains.archive.controller import MAX_IMPORT_BODY_BYTES

    before = dump()
    body = _problem(lin.http.post(f"/api/sites/{site['site']}/import", headers=lin.headers,
                                  content=b"code\r\n" + b"C\r\n" * (MAX_IMPORT_BODY_BYTES // 3)), 413, "body_too_large")
    assert body["limit"] == MAX_IMPORT_BODY_BYTES
    assert dump() == before


@pytest.mark.parametrize("month", ["2026-Q4", "2026-M13", "2026-11", "1999-M1", "x" * 10_000])
def test_a_mistyped_report_month_is_a_400(site, lin, month):
    body = _problem(lin.http.get("/api/reports/technicians", params={"month": month}, headers=lin.headers),
                    400, "invalid_filter")
    assert body["parameter"] == "month" and len(body["detail"]) < 200


@pytest.mark.parametrize("period", ["2026Q4", "2026-Q5", "Q4"])
def test_a_mistyped_period_filter_is_a_400(site, lin, period):
    for path in (f"/api/sites/{site['site']}/coverage", "/api/inspections"):
        _problem(lin.http.get(path, params={"period": period}, headers=lin.headers), 400, "invalid_request")



# -- service requests: a list's parameters, a new request's shape ----------------------------------


@pytest.mark.parametrize(("params", "status", "code"), [
    ({"site_id": "not-a-site"}, 400, "invalid_filter"),
    ({"site_id": OTHER_SITE}, 404, "not_found"),  # wang's filter on a site not his
    ({"assigned_to": "x" * 65}, 400, "invalid_filter"),
    ({"limit": "0"}, 400, "invalid_request"),
    ({"limit": "201"}, 400, "invalid_request"),
    ({"limit": "many"}, 400, "invalid_request"),
    ({"after": "x" * 10_000}, 400, "invalid_cursor"),
    ({"after": str(uuid.uuid4())}, 400, "invalid_cursor"),
])
def test_bad_service_request_list_parameters(site, wang, params, status, code):
    body = _problem(wang.http.get("/api/service-requests", params=params, headers=wang.headers), status, code)
    assert len(body["detail"]) < 1000


@pytest.mark.parametrize("body", [
    {"site_id": OTHER_SITE, "channel": "hotline", "kind": "repair", "number": "SR-2026-99999"},  # a server field
    {"site_id": OTHER_SITE, "channel": "hotline", "kind": "repair", "status": "closed"},
    {"channel": "hotline", "kind": "repair"},  # no site
    {"site_id": 7, "channel": "hotline", "kind": "repair"},
])
def test_a_new_request_of_another_shape_is_refused_whole(site, chen, dump, body):
    before = dump()
    _problem(chen.http.post("/api/service-requests", headers=chen.headers, json=body), 400, "invalid_request")
    assert dump() == before

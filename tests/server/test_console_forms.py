"""The console's forms and catalogue on the ASGI app (the browser tests are in tests/console/)."""

from __future__ import annotations

import pytest

from server.domains.console.web import MAX_FORM_FIELD_CHARS

ORIGIN = {"origin": "http://testserver.local"}


def _login_form(http) -> str:
    page = http.get("/console/login").text
    return page.split('name="csrf" value="')[1].split('"')[0]


def _clients(http, lin) -> int:
    return len(http.get("/api/clients", params={"username": "lin"}, headers=lin.headers).json()["clients"])


@pytest.mark.parametrize("field", ["username", "password"])
def test_an_oversized_form_field_is_refused_before_it_is_used(http, lin, field):
    # Regression (issue 14, bounds): a console form value is bounded before it reaches the sign-in.
    before = _clients(http, lin)
    form = {"username": "lin", "password": "demo", "csrf": _login_form(http), field: "x" * (MAX_FORM_FIELD_CHARS + 1)}
    r = http.post("/console/login", data=form, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 400 and r.headers["content-type"].startswith("text/html")
    assert "invalid_request" in r.text
    assert _clients(http, lin) == before


def test_a_sign_in_without_origin_or_referer_is_refused(http, lin):
    before = _clients(http, lin)
    r = http.post("/console/login", data={"username": "lin", "password": "demo", "csrf": _login_form(http)},
                  follow_redirects=False)
    assert r.status_code == 403
    assert _clients(http, lin) == before


def test_a_sign_in_is_a_console_client_and_pages_forbid_scripts(http, lin):
    r = http.post("/console/login", data={"username": "lin", "password": "demo", "csrf": _login_form(http)},
                  headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/"
    names = [c["name"] for c in http.get("/api/clients", params={"username": "lin"}, headers=lin.headers)
             .json()["clients"]]
    assert "console" in names
    page = http.get("/console/")
    assert page.status_code == 200
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "script-src" not in page.headers["content-security-policy"]  # none: default-src 'none' applies


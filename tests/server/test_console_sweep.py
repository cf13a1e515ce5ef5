"""A hostile sweep of every console route (s27-consolefuzz): what `test_fuzz.py`'s schemathesis leaves out.

The console's routes are HTML and forms, outside the OpenAPI schema, so nothing swept them. Here the routes
come from the app's own route table (a new route is swept without editing this file):
- each GET with every query parameter it takes: the ones its handler declares (Litestar's kwargs model) and
  the ones its code reads from the query (`q.get("year")`, found by walking its source and what it calls in
  the console package), plus `lang`; and with each path parameter hostile;
- each POST with each field of its template's form (a POST route without one fails here), with the session's
  CSRF value, without it and without Origin;
- as a technician, the service desk and a supervisor, and signed out.

What must hold for every answer: no 5xx; a 4xx is an HTML page saying why; nothing sent comes back raw
(`<script>` is never in a page); a refused POST writes nothing (every table's row count is unchanged).
A fixed sample, the same each run: every hostile value reaches every (route, parameter) as a supervisor,
and a third of them each as the technician and the desk.
"""

from __future__ import annotations

import ast
import inspect
import re
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar.routes import HTTPRoute

import server.domains.console as console_package
from server.services import Store
from tests.conftest import OTHER_SITE, SITE, Session
from tests.server.test_billing import LINES, visit_with_lines
from tests.server.test_service import open_request

ORIGIN = {"origin": "http://testserver.local"}
TEMPLATES = Path(console_package.__file__).parent / "templates"
RAW = object()  # marks a value sent as it is written (percent-escapes of invalid UTF-8), not encoded again

# Every value a hostile client could send; `{other_*}` are another site's ids, filled in per test.
HOSTILE: list[Any] = [
    "²²²²", "２０２６", "٢٠٢٦", "9" * 40, "-1", "-9223372036854775809", "NaN", "inf", "1e309",
    "x" * 10_240, "a\x00b", "\x1b[2J\r\nSet-Cookie: x=1", "\u202egnp.exe", "../../../etc/passwd",
    "' OR 1=1 --", '"><script>alert(1)</script>', "<b onmouseover=x>&amp;", "", " ", "{other_site}",
    "{other_request}", (RAW, "%ff%fe%c0%af"), (RAW, "%00%ZZ%"),
]
REPEATED = "repeated"  # the parameter twice: a good value and a hostile one


# -- the routes, from the app ---------------------------------------------------------------------


def console_routes(app: Any) -> list[tuple[str, str, list[str], set[str]]]:
    """(method, path, path parameters, declared query parameters) of every console route but OPTIONS."""
    found = []
    for route in app.routes:
        if not isinstance(route, HTTPRoute) or not route.path.startswith("/console"):
            continue
        for method, (handler, kwargs_model) in route.route_handler_map.items():
            if method in ("GET", "POST"):
                declared = {p.field_alias for p in kwargs_model.expected_query_params} | {"lang"}
                if method == "GET":
                    declared |= read_query_names(getattr(handler.fn, "func", handler.fn))  # sync_to_thread wraps it
                found.append((method, route.path, list(route.path_parameters), declared))
            else:
                assert method in ("OPTIONS", "HEAD"), f"{method} {route.path}: a new kind of console route to sweep"
    return sorted(found)


def _query_receiver(node: ast.expr) -> bool:
    return (isinstance(node, ast.Name) and node.id in ("q", "query")) or (
        isinstance(node, ast.Attribute) and node.attr == "query_params")


def _callee(node: ast.expr, module: Any, owner: Any) -> Any:
    """What a call in the console's code calls: a module's function, `pages.x`, or `self.x`."""
    if isinstance(node, ast.Name):
        return getattr(module, node.id, None)
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        base = owner if node.value.id == "self" else getattr(module, node.value.id, None)
        return getattr(base, node.attr, None) if base is not None else None
    return None


def read_query_names(fn: Any, owner: Any = None, seen: set[Any] | None = None) -> set[str]:
    """The query parameters a handler reads, following its calls through the console package: `q.get("x")`,
    `request.query_params.get("x")`, and `query.get(name) for name in NAMES` (a module's tuple)."""
    seen = set() if seen is None else seen
    if inspect.ismethod(fn):  # a controller's bound method: `self.x` is its class's
        owner, fn = type(fn.__self__), fn.__func__
    fn = inspect.unwrap(fn)
    if fn in seen or not getattr(fn, "__module__", "").startswith(console_package.__name__):
        return set()
    seen.add(fn)
    module = inspect.getmodule(fn)
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    loops: dict[str, set[str]] = {}  # a loop variable: the names of the module's tuples it runs over
    for node in ast.walk(tree):
        if isinstance(node, ast.comprehension | ast.For) and isinstance(node.target, ast.Name) \
                and isinstance(node.iter, ast.Name):
            loops.setdefault(node.target.id, set()).add(node.iter.id)
    names: set[str] = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        if isinstance(node.func, ast.Attribute) and node.func.attr == "get" and _query_receiver(node.func.value) \
                and node.args:
            arg = node.args[0]
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                names.add(arg.value)
            elif isinstance(arg, ast.Name):
                for loop in loops.get(arg.id, ()):
                    if isinstance(found := getattr(module, loop, None), tuple):
                        names.update(n for n in found if isinstance(n, str))
        callee = _callee(node.func, module, owner)
        if inspect.isfunction(callee):
            names |= read_query_names(callee, owner, seen)
    return names


def _forms(method: str) -> Iterator[tuple[str, set[str]]]:
    """(action, field names) of each of the templates' forms of `method`; a field named in a Jinja loop
    (`{% for name in (...) %}`) is each of the loop's names."""
    for template in sorted(TEMPLATES.glob("*.html")):
        text = template.read_text()
        for match in re.finditer(r"<form\b([^>]*)>(.*?)</form>", text, re.S):
            attrs, body = match.groups()
            if f'method="{method}"' not in attrs:
                continue
            action = re.search(r'action="([^"]*)"', attrs)
            fields = set(re.findall(r'name="([a-z_]+)"', body))
            for loop in re.findall(r'{%\s*for name in \(([^)]*)\)\s*%}', body):
                fields.update(re.findall(r'"([a-z_]+)"', loop))
            yield (action.group(1) if action else ""), fields


def post_forms() -> dict[str, set[str]]:
    """Each POST form's fields by its action as a route pattern (`{{ r.id }}` in an action is a path parameter)."""
    forms: dict[str, set[str]] = {}
    for action, fields in _forms("post"):
        pattern = re.sub(r"{{[^}]*}}", "{}", action)
        forms.setdefault(pattern, set()).update(fields)
    return forms


# -- the data every sweep runs over ---------------------------------------------------------------


def counts(store: Store) -> dict[str, int]:
    """Every table's row count: what a refused POST must leave as it was."""
    with store.read() as db:
        tables = [r[0] for r in db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
            if store.settings.database is None else
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()").fetchall()]
        return {t: db.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in sorted(tables)}


@pytest.fixture
def world(store: Store, http: Any, site: dict[str, str]) -> dict[str, str]:
    """Real objects for every path parameter, and another site's for the hostile values."""
    chen, wang, zhao = Session(http, "chen"), Session(http, "wang"), Session(http, "zhao")
    request_id, visit_id, _ = visit_with_lines(store, chen, wang, site, LINES[:2])
    store.write_server_changes([("sites", OTHER_SITE, {"name": "Other park", "customer": "Other", "tz": "Asia/Shanghai"},
                                 False)])
    other_request = open_request(chen, site_id=OTHER_SITE)
    return {"site_id": SITE, "device_id": site["cam1"], "inspection_id": site["inspection"], "request_id": request_id,
            "visit_id": visit_id, "client_id": zhao.client_id, "username": "zhao", "sha256": "0" * 64,
            "other_site": OTHER_SITE, "other_request": other_request}


def sign_in(http: Any, username: str) -> str:
    """A console session in `http`'s cookie jar; its CSRF value."""
    http.cookies.clear()
    token = http.get("/console/login").text.split('name="csrf" value="')[1].split('"')[0]
    r = http.post("/console/login", data={"username": username, "password": "demo", "csrf": token}, headers=ORIGIN,
                  follow_redirects=False)
    assert r.status_code == 303, r.text
    return str(http.get("/console/clients").text.split('name="csrf" value="')[1].split('"')[0])


# -- one request, and what its answer must be ------------------------------------------------------


def _value(value: Any, world: dict[str, str]) -> tuple[str, bool]:
    """(text, raw): a hostile value with another site's ids filled in; raw: already percent-encoded."""
    if isinstance(value, tuple):
        return value[1], True
    return (world[value[1:-1]] if value.startswith("{other_") else value), False


def _url(path: str, params: dict[str, str], world: dict[str, str], hostile: str | None, name: str | None,
         value: Any) -> str:
    """`path` with its parameters real (`name` hostile, if it is one), and `name=value` in the query otherwise."""
    text, raw = _value(value, world)
    for param in params:
        shown = (text if raw else quote(text, safe="")) if param == name else quote(world.get(param, "x"))
        path = re.sub(r"{" + param + r":[^}]*}", shown, path)
    if hostile is None:
        return path
    if value == REPEATED:
        return f"{path}?{hostile}=2026&{hostile}=%C2%B2"
    return f"{path}?{hostile}={text if raw else quote(text, safe='')}"


# A word of the API's English detail on the console's Chinese page (`month 'x' is a month like 2026-11`,
# Litestar's `Validation failed for GET …`): it read so, the user's text quoted in it. The site's name aside.
_ENGLISH = re.compile(r"\b[A-Za-z]{3,}\b")


def heading(html: str) -> str:
    return " ".join(re.findall(r"<h1>(.*?)</h1>", html, re.S))


def check(r: Any, what: str, sent: str) -> list[str]:
    """What is wrong with an answer to a hostile request, if anything."""
    wrong = []
    kind = r.headers.get("content-type", "")
    if r.status_code >= 500:
        wrong.append(f"{what}: {r.status_code}")
    elif r.status_code >= 400:
        if not kind.startswith("text/html"):
            wrong.append(f"{what}: {r.status_code} as {kind}, not the console's page")
        elif not re.search(r'<code>[a-z_]+</code>|role="alert"|<h1>', r.text):
            wrong.append(f"{what}: {r.status_code} without a reason")
        elif _ENGLISH.search(heading(r.text).replace("Test park", "")):
            wrong.append(f"{what}: {r.status_code} reads English on a Chinese page: {heading(r.text)[:160]!r}")
    if "<script" in r.text.lower() or ("<" in sent and sent in r.text):
        wrong.append(f"{what}: the input came back unescaped")
    if any(c in r.headers.get("location", "") for c in "<>\r\n\x00"):
        wrong.append(f"{what}: a redirect to {r.headers['location'][:80]!r}")
    return wrong


def _share(role: int, *keys: Any) -> bool:
    """The fixed sample: a supervisor (role 0) gets every case, the technician and the desk a third each."""
    return role == 0 or sum(map(ord, repr(keys))) % 3 == role % 3


ROLES = ("lin", "chen", "wang")  # a supervisor, the service desk, a technician (a member of SITE only)


def test_every_console_page_answers_hostile_query_and_path_values(http, store, world):
    routes = [r for r in console_routes(http.app) if r[0] == "GET"]
    assert len(routes) >= 20
    read = {path: names for _, path, _, names in routes}
    assert {"year", "period", "code"} <= read["/console/sites/{site_id:str}"]  # what the scan is to find
    assert {"site_id", "after", "breached"} <= read["/console/service-requests"]
    wrong: list[str] = []
    for role, user in enumerate(ROLES):
        sign_in(http, user)
        for _, path, params, declared in routes:
            cases = [(n, None) for n in sorted(declared)] + [(None, p) for p in params]
            for query, in_path in cases:
                for value in [*HOSTILE, *([REPEATED] if query else [])]:
                    if not _share(role, path, query, in_path, value):
                        continue
                    url = _url(path, dict.fromkeys(params), world, query, in_path, value)
                    r = http.get(url, follow_redirects=False)
                    wrong += check(r, f"{user} GET {url[:160]}", _value(value, world)[0] if value != REPEATED else "")
                    if r.headers.get("location") == "/console/login":
                        wrong.append(f"{user} GET {url[:160]}: signed out")
                        sign_in(http, user)
    assert wrong == []


def _body(fields: dict[str, Any], world: dict[str, str]) -> bytes:
    """A urlencoded form as a browser sends it; a raw value goes as written (invalid UTF-8 escapes)."""
    parts = []
    for name, value in fields.items():
        text, raw = _value(value, world) if isinstance(value, tuple) or value.startswith("{other_") else (value, False)
        parts.append(f"{name}={text if raw else quote(text, safe='')}")
    return "&".join(parts).encode()


FORM = {"content-type": "application/x-www-form-urlencoded", **ORIGIN}
# A form's other fields, by name, as a person would fill them, so that the one hostile value is what the
# form is refused for (or taken with); a field named nowhere here is left blank. The session's own account
# is never a target (a password set, a client revoked: the sweep would sign itself out).
FILLED = {"assigned_to": "wang", "technician": "wang", "month": "2026-12", "caller_name": "陈女士",
          "caller_phone": "021-5555 0101", "channel": "hotline", "kind": "repair", "description": "大门摄像机黑屏",
          "reported_at": "2026-11-20T09:30", "device_code": "CAM-001", "name": "新园区", "customer": "ACME",
          "contract": "per_visit", "zone": "urban", "tz": "Asia/Shanghai", "contract_price": "1200.00",
          "warranty_months": "12", "members": "wang", "role": "technician", "password": "correct-horse-9",
          "reached": "true", "rating": "satisfied", "comment": "好", "note": "客户来电", "reason": "customer_unavailable",
          "disabled": "true", "retire": "false", "sites": SITE}
FILLED_BY_FORM = {"/console/service-requests/{}/events": {"kind": "paused"}}


def _post_cases(path: str, params: list[str], fields: set[str], role: int) -> Iterator[tuple[str | None, str | None, Any]]:
    """(field, path parameter, value): each hostile in turn (the `csrf` field hostile is the form without
    the session's value); then the form without `csrf` at all (field `-csrf`) and without Origin (`-origin`)."""
    for name in sorted(fields):
        for value in HOSTILE:
            if _share(role, path, name, value):
                yield name, None, value
    for param in params:
        for value in HOSTILE:
            if _share(role, path, param, value):
                yield None, param, value
    yield "-csrf", None, ""
    yield "-origin", None, ""


def test_every_console_form_refuses_hostile_values_and_writes_nothing_when_it_refuses(http, store, world):
    forms = post_forms()
    routes = [r for r in console_routes(http.app) if r[0] == "POST" and r[1] != "/console/login"]
    missing = [path for _, path, _, _ in routes if re.sub(r"{[^}]*}", "{}", path) not in forms]
    assert missing == [], "a POST route without a form in the templates: say what its fields are"
    wrong: list[str] = []
    for role, user in enumerate(ROLES):
        csrf = sign_in(http, user)
        before = counts(store)
        for _, path, params, _ in routes:
            action = re.sub(r"{[^}]*}", "{}", path)
            fields, filled = forms[action], {**FILLED, **world, **FILLED_BY_FORM.get(action, {})}
            for name, in_path, value in _post_cases(path, params, fields, role):
                form = {f: filled.get(f, "") for f in sorted(fields - {"csrf"})} | {"csrf": csrf}
                if name == "-csrf":
                    del form["csrf"]
                elif name is not None and name != "-origin":
                    form[name] = value
                headers = {"content-type": FORM["content-type"]} if name == "-origin" else FORM
                url = _url(path, dict.fromkeys(params), world, None, in_path, value)
                r = http.post(url, content=_body(form, world), headers=headers, follow_redirects=False)
                what = f"{user} POST {url[:120]} {name or in_path}={str(value)[:40]!r}"
                wrong += check(r, what, _value(value, world)[0] if value else "")
                if r.status_code >= 400 and (after := counts(store)) != before:
                    wrong.append(f"{what}: refused ({r.status_code}) but wrote "
                                 f"{ {t: after[t] - before[t] for t in after if after[t] != before.get(t)} }")
                before = counts(store) if r.status_code < 400 else before
                if name in ("-csrf", "-origin", "csrf") and r.status_code != 403:
                    wrong.append(f"{what}: {r.status_code}, not 403, without the session's CSRF value or Origin")
                if r.headers.get("location") == "/console/login":
                    csrf = sign_in(http, user)
                    before = counts(store)
    assert wrong == []


def test_signed_out_every_console_route_sends_to_the_sign_in_and_the_sign_in_refuses_hostile_values(
        http, store, world):
    forms = post_forms()
    wrong: list[str] = []
    http.cookies.clear()
    before = counts(store)
    for method, path, params, declared in console_routes(http.app):
        if path.startswith("/console/login"):
            continue
        for index, value in enumerate(HOSTILE):
            if index % 4:  # a quarter of the values: the guard answers before anything is read
                continue
            name = sorted(declared)[index % len(declared)]
            url = _url(path, dict.fromkeys(params), world, name if method == "GET" else None, None, value)
            fields = forms.get(re.sub(r"{[^}]*}", "{}", path), set())
            r = (http.get(url, follow_redirects=False) if method == "GET" else
                 http.post(url, content=_body(dict.fromkeys(sorted(fields), value), world), headers=FORM,
                           follow_redirects=False))
            what = f"signed out: {method} {url[:120]}"
            wrong += check(r, what, _value(value, world)[0])
            if (r.status_code, r.headers.get("location")) != (303, "/console/login"):
                wrong.append(f"{what}: {r.status_code}, not the sign-in form")
    if counts(store) != before:
        wrong.append("signed out, the console wrote")
    # The sign-in form itself, each field hostile (a third of the values: a refused sign-in is throttled).
    page = http.get("/console/login")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    for name in sorted(forms["/console/login"]):
        for index, value in enumerate(HOSTILE):
            if index % 3 != len(name) % 3:
                continue
            form = {"username": "lin", "password": "wrong", "csrf": csrf, name: value}
            r = http.post("/console/login", content=_body(form, world), headers=FORM, follow_redirects=False)
            what = f"sign-in {name}={str(value)[:40]!r}"
            wrong += check(r, what, _value(value, world)[0])
            if r.status_code < 400:
                wrong.append(f"{what}: {r.status_code}")
            # A wrong password is recorded by design (the throttle's attempts and reports, the audit log); nothing else.
            after = counts(store)
            if written := {t: after[t] - before[t] for t in after if after[t] != before[t]
                           and t not in ("audit", "login_attempts", "login_reports")}:
                wrong.append(f"{what}: refused but wrote {written}")
            before = after
            csrf = r.text.split('name="csrf" value="')[1].split('"')[0] if 'name="csrf"' in r.text else csrf
    assert wrong == []

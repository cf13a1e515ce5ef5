"""Client text that is not a JSON body, holding what PostgreSQL cannot store (issue 16's NUL, closing
note): query and path parameters of every route, a form's values, tus `Upload-Metadata`, and the
cells of an imported spreadsheet. Each is a 4xx naming what was wrong, never a 500, and nothing is
written. These tests open PostgreSQL themselves (the `database` fixture), so they run in the default
SQLite step of `make test` too: on SQLite a NUL is stored quietly, on PostgreSQL it was a 500."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from litestar.routes import HTTPRoute
from litestar.testing import TestClient

from server.app import create_app
from server.cli import main as fieldsync
from server.services import Store
from server.settings import Settings
from tests.conftest import SITE, Session
from tests.server.test_console_archive import ORIGIN, sign_in

NUL = "a\x00b"
# Query parameters the console's pages read from `request.query_params` without declaring them.
UNDECLARED = ("lang", "q", "upload", "done")


@pytest.fixture
def pg(database: str, tmp_path: Path) -> Iterator[tuple[TestClient[Any], Store, Settings]]:
    """The app over a fresh PostgreSQL database, whatever the suite's mode; lin signed in to the console."""
    settings = Settings(data_dir=tmp_path / "pg", database=database)
    store = Store(settings)
    store.create_user("lin", "Lin", "supervisor", "demo", demo=True)
    store.write_server_changes([("sites", SITE, {"name": "Test park", "customer": "ACME", "tz": "Asia/Shanghai"},
                                 False)])
    with TestClient(create_app(settings, store), base_url="http://testserver.local") as client:
        yield client, store, settings


def _counts(store: Store) -> tuple[int, ...]:
    with store.read() as db:
        return tuple(db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                     for t in ("rows", "audit", "receipts", "uploads"))


def _sweep(app: Any) -> Iterator[tuple[str, str, str, str]]:
    """(method, url, kind, name): every route of the app's own table, each of its path and query
    parameters in turn holding a NUL (the console's undeclared ones too), the others real."""
    for route in app.routes:
        if not isinstance(route, HTTPRoute):
            continue
        for method, (_, model) in route.route_handler_map.items():
            if method == "OPTIONS":
                continue
            path_names = [p.field_alias for p in model.expected_path_params]
            query_names = {p.field_alias for p in model.expected_query_params}
            if route.path.startswith("/console") and method == "GET":
                query_names |= set(UNDECLARED)

            def url(nul_in: str | None, path: str = route.path_format, names: list[str] = path_names) -> str:
                for name in names:
                    path = path.replace(f"{{{name}}}", quote(NUL if name == nul_in else SITE))
                return path

            for name in path_names:
                yield method, url(name), "path", name
            for name in sorted(query_names):
                yield method, f"{url(None)}?{quote(name)}={quote(NUL)}", "query", name


def _refused(r: Any, url: str, kind: str, name: str) -> bool:
    """Whether `r` is the 400 naming the parameter: a problem body, or the console's HTML page of it."""
    if r.status_code != 400 or r.request.method == "HEAD":  # HEAD: the status alone, no body
        return r.status_code == 400
    if url.startswith("/console"):  # the catalogue's words (s28: not the API's English detail naming it)
        return "<code>invalid_request</code>" in r.text and "<h1>请求有误：" in r.text
    body = r.json()
    return (r.headers["content-type"].startswith("application/problem+json") and body["code"] == "invalid_request"
            and body.get("parameter") == name and f"{kind} parameter" in body["detail"])


def test_a_nul_in_any_query_or_path_parameter_of_any_route_is_a_400_on_postgresql(pg, caplog):
    # Regression (issue 16, closing note): a NUL (`%00`) in a query or path parameter reached
    # PostgreSQL, which refused it: a 500 on the routes that look a parameter up. Now one check where
    # the request enters: 400 invalid_request naming the parameter, before any guard or handler.
    http, store, _ = pg
    lin = Session(http, "lin")
    sign_in(http, "lin")
    before = _counts(store)
    swept, failed = 0, []
    for method, url, kind, name in _sweep(http.app):
        swept += 1
        r = http.request(method, url, headers={**lin.headers, **ORIGIN}, follow_redirects=False)
        if not _refused(r, url, kind, name):
            failed.append((r.status_code, method, url))
    assert not failed, (f"{sum(s >= 500 for s, *_ in failed)} 5xx, {len(failed)} not refused of {swept}:"
                        f" {sorted(failed)}")
    assert swept > 100  # the sweep walked the route table (about 160 parameters)
    assert _counts(store) == before
    assert not [rec for rec in caplog.records if rec.levelname == "ERROR"], caplog.text[-2000:]


def test_a_nul_in_a_console_form_value_is_refused(pg):
    http, store, _ = pg
    csrf = sign_in(http, "lin")
    before = _counts(store)
    # Every form of the console reads its values through `form_value`: the new-site form stands for them.
    r = http.post("/console/sites/new", data={"csrf": csrf, "name": NUL, "customer": "ACME", "contract": "annual",
                                               "zone": "urban", "accepted_on": "2026-03-01",
                                               "warranty_months": "24"}, headers=ORIGIN, follow_redirects=False)
    assert r.status_code == 400 and "<code>invalid_request</code>" in r.text
    assert "<h1>请求有误：表单内容无效，操作未执行。请返回重试。</h1>" in r.text
    assert _counts(store) == before


CSV = "code,name,location\r\nCAM-001,东门,大堂\r\nCAM-002,{cell},二楼\r\nCAM-003,西门,{cell}\r\n"


def test_a_nul_in_a_spreadsheet_cell_is_a_bad_row_of_the_api_and_console_import(pg):
    # Regression (issue 16, closing note): a CSV cell holding NUL (Python's csv reads one) reached
    # PostgreSQL's one-statement write: a 500. Now it is a bad row, as a name too long is.
    http, store, _ = pg
    lin = Session(http, "lin")
    data = CSV.format(cell=NUL).encode()
    csrf = sign_in(http, "lin")
    before = _counts(store)
    r = http.post(f"/api/sites/{SITE}/import", headers=lin.headers, content=data)
    assert r.status_code == 422 and r.json()["code"] == "invalid_import", r.text
    assert [(e["row"], e["reason"]) for e in r.json()["errors"]] == [(3, "invalid_field"), (4, "invalid_field")]
    assert "devices.name" in r.json()["errors"][0]["detail"] and "NUL" in r.json()["errors"][0]["detail"]
    assert "devices.location" in r.json()["errors"][1]["detail"]
    up = http.post(f"/console/sites/{SITE}/import", data={"csrf": csrf}, files={"file": ("east.csv", data)},
                   headers=ORIGIN, follow_redirects=False)
    assert up.status_code == 303, up.text
    page = http.get(up.headers["location"])
    assert page.status_code == 422 and 'id="bad-rows"' in page.text and "devices.location" in page.text
    # A header naming no column is only reported back (never stored), NUL or not.
    fine = http.post(f"/api/sites/{SITE}/import", headers=lin.headers, params={"dry_run": "true"},
                     content=f"code,{NUL}\r\nCAM-001,x\r\n".encode())
    assert fine.status_code == 200 and fine.json()["created"] == ["CAM-001"], fine.text
    assert _counts(store) == before


def test_a_nul_in_a_spreadsheet_cell_is_a_bad_row_of_the_cli_import(pg, tmp_path, capsys):
    _, store, settings = pg
    sheet = tmp_path / "east.csv"
    sheet.write_bytes(CSV.format(cell=NUL).encode())
    before = _counts(store)
    args = ["import", "--data", str(settings.data_dir), "--database", str(settings.database), str(sheet),
            "--site", "Test park"]
    assert fieldsync(args) == 2
    err = capsys.readouterr().err
    assert re.search(r"row 3: devices\.name.*NUL", err) and "row 4: devices.location" in err, err
    assert _counts(store) == before

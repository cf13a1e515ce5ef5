"""The office console's pages and a printed sheet, each beside the API call that feeds it, over HTTP
against a real server.

    python bench/console.py [--scale 1000] [--data DIR] [--samples 50]

Builds (or reuses, with --data) the demo (`fieldsync init --demo`: the reference site 科峰科技园,
624 devices) plus N more sites with 20 open service requests each (bench/service.py's data; the
issue's figure is `--scale 1000`, 20,000 open requests), starts `fieldsync serve` on it, signs in
to the console through its form once as the supervisor lin (a session cookie) and to the API with
a token, and measures, in the same run:

- the reference site's page `/console/sites/{id}` beside `GET /api/sites/{id}/coverage`: target
  median < 100 ms;
- the dashboard `/console/` beside `GET /api/service-requests?open=true&limit=200` (the page of
  open requests it shows): target < 300 ms;
- the reference site's inspection sheet `GET /api/inspections/{id}/sheet.pdf` beside the
  inspection's JSON `GET /api/inspections/{id}`: target < 1 s. The first request renders it
  (cold); the others are served from the render cache until something on the sheet changes.

Prints medians, p95 and each page's ratio to its API call; never asserts a time. Issue 14, "Speed".
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import ServerProcess, signed_in
from bench.coverage import _ms, _timed
from bench.service import REQUESTS_PER_SITE, build, print_timings, run_main
from server.demo import load_demo
from server.domains.service.service import MAX_LIMIT
from server.services import Store
from server.settings import Settings


def _prepare(data: Path, scale: int) -> None:
    if (data / ".built").exists():
        print(f"reusing {data}")
        return
    store = Store(Settings(data_dir=data))
    try:
        t0 = time.perf_counter()
        load_demo(store)
        count = build(store, scale)
        print(f"built the demo and {scale} more sites with {count} open requests: {time.perf_counter() - t0:.1f} s")
    finally:
        store.close()
    (data / ".built").write_text(str(scale))


def console_session(http: httpx.Client, username: str = "lin", password: str = "demo") -> None:
    """Sign in through the console's form once; the client keeps the session cookie."""
    form = http.get("/console/login").text
    csrf = form.split('name="csrf" value="')[1].split('"')[0]
    r = http.post("/console/login", data={"username": username, "password": password, "csrf": csrf},
                  headers={"Origin": str(http.base_url).rstrip("/")})
    assert r.status_code == 303, r.text[:500]


def _get(http: httpx.Client, url: str, **kwargs: Any) -> httpx.Response:
    r = http.get(url, **kwargs)
    r.raise_for_status()
    return r


def run(data: Path, scale: int, samples: int) -> dict[str, Any]:
    _prepare(data, scale)
    results: dict[str, Any] = {}
    server = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as api, \
                httpx.Client(base_url=server.url, timeout=120) as page:
            auth = signed_in(api)
            console_session(page)
            reference = max(_get(api, "/api/inspections", headers=auth).json()["inspections"],
                            key=lambda i: i["total"])
            site, inspection, period = reference["site_id"], reference["id"], reference["period"]
            results["reference_devices"] = reference["total"]
            site_page = f"/console/sites/{site}"
            assert "科峰科技园" in _get(page, site_page).text
            pairs = {
                "site_page": lambda: _get(page, site_page),
                "coverage_api": lambda: _get(api, f"/api/sites/{site}/coverage", params={"period": period},
                                             headers=auth),
                "dashboard": lambda: _get(page, "/console/"),
                "open_requests_api": lambda: _get(api, "/api/service-requests", params={"open": "true", "limit": MAX_LIMIT},
                                          headers=auth),
                "inspection_api": lambda: _get(api, f"/api/inspections/{inspection}", headers=auth),
            }
            sheet = f"/api/inspections/{inspection}/sheet.pdf"
            [cold] = _timed([lambda: _get(api, sheet, headers=auth)])
            results["sheet_cold_s"] = cold
            results["sheet_bytes"] = len(_get(api, sheet, headers=auth).content)
            for name, call in pairs.items():
                call()  # warm
                results[f"{name}_ms"] = _ms(_timed([call] * samples))
            results["sheet_ms"] = _ms(_timed([lambda: _get(api, sheet, headers=auth)] * samples))
    finally:
        server.stop()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, results = run_main(argv, __doc__, (1000, "more sites, 20 open requests each (issue 14: 1000)"), 50, run)
    print(f"the reference site: {results['reference_devices']} devices; {args.scale} more sites,"
          f" {args.scale * REQUESTS_PER_SITE:,} open requests and the demo's")
    print_timings(results, (
        ("reference site's page      ", "site_page_ms", " (target median < 100 ms)"),
        ("  its API: coverage        ", "coverage_api_ms", ""),
        ("dashboard                  ", "dashboard_ms", " (target median < 300 ms)"),
        ("  its API: open requests   ", "open_requests_api_ms", ""),
        ("inspection sheet PDF       ", "sheet_ms", " (target < 1 s; served from the render cache)"),
        ("  its API: inspection JSON ", "inspection_api_ms", "")))
    print(f"inspection sheet PDF, first request (rendered): {results['sheet_cold_s']:.2f} s,"
          f" {results['sheet_bytes']:,} bytes")
    for label, page, api in (("site page / coverage", "site_page_ms", "coverage_api_ms"),
                             ("dashboard / open requests", "dashboard_ms", "open_requests_api_ms"),
                             ("sheet PDF / inspection JSON", "sheet_ms", "inspection_api_ms")):
        results[f"{page}_ratio"] = ratio = results[page][0] / results[api][0]
        print(f"ratio {label}: {ratio:.1f}")
    return results


if __name__ == "__main__":
    main()

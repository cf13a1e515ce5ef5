"""The API docs page renders with no outside request: offline, and in mainland China (issue 10, finding 12)."""

from __future__ import annotations

import re
from html import escape

ATTRIBUTE = re.compile(r"""(?:src|href|action|srcset|data)\s*=\s*["']?([^"'\s>]*)""", re.IGNORECASE)


def test_root_leads_to_the_console_sign_in(http):
    # Regression (issue 10, finding 12): `/` answered 404. Regression (session 26): it still led to
    # the API's reference once the console existed, where a supervisor typing the bare address
    # expects the console.
    answer = http.get("/", follow_redirects=False)
    assert answer.status_code == 302
    assert answer.headers["location"] == "/console/"
    page = http.get("/")
    assert page.status_code == 200 and 'name="password"' in page.text


def test_the_api_docs_page_loads_nothing_from_another_host(http):
    # Regression (issue 10, finding 12): /schema loaded its viewer from a CDN and its fonts from Google.
    page = http.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    html = page.text
    spec = http.get("/schema/openapi.json").json()
    for path in spec["paths"]:  # the page documents the API, not just a frame for a script
        assert f"</span> {escape(path)}</h3>" in html
    assert "<script" not in html.lower() and "<link" not in html.lower() and "<img" not in html.lower()
    assert "@import" not in html and "url(" not in html
    assets = ATTRIBUTE.findall(html)
    assert "/schema/openapi.json" in assets
    for asset in assets:
        assert asset.startswith(("#", "/")) and not asset.startswith("//"), asset
        if asset.startswith("/"):
            assert http.get(asset).status_code == 200  # served here, and JSON: it loads nothing further
    assert not re.search(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", html, re.IGNORECASE)


def test_the_other_viewers_are_not_served(http):
    for viewer in ("swagger", "redoc", "elements", "rapidoc", "scalar"):
        assert http.get(f"/schema/{viewer}").status_code == 404

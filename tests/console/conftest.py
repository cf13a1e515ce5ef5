"""The console in a real browser: one demo server process and one chromium for the whole session.

Playwright drives Debian's chromium (`make test` installs it); its own browser
download cannot work on these machines. Each test opens its own context
(cookies, viewport); a signed-in user's state is made once and reused, so the
tests do not enrol a console client per test.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

from bench._server import ROOT, ServerProcess
from tests.conftest import BACKEND

CHROMIUM = "/usr/bin/chromium"
REF = json.loads((ROOT / "fixtures" / "reference_site.json").read_text(encoding="utf-8"))["site"]["id"]
SCHOOL = json.loads((ROOT / "fixtures" / "small_site.json").read_text(encoding="utf-8"))["site"]["id"]


@pytest.fixture(scope="package")
def demo_server(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[ServerProcess]:
    """In PostgreSQL mode over a database of its own (one process: the browser has one address)."""
    data = tmp_path_factory.mktemp("console") / "data"
    database = request.getfixturevalue("databases").take() if BACKEND == "postgresql" else None
    args = ("--database", database) if database else ()
    subprocess.run([sys.executable, "-m", "server.cli", "init", "--data", str(data), "--demo", *args],
                   check=True, capture_output=True, cwd=ROOT)
    server = ServerProcess(data, args=args).start()
    yield server
    server.stop()
    if database:
        request.getfixturevalue("databases").drop(database)


# Package scope, not session: Playwright's sync API keeps an event loop running in this thread
# until it stops, and later tests that call asyncio.run() must not find one (lead's merge).
@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        found = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield found
        found.close()


@pytest.fixture(scope="package")
def signed_in_state(browser: Browser, demo_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> Any:
    """username -> the browser state of a console session of theirs, signed in through the form once."""
    made: dict[str, Path] = {}

    def state(username: str) -> Path:
        if username not in made:
            context = browser.new_context(base_url=demo_server.url)
            page = context.new_page()
            sign_in(page, username)
            made[username] = tmp_path_factory.mktemp("state") / f"{username}.json"
            context.storage_state(path=made[username])
            context.close()
        return made[username]

    return state


def sign_in(page: Page, username: str) -> None:
    page.goto("/console/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "demo")
    page.click("button[type=submit]")
    page.wait_for_url("**/console/")


@pytest.fixture
def context_for(browser: Browser, demo_server: ServerProcess, signed_in_state: Any) -> Iterator[Any]:
    opened: list[BrowserContext] = []

    def open_(username: str | None = None, **options: Any) -> BrowserContext:
        state = signed_in_state(username) if username else None
        context = browser.new_context(base_url=demo_server.url, storage_state=state, **options)
        opened.append(context)
        return context

    yield open_
    for context in opened:
        context.close()


def api_token(server: ServerProcess, username: str) -> str:
    r = httpx.post(server.url + "/auth/token", json={"username": username, "password": "demo", "client_name": "t"})
    r.raise_for_status()
    return str(r.json()["token"])

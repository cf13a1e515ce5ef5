"""One server for a test module whose tests are refused or only read: tests/conftest.py's `settings`,
`store`, `http`, `site`, `lin`, `wang` and `chen`, built once for the module instead of once a test.

A module imports the ones it needs (`from tests.shared_server import shared_http, shared_lin, ...`):
under the conftest's names (`http`, `lin`, ...) they override its fixtures there. The server is the same as a test's own (the mode's servers behind one
address, over its own SQLite file or PostgreSQL database, the seeded accounts, the same site), but its
state carries from one test to the next: only for tests that pass only if they write nothing (each
compares a `dump` before and after, or only reads), never for tests that set the clock or write.
Building it costs about 0.3 s of CPU (the app, its sessions' scrypt sign-ins), which a module of
refusals paid again for each case.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from server.services import Store
from server.settings import Settings
from tests.conftest import BACKEND, Session, open_store, write_site


@pytest.fixture(scope="module", name="settings")
def shared_settings(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Settings]:
    data_dir = tmp_path_factory.mktemp("refusals") / "server"
    if BACKEND == "sqlite":
        yield Settings(data_dir=data_dir)
        return
    databases = request.getfixturevalue("databases")
    url = databases.take()
    yield Settings(data_dir=data_dir, database=url)
    databases.drop(url)


@pytest.fixture(scope="module", name="store")
def shared_store(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Store]:
    store = open_store(settings, request)
    yield store
    store.close()


@pytest.fixture(scope="module", name="http")
def shared_http(settings: Settings, store: Store) -> Iterator[TestClient[Any]]:
    from tests.servers import serving

    with serving(settings, store) as client:
        yield client


@pytest.fixture(scope="module", name="site")
def shared_site(store: Store) -> dict[str, str]:
    return write_site(store)


@pytest.fixture(scope="module", name="lin")
def shared_lin(http: TestClient[Any]) -> Session:
    return Session(http, "lin")


@pytest.fixture(scope="module", name="wang")
def shared_wang(http: TestClient[Any]) -> Session:
    return Session(http, "wang")


@pytest.fixture(scope="module", name="chen")
def shared_chen(http: TestClient[Any]) -> Session:
    return Session(http, "chen")

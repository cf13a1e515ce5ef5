"""The suite's two-server mode itself (tests/servers.py, tests/conftest.py): requests alternate
between the apps, each app starts and stops, and the `http` fixture serves as many as the mode says."""

from __future__ import annotations

from typing import Any

import pytest
from litestar import Litestar, get
from litestar.testing import TestClient

from tests.conftest import SERVERS
from tests.servers import serve


def _app(name: str, events: list[str]) -> Litestar:
    @get("/who", sync_to_thread=False)
    def who() -> str:
        return name

    return Litestar([who], on_startup=[lambda: events.append(f"{name} up")],
                    on_shutdown=[lambda: events.append(f"{name} down")])


def test_requests_alternate_between_the_servers_and_each_starts_and_stops() -> None:
    events: list[str] = []
    with serve([_app("a", events), _app("b", events)]) as http:
        assert sorted(events) == ["a up", "b up"]
        assert [http.get("/who").text for _ in range(4)] == ["a", "b", "a", "b"]
    assert sorted(events) == ["a down", "a up", "b down", "b up"]


def test_a_server_that_fails_to_start_fails_the_start() -> None:
    def broken() -> None:
        raise RuntimeError("no database")

    with pytest.raises(BaseException) as caught, serve([_app("a", []), Litestar([], on_startup=[broken])]):
        pass
    errors = [caught.value]
    while isinstance(errors[-1], BaseExceptionGroup):
        errors.append(errors[-1].exceptions[0])
    assert repr(errors[-1]) == "RuntimeError('no database')"


def test_the_http_fixture_serves_as_many_servers_as_the_mode_says(http: TestClient[Any], wang: Any) -> None:
    apps = getattr(http.app, "apps", [http.app])
    assert len(apps) == SERVERS
    # A token issued by one server is honoured by the next: identity lives in the database.
    for _ in range(2 * SERVERS):
        assert wang.pull().status_code == 200

"""Several servers behind one address, for the suite's two-server mode (tests/conftest.py).

`RoundRobin` is one ASGI app in front of several `create_app` apps, each with its own `Store`:
consecutive requests alternate between them, as nginx's round robin does between processes. The
apps share only what processes share: the database and the blob store. Lifespan events go to every
app, so each starts and stops its own background work and closes its own `Store`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import anyio
from litestar import Litestar
from litestar.datastructures import State
from litestar.testing import TestClient

from server.app import app_state, create_app
from server.services import Store
from server.settings import Settings
from tests.conftest import SERVERS


class RoundRobin:
    def __init__(self, apps: list[Litestar]) -> None:
        self.apps = apps
        self._turn = itertools.count()

    # What every app has alike (the same `create_app`), for tests that read the routes. No `state`:
    # that is one process's, and a test about it runs with one server (the `one_sqlite_server` mark).
    @property
    def routes(self) -> Any:
        return self.apps[0].routes

    @property
    def openapi_schema(self) -> Any:
        return self.apps[0].openapi_schema

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        scope.setdefault("state", {})
        await self.apps[next(self._turn) % len(self.apps)](scope, receive, send)

    async def _lifespan(self, scope: Any, receive: Any, send: Any) -> None:
        """Each lifespan message to every app; the first failure (else the first answer) back."""
        streams: list[Any] = []
        try:
            async with anyio.create_task_group() as group:
                inboxes, outboxes = [], []
                for app in self.apps:
                    to_app, app_receives = anyio.create_memory_object_stream[Any](math.inf)
                    app_sends, from_app = anyio.create_memory_object_stream[Any](math.inf)
                    streams += [to_app, app_receives, app_sends, from_app]
                    inboxes.append(to_app)
                    outboxes.append(from_app)
                    group.start_soon(app, dict(scope), app_receives.receive, app_sends.send)
                while True:
                    message = await receive()
                    for inbox in inboxes:
                        await inbox.send(message)
                    answers = [await outbox.receive() for outbox in outboxes]
                    await send(next((a for a in answers if a["type"].endswith(".failed")), answers[0]))
                    if message["type"] == "lifespan.shutdown" or any(a["type"].endswith(".failed") for a in answers):
                        group.cancel_scope.cancel()  # an app whose start-up failed waits for nothing more
                        return
        finally:
            for stream in streams:
                stream.close()


def serve(apps: list[Litestar]) -> TestClient[Any]:
    """A test client whose requests alternate between `apps`; enter it to start them."""
    client: TestClient[Any] = TestClient(apps[0])
    client.app = RoundRobin(apps)  # type: ignore[assignment]  # the transport calls client.app
    return client


@contextmanager
def serving(settings: Settings, store: Store) -> Iterator[TestClient[Any]]:
    """The mode's servers over `store`'s database behind one address, started: `store`'s app and
    SERVERS - 1 more, each with a `Store` of its own (closed by its app when it stops). The others
    tell the time by `store`'s, which tests set: the machines share one wall clock. For a test that
    needs settings of its own; the `http` fixture is this over `settings` and `store`."""
    others = [Store(settings) for _ in range(SERVERS - 1)]
    for other in others:
        other.now_ms = lambda: store.now_ms()  # type: ignore[method-assign]  # and so its today (Store.today)
    with app_over(settings, store) as app, ExitStack() as more:
        apps = [app, *(more.enter_context(app_over(settings, other)) for other in others)]
        with TestClient(apps[0]) if SERVERS == 1 else serve(apps) as client:
            yield client


# Apps this process built and no test is serving, by their settings but for where the data lives.
_IDLE: dict[Settings, list[Litestar]] = {}


@contextmanager
def app_over(settings: Settings, store: Store) -> Iterator[Litestar]:
    """`create_app(settings, store)`, but built once per test process and settings: an idle app of
    the same settings, whatever its data, is given `store`'s state (`app_state`), which is all an
    app holds of its store. Building one took about 0.1 s of CPU, and its 120,000 objects as much
    again in garbage collections, for each of about a thousand tests (a test's own blob store, a
    bucket or directory, is not part of the key: one app for them all). The app goes back idle, its
    state dropped, once its test client has stopped it without an error."""
    shape = replace(settings, data_dir=Path(), database=None, blobs=None)  # each read by app_state only
    idle = _IDLE.setdefault(shape, [])
    if idle:
        app = idle.pop()
        app.state = app_state(settings, store)
    else:
        app = create_app(settings, store)
    yield app
    app.state = State()
    idle.append(app)

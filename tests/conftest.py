"""Shared fixtures: a real SQLite file under tmp_path, the real app, real accounts.

The suite's mode, read once from the environment (README, "Testing"):
- `FIELDSYNC_TEST_BACKEND`: `sqlite` (the default: a file under tmp_path) or `postgresql` (a
  new database per test, copied from a template migrated once per session, on the session's server);
- `FIELDSYNC_TEST_SERVERS`: how many servers `http` puts behind one address (1 on SQLite, else 2),
  each with its own `Store` (two processes' worth of state) over the one database and blob store;
  consecutive requests alternate between them (tests/servers.py).
A test about one process or the SQLite file carries `@pytest.mark.one_sqlite_server(reason)`; any
other mode deselects it and says so at the end.
"""

from __future__ import annotations

import gc
import json
import os
import sys
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, settings
from litestar.testing import TestClient

from client_sdk import Client
from server.services import Store
from server.settings import Settings
from sync import hlc
from tests.helpers import copy_seeded, seeded_sqlite

# The phone's CLI speaks the locale's language (zh_CN is Chinese): the suite's own processes and the
# subprocesses they start read English, on any developer's machine, unless a test chooses otherwise.
os.environ["FIELDSYNC_LANG"] = "en"
# Hypothesis's own clocks are times asserted (a 200 ms deadline an example, a health check on how long the
# examples took to draw): on a loaded machine they fail a property that holds (a review saw `too_slow` at
# load 6). The project never asserts a time in a test; the properties still run every example.
settings.register_profile("fieldsync", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("fieldsync")
BACKEND = os.environ.get("FIELDSYNC_TEST_BACKEND", "sqlite")
SERVERS = int(os.environ.get("FIELDSYNC_TEST_SERVERS", "1" if BACKEND == "sqlite" else "2"))
if BACKEND not in ("sqlite", "postgresql") or not 1 <= SERVERS <= 4:
    raise pytest.UsageError("FIELDSYNC_TEST_BACKEND is sqlite or postgresql; FIELDSYNC_TEST_SERVERS 1 to 4")
ONE_SQLITE_SERVER = BACKEND == "sqlite" and SERVERS == 1

SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-site"))
OTHER_SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-other-site"))


@pytest.fixture
def new_settings(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Callable[..., Settings]]:
    """Settings of a server with data of its own, as the mode says: under tmp_path/`name`, and in
    PostgreSQL mode a fresh database (dropped after the test). `options` are Settings' own."""
    taken: list[str] = []

    def make(name: str = "server", **options: Any) -> Settings:
        if BACKEND == "postgresql" and "database" not in options:
            taken.append(request.getfixturevalue("databases").take())
            options["database"] = taken[-1]
        return Settings(data_dir=tmp_path / name, **options)

    yield make
    for url in taken:
        request.getfixturevalue("databases").drop(url)


@pytest.fixture
def settings(new_settings: Callable[..., Settings], request: pytest.FixtureRequest) -> Settings:
    if BACKEND == "sqlite":
        return new_settings()
    return new_settings(database=request.getfixturevalue("database"))


@pytest.fixture(scope="session")
def databases(postgres: str) -> Iterator[Any]:
    """Copies of a database migrated once per session (tests/pg.py)."""
    from tests.pg import Copies

    copies = Copies(postgres)
    yield copies
    copies.close()


@pytest.fixture
def database(databases: Any) -> Iterator[str]:
    """A fresh PostgreSQL database for one test (its own server epoch and cursor key), dropped after it."""
    url = databases.take()
    yield url
    databases.drop(url)


def _accounts(store: Store) -> None:
    """The accounts every `store` holds: a supervisor, two technicians (each a member of one site), the desk."""
    store.create_user("lin", "Lin", "supervisor", "demo", demo=True)
    store.create_user("wang", "Wang", "technician", "demo", demo=True)
    store.create_user("zhao", "Zhao", "technician", "demo", demo=True)
    store.create_user("chen", "Chen", "service_desk", "demo", demo=True)
    store.add_member(SITE, "wang")
    store.add_member(OTHER_SITE, "zhao")


@pytest.fixture(scope="session")
def seeded_accounts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated and holding `_accounts`, made once per test process: each test's SQLite
    `store` starts from a copy (migrating and four scrypt hashes took 0.3-0.6 s a test)."""
    return seeded_sqlite(tmp_path_factory.mktemp("seeded") / "server", _accounts)


@pytest.fixture(scope="session")
def signed_in_accounts(seeded_accounts: Path, tmp_path_factory: pytest.TempPathFactory) -> \
        Callable[[tuple[str, ...]], tuple[Path, dict[str, SignedIn]]]:
    """`seeded_accounts` and then `users` signed in, in order, as the session fixtures sign in (`Session`,
    over HTTP): the SQLite file and each user's client and token, made once per test process and list
    of users. A test's `store` starts from the copy of its session fixtures' users, which then take
    their client and token from it: each sign-in's scrypt check cost 45-55 ms of CPU, for 1,250
    sign-ins of a run."""
    made: dict[tuple[str, ...], tuple[Path, dict[str, SignedIn]]] = {}

    def signed_in(users: tuple[str, ...]) -> tuple[Path, dict[str, SignedIn]]:
        if users not in made:
            from tests.servers import app_over

            settings = Settings(data_dir=tmp_path_factory.mktemp("signed-in") / "server")
            copy_seeded(seeded_accounts, settings.db_path)
            with app_over(settings, Store(settings)) as app, TestClient(app) as http:
                sessions = {user: Session(http, user).signed_in for user in users}
            assert not Path(f"{settings.db_path}-wal").exists(), "the file holds all of its pages"
            made[users] = settings.db_path, sessions
        return made[users]

    return signed_in


@pytest.fixture
def store(settings: Settings, request: pytest.FixtureRequest) -> Iterator[Store]:
    store = open_store(settings, request, _signs_in(settings, request))
    yield store
    store.close()


def open_store(settings: Settings, request: pytest.FixtureRequest, users: tuple[str, ...] = ()) -> Store:
    """A `Store` over `settings` holding `_accounts`: on SQLite a copy of the seeded file, with `users`
    signed in (`signed_in_accounts`) for their session fixtures."""
    if settings.database is None and not settings.db_path.exists():
        seeded = request.getfixturevalue("seeded_accounts")
        if users:
            seeded, request.node.stash[_SIGNED_IN] = request.getfixturevalue("signed_in_accounts")(users)
        copy_seeded(seeded, settings.db_path)
        return Store(settings)
    store = Store(settings)
    _accounts(store)
    return store


def _signs_in(settings: Settings, request: pytest.FixtureRequest) -> tuple[str, ...]:
    """The users of this file's session fixtures (`lin`, ...) the test uses, in the order it asks for them,
    when their sign-ins may be made ahead (`signed_in_accounts`): the settings' defaults (the token's
    lifetime, the client limit), no module's fixture of the same name in their place."""
    if settings != Settings(data_dir=settings.data_dir):
        return ()
    defs = request._pyfuncitem._fixtureinfo.name2fixturedefs  # type: ignore[attr-defined]
    return tuple(name for name in request.fixturenames
                 if name in _SESSIONS and defs[name][-1].func.__code__ is _SESSIONS[name])


@pytest.fixture
def http(settings: Settings, store: Store) -> Iterator[TestClient[Any]]:
    """The server(s) behind one address; each app closes its own `Store` when it stops. The others
    tell the time by `store`'s, which tests set: the machines share one wall clock."""
    from tests.servers import serving

    with serving(settings, store) as client:
        yield client


def server_args(settings: Settings) -> list[str]:
    """Where a server command finds the test server's data: `--data`, and `--database` in PostgreSQL mode."""
    database = getattr(settings, "database", None)
    return ["--data", str(settings.data_dir), *(["--database", database] if database else [])]


@pytest.fixture
def held_port() -> Iterator[str]:
    """A port on 127.0.0.1 (serve's default host) that this test listens on itself, for a `serve` that is to be
    refused before it binds: a regression that got as far as binding fails at once ("already in use", exit 1).
    Port 1, used before, is refused only to a user without privileges: as root (CI) a regression served, and the
    test hung until its timeout."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as sock:
        yield str(sock.getsockname()[1])


@pytest.fixture
def stores(http: TestClient[Any]) -> list[Store]:
    """Every server's `Store`, `store` first: for what each process keeps to itself (caches)."""
    return [app.state.store for app in getattr(http.app, "apps", [http.app])]


SignedIn = tuple[str, str]  # a sign-in's client_id and token


class Session:
    """A signed-in client speaking the wire protocol by hand (no SDK): signed in over HTTP, or with the
    client and token of a sign-in made before (`signed_in_accounts`)."""

    def __init__(self, http: TestClient[Any], username: str, signed_in: SignedIn | None = None) -> None:
        if signed_in is None:
            body = http.post("/auth/token", json={"username": username, "password": "demo", "client_name": "t"}).json()
            signed_in = body["client_id"], body["token"]
        self.http = http
        self.signed_in = signed_in
        self.client_id: str = signed_in[0]
        self.headers = {"Authorization": f"Bearer {signed_in[1]}"}
        self.clock = hlc.Clock(self.client_id)
        self.seq = 0

    def change(self, collection: str, row_id: str, fields: dict[str, Any], delete: bool | None = None,
               hlc_: str | None = None) -> dict[str, Any]:
        self.seq += 1
        change: dict[str, Any] = {"seq": self.seq, "collection": collection, "id": row_id,
                                  "hlc": hlc_ or self.clock.now(), "fields": fields}
        if delete is not None:
            change["delete"] = delete
        return change

    def push(self, changes: list[dict[str, Any]], client_time: str | None = None) -> Any:
        return self.http.post("/sync/push", headers=self.headers, json={
            "protocol": 1, "client_id": self.client_id,
            "client_time": client_time or hlc.format_ts(hlc.wall_ms()), "changes": changes})

    def pull(self, cursor: str = "0", limit: int = 1000) -> Any:
        return self.http.get("/sync/pull", headers=self.headers, params={"cursor": cursor, "limit": limit})


@pytest.fixture
def lin(http: TestClient[Any], request: pytest.FixtureRequest) -> Session:
    return Session(http, "lin", request.node.stash.get(_SIGNED_IN, {}).get("lin"))


@pytest.fixture
def wang(http: TestClient[Any], request: pytest.FixtureRequest) -> Session:
    return Session(http, "wang", request.node.stash.get(_SIGNED_IN, {}).get("wang"))


@pytest.fixture
def zhao(http: TestClient[Any], request: pytest.FixtureRequest) -> Session:
    return Session(http, "zhao", request.node.stash.get(_SIGNED_IN, {}).get("zhao"))


@pytest.fixture
def chen(http: TestClient[Any], request: pytest.FixtureRequest) -> Session:
    """Customer service (the service desk role): reads every site, is no member of any."""
    return Session(http, "chen", request.node.stash.get(_SIGNED_IN, {}).get("chen"))


# The session fixtures, by user, and the sign-ins made ahead for the test (`open_store`).
_SESSIONS = {fixture.__name__: fixture._fixture_function.__code__ for fixture in (lin, wang, zhao, chen)}
_SIGNED_IN = pytest.StashKey[dict[str, SignedIn]]()


@pytest.fixture
def site(store: Store) -> dict[str, str]:
    """A site with two cameras and an inspection, written by the server."""
    return write_site(store)


def write_site(store: Store) -> dict[str, str]:
    """`site`'s rows written into `store`; their ids."""
    from sync.schema import inspection_id

    cam1, cam2 = (str(uuid.uuid5(uuid.NAMESPACE_URL, f"cam{i}")) for i in (1, 2))
    insp = inspection_id(SITE, "2026-Q4")
    store.write_server_changes([
        ("sites", SITE, {"name": "Test park", "customer": "ACME", "tz": "Asia/Shanghai"}, False),
        ("devices", cam1, {"site_id": SITE, "system": "video", "kind": "dome_camera", "code": "CAM-001",
                           "status": "active"}, False),
        ("devices", cam2, {"site_id": SITE, "system": "video", "kind": "bullet_camera", "code": "CAM-002",
                           "status": "active"}, False),
        ("inspections", insp, {"site_id": SITE, "period": "2026-Q4", "status": "scheduled",
                               "assigned_to": "wang", "due_on": "2026-12-20"}, False),
    ])
    return {"site": SITE, "cam1": cam1, "cam2": cam2, "inspection": insp}


# -- the client SDK: real client databases under tmp_path, a restartable server --------------


@pytest.fixture
def server(settings: Settings, store: Store, http: TestClient[Any]) -> Iterator[Any]:
    from tests.client_sdk.support import Server  # it imports Session from here

    handle = Server(settings, store, http)
    yield handle
    handle.close()


@pytest.fixture
def new_client(tmp_path: Path) -> Iterator[Callable[..., Client]]:
    """Make a signed-in Client with its own database file under tmp_path."""
    made: list[Client] = []

    def make(http: httpx.Client, name: str = "phone", user: str = "wang", **options: Any) -> Client:
        client = Client(tmp_path / f"{name}.db", http, **options)
        made.append(client)
        client.login(user, "demo")
        return client

    yield make
    for client in made:
        client.db.conn.close()




# -- servers of other projects, started once per test process ------------------------------


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    """The URL of a real PostgreSQL server of our own (tests/pg.py), for the whole session."""
    from tests.pg import PostgresServer

    server = PostgresServer().start()
    yield server.url
    server.stop()


@pytest.fixture
def pg_url(postgres: str) -> Iterator[str]:
    """A new, empty PostgreSQL database of a test's own, whatever the suite's mode; dropped after it."""
    from tests.pg import drop_database, new_database

    url = new_database(postgres)
    yield url
    drop_database(url)


@pytest.fixture(scope="session")
def s3_server() -> Iterator[Any]:
    """moto's S3 server as a real process (tests/s3.py), for the whole session."""
    from tests.s3 import S3Server

    server = S3Server().start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server: Any, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket on it, as `s3://name/prefix`; boto3's environment points at the server."""
    import boto3

    for name, value in s3_server.env.items():
        monkeypatch.setenv(name, value)
    name = f"fieldsync-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": "cn-north-1"})
    return f"s3://{name}/site-photos"


# -- the mode's deselection: tests about one process or the SQLite file -----------------------


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_DESELECTED] = {}
    _cache_bytecode()


def _cache_bytecode() -> None:
    """The run's Python processes keep the bytecode of what they compile (`__pycache__`, ignored by git), as
    Python does by default: with PYTHONDONTWRITEBYTECODE set (as it is on the machines the suite was timed
    on), each of them compiled the project's modules again (0.25 s of CPU each `fieldsync serve` worker, 0.1 s each phone
    CLI, 350 such processes a run) and each xdist worker rewrote the test modules' asserts anew (4 s)."""
    if os.environ.pop("PYTHONDONTWRITEBYTECODE", None) is not None:  # for the workers and every subprocess
        sys.dont_write_bytecode = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, deselected = [], config.stash[_DESELECTED]
    for item in items:
        mark = item.get_closest_marker("one_sqlite_server")
        if mark is not None and not (mark.args and isinstance(mark.args[0], str)):
            raise pytest.UsageError(f"{item.nodeid}: one_sqlite_server needs its reason")
        if mark is None or ONE_SQLITE_SERVER:
            kept.append(item)
        else:
            deselected[item.nodeid] = mark.args[0]
    if deselected:
        config.hook.pytest_deselected(items=[item for item in items if item.nodeid in deselected])
        items[:] = kept
    if hasattr(config, "workeroutput"):  # an xdist worker: its controller prints them
        config.workeroutput["one_sqlite_server"] = json.dumps(deselected)


@pytest.hookimpl(trylast=True)
def pytest_collection_finish(session: pytest.Session) -> None:
    """Every test module imported (in each xdist worker, and in a run without xdist): what they and the project
    built at import (~150,000 objects) leaves the collector's generations, as the server's workers do
    (`server/asgi.py`): each full collection walked them all again. Session 32, tests/sync and the push, pull and
    scope tests in one process: the collector's own CPU 2.4 s -> 1.4 s of the run's 22 s (~4 %; full
    collections 116 ms -> 35 ms each)."""
    gc.collect()
    gc.freeze()


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    node.config.stash[_DESELECTED].update(json.loads(node.workeroutput.get("one_sqlite_server", "{}")))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    deselected: dict[str, str] = config.stash[_DESELECTED]
    if deselected and not hasattr(config, "workeroutput"):
        terminalreporter.section(f"{BACKEND}, {SERVERS} server(s): {len(deselected)} one_sqlite_server tests deselected")
        for reason, count in Counter(deselected.values()).most_common():
            terminalreporter.write_line(f"{count:4}  {reason}")


_DESELECTED = pytest.StashKey[dict[str, str]]()

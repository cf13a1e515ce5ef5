"""PostgreSQL connections that break under a running server: terminated backends, a database that
refuses connections, the network cut (a TCP forwarder, `Cut`), a transaction left idle while holding
the version lock. Each test opens a
database of its own on the session's real PostgreSQL (the `postgres` fixture), in every mode of
the suite; the app(s) are the mode's (`http`), over that database."""

from __future__ import annotations

import contextlib
import hashlib
import random
import socket
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from bench import _tus as tus
from bench._server import ServerProcess, free_port
from server.services import Store
from server.settings import Settings
from server.storage.postgres.connection import Database, conninfo
from sync import hlc, sheet
from sync.errors import DatabaseUnavailable
from sync.messages import words
from tests.conftest import SITE, Session
from tests.helpers import ok, problem
from tests.reliability.wire import Wire, check_spec, prepare
from tests.server.test_console_desk import console
from tests.servers import serving


@pytest.fixture
def settings(new_settings: Callable[..., Settings], pg_url: str) -> Settings:
    """The suite's settings, over this test's own PostgreSQL database whatever the mode."""
    return new_settings(database=pg_url)


def _admin(url: str) -> psycopg.Connection[Any]:
    return psycopg.connect(f"{url.rsplit('/', 1)[0]}/postgres", autocommit=True)


def _terminate(url: str) -> int:
    """Every backend connected to `url`'s database ended, from a separate admin connection: as a
    PostgreSQL restart or a network cut leaves a server's pooled connections."""
    with _admin(url) as admin:
        return sum(1 for (ended,) in admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s AND pid <> pg_backend_pid()",
            [url.rsplit("/", 1)[1]]) if ended)


def _allow_connections(url: str, allow: bool) -> None:
    with _admin(url) as admin:
        admin.execute(f"ALTER DATABASE {url.rsplit('/', 1)[1]} ALLOW_CONNECTIONS {str(allow).lower()}")


def _wait_for(condition: Callable[[], Any], seconds: float = 30) -> Any:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if found := condition():
            return found
        time.sleep(0.02)
    raise AssertionError("the condition never came true")


def test_requests_after_every_backend_is_terminated_go_on_over_new_connections(http, site, wang, pg_url) -> None:
    # Regression (closing note, "Noticed and left"): a connection broken under the process was never
    # replaced; every request over it was a 500 until the process restarted.
    ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"})]))
    assert _terminate(pg_url) >= 2
    # The break is found at BEGIN, before any transaction did anything: reconnect and go on.
    for _ in range(3):  # each app of the mode's meets a broken reader and writer (all of a pool: the next test)
        ok(wang.pull())
        ok(wang.push([wang.change("devices", site["cam2"], {"location": "roof"})]))
        ok(http.post("/auth/token", json={"username": "lin", "password": "demo", "client_name": "t"}))
    rows = {r["id"]: r["fields"] for r in ok(wang.pull())["rows"]}
    assert rows[site["cam1"]]["location"] == "lobby" and rows[site["cam2"]]["location"] == "roof"


def test_a_push_whose_connection_breaks_in_its_transaction_is_503_and_applied_once_on_retry(
        http, site, wang, pg_url, row_of) -> None:
    # Regression (closing note): the push met the broken connection inside its transaction: 500, and
    # the pool kept the dead connection. Now 503 with Retry-After, nothing written, and the retry applies it.
    ok(wang.pull())  # every app has its connections before the lock is taken
    change = wang.change("devices", site["cam1"], {"location": "lobby"})
    answer: list[httpx.Response] = []
    locker = psycopg.connect(pg_url, autocommit=True)
    try:
        locker.execute("BEGIN")
        locker.execute("SELECT value FROM meta WHERE key = 'version' FOR UPDATE")  # the push waits on it
        pusher = threading.Thread(target=lambda: answer.append(wang.push([change])))
        pusher.start()
        with _admin(pg_url) as admin:
            waiting = _wait_for(lambda: admin.execute(
                "SELECT pid FROM pg_stat_activity WHERE datname = %s AND wait_event_type = 'Lock'"
                " AND query LIKE '%%FOR UPDATE'",
                [pg_url.rsplit("/", 1)[1]]).fetchone())
            admin.execute("SELECT pg_terminate_backend(%s)", [waiting[0]])
        pusher.join()
        locker.execute("ROLLBACK")
    finally:
        locker.close()
    body = problem(answer[0], 503, "database_unavailable")
    assert "503" in http.get("/schema/openapi.json").json()["paths"]["/sync/push"]["post"]["responses"]
    assert answer[0].headers["Retry-After"] == str(body["retry_after"]) and body["retry_after"] > 0
    assert row_of("devices", site["cam1"])["fields"].get("location") is None  # nothing half-written
    first = ok(wang.push([change]))
    assert first["results"] == [{"seq": change["seq"], "status": "applied"}]
    again = ok(wang.push([change]))  # a retry of it is answered from receipts as usual
    assert (again["results"], again["version"]) == (first["results"], first["version"])
    assert row_of("devices", site["cam1"])["fields"]["location"] == "lobby"


def test_an_unreachable_database_is_503_and_served_again_once_it_is_back(http, site, wang, pg_url) -> None:
    # Regression (closing note): replacing a connection while the database refuses them is a 503, not a 500.
    _allow_connections(pg_url, False)
    try:
        _terminate(pg_url)
        for response in (wang.pull(), wang.push([wang.change("devices", site["cam1"], {"location": "lobby"})]),
                         http.post("/auth/token", json={"username": "lin", "password": "demo", "client_name": "t"})):
            body = problem(response, 503, "database_unavailable")
            assert response.headers["Retry-After"] == str(body["retry_after"])
    finally:
        _allow_connections(pg_url, True)
    wang.seq -= 1  # the refused push was never applied: send its seq again
    ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"})]))
    assert ok(wang.pull())["rows"]


def test_every_pooled_connection_is_replaced_at_begin(pg_url: str) -> None:
    database = Database(pg_url, readers=2, writers=2)
    try:
        with database.read() as db:
            db.execute("SELECT 1")
        assert _terminate(pg_url) >= 4  # and any autovacuum worker there
        # All four at once, so that each pooled connection meets its break at BEGIN.
        with database.read() as r1, database.read() as r2, database.write() as w1, database.write(versions=True) as w2:
            assert [c.execute("SELECT 1").fetchone() for c in (r1, r2, w1, w2)] == [(1,)] * 4
    finally:
        database.close()


def test_a_transaction_broken_after_it_wrote_leaves_nothing_and_the_writer_is_replaced(pg_url: str) -> None:
    database = Database(pg_url, readers=1, writers=1)
    try:
        with pytest.raises(DatabaseUnavailable) as raised, database.write(versions=True) as db:
            db.execute("UPDATE meta SET value = 'half' WHERE key = 'hlc'")
            (pid,) = db.execute("SELECT pg_backend_pid()").fetchone()
            with _admin(pg_url) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", [pid])
            db.execute("UPDATE meta SET value = 'written' WHERE key = 'hlc'")
        assert raised.value.extra["retry_after"] > 0
        with database.write(versions=True) as db:  # the one writer, replaced
            assert db.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()[0] not in ("half", "written")
    finally:
        database.close()


class Cut:
    """A TCP forwarder in front of PostgreSQL that can be cut: its connections closed and new ones
    refused (nothing listens), as a network cut or a database host down; then up again on the same port."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 5432)
        self.port = free_port()
        self.url = parts._replace(netloc=f"{parts.username}@127.0.0.1:{self.port}").geturl()
        self.listener: socket.socket | None = None
        self.open: list[socket.socket] = []
        self.queries_cut = False  # a connection is let through its start-up, then cut at its first query
        self.cut_at: bytes | None = None  # everything cut, and new connections refused, at a query holding this
        # A cut at `cut_at` runs in a pipe's thread while the test goes on: `up` waits for it to end, or
        # it would also close the connections accepted after `up` (a flaky "server closed the connection").
        self._lock = threading.Lock()

    def up(self) -> Cut:
        with self._lock:
            self.listener = listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        with self._lock:
            assert self.listener is not None
            with contextlib.suppress(OSError):  # down already
                self.listener.shutdown(socket.SHUT_RDWR)  # wakes accept(): the port refuses from now on
            self.listener.close()
            for sock in self.open:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                near, _ = listener.accept()
            except OSError:
                return
            far = socket.create_connection(self.target)
            with self._lock:
                self.open += [near, far]
            for a, b in ((near, far), (far, near)):
                threading.Thread(target=self._pipe, args=(a, b, a is near), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, queries: bool) -> None:
        with contextlib.suppress(OSError):
            while data := source.recv(65536):
                if queries and self.cut_at is not None and self.cut_at in data:
                    self.down()
                    return
                if queries and self.queries_cut and data[:1] in (b"Q", b"P"):  # a simple or extended query
                    for sock in (source, sink):
                        sock.shutdown(socket.SHUT_RDWR)
                    return
                sink.sendall(data)
        with contextlib.suppress(OSError):
            sink.shutdown(socket.SHUT_WR)


def test_a_database_refusing_connections_is_503_and_served_again_once_it_is_back(
        new_settings: Callable[..., Settings], pg_url: str) -> None:
    # Regression (closing note): the network to the database cut, and connecting again refused while
    # it is down: each request a 503, then served again over new connections once it is back.
    cut = Cut(pg_url).up()
    settings = new_settings("behind-a-cut", database=cut.url)
    store = Store(settings)
    store.create_user("wang", "Wang", "technician", "demo", demo=True)
    store.add_member(SITE, "wang")
    try:
        with serving(settings, store) as http:
            wang = Session(http, "wang")
            ok(wang.pull())
            cut.down()
            for response in (wang.pull(), http.post("/auth/token", json={"username": "wang", "password": "demo",
                                                                         "client_name": "t"})):
                body = problem(response, 503, "database_unavailable")
                assert response.headers["Retry-After"] == str(body["retry_after"])
            cut.up()
            for _ in range(3):
                ok(wang.pull())
                ok(http.post("/auth/token", json={"username": "wang", "password": "demo", "client_name": "t"}))
    finally:
        cut.down()


@pytest.mark.parametrize("valid", [True, False], ids=["check-reads", "failure-written"])
def test_a_sheet_upload_meeting_the_database_down_on_its_last_byte_stays_open_and_ends_once_it_is_back(
        new_settings: Callable[..., Settings], pg_url: str, valid: bool) -> None:
    # Regression (s23 leftovers, item 1): the sheet's check on the last PATCH reads the database; a
    # DatabaseUnavailable there failed the upload for good. And a sheet refused had its part file unlinked
    # before the failure was written: the database down then left an open record without its bytes. The
    # network is cut at the check's read (or at the failure's write), connecting again refused: 503, the
    # last PATCH's bytes given back; once the database is back the same PATCH ends the upload.
    cut = Cut(pg_url).up()
    settings = new_settings("sheet-behind-a-cut", database=cut.url)
    store = Store(settings)
    store.create_user("wang", "Wang", "technician", "demo", demo=True)
    data = sheet.sheet_bytes(str(uuid.uuid4()), {}) if valid else b'{"not": "a sheet"}'
    half = len(data) // 2
    try:
        with serving(settings, store) as http:
            wang = Session(http, "wang")
            location = tus.create(http, wang.headers, data, "application/json").headers["location"]
            assert tus.patch(http, wang.headers, location, 0, data[:half]).status_code == 204
            cut.cut_at = b"SELECT site_id FROM rows WHERE collection" if valid else b"SET status = 'failed'"
            problem(tus.patch(http, wang.headers, location, half, data[half:]), 503, "database_unavailable")
            assert cut.cut_at is not None and cut.listener is not None and cut.listener.fileno() == -1  # it was cut
            cut.cut_at = None
            cut.up()
            assert tus.head(http, wang.headers, location).headers["upload-offset"] == str(half)
            last = tus.patch(http, wang.headers, location, half, data[half:])
            if valid:
                assert last.status_code == 204
                assert tus.head(http, wang.headers, location).headers["upload-offset"] == str(len(data))
                assert store.blobs.path(hashlib.sha256(data).hexdigest()).read_bytes() == data
            else:
                problem(last, 422, "invalid_sheet")
                assert tus.head(http, wang.headers, location).status_code == 410  # failed for good, now
    finally:
        cut.down()


@pytest.mark.parametrize("what", ["photo", "sheet"])
def test_an_upload_over_a_bucket_with_the_database_down_at_its_finish_is_never_reported_done_without_its_blob(
        new_settings: Callable[..., Settings], pg_url: str, bucket: str, what: str) -> None:
    # Regression (s23 leftovers, item 1): over a bucket the offset is the database's, and the last PATCH
    # moves it to the upload's end before the blob is recorded. With the database down at that record
    # (a photo's) or at a sheet's check, giving the offset back is a database write too, so it stayed at
    # Upload-Length with no blob on record: HEAD then said done and the phone marked the upload done.
    # Now an open upload found at its end stands at its last piece's start until a PATCH takes it back.
    from server.storage.media import SqliteMedia
    from tests.server.test_uploads import jpeg

    cut = Cut(pg_url).up()
    settings = new_settings("bucket-behind-a-cut", database=cut.url, blobs=bucket)
    store = Store(settings)
    store.create_user("wang", "Wang", "technician", "demo", demo=True)
    if what == "sheet":
        data, kind = sheet.sheet_bytes(str(uuid.uuid4()), {}), "application/json"
    else:
        data, kind = jpeg((300, 200), noise=True, seed=50), "image/jpeg"
    digest, half = hashlib.sha256(data).hexdigest(), len(data) // 2
    try:
        with serving(settings, store) as http:
            wang = Session(http, "wang")
            location = tus.create(http, wang.headers, data, kind).headers["location"]
            assert tus.patch(http, wang.headers, location, 0, data[:half]).status_code == 204
            # The photo's blob is in the bucket, its record is not; the sheet's check reads the database.
            cut.cut_at = b"SELECT site_id FROM rows WHERE collection" if what == "sheet" else b"INSERT INTO blobs(sha256"
            problem(tus.patch(http, wang.headers, location, half, data[half:]), 503, "database_unavailable")
            assert cut.listener is not None and cut.listener.fileno() == -1  # it was cut there
            cut.cut_at = None
            cut.up()
            with SqliteMedia(store).reading() as q:  # what the give-back could not undo
                record = q.upload(location.rsplit("/", 1)[1])
                assert record is not None and (record[4], record[5]) == (len(data), "open")
            assert tus.head(http, wang.headers, location).headers["upload-offset"] == str(half)
            assert tus.patch(http, wang.headers, location, half, data[half:]).status_code == 204
            assert tus.head(http, wang.headers, location).headers["upload-offset"] == str(len(data))
            assert hashlib.sha256(store.blobs.path(digest).read_bytes()).hexdigest() == digest
            with SqliteMedia(store).reading() as q:
                assert q.content_type(digest) == kind
    finally:
        cut.down()
        store.close()


def test_a_console_page_while_the_database_refuses_is_a_503_page_in_the_catalogue_s_words(http, site, pg_url) -> None:
    csrf = console(http, "chen")
    assert csrf
    _allow_connections(pg_url, False)
    try:
        _terminate(pg_url)
        page = http.get("/console/service-requests")
        assert page.status_code == 503 and page.headers["content-type"].startswith("text/html")
        assert words("console", "zh")["unavailable"] in page.text
    finally:
        _allow_connections(pg_url, True)
    assert http.get("/console/service-requests").status_code == 200


def test_a_new_connection_that_breaks_at_begin_too_is_503_not_a_500(pg_url: str) -> None:
    # Regression (found writing this): the retry at BEGIN meeting a second break left the block
    # unentered ("generator didn't yield"): a 500.
    cut = Cut(pg_url).up()
    database = Database(cut.url, readers=1, writers=1)
    try:
        cut.queries_cut = True
        cut.down()
        cut.up()
        with pytest.raises(DatabaseUnavailable), database.read() as db:
            db.execute("SELECT 1")
        cut.queries_cut = False
        with database.read() as db:
            assert db.execute("SELECT 1").fetchone() == (1,)
    finally:
        database.close()
        cut.down()


def _timeout(url: str) -> str:
    return url + "?options=-c%20idle_in_transaction_session_timeout%3D1s"


def test_our_sessions_carry_the_idle_timeout_and_keepalives(pg_url: str) -> None:
    database = Database(pg_url, readers=1)
    try:
        with database.read() as db:
            shown = {name: db.execute(f"SHOW {name}").fetchone()[0] for name in (
                "idle_in_transaction_session_timeout", "tcp_keepalives_idle", "tcp_keepalives_interval",
                "tcp_keepalives_count", "tcp_user_timeout")}
            libpq = db.raw.info.get_parameters()
    finally:
        database.close()
    assert shown == {"idle_in_transaction_session_timeout": "1min", "tcp_keepalives_idle": "30",
                     "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3", "tcp_user_timeout": "60000"}
    assert {k: libpq.get(k) for k in ("keepalives", "keepalives_idle", "keepalives_interval", "keepalives_count",
                                      "tcp_user_timeout")} == {
        "keepalives": "1", "keepalives_idle": "30", "keepalives_interval": "10", "keepalives_count": "3",
        "tcp_user_timeout": "60000"}
    database = Database(_timeout(pg_url), readers=1)  # the URL's own options win over ours
    try:
        with database.read() as db:
            assert db.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0] == "1s"
    finally:
        database.close()


def test_fieldsync_migrate_is_never_ended_for_idling_whatever_the_database_says(pg_url: str) -> None:
    # `fieldsync migrate` reads and counts the SQLite file between two tables' COPYs, inside its one
    # transaction: an idle timeout the operator set on the database (operations.md) must not end it.
    with _admin(pg_url) as admin:
        admin.execute(f"ALTER DATABASE {pg_url.rsplit('/', 1)[1]} SET idle_in_transaction_session_timeout = '1s'")
    shown = []
    for info in (conninfo(pg_url, idle="0"), conninfo(pg_url)):
        with psycopg.connect(info) as conn:
            shown.append(conn.execute("SHOW idle_in_transaction_session_timeout").fetchone()[0])
    assert shown == ["0", "1min"]  # migrate's session: no limit; a server's: ours, over the database's


def test_a_transaction_left_idle_holding_the_version_lock_is_ended_and_the_next_writer_goes_on(pg_url) -> None:
    # Regression (closing note): a process frozen while holding the version lock stalled every push
    # until PostgreSQL noticed, which for a frozen (not dead) process is never.
    database = Database(_timeout(pg_url), readers=1)
    holding, thaw, outcome = threading.Event(), threading.Event(), []

    def frozen() -> None:
        try:
            with database.write(versions=True) as db:
                db.execute("UPDATE meta SET value = 'frozen' WHERE key = 'hlc'")
                holding.set()
                thaw.wait()  # idle inside the transaction, as a stopped process is
        except DatabaseUnavailable as exc:
            outcome.append(exc)

    thread = threading.Thread(target=frozen)
    thread.start()
    try:
        holding.wait()
        with database.write(versions=True) as db:  # waits for the lock until PostgreSQL ends the idle one
            version = db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0]
            db.execute("UPDATE meta SET value = ? WHERE key = 'version'", [str(int(version) + 1)])
    finally:
        thaw.set()
        thread.join()
    try:
        assert [type(e) for e in outcome] == [DatabaseUnavailable]  # the frozen one's work did not commit
        with database.write(versions=True) as db:  # busy, not idle, for longer than the timeout: never ended
            db.execute("SELECT pg_sleep(1.5)")
            db.execute("UPDATE meta SET value = 'busy' WHERE key = 'hlc'")
        with database.read() as db:
            assert db.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()[0] == "busy"  # not 'frozen'
        with database.write(versions=True) as db:  # its connection was replaced: both writers work
            with database.write(versions=False) as other:
                assert other.execute("SELECT 1").fetchone() == (1,)
            db.execute("SELECT 1")
    finally:
        database.close()


def test_a_serve_process_recovers_from_terminated_connections_without_restart(tmp_path: Path, pg_url: str) -> None:
    # Regression (closing note): a real `fieldsync serve --database` process, its connections ended:
    # every request after was a 500 until the process restarted.
    devices = prepare(tmp_path / "prepare", ["wang"], 4, database=pg_url)
    rng = random.Random(23)
    specs = [check_spec(rng, "wang", device, hlc.wall_ms()) for device in devices]
    server = ServerProcess(tmp_path / "process", args=("--database", pg_url)).start()
    wang: Wire | None = None
    try:
        wang = Wire(server.url, "wang")
        wang.push(wang.changes(1, specs[:2]))
        assert _terminate(pg_url) >= 1
        # Each answer `Wire.checked`: a 200, else it raises with the status and body.
        pushed = wang.push(wang.changes(3, specs[2:]))
        assert [r["status"] for r in pushed["results"]] == ["applied", "applied"]
        for _ in range(4):
            rows = wang.pull("0")["rows"]
        assert {r["id"] for r in rows} >= {spec.id for spec in specs}
        Wire(server.url, "wang").close()  # a sign-in, on a fresh client
    finally:
        if wang is not None:
            wang.close()
        server.stop()

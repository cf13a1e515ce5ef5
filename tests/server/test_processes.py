"""Several `fieldsync serve --database postgresql://…` processes over one PostgreSQL database (issue 16):
what one process issues (a token, a pull cursor, a request number, a server HLC) holds in the others.

Real processes (`bench/_server.py`), each with its own `--data`, over a fresh database on the test
session's PostgreSQL server (`tests/pg.py`); two `Store`s in this process where the point is the
state a process keeps for itself (its HLC clock).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psycopg
import pytest

from bench._server import ROOT, ServerProcess, free_port
from client_sdk.client import Client
from server.services import Store
from server.settings import Settings
from sync import hlc
from sync.wire import RefreshRequest, TokenRequest, TokenResponse
from tests.pg import drop_database, new_database

SITE = "f9191229-cf76-5070-b9cb-1e57eb037ab4"  # the demo's reference site, 科峰科技园 (README)
CAM7 = "cf0e3c5e-7bbe-590f-b6d3-a9bf7b9b2fb6"  # its CAM-007
SCHOOL = "ac1829de-92b2-5402-bb25-ef6359e9dd9c"  # the demo's other site, 明德实验小学: none of wang's


def fieldsync(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "server.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=600)


@pytest.fixture(scope="module")
def database(postgres: str) -> Iterator[str]:
    url = new_database(postgres)
    yield url
    drop_database(url)


@pytest.fixture(scope="module")
def servers(database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """`fieldsync init --demo --database` once, then two `serve --database` processes, each with its own --data."""
    root = tmp_path_factory.mktemp("processes")
    done = fieldsync("init", "--data", str(root / "init"), "--demo", "--database", database)
    assert done.returncode == 0, done.stderr
    assert "demo loaded" in done.stdout and f"database ready at {database}" in done.stdout
    first = ServerProcess(root / "a", args=("--database", database)).start()
    try:
        second = ServerProcess(root / "b", args=("--database", database)).start()
    except BaseException:
        first.stop()
        raise
    yield first, second
    first.stop()
    second.stop()


@contextmanager
def phone(path: Path, url: str) -> Iterator[Client]:
    with httpx.Client(base_url=url, timeout=60) as http:
        client = Client(path, http)
        try:
            yield client
        finally:
            client.close()


def client_cli(db: Path, url: str, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "client_sdk.cli", *args], capture_output=True, text=True, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "FIELDSYNC_CLIENT_DB": str(db), "FIELDSYNC_SERVER": url},
                          timeout=300)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_the_demo_loaded_into_postgresql_answers_the_readmes_first_example(
        servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    expected = re.search(r"fieldsync-client sync\n# (Synced: 0 change\(s\) pushed, \d+ row\(s\) pulled\.)", readme)
    assert expected is not None
    answers = []
    for server in servers:  # the same answer through either process
        db = tmp_path / f"{server.port}.db"
        assert "Signed in as 王工 (technician)" in client_cli(db, server.url, "login", "wang", "--password", "demo")
        answers.append(client_cli(db, server.url, "sync").strip().splitlines())
    # The first line is the README's; a first sync then says how many open requests are his (s28-repair).
    assert answers[0] == answers[1] and answers[0][0] == expected[1], answers


def test_serve_reads_the_demo_accounts_from_postgresql(servers: tuple[ServerProcess, ServerProcess],
                                                       database: str, tmp_path: Path) -> None:
    from server.cli import _demo_accounts

    shown = _demo_accounts(Settings(data_dir=tmp_path, database=database))
    assert shown is not None and "wang (王工, technician)" in shown
    assert not (tmp_path / "fieldsync.db").exists()


def test_a_change_pushed_through_one_process_is_pulled_through_the_other(
        servers: tuple[ServerProcess, ServerProcess], tmp_path: Path) -> None:
    first, second = servers
    with phone(tmp_path / "wang.db", first.url) as wang:
        wang.login("wang", "demo")
        wang.sync()
        wang.write("devices", CAM7, {"location": "Car park B1, pillar 9"})
    # The same phone, its token and pull cursor from the first process, now through the second.
    with phone(tmp_path / "wang.db", second.url) as wang:
        report = wang.sync()
        assert report.pushed == 1 and wang.acked_seq == 1
        assert report.pulled < 10  # the cursor was accepted: only what changed since, not the whole scope again
    with phone(tmp_path / "lin.db", second.url) as lin:
        lin.login("lin", "demo")
        lin.sync()
        row = lin.db.row("devices", CAM7)
        assert row is not None and row[0]["location"] == "Car park B1, pillar 9"


def test_request_numbers_stay_gap_free_when_both_processes_number_at_once(
        servers: tuple[ServerProcess, ServerProcess]) -> None:
    tokens = {}
    for server in servers:
        answer = httpx.post(server.url + "/auth/token", json={"username": "chen", "password": "demo"}, timeout=60)
        tokens[server.url] = answer.json()["token"]
    numbers: list[str] = []
    failures: list[str] = []

    def desk(url: str) -> None:
        with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {tokens[url]}"}, timeout=60) as http:
            for n in range(8):
                answer = http.post("/api/service-requests", json={
                    "site_id": SCHOOL, "channel": "hotline", "kind": "repair", "caller_name": "刘先生",
                    "caller_phone": "0755-2660 1800", "description": f"call {n} through {url}"})
                if answer.status_code == 201:
                    numbers.append(answer.json()["number"])
                else:
                    failures.append(answer.text)

    threads = [threading.Thread(target=desk, args=(server.url,)) for server in servers for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    serials = sorted(int(number.rsplit("-", 1)[1]) for number in numbers)
    assert len(serials) == 32
    assert serials == list(range(serials[0], serials[0] + 32))  # no number twice, none skipped


def test_a_later_server_write_through_another_process_wins_though_the_first_ones_clock_runs_ahead(
        database: str, tmp_path: Path) -> None:
    # Regression (issue 16): each process has its own HLC clock. One running an hour ahead stamped
    # a register; a later server write of it through another process stamped with its own, older,
    # clock and silently lost the merge. Now a transaction that stamps catches its clock up with
    # the HLC the last one saved (`engine/batch.py`).
    first = Store(Settings(data_dir=tmp_path / "a", database=database))
    second = Store(Settings(data_dir=tmp_path / "b", database=database))
    try:
        first.clock.see(hlc.Hlc(hlc.wall_ms() + 3_600_000, 0, hlc.SERVER_NODE))
        site = str(uuid.uuid4())
        first.write_server_changes([("sites", site, {"name": "Written first", "customer": "A"}, None)])
        second.write_server_changes([("sites", site, {"name": "Written second"}, None)])
        with second.read() as db:
            (fields,) = db.execute("SELECT fields FROM rows WHERE collection = 'sites' AND id = ?", [site]).fetchone()
        assert '"Written second"' in fields
        assert second.clock.last > first.clock.last
    finally:
        first.close()
        second.close()


def test_a_sign_in_and_a_refresh_never_wait_for_a_push_and_a_membership_takes_the_counter_first(
        servers: tuple[ServerProcess, ServerProcess], database: str, tmp_path: Path) -> None:
    # Another process's push in progress: a transaction holding the version counter (`postgres/rows.py`).
    store = Store(Settings(data_dir=tmp_path, database=database))
    push = psycopg.connect(database, autocommit=True)
    watch = psycopg.connect(database, autocommit=True)
    signed_in: list[TokenResponse] = []

    def sign_in() -> None:
        answer = store.login(TokenRequest(username="wang", password="demo", client_name="lock test"))
        signed_in.append(store.refresh(RefreshRequest(client_id=answer.client_id, refresh_token=answer.refresh_token)))

    thread = threading.Thread(target=sign_in)
    try:
        push.execute("BEGIN")
        push.execute("SELECT value FROM meta WHERE key = 'version' FOR UPDATE")
        thread.start()
        thread.join(timeout=120)  # a wait for the push would never end while it holds the counter
        assert not thread.is_alive() and len(signed_in) == 1
        member = threading.Thread(target=store.add_member, args=(SCHOOL, "wang"))
        member.start()
        # It waits, and on the counter: its first statement, before any membership row is touched.
        # pg_stat_activity copies a backend's query text apart from reading its wait, so the wait can be
        # seen beside the `BEGIN` sent just before the statement that waits (CI, session 30): read again.
        waiting = ""
        deadline = time.monotonic() + 60
        while not waiting or waiting.startswith("BEGIN"):
            assert time.monotonic() < deadline, f"the membership never waited on a statement: {waiting!r}"
            found = watch.execute("SELECT query FROM pg_stat_activity WHERE datname = current_database()"
                                  " AND wait_event_type = 'Lock'").fetchall()
            waiting = found[0][0] if found else ""
        assert "key = 'version' FOR UPDATE" in waiting
        push.execute("COMMIT")
        member.join()
        assert "wang" in store.members(SCHOOL)
    finally:
        push.close()  # its transaction ends: what waited for it goes on
        watch.close()
        if thread.ident is not None:
            thread.join()
        store.remove_member(SCHOOL, "wang")
        store.close()


@pytest.mark.parametrize("command", [
    ["add-user", "li", "--name", "李工", "--role", "technician", "--site", "科峰科技园", "--password", "a long passphrase"],
    ["passwd", "zhao", "--disable"],
    ["terms", "科峰科技园"],
    ["schedule", "--period", "2026-Q4"],
    ["purge"],
    ["gc"],
])
def test_the_office_commands_work_on_the_shared_database(
        command: list[str], servers: tuple[ServerProcess, ServerProcess], database: str, tmp_path: Path) -> None:
    # A new --data of their own, with no SQLite file: what they read and change is PostgreSQL's
    # (`passwd` once refused, finding no fieldsync.db there).
    done = fieldsync(command[0], "--data", str(tmp_path), "--database", database, *command[1:])
    assert done.returncode == 0, done.stderr
    assert not (tmp_path / "fieldsync.db").exists()


@pytest.mark.parametrize("url", [
    "mysql://fieldsync:s3cret@db/fieldsync",  # another database
    "postgresql://fieldsync:s3cret@db:port/fieldsync",  # a port that is no number
    "postgresql://fieldsync:s3cret@db/field sync",  # whitespace
    "postgresql://fieldsync:s3cret@db/" + "x" * 1000,  # past the bound
])
@pytest.mark.parametrize("command", [["serve"], ["init"], ["add-user", "wang", "--role", "technician"]])
def test_a_malformed_database_url_is_refused_without_echoing_it(url: str, command: list[str], tmp_path: Path) -> None:
    done = fieldsync(command[0], "--data", str(tmp_path), "--database", url, *command[1:])
    assert done.returncode == 2
    assert "--database: a postgresql://" in done.stderr
    assert "s3cret" not in done.stderr + done.stdout
    assert not (tmp_path / "fieldsync.db").exists()


@pytest.mark.parametrize(("url", "shown"), [
    ("postgresql://fieldsync:s3cret@db:5432/fs?sslmode=require", "postgresql://fieldsync:***@db:5432/fs?sslmode=require"),
    ("postgresql://fieldsync@db/fs", "postgresql://fieldsync@db/fs"),
    ("postgres://fieldsync:p%40ss@db/fs", "postgres://fieldsync:***@db/fs"),
])
def test_the_database_is_shown_without_its_password(url: str, shown: str, tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path, database=url).database_shown == shown


def test_a_database_that_does_not_answer_is_one_line_without_the_password(tmp_path: Path) -> None:
    done = fieldsync("init", "--data", str(tmp_path), "--database", f"postgresql://fieldsync:s3cret@127.0.0.1:{free_port()}/x")
    assert done.returncode == 1
    assert done.stderr.startswith("fieldsync: cannot open the database: ") and done.stderr.count("\n") == 1
    assert "s3cret" not in done.stderr + done.stdout and "Traceback" not in done.stderr


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_backup_and_restore_of_the_sqlite_file_refuse_a_database(command: str, tmp_path: Path) -> None:
    where = ["--to", str(tmp_path / "copy")] if command == "backup" else ["--from", str(tmp_path / "copy")]
    done = fieldsync(command, "--data", str(tmp_path), "--database", "postgresql://fieldsync:s3cret@db/x", *where)
    assert done.returncode == 2
    assert "pg_dump" in done.stderr and "s3cret" not in done.stderr
    assert not (tmp_path / "copy").exists()

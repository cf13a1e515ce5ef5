"""Operations over PostgreSQL (issue 16, item 5 and 4): the shipped nginx config, `fieldsync migrate`
from a SQLite deployment, and `fieldsync new-epoch` after a restore."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from litestar.testing import TestClient
from psycopg.types.string import TextLoader

from bench._server import ServerProcess, free_port
from client_sdk import Client
from server.app import create_app
from server.cli import main as fieldsync
from server.services import Store
from server.settings import Settings
from server.storage.postgres.backend import POSTGRES
from server.storage.postgres.from_sqlite import OWN_RECORDS
from sync import hlc
from tests.nginx import NGINX_CONF, binary, check, running
from tests.pg import drop_database, new_database
from tests.reliability.wire import INSPECTION, prepare

# -- nginx -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("processes", [1, 3])
def test_the_shipped_nginx_config_passes_nginx_t(tmp_path: Path, processes: int) -> None:
    done = check(tmp_path, [8000 + n for n in range(processes)])
    assert done.returncode == 0, done.stderr
    assert "test is successful" in done.stderr
    conf = (tmp_path / "fieldsync.conf").read_text()
    assert [f"server 127.0.0.1:{8000 + n};" in conf for n in range(processes)] == [True] * processes


def test_nginx_t_fails_a_broken_config(tmp_path: Path) -> None:
    # The check above can fail: the same file with one directive misspelt does not pass.
    assert "least_conn;" in NGINX_CONF.read_text()
    check(tmp_path, [8000])
    (tmp_path / "fieldsync.conf").write_text((tmp_path / "fieldsync.conf").read_text().replace("least_conn;",
                                                                                                "least_conns;"))
    done = subprocess.run([binary(), "-t", "-c", str(tmp_path / "nginx.conf"), "-p", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode != 0 and "least_conns" in done.stderr


def test_a_process_that_is_down_is_skipped_for_the_next(tmp_path: Path) -> None:
    # A process restarting refuses connections: nginx passes the request, a sign-in and a push too
    # (not yet sent, so safe to send elsewhere), to the next process. Restarts go unnoticed.
    data = tmp_path / "data"
    assert fieldsync(["init", "--data", str(data), "--demo"]) == 0
    up = ServerProcess(data, args=("--trusted-proxy", "127.0.0.1")).start()
    try:
        with running(tmp_path / "nginx", [free_port(), up.port]) as url, httpx.Client(base_url=url, timeout=120) as http:
            for _ in range(4):  # more than the upstreams: least_conn tries the one that is down in turn
                login = http.post("/auth/token", json={"username": "wang", "password": "demo", "client_name": "t"})
                assert login.status_code == 200, login.text
                pushed = http.post("/sync/push", headers={"Authorization": f"Bearer {login.json()['token']}"}, json={
                    "protocol": 1, "client_id": login.json()["client_id"], "client_time": hlc.format_ts(hlc.wall_ms()),
                    "changes": []})
                assert pushed.status_code == 200, pushed.text
    finally:
        up.stop()
    assert "connect() failed (111: Connection refused)" in (tmp_path / "nginx" / "error.log").read_text()


# -- fieldsync migrate ---------------------------------------------------------------------------------


@pytest.fixture
def target(postgres: str) -> Iterator[str]:
    url = new_database(postgres)
    yield url
    drop_database(url)


def _busy_demo(data: Path, tmp_path: Path) -> list[Client]:
    """The demo, then a site of our own and two phones whose edits of one check conflict: clients,
    tokens, receipts, the conflict log and the audit trail all hold rows. The phones, signed in."""
    assert fieldsync(["init", "--data", str(data), "--demo"]) == 0
    devices = prepare(data, ["kai", "bo"], 2, supervisors=("mei",))
    settings = Settings(data_dir=data)
    store = Store(settings)
    try:
        with TestClient(create_app(settings, store)) as http:
            phones = [Client(tmp_path / f"{user}.db", http) for user in ("kai", "bo")]
            for phone, user in zip(phones, ("kai", "bo"), strict=True):
                phone.login(user, "demo")
                phone.sync()
            for n, phone in enumerate(phones):
                phone.record_check(INSPECTION, devices[0], "serviced", note=f"note {n}")
                phone.sync()
    finally:
        store.close()
    return phones


def _as_sqlite(value: Any, kind: str | None) -> Any:
    """A value as SQLite holds it, from either side: booleans as 0/1 (JSON is read as its text, which
    PostgreSQL's `json` keeps verbatim: the very bytes SQLite holds)."""
    if value is None:
        return None
    if kind == "boolean":
        return int(value)
    return value


def _both_sides(sqlite_path: Path, url: str) -> dict[str, tuple[list[Any], list[Any]]]:
    """Every table both databases have: its rows in SQLite and in PostgreSQL, alike where equal."""
    with psycopg.connect(url) as pg, contextlib.closing(sqlite3.connect(sqlite_path)) as lite:
        pg.adapters.register_loader("json", TextLoader)
        kinds: dict[str, dict[str, str]] = {}
        for table, column, kind in pg.execute("SELECT table_name, column_name, data_type FROM"
                                              " information_schema.columns WHERE table_schema = current_schema()"):
            kinds.setdefault(table, {})[column] = kind
        both = {}
        for table in sorted(set(kinds) - OWN_RECORDS):
            columns = [c[1] for c in lite.execute(f'PRAGMA table_info("{table}")')]
            quoted = ", ".join(f'"{c}"' for c in columns)
            sides = [sorted((tuple(_as_sqlite(v, kinds[table].get(c)) for v, c in zip(row, columns, strict=True))
                             for row in db.execute(f'SELECT {quoted} FROM "{table}"').fetchall()), key=repr)
                     for db in (lite, pg)]
            both[table] = (sides[0], sides[1])
        return both


def test_the_demo_moves_to_postgresql_with_every_table_equal(tmp_path: Path, target: str) -> None:
    data = tmp_path / "data"
    _busy_demo(data, tmp_path)
    assert fieldsync(["migrate", "--data", str(data), "--to", target]) == 0
    both = _both_sides(data / "fieldsync.db", target)
    with contextlib.closing(sqlite3.connect(data / "fieldsync.db")) as lite:
        tables = {n for (n,) in lite.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                            " AND name NOT LIKE 'sqlite%'")} - OWN_RECORDS
    assert set(both) == tables  # PostgreSQL has every table SQLite has
    for table in ("rows", "receipts", "conflicts", "users", "clients", "tokens", "meta", "audit", "memberships"):
        assert both[table][0], f"the demo left {table} empty: the test would prove nothing about it"
    assert {t: sides[1] for t, sides in both.items()} == {t: sides[0] for t, sides in both.items()}


def test_a_database_that_holds_data_is_refused_and_left_as_it_was(tmp_path: Path, target: str,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    _busy_demo(data, tmp_path)
    assert fieldsync(["migrate", "--data", str(data), "--to", target]) == 0
    before = _both_sides(data / "fieldsync.db", target)
    capsys.readouterr()
    assert fieldsync(["migrate", "--data", str(data), "--to", target]) == 2
    assert "already holds data" in capsys.readouterr().err
    assert _both_sides(data / "fieldsync.db", target) == before


def test_migrate_refuses_while_the_sqlite_server_runs(tmp_path: Path, target: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from server.storage.sqlite.backup import data_lock

    data = tmp_path / "data"
    assert fieldsync(["init", "--data", str(data)]) == 0
    with data_lock(data):  # as `fieldsync serve` holds it
        assert fieldsync(["migrate", "--data", str(data), "--to", target]) == 2
    assert "in use by a running server" in capsys.readouterr().err
    with psycopg.connect(target) as pg:
        assert pg.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'meta'").fetchone() == (0,)


@pytest.mark.parametrize(("extra", "named"), [
    ("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT); INSERT INTO notes(body) VALUES ('kept')", "notes"),
    ("ALTER TABLE users ADD COLUMN nickname TEXT; UPDATE users SET nickname = 'x'", "users.nickname"),
    # Regression (s23 leftovers, item 5): a NUL stored before today, which PostgreSQL cannot hold (text
    # refuses it; JSON's "\u0000" fails each read), was refused at its COPY naming no row: now before
    # copying, by table, row key and column, with how to mend it. A console value kept in a row's fields:
    ("UPDATE rows SET fields = json_set(fields, '$.name', 'Cam' || char(0) || '1') WHERE rowid ="
     " (SELECT min(rowid) FROM rows WHERE collection = 'devices')", "NUL character, which PostgreSQL cannot"
     " store: rows (collection=devices, id="),
    # ...and a raw NUL in a text column (as a tus file name was kept).
    ("UPDATE users SET name = 'Wang' || char(0) WHERE username = 'wang'", ") name. Nothing was copied. Mend"),
])
def test_what_postgresql_has_no_place_for_is_refused_not_dropped(tmp_path: Path, target: str, extra: str, named: str,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert fieldsync(["init", "--data", str(data), "--demo"]) == 0
    with contextlib.closing(sqlite3.connect(data / "fieldsync.db")) as lite, lite:
        lite.executescript(extra)
    capsys.readouterr()
    assert fieldsync(["migrate", "--data", str(data), "--to", target]) == 2
    assert named in capsys.readouterr().err
    with psycopg.connect(target) as pg:  # the schema was made; not a row of the copy is in it
        assert pg.execute("SELECT count(*) FROM rows").fetchone() == (0,)
        assert pg.execute("SELECT value FROM meta WHERE key = 'version'").fetchone() == ("0",)


def test_identity_sequences_continue_past_the_copied_ids(tmp_path: Path, target: str) -> None:
    data = tmp_path / "data"
    _busy_demo(data, tmp_path)
    assert fieldsync(["migrate", "--data", str(data), "--to", target]) == 0
    with psycopg.connect(target) as pg:
        top = pg.execute("SELECT max(id) FROM conflicts").fetchone()[0]
        assert top
        pg.execute("INSERT INTO conflicts(at, kind, collection, row_id) VALUES ('now', 'lost', 'checks', 'x')")
        assert pg.execute("SELECT max(id) FROM conflicts").fetchone()[0] == top + 1
        # The order of enrolment (m029) continues too: a client enrolled after the move comes last.
        enrolled = pg.execute("SELECT max(enrolled) FROM clients").fetchone()[0]
        assert enrolled and pg.execute("SELECT nextval('clients_enrolled')").fetchone()[0] == enrolled + 1


def test_blobs_are_copied_when_blobs_names_a_new_place(tmp_path: Path, target: str) -> None:
    from server.domains.media.blobs import FileBlobStore

    data, shared = tmp_path / "data", tmp_path / "shared-blobs"
    assert fieldsync(["init", "--data", str(data)]) == 0
    stored = FileBlobStore(data / "blobs")
    names = []
    for n in range(3):
        blob = tmp_path / f"b{n}"
        blob.write_bytes(b"photo %d" % n)
        names.append(hashlib.sha256(blob.read_bytes()).hexdigest())
        stored.put(names[-1], blob)
    assert fieldsync(["migrate", "--data", str(data), "--to", target, "--blobs", str(shared)]) == 0
    assert [FileBlobStore(shared).path(n).read_bytes() for n in names] == [b"photo %d" % n for n in range(3)]
    assert all(stored.exists(n) for n in names)  # copied, not moved: the SQLite deployment is whole still


def test_files_in_the_blob_directory_that_are_no_blobs_are_left_where_they_are(tmp_path: Path, target: str) -> None:
    # Regression (s27 ops7, the walk on PostgreSQL): `migrate --from-blobs DIR --blobs NEW` copied every file under
    # DIR as a blob: an unfinished upload's part (DIR/uploads/<id>.part, where a shared --blobs keeps them) or a
    # file manager's stray file was a ValueError traceback half-way, with a .copying-… file left under --data.
    from server.domains.media.blobs import FileBlobStore

    data, old, new = tmp_path / "data", tmp_path / "old-blobs", tmp_path / "new-blobs"
    assert fieldsync(["init", "--data", str(data)]) == 0
    blob = tmp_path / "photo"
    blob.write_bytes(b"photo")
    name = hashlib.sha256(b"photo").hexdigest()
    FileBlobStore(old).put(name, blob)
    (old / "uploads").mkdir()
    (old / "uploads" / "0a1b2c.part").write_bytes(b"half a photo")
    (old / ".DS_Store").write_bytes(b"\0")
    assert fieldsync(["migrate", "--data", str(data), "--to", target, "--blobs", str(new),
                      "--from-blobs", str(old)]) == 0
    assert sorted(p.name for p in new.rglob("*") if p.is_file()) == [name]
    assert FileBlobStore(new).path(name).read_bytes() == b"photo"
    assert not list(data.glob(".copying-*"))


# -- fieldsync new-epoch ---------------------------------------------------------------------------------


def _epoch(url: str) -> str:
    with psycopg.connect(url) as pg:
        return str(pg.execute("SELECT value FROM meta WHERE key = 'server_epoch'").fetchone()[0])


def test_new_epoch_after_a_restore_and_not_while_a_server_is_connected(target: str,
                                                                       capsys: pytest.CaptureFixture[str]) -> None:
    server = POSTGRES.open(target)  # a running server's connections, as `serve --database` holds them
    try:
        first = _epoch(target)
        assert fieldsync(["new-epoch", "--database", target]) == 2
        assert "stop every fieldsync serve" in capsys.readouterr().err
        assert _epoch(target) == first
    finally:
        server.close()
    assert fieldsync(["new-epoch", "--database", target]) == 0
    second = _epoch(target)
    assert second != first and second in capsys.readouterr().out


def test_new_epoch_refuses_a_database_that_is_not_fieldsyncs(target: str, capsys: pytest.CaptureFixture[str]) -> None:
    with psycopg.connect(target, autocommit=True) as pg:
        pg.execute("CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL)")
    assert fieldsync(["new-epoch", "--database", target]) == 2
    assert "no fieldsync database" in capsys.readouterr().err


# -- after the move: two processes over PostgreSQL behind nginx -------------------------------------------


def _phone(path: Path, url: str) -> tuple[Client, httpx.Client]:
    http = httpx.Client(base_url=url, timeout=120)
    return Client(path, http), http


def test_a_phones_outbox_survives_the_move_to_two_processes_behind_nginx(tmp_path: Path, target: str) -> None:
    """Issue 16's "done when": `migrate` moves the demo with a phone's outbox surviving it, and a phone
    signs in, pushes and pulls through nginx's one address in front of two `serve --database` processes."""
    data = tmp_path / "data"
    assert fieldsync(["init", "--data", str(data), "--demo"]) == 0
    devices = prepare(data, ["kai", "bo"], 3, supervisors=("mei",))
    sqlite_server = ServerProcess(data).start()
    try:
        kai, kai_http = _phone(tmp_path / "kai.db", sqlite_server.url)
        kai.login("kai", "demo")
        kai.record_check(INSPECTION, devices[0], "serviced", note="synced before the move")
        kai.sync()
        epoch, client_id = kai.server_epoch, kai.client_id
        # Offline from here: these stay in the phone's outbox across the move.
        unsent = [kai.record_check(INSPECTION, devices[1], "fault", note="cable cut, still in the outbox"),
                  kai.record_check(INSPECTION, devices[0], "serviced", note="re-checked, still in the outbox")]
        assert len(kai.pending()) >= 2
        kai.close()
        kai_http.close()
    finally:
        sqlite_server.stop()

    assert fieldsync(["migrate", "--data", str(data), "--to", target, "--blobs", str(tmp_path / "blobs")]) == 0
    processes = [ServerProcess(tmp_path / f"p{n}", args=("--database", target, "--blobs", str(tmp_path / "blobs"),
                                                         "--trusted-proxy", "127.0.0.1", "--access-log"))
                 for n in range(2)]
    opened: list[tuple[Client, httpx.Client]] = []
    try:
        for process in processes:
            process.start()
        with running(tmp_path / "nginx", [p.port for p in processes]) as url:
            kai, kai_http = _phone(tmp_path / "kai.db", url)
            bo, bo_http = _phone(tmp_path / "bo.db", url)
            opened += [(kai, kai_http), (bo, bo_http)]
            kai.sync()
            assert kai.pending() == []
            # The same server, moved: no new epoch, so the phone did not enrol again.
            assert (kai.server_epoch, kai.client_id) == (epoch, client_id)
            bo.login("bo", "demo")
            bo.sync()
            seen = {r["id"]: r["fields"] for r in bo.rows("device_checks")}
            assert {seen[c]["note"] for c in unsent} == {"cable cut, still in the outbox",
                                                         "re-checked, still in the outbox"}
            # And back the other way: bo's push reaches kai's pull, whichever process serves each.
            mine = bo.record_check(INSPECTION, devices[2], "not_accessible", note="locked room")
            bo.sync()
            kai.sync()
            assert {r["id"]: r["fields"]["note"] for r in kai.rows("device_checks")}[mine] == "locked room"
            # Both processes answered through the one address (least_conn spreads requests one at a time).
            assert all("/sync/pull" in p.output() for p in processes), [p.output()[-500:] for p in processes]
    finally:
        for client, http in opened:
            client.close()
            http.close()
        for process in processes:
            process.stop()


"""A real PostgreSQL server of our own, for the tests (tests/pg.py) and the throughput bench's
`--database auto`: Debian's `postgresql` (`make test` installs it), started with initdb and pg_ctl in
a temporary directory on a free loopback port, and stopped at the end.

As root (CI) the server runs as the `postgres` user, since PostgreSQL refuses to run as root; as
anyone else it runs as that user. Each pytest process (each xdist worker) starts its own: the
directories and ports differ, so workers never share one.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench._server import free_port

USER = "fieldsync"  # the superuser initdb creates; trust authentication on loopback only


def bin_dir() -> Path:
    """The newest installed server's binaries (/usr/lib/postgresql/<version>/bin on Debian)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                   key=lambda p: int(re.sub(r"\D", "", p.parent.parent.name) or 0))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: `make test` installs Debian's postgresql package")
    return found[-1].parent


class PostgresServer:
    def __init__(self, durable: bool = False) -> None:
        # The tests run with fsync off (their data is thrown away); the bench with it on, as the
        # server's SQLite runs with `synchronous = FULL`, so the two commit alike.
        self.durable = durable
        self.bin = bin_dir()
        # Under /tmp itself, not pytest's 0700 directory: the postgres user must reach it.
        self.root = Path(tempfile.mkdtemp(prefix="fieldsync-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.url = f"postgresql://{USER}@127.0.0.1:{self.port}/postgres"
        self._as: list[str] = []
        if os.getuid() == 0:
            self._as = ["runuser", "-u", "postgres", "--"]
            shutil.chown(self.root, "postgres", "postgres")

    def _run(self, *args: str) -> None:
        done = subprocess.run([*self._as, *args], capture_output=True, text=True, cwd=self.root)
        if done.returncode:
            raise RuntimeError(f"{args[0]} failed ({done.returncode}):\n{done.stdout}{done.stderr}")

    def start(self) -> PostgresServer:
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", USER, "--auth=trust", "-E", "UTF8",
                  "--locale=C.UTF-8", "--no-sync")
        # The socket in our directory, not /var/run/postgresql (absent, or the system server's).
        options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"
                   f" -c fsync={'on' if self.durable else 'off'}")
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.root / "log"),
                  "-o", options, "-w", "-t", "120", "start")
        return self

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)


def new_database(url: str, template: str | None = None) -> str:
    """A new database on the server at `url`, empty or a copy of the database `template` with its
    own server epoch and cursor key (as a new server has); its URL. `drop_database` removes it."""
    import secrets
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(url, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}" + (f" TEMPLATE {template.rsplit('/', 1)[1]}" if template else ""))
    made = f"{url.rsplit('/', 1)[0]}/{name}"
    if template:
        with psycopg.connect(made, autocommit=True) as db:
            db.execute("UPDATE meta SET value = CASE key WHEN 'server_epoch' THEN %s ELSE %s END"
                       " WHERE key IN ('server_epoch', 'cursor_secret')", [str(uuid.uuid4()), secrets.token_hex(32)])
    return made


def drop_database(url: str) -> None:
    """Drop a database `new_database` made, closing what is still connected to it."""
    import psycopg

    server, name = url.rsplit("/", 1)
    with psycopg.connect(f"{server}/postgres", autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@contextmanager
def chosen(database: str | None) -> Iterator[str | None]:
    """A bench's `--database`: None (SQLite) or a URL as given; `auto`, a new database on a throwaway server of
    our own, stopped afterwards."""
    if database != "auto":
        yield database
        return
    pg = PostgresServer(durable=True).start()
    try:
        yield new_database(pg.url)
    finally:
        pg.stop()

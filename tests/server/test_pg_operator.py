"""The operator's walk of PostgreSQL as docs/operations.md describes it (session 27, pgops): the role
and database the docs have them make, a second process on the same machine, and the restore recipe,
each against a real PostgreSQL server."""

from __future__ import annotations

import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from bench._server import free_port
from server.cli import main as fieldsync
from server.storage.postgres.backend import POSTGRES
from server.storage.sqlite.backup import data_lock
from tests.pg import bin_dir

DOCS = Path(__file__).resolve().parents[2] / "docs" / "operations.md"


@pytest.fixture
def role(postgres: str) -> Iterator[str]:
    """A role of its own that logs in and owns nothing, as the operator creates fieldsync's (no superuser)."""
    name = f"r_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute(f"CREATE ROLE {name} LOGIN")
    yield name
    with psycopg.connect(postgres, autocommit=True) as admin:  # with the databases it was made the owner of
        for (owned,) in admin.execute("SELECT datname FROM pg_database d JOIN pg_roles r ON r.oid = d.datdba"
                                      " WHERE r.rolname = %s", [name]).fetchall():
            admin.execute(f"DROP DATABASE {owned} WITH (FORCE)")
        admin.execute(f"DROP OWNED BY {name}")
        admin.execute(f"DROP ROLE {name}")


def _as(url: str, role: str) -> str:
    """`url` (postgresql://user@host:port/db) signed in as `role` (trust authentication on loopback)."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{role}@{rest.split('@', 1)[1]}"


def test_a_role_that_may_not_make_the_tables_is_told_to_own_the_database(
        tmp_path: Path, pg_url: str, role: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression (s27 pgops): the docs said the role "needs CREATE on the database"; on PostgreSQL 15 that
    # is not enough (schema public is its owner's), and every command that opened it (serve, init, gc,
    # migrate) stopped with psycopg's traceback, "permission denied for schema public". Now one line,
    # exit 1, saying what to run; and what it says to run is enough.
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"GRANT CREATE ON DATABASE {name} TO {role}")  # what the docs used to ask for
    url = _as(pg_url, role)
    assert fieldsync(["init", "--data", str(tmp_path / "lite")]) == 0
    capsys.readouterr()
    for argv in (["gc", "--data", str(tmp_path / "p"), "--database", url],
                 ["migrate", "--data", str(tmp_path / "lite"), "--to", url]):
        assert fieldsync(argv) == 1
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert f"the role {role} may not make fieldsync's tables in the database {name}" in err
        assert f"ALTER DATABASE {name} OWNER TO {role}" in err
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} OWNER TO {role}")
    assert fieldsync(["migrate", "--data", str(tmp_path / "lite"), "--to", url]) == 0


def test_a_second_process_on_the_same_data_directory_is_told_to_take_its_own(
        tmp_path: Path, pg_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression (s27 pgops): docs/operations.md started both processes with the same --data; the second
    # said "/srv/fieldsync is in use by a running server; stop it first", as if the operator should stop
    # the first. Over PostgreSQL it now says each process needs a --data of its own.
    data = tmp_path / "srv"
    with data_lock(data):  # the first process, serving
        assert fieldsync(["serve", "--data", str(data), "--database", pg_url, "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "in use by another fieldsync serve: over PostgreSQL, every process needs a --data directory of its own" \
        in err and "stop it first" not in err


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def test_the_documented_restore_works_for_a_role_that_is_not_a_superuser(
        tmp_path: Path, postgres: str, pg_url: str, role: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression (s27 pgops): the restore recipe's `createdb fieldsync_restored` made a database its role
    # could not make tables in (on PostgreSQL 15, the owner's schema), so `pg_restore` printed 123 errors,
    # "errors ignored on restore", and left it empty; `new-epoch` on it was a traceback (no table meta),
    # and a server started on it would have made a new, empty fieldsync. The recipe now makes the role
    # the owner and stops pg_restore at its first error, whole or nothing; new-epoch names what is wrong.
    recipe = DOCS.read_text().split("### Restore, with a new server epoch", 1)[1].split("```", 2)[1]
    assert "createdb --owner fieldsync fieldsync_restored" in recipe
    assert "pg_restore --no-owner --single-transaction --exit-on-error" in recipe
    name = pg_url.rsplit("/", 1)[1]
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute(f"ALTER DATABASE {name} OWNER TO {role}")
    POSTGRES.open(_as(pg_url, role)).close()  # the live database, made by the role as `serve` makes it
    dump = tmp_path / "fieldsync.dump"
    done = _run(str(bin_dir() / "pg_dump"), "--format=custom", "--file", str(dump), _as(pg_url, role))
    assert done.returncode == 0, done.stderr

    restored = f"restored_{uuid.uuid4().hex[:12]}"
    server = postgres.rsplit("/", 1)[0]
    target = _as(f"{server}/{restored}", role)
    try:
        # Without --owner (the old recipe), as the admin: pg_restore as the role fails, and new-epoch
        # on what it left says so in one line.
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(f"CREATE DATABASE {restored}")
        failed = _run(str(bin_dir() / "pg_restore"), "--no-owner", "--single-transaction", "--exit-on-error",
                      "--dbname", target, str(dump))
        assert failed.returncode != 0 and "permission denied for schema public" in failed.stderr
        capsys.readouterr()
        assert fieldsync(["new-epoch", "--database", target]) == 2
        assert f"no fieldsync database there (no server_epoch in {restored}'s meta)" in capsys.readouterr().err
        # As the recipe says: the role owns the database, and the restore is whole.
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {restored}")
            admin.execute(f"CREATE DATABASE {restored} OWNER {role}")
        done = _run(str(bin_dir() / "pg_restore"), "--no-owner", "--single-transaction", "--exit-on-error",
                    "--dbname", target, str(dump))
        assert done.returncode == 0, done.stderr
        assert fieldsync(["new-epoch", "--database", target]) == 0
        assert "new server_epoch" in capsys.readouterr().out
    finally:
        with psycopg.connect(postgres, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {restored} WITH (FORCE)")

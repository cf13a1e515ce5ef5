"""`fieldsync`'s help and its refusals as the operator meets them (session 27, ops7): every option says what it
takes, a bound is said where it is enforced, and an unreachable PostgreSQL is the one line every command prints."""

from __future__ import annotations

import argparse
import os
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bench._server import free_port
from server.cli import MAX_SCALE, main, parser


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


@pytest.mark.parametrize("command", sorted(_subcommands()))
def test_every_option_of_every_subcommand_says_what_it_takes(command: str) -> None:
    # Regression (s27 ops7): `--data` had no help in 13 subcommands (`fieldsync gc --help` showed a bare
    # `--data DATA`, and whether it wanted the directory or the file was the operator's guess), nor new-epoch's
    # --database, add-user's --role and username, add-site's --customer, --contract, --zone, ...
    bare = [a.option_strings[0] if a.option_strings else a.dest
            for a in _subcommands()[command]._actions if not a.help]
    assert bare == []


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_backup_and_restore_help_say_they_refuse_a_postgresql_database(
        command: str, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression (s27 ops7): their help listed --database as "a PostgreSQL database that several processes share",
    # as if they backed it up; both refuse it. The help now says so, and what to use instead.
    with pytest.raises(SystemExit):
        main([command, "--help"])
    shown = " ".join(capsys.readouterr().out.split())
    tool = "pg_dump" if command == "backup" else "pg_restore, then fieldsync new-epoch"
    assert f"--database URL refused: {command}" in shown and tool in shown
    assert "several processes share" not in shown


def test_init_refuses_a_scale_past_its_bound_before_making_anything(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Regression (s27 ops7): `init --demo --scale` had no upper limit: 1000000 (a typo for 1000) began generating
    # 200 million devices in one transaction, for hours, until the disk or the memory ran out.
    with pytest.raises(SystemExit):
        main(["init", "--help"])
    assert f"(1 to {MAX_SCALE:,})" in " ".join(capsys.readouterr().out.split())
    assert main(["init", "--data", str(tmp_path / "data"), "--demo", "--scale", str(MAX_SCALE + 1)]) == 2
    assert capsys.readouterr().err == f"fieldsync: --scale is a number of sites, 1 to {MAX_SCALE:,}\n"
    assert not (tmp_path / "data").exists()
    assert main(["init", "--data", str(tmp_path / "data"), "--demo", "--scale", "1"]) == 0
    with sqlite3.connect(tmp_path / "data" / "fieldsync.db") as db:
        assert db.execute("SELECT count(*) FROM rows WHERE collection = 'sites'").fetchone()[0] > 1


@pytest.mark.parametrize("command", [["new-epoch"], ["migrate", "--data", "{lite}", "--to"], ["gc", "--data", "{pg}",
                                                                                              "--database"]])
def test_an_unreachable_postgresql_is_one_line_exit_1_from_every_command(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]) -> None:
    # Regression (s27 ops7): new-epoch and migrate printed libpq's two lines ("PostgreSQL: connection failed: …"
    # then a tab and "Is the server running on that host …?"), exit 2, where serve and gc print one line,
    # `cannot open the database: …`, exit 1, as docs/operations.md says every command does.
    assert main(["init", "--data", str(tmp_path / "lite")]) == 0
    capsys.readouterr()
    url = f"postgresql://fieldsync@127.0.0.1:{free_port()}/fieldsync"  # nothing listens there
    if command[0] == "new-epoch":
        argv = ["new-epoch", "--database", url]
    else:
        argv = [a.format(lite=tmp_path / "lite", pg=tmp_path / "pg") for a in command] + [url]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.startswith("fieldsync: cannot open the database: connection failed: ") and err.count("\n") == 1, err
    assert "Is the server running on that host" in err


@pytest.mark.parametrize("url", ["postgresql://fieldsync@127.0.0.1:notaport/fieldsync", "postgres://h/db name",
                                 "postgresql://fieldsync@127.0.0.1/" + "x" * 2_000])
@pytest.mark.parametrize("command", ["new-epoch", "migrate"])
def test_new_epoch_and_migrate_check_their_url_as_database_does(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], command: str, url: str) -> None:
    # Regression (s27 ops7, the walk on PostgreSQL): new-epoch --database and migrate --to checked only the URL's
    # scheme: a port that is no number, a space, or 2,000 characters went to libpq (exit 1, "cannot open the
    # database: connection is bad: ..."), where every other command's --database refuses it as a bad option value.
    assert main(["init", "--data", str(tmp_path / "lite")]) == 0
    capsys.readouterr()
    argv = ["new-epoch", "--database", url] if command == "new-epoch" else [
        "migrate", "--data", str(tmp_path / "lite"), "--to", url]
    with pytest.raises(SystemExit) as refused:
        main(argv)
    assert refused.value.code == 2
    err = capsys.readouterr().err
    assert err.endswith(": a postgresql://user@host[:port]/name URL, at most 1000 characters\n")
    assert url not in err


def test_new_epoch_gives_up_on_a_database_host_that_never_answers() -> None:
    # Regression (s27 ops7, the walk on PostgreSQL): new-epoch connected with the bare URL, without the
    # connect_timeout (10 s) and keepalives every other connection of fieldsync's has: a host that took the
    # connection and never answered held the operator's shell for good. Now one line, exit 1, as `serve` says it.
    root = Path(__file__).resolve().parents[2]
    with socket.create_server(("127.0.0.1", 0)) as silent:  # listens, never accepts, never answers
        url = f"postgresql://fieldsync@127.0.0.1:{silent.getsockname()[1]}/fieldsync"
        run = subprocess.run([sys.executable, "-m", "server.cli", "new-epoch", "--database", url], cwd=root,
                             env={**os.environ, "PYTHONPATH": str(root)}, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert run.stderr == "fieldsync: cannot open the database: connection timeout expired\n"

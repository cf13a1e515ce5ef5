"""A port already in use (issue 10, items 1 and 8): one line, a non-zero exit, whoever holds it.

Before, granian's workers bound the port with SO_REUSEPORT: a second
`fieldsync serve` on the port of a running one, with another data directory,
also said "Listening", and the kernel then split requests between the two
databases (a token went 200, 401, 401...). A port held by another program
was 70 lines of traceback.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from bench._server import ROOT, ServerProcess, free_port
from server.cli import main as fieldsync

# Generous: the refusal comes before granian starts, but the machine may be busy.
EXIT_TIMEOUT = 120


def _init(path: Path) -> Path:
    assert fieldsync(["init", "--data", str(path)]) == 0
    return path


def _serve_once(data: Path, port: int, *args: str) -> subprocess.CompletedProcess[str]:
    """Run `fieldsync serve` and wait for it to exit; a server that serves instead is killed and fails the test."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "server.cli", "serve", "--data", str(data), "--port", str(port), *args],
        env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True, start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=EXIT_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"a second server on port {port} kept running; it said:\n{out}{err}")
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def _assert_port_in_use(result: subprocess.CompletedProcess[str], port: int) -> None:
    assert result.returncode == 1, result
    assert result.stderr == (
        f"fieldsync: port {port} on 127.0.0.1 is already in use (another fieldsync or program holds it)\n"
    ), result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert "Listening" not in result.stdout + result.stderr


@pytest.fixture
def first(tmp_path: Path) -> Iterator[ServerProcess]:
    server = ServerProcess(_init(tmp_path / "first")).start()
    yield server
    server.stop()


def test_second_server_on_the_port_of_a_running_one_refuses_and_the_first_keeps_its_database(first, tmp_path):
    epoch = httpx.get(first.url + "/schema/openapi.json", timeout=60).headers["fieldsync-server-epoch"]
    _assert_port_in_use(_serve_once(_init(tmp_path / "second"), first.port), first.port)
    # Every request still reaches the first server's database (they alternated between the two before).
    with httpx.Client(base_url=first.url, timeout=60) as http:
        epochs = {http.get("/schema/openapi.json").headers["fieldsync-server-epoch"] for _ in range(20)}
    assert epochs == {epoch}


@pytest.mark.parametrize("reuse_port", [False, True], ids=["plain-socket", "socket-with-SO_REUSEPORT"])
def test_port_held_by_another_program_is_one_line_and_exit_1(tmp_path, reuse_port):
    # A program that set SO_REUSEPORT itself (as granian does) would have shared the port with us.
    holder = socket.socket()
    if reuse_port:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    with holder:
        holder.bind(("127.0.0.1", free_port()))
        holder.listen()
        port = holder.getsockname()[1]
        _assert_port_in_use(_serve_once(_init(tmp_path / "data"), port), port)


def test_the_port_is_free_again_after_the_server_stops(tmp_path):
    # Binding without SO_REUSEPORT must not keep a restarted server off its port (connections in TIME_WAIT).
    data = _init(tmp_path / "data")
    server = ServerProcess(data).start()
    with httpx.Client(base_url=server.url, timeout=60) as http:
        assert http.get("/schema/openapi.json").status_code == 200
    server.stop()
    again = ServerProcess(data, port=server.port).start()
    try:
        assert httpx.get(again.url + "/schema/openapi.json", timeout=60).status_code == 200
    finally:
        again.stop()

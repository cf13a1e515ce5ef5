"""A real `fieldsync serve` process on a free port, for benchmarks and process tests."""

from __future__ import annotations

import contextlib
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free port below the ephemeral range.

    A server restarted on the same port (the crash tests) must find it free: a
    port from the ephemeral range can meanwhile become the local end of one of
    the thousands of client connections those tests open, and then the restart
    fails with "address in use".
    """
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    rng = random.Random()
    for _ in range(200):
        port = rng.randrange(max(low - 12000, 1024), low) if low > 2048 else 0
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(s.getsockname()[1])
    raise RuntimeError("no free port below the ephemeral range")


def answers(proc: subprocess.Popen[bytes], probe: Callable[[], object], seconds: float) -> bool:
    """Whether a process just started answers `probe` (an HTTP request to it, giving something true
    once it is ready: any response, or a check of one) before it exits or `seconds` pass; tried
    every 50 ms, a refused connection counting as not yet."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if probe():
                return True
        except httpx.TransportError:
            pass
        time.sleep(0.05)
    return False


class ServerProcess:
    def __init__(self, data: Path, port: int | None = None, args: tuple[str, ...] = (),
                 env: Mapping[str, str] | None = None, module: str = "server.cli") -> None:
        self.data = data
        self.module = module  # what `python -m` runs with `serve --data --port`: bench/lean/serve.py takes them too
        self.port = port or free_port()
        self.args = args  # more `fieldsync serve` options, e.g. ("--header-timeout", "2")
        self.env = env  # its environment (default: this process's), e.g. a faked clock's (tests/faketime.py)
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log: IO[bytes] | None = None

    def start(self) -> ServerProcess:
        env = {**(os.environ if self.env is None else self.env), "PYTHONPATH": str(ROOT)}
        # The server's output goes to a file, so a server that does not start can say why.
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (lives as long as the process; closed by kill/stop)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", self.module, "serve", "--data", str(self.data), "--port", str(self.port),
             *self.args],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, cwd=ROOT,
            # Its own process group: granian serves from a worker process, which a SIGKILL of
            # the parent alone leaves running (still holding the port and the database).
            start_new_session=True,
        )
        # Generous: on a busy machine (CI beside another run) starting granian and importing the app
        # has taken over 30 s; `answers` returns as soon as the server does.
        # One client for every probe: `httpx.get` builds a client, and its TLS context (certifi's bundle,
        # ~30 ms of CPU), each time, 16-23 times a start on a busy machine (suite32).
        with httpx.Client(timeout=1) as client:
            if answers(self.proc, lambda: client.get(self.url + "/schema/openapi.json"), 180):
                return self
        self.log.seek(0)
        output = self.log.read().decode(errors="replace")[-3000:]
        self.kill()
        raise RuntimeError(f"server did not start; its output:\n{output}")

    def kill(self) -> None:
        """SIGKILL the server and its worker at once, as a power cut or the OOM killer would."""
        if self.proc is not None:
            # A server that exited at start-up (a bad option) has no group left to kill.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self._wait_group_gone(self.proc.pid)
            self.proc = None
        self._close_log()

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self._wait_group_gone(self.proc.pid)
            self.proc = None
        self._close_log()

    def output(self) -> str:
        """What the server printed so far (its log), for a failing test to show."""
        if self.log is None:
            return ""
        self.log.seek(0)
        return self.log.read().decode(errors="replace")

    def _close_log(self) -> None:
        if self.log is not None:
            if os.environ.get("FIELDSYNC_SERVER_LOG"):
                with open(os.environ["FIELDSYNC_SERVER_LOG"], "ab") as out:
                    self.log.seek(0)
                    out.write(self.log.read())
            self.log.close()
            self.log = None

    @staticmethod
    def _wait_group_gone(pgid: int) -> None:
        """Wait until no live process of the group is left (the worker dies after its parent).

        A killed worker is a zombie until init reaps it, which can take a second or
        two; a zombie holds neither the port nor the database, so it counts as gone.
        """
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _group_alive(pgid):
            time.sleep(0.01)


def signed_in(http: httpx.Client, username: str = "lin", password: str = "demo") -> dict[str, str]:
    """The Authorization header of a fresh sign-in (the demo's supervisor lin by default)."""
    body = http.post("/auth/token", json={"username": username, "password": password, "client_name": "bench"})
    body.raise_for_status()
    return {"Authorization": f"Bearer {body.json()['token']}"}


def _group_alive(pgid: int) -> bool:
    proc = Path("/proc")
    if not proc.is_dir():
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return False
        return True
    for stat in proc.glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        # After the command: state, ppid, pgrp, ...
        if len(fields) > 2 and fields[2] == str(pgid) and fields[0] != "Z":
            return True
    return False

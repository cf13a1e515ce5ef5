"""What `fieldsync serve` writes to its log, from a real server process (s26-ops3, item 2; docs/operations.md,
"Logs"): one line per request with `--access-log`, bounded, unforgeable, and without a secret."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bench._server import ServerProcess
from server.logs import LOG_MESSAGE_CHARS, LogLine

ROOT = Path(__file__).resolve().parents[2]


def _wait_for(condition: Callable[[], bool], what: str, server: ServerProcess) -> None:
    """The access line is written after the response is sent: wait for it, never a fixed time."""
    import time

    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, f"{what}; the log:\n{server.output()[-3000:]}"
        time.sleep(0.05)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory):
    data = tmp_path_factory.mktemp("logs")
    subprocess.run([sys.executable, "-m", "server.cli", "init", "--data", str(data), "--demo"], cwd=ROOT,
                   check=True, capture_output=True)
    up = ServerProcess(data, args=("--access-log",)).start()
    try:
        yield up
    finally:
        up.stop()


def test_a_path_cannot_forge_a_log_line_nor_write_a_terminals_escapes(server: ServerProcess) -> None:
    # Regression (s26-ops3, item 2): granian logged the percent-decoded path as it came, so `%0A` began a line
    # of the client's choosing in the operator's log, and `%1B` wrote terminal escapes into it.
    httpx.get(server.url + "/api/users/x%0A%5BERROR%5D%20disk%20full%1B%5B2J")
    _wait_for(lambda: "disk full" in server.output(), "no access line", server)
    [line] = [line for line in server.output().splitlines() if "disk full" in line]
    assert '"GET /api/users/x\\x0a[ERROR] disk full\\x1b[2J HTTP/1.1" 405' in line
    assert not any(line.startswith("[ERROR]") for line in server.output().splitlines())
    assert "\x1b" not in server.output()


def test_a_long_path_or_method_is_cut_short_in_the_log(server: ServerProcess) -> None:
    # Regression (s26-ops3, item 2): each request could write its whole request line, up to granian's 64 KiB,
    # into the log; a path is now cut at 300 characters and a method at 16.
    httpx.get(server.url + "/" + "p" * 60_000)
    httpx.request("X" * 1000, server.url + "/")
    _wait_for(lambda: "X" * 16 in server.output() and "p" * 299 in server.output(), "no access lines", server)
    lines = server.output().splitlines()
    [long_path] = [line for line in lines if "p" * 299 in line]
    assert '"GET /' + "p" * 299 + ' HTTP/1.1" 404' in long_path and len(long_path) < 400
    [long_method] = [line for line in lines if "X" * 16 in line]
    assert "X" * 17 not in long_method


def test_no_token_password_or_query_string_reaches_the_log(server: ServerProcess) -> None:
    signed_in = httpx.post(server.url + "/auth/token", json={"username": "wang", "password": "demo",
                                                             "client_name": "t"}).json()
    token = signed_in["token"]
    pulled = httpx.get(server.url + "/sync/pull", params={"cursor": "0", "limit": 1, "marker": "q-string-here"},
                       headers={"Authorization": f"Bearer {token}"})
    assert pulled.status_code == 200
    _wait_for(lambda: '"GET /sync/pull HTTP/1.1" 200' in server.output(), "no pull line", server)
    log = server.output()
    assert '"POST /auth/token HTTP/1.1" 200' in log
    for secret in (token, signed_in["refresh_token"], '"demo"', "q-string-here"):
        assert secret not in log


def test_an_error_and_its_traceback_are_bounded_and_escaped() -> None:
    # What reaches the log from an exception's text (the client's value in its message, say), line by line.
    logger = logging.getLogger("fieldsync.test_logs")
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    logger.addHandler(handler)
    try:
        try:
            raise ValueError("bad value\n[INFO] forged " + "v" * 10_000)
        except ValueError:
            logger.exception("upload %s failed", "u\x1b[31m" + "w" * 10_000)
    finally:
        logger.removeHandler(handler)
    text = LogLine("[%(levelname)s] %(message)s").format(records[0])
    lines = text.splitlines()
    assert lines[0].startswith("[ERROR] upload u\\x1b[31mwww") and len(lines[0]) <= LOG_MESSAGE_CHARS + 20
    assert all(line.startswith("  ") and len(line) <= LOG_MESSAGE_CHARS + 2 for line in lines[1:])
    assert any(line.startswith("  [INFO] forged vvv") for line in lines)
    assert "\x1b" not in text


APP_THEN_ERROR = """
import logging, logging.config, sys
from pathlib import Path
from server.app import create_app
from server.logs import log_config
from server.settings import Settings

logging.config.dictConfig(log_config())  # what granian does with serve's log_dictconfig in its worker
create_app(Settings(data_dir=Path(sys.argv[1])))  # then the app it serves (server.asgi)
try:
    raise ValueError("bad value\\n[INFO] forged")
except ValueError:
    logging.getLogger("fieldsync").exception("unexpected error")
"""


def test_the_apps_errors_reach_the_log_through_the_bounded_formatter(tmp_path: Path) -> None:
    # Regression (s27-sec6): Litestar's default logging config, applied when the app is made, put its own
    # handler on the root logger in place of serve's: a 500's traceback (`fieldsync` problems' "unexpected
    # error") went out as `ERROR - <time> - fieldsync - problems - ...`, unindented and unescaped, so a
    # client's text in an exception's message could begin a line of its own.
    run = subprocess.run([sys.executable, "-c", APP_THEN_ERROR, str(tmp_path)], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, check=True)
    lines = run.stdout.splitlines()
    assert lines[0] == "[ERROR] unexpected error", run.stdout + run.stderr
    assert all(line.startswith("  ") for line in lines[1:]) and "  ValueError: bad value" in lines
    assert "  [INFO] forged" in lines and "fieldsync - " not in run.stdout + run.stderr

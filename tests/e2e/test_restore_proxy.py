"""A technician's phone behind a reverse proxy with a body limit (nginx's `client_max_body_size`) meets a server
restored from a backup: a real server process, `fieldsync restore`, and a real HTTP proxy in between."""

from __future__ import annotations

import io
import threading
from contextlib import redirect_stderr, redirect_stdout
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from bench._server import ServerProcess
from client_sdk.cli.main import main as phone
from server.cli import main
from tests.e2e.test_restore import open_client, server_state
from tests.reliability.wire import prepare

NGINX_413 = b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n" \
            b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"


class Proxy:
    """A real HTTP hop in front of `upstream` that answers a body over `limit` bytes as nginx does (413, its HTML
    page, no header of the server's), and passes every other request on."""

    def __init__(self, upstream: str, limit: int | None = None) -> None:
        self.limit = limit
        self.refused = 0
        proxy = self

        class Hop(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length)
                if proxy.limit is not None and length > proxy.limit:
                    proxy.refused += 1
                    self.send_response(413)
                    self.send_header("Content-Type", "text/html")
                    self.send_header("Content-Length", str(len(NGINX_413)))
                    self.end_headers()
                    self.wfile.write(NGINX_413)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
                answer = httpx.request(self.command, upstream + self.path, headers=headers, content=body, timeout=30)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower() not in {"content-length", "transfer-encoding", "connection", "server", "date",
                                            "content-encoding"}:
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(answer.content)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Hop)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_proxys_413_on_the_first_push_after_a_restore_is_met_as_the_restore(tmp_path: Path) -> None:
    # Regression (s27-fixphone item 3): after a restore, the first push, one change over the proxy's body limit, got
    # the proxy's 413 (HTML, no epoch); before refusing the change the phone asks what the server holds with an
    # empty push, and that push met the new epoch. EpochChanged was raised inside the push loop's `except
    # SyncError` clause, where the sibling `except EpochChanged` cannot catch it: `sync` ended in a traceback,
    # every time. Now the phone enrols anew, resends, and keeps the change too large as refused.
    data, dest, db = tmp_path / "server", tmp_path / "backup", tmp_path / "wang.db"
    dev = prepare(data, ["wang"], 2)
    server = ServerProcess(data).start()
    proxy = Proxy(server.url)
    try:
        wang, http = open_client(db, proxy.url, "wang")
        wang.sync()
        wang.write("devices", dev[0], {"location": "Gate 1"})
        wang.sync()
        client_id = wang.client_id
        wang.close()
        http.close()
        assert main(["backup", "--data", str(data), "--to", str(dest)]) == 0
        server.stop()
        assert main(["restore", "--from", str(dest), "--data", str(data), "--force"]) == 0
        server.start()  # the same port: the proxy's upstream
        wang, http = open_client(db, proxy.url)
        wang.write("devices", dev[1], {"location": "L" * 190})  # the one change, over the proxy's limit
        assert len(wang.pending()) == 1
        wang.close()
        http.close()
        proxy.limit = 400
        out, err = io.StringIO(), io.StringIO()
        with redirect_stdout(out), redirect_stderr(err):
            status = phone(["--db", str(db), "--server", proxy.url, "sync"])
        assert status == 0, err.getvalue()
        assert proxy.refused >= 2  # the first push, and the resent change on its own
        wang, http = open_client(db, proxy.url)
        try:
            assert wang.client_id != client_id  # enrolled anew at the restored server
            assert [(p["id"], p["status"], p["reason"]) for p in wang.problems()] == [(dev[1], "rejected", "too_large")]
            assert wang.pending() == []
        finally:
            wang.close()
            http.close()
        state = server_state(server.url)
    finally:
        proxy.close()
        server.stop()
    assert state[("devices", dev[1])][0].get("location") != "L" * 190

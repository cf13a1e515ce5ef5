"""A real HTTP hop between a client and a server (a proxy, a bucket's front): each request goes on to the
upstream, unless the test's `answer` gives the hop's own answer instead, as a proxy or a failing bucket would."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx

# (status, headers, body) the hop answers itself instead of passing the request on.
Answer = tuple[int, dict[str, str], bytes]
_NOT_PASSED_BACK = {"content-length", "transfer-encoding", "connection", "server", "date", "content-encoding"}


class Hop:
    """Listens on a free local port (`url`); `answer(method, path, body)` is asked first for each request."""

    def __init__(self, upstream: str, answer: Callable[[str, str, bytes], Answer | None] | None = None) -> None:
        self.upstream = upstream
        self.answer = answer or (lambda method, path, body: None)
        hop = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                own = hop.answer(self.command, self.path, body)
                if own is None:
                    headers = {k: v for k, v in self.headers.items() if k.lower() not in {"host", "connection"}}
                    passed = httpx.request(self.command, hop.upstream + self.path, headers=headers, content=body,
                                           timeout=60)
                    own = (passed.status_code, {k: v for k, v in passed.headers.items()
                                                if k.lower() not in _NOT_PASSED_BACK}, passed.content)
                status, headers, content = own
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(content)

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = do

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

"""A technician's phone behind a reverse proxy with a body limit (nginx's `client_max_body_size`) meets a server
restored from a backup: a real server process, `fieldsync restore`, and a real HTTP proxy in between."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from bench._server import ServerProcess
from client_sdk.cli.main import main as phone
from server.cli import main
from tests.e2e.test_restore import open_client, server_state
from tests.hop import Answer, Hop
from tests.reliability.wire import prepare

NGINX_413 = b"<html>\r\n<head><title>413 Request Entity Too Large</title></head>\r\n<body>\r\n" \
            b"<center><h1>413 Request Entity Too Large</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"


class Proxy(Hop):
    """A real HTTP hop in front of `upstream` that answers a body over `limit` bytes as nginx does (413, its HTML
    page, no header of the server's), and passes every other request on."""

    def __init__(self, upstream: str, limit: int | None = None) -> None:
        self.limit = limit
        self.refused = 0
        super().__init__(upstream, self._own)

    def _own(self, method: str, path: str, body: bytes) -> Answer | None:
        if self.limit is None or len(body) <= self.limit:
            return None
        self.refused += 1
        return 413, {"Content-Type": "text/html"}, NGINX_413


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

"""pouchdb-server 4.2.0 as a peer in the benches: a real CouchDB-protocol server in its own process.

Installed on first use with npm into `bench/peer/` (pinned by its `package-lock.json`); its
database lives in a temporary folder (LevelDB on disk, as fieldsync's SQLite is). Without npm
the benches print a message and go on without the peer.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import httpx
import msgspec

from bench._server import answers, free_port

PEER = Path(__file__).resolve().parent / "peer"
BIN = PEER / "node_modules" / "pouchdb-server" / "bin" / "pouchdb-server"


def install() -> str | None:
    """None once pouchdb-server is installed; otherwise why it cannot be (a message, not a failure)."""
    if BIN.exists():
        return None
    npm, node = shutil.which("npm"), shutil.which("node")
    if npm is None or node is None:
        return "npm or node not found: pouchdb-server left out (install Node.js 18+ to compare)"
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=PEER,
                          capture_output=True, text=True, check=False)
    if done.returncode != 0 or not BIN.exists():
        return f"npm ci in {PEER} failed: pouchdb-server left out\n{done.stderr[-2000:]}"
    return None


class PouchPeer:
    """One pouchdb-server process on a free port, with one database, `bench`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._tmp = tempfile.TemporaryDirectory(prefix="pouch-peer-")
        self._log: IO[bytes] | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> PouchPeer:
        tmp = Path(self._tmp.name)
        self._log = (tmp / "out.log").open("wb")
        node = shutil.which("node") or "node"
        # Its config and log file go to the temporary folder (the default is the current one).
        self.proc = subprocess.Popen(
            [node, str(BIN), "--port", str(self.port), "--dir", str(tmp / "db"), "--config",
             str(tmp / "config.json"), "--no-stdout-logs"],
            cwd=tmp, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        if answers(self.proc, lambda: httpx.put(self.url + "/bench", timeout=5).status_code in (201, 412), 60):
            return self
        output = (tmp / "out.log").read_text(errors="replace")[-2000:]
        self.stop()
        raise RuntimeError(f"pouchdb-server did not start; its output:\n{output}")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None
        if self._log is not None:
            self._log.close()
            self._log = None
        self._tmp.cleanup()

    def push(self, rows: list[tuple[str, dict[str, object]]], batch: int) -> float:
        """Seconds to write the rows through `_bulk_docs`, `batch` documents a request."""
        bodies = [json.dumps({"docs": [{"_id": row_id, "collection": "photos", **fields}
                                       for row_id, fields in rows[start:start + batch]]})
                  for start in range(0, len(rows), batch)]
        with httpx.Client(base_url=self.url, timeout=120) as http:
            t0 = time.perf_counter()
            for body in bodies:
                r = http.post("/bench/_bulk_docs", content=body, headers={"content-type": "application/json"})
                r.raise_for_status()
                assert all(x.get("ok") for x in r.json()), r.text[:300]
            return time.perf_counter() - t0

    def pull(self, expected: int, page: int) -> float:
        """Seconds to read every row back through `_changes?include_docs=true`, `page` rows a request."""
        with httpx.Client(base_url=self.url, timeout=120) as http:
            t0 = time.perf_counter()
            since: object = 0
            got = 0
            while True:
                # Decoded with msgspec, as fieldsync's pages are.
                body = msgspec.json.decode(http.get("/bench/_changes", params={
                    "include_docs": "true", "limit": page, "since": since}).content)
                got += sum(1 for r in body["results"] if "doc" in r)
                since = body["last_seq"]
                if len(body["results"]) < page:
                    break
            elapsed = time.perf_counter() - t0
        assert got >= expected, (got, expected)
        return elapsed


@contextlib.contextmanager
def running() -> Iterator[PouchPeer | None]:
    """A started peer, or None (after printing why) when it cannot be installed."""
    why = install()
    if why is not None:
        print(why)
        yield None
        return
    peer = PouchPeer().start()
    try:
        yield peer
    finally:
        peer.stop()

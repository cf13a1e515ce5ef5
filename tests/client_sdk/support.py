"""Helpers for the client SDK and end-to-end tests: a restartable server, a lossy transport, a phone's clocks."""

from __future__ import annotations

import contextlib
import shutil
import sqlite3
import uuid
from pathlib import Path
from typing import Any

import httpx
from litestar.testing import TestClient

from client_sdk import Client
from server.services import Store
from server.settings import Settings
from sync import hlc
from tests.conftest import Session
from tests.servers import app_over

HOUR = 3_600_000
YEAR = 365 * 24 * HOUR


class Phone:
    """A phone's two clocks: its wall clock (`shift` off the true time, which the test sets) and its
    clock since boot; `elapsed` moves both, as time passing does; `reboot` starts the boot clock again."""

    def __init__(self, shift: int) -> None:
        self.start = hlc.wall_ms()
        self.shift = shift
        self.elapsed = 0
        self.boot_id = "boot-1"
        self.booted_at = 0  # `elapsed` when this boot began

    def wall(self) -> int:
        return self.start + self.elapsed + self.shift

    def boot(self) -> tuple[str | None, int]:
        return self.boot_id, 90_000 + self.elapsed - self.booted_at

    def reboot(self) -> None:
        self.boot_id, self.booted_at = "boot-2", self.elapsed


def restored(path: Path, backup: Path, http: httpx.Client, **options: Any) -> Client:
    """The phone's database replaced by a copy taken earlier (the phone closed), opened again."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(backup, path)
    return Client(path, http, **options)


def supervisor_rows(http: httpx.Client) -> list[dict[str, Any]]:
    """Every row as a supervisor's full pull sees it, shaped like `Client.server_rows()`."""
    lin = Session(http, "lin")  # type: ignore[arg-type]
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    cursor = "0"
    while True:
        body = lin.pull(cursor).json()
        for row in body["rows"]:
            rows[(row["collection"], row["id"])] = {
                "collection": row["collection"], "id": row["id"], "fields": row["fields"],
                "deleted": row["deleted"], "version": row["version"],
            }
        cursor = body["cursor"]
        if not body["has_more"]:
            return [rows[key] for key in sorted(rows)]


class Server:
    """The test server, which a test can back up and restore like an operator would."""

    def __init__(self, settings: Settings, store: Store, http: TestClient[Any]) -> None:
        self.settings = settings
        self.store = store
        self.http: httpx.Client = http
        self._opened: list[Store] = []
        self._serving = contextlib.ExitStack()  # the restored servers' apps and their clients

    def backup(self, dest: Path) -> Path:
        source = sqlite3.connect(self.settings.db_path)
        target = sqlite3.connect(dest)
        with target:
            source.backup(target)
        source.close()
        target.close()
        return dest

    def restore(self, backup: Path, new_epoch: bool = True) -> httpx.Client:
        """Stop the server, put the backup in place, and start it again; returns the new HTTP client."""
        self.store.close()
        db_path = self.settings.db_path
        for suffix in ("", "-wal", "-shm"):
            Path(f"{db_path}{suffix}").unlink(missing_ok=True)
        shutil.copyfile(backup, db_path)
        if new_epoch:
            conn = sqlite3.connect(db_path)
            with conn:
                conn.execute("UPDATE meta SET value = ? WHERE key = 'server_epoch'", [str(uuid.uuid4())])
            conn.close()
        self.store = Store(self.settings)
        app = self._serving.enter_context(app_over(self.settings, self.store))
        client = self._serving.enter_context(TestClient(app))
        self._opened.append(self.store)
        self.http = client
        return client

    def close(self) -> None:
        self._serving.close()
        for store in self._opened:
            store.close()


class CutTransport(httpx.BaseTransport):
    """Forwards to the real transport and loses the connection on chosen requests.

    `cut_after`: request numbers (1-based, counted from arming) whose response
    is lost after the server handled them; `cut_before`: requests lost before
    they reach the server.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.count = 0
        self.cut_after: set[int] = set()
        self.cut_before: set[int] = set()
        self.paths: list[str] = []
        self.cuts = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.count += 1
        self.paths.append(f"{request.method} {request.url.path}")
        if self.count in self.cut_before:
            self.cuts += 1
            raise httpx.ConnectError("connection lost before the request was sent", request=request)
        response = self.inner.handle_request(request)
        if self.count in self.cut_after:
            response.read()
            self.cuts += 1
            raise httpx.ReadError("connection lost before the response arrived", request=request)
        return response


def cut_client(http: httpx.Client) -> tuple[httpx.Client, CutTransport]:
    transport = CutTransport(http._transport)
    return httpx.Client(transport=transport, base_url=http.base_url), transport


class SwitchTransport(httpx.BaseTransport):
    """Forwards to the real transport while `online`; offline, every request fails as with no signal.

    `refused` counts the requests attempted while offline: a workflow that is
    meant to work offline must leave it at 0.
    """

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner
        self.online = True
        self.refused = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if not self.online:
            self.refused += 1
            raise httpx.ConnectError("no signal", request=request)
        return self.inner.handle_request(request)


def switch_client(http: httpx.Client) -> tuple[httpx.Client, SwitchTransport]:
    transport = SwitchTransport(http._transport)
    return httpx.Client(transport=transport, base_url=http.base_url), transport

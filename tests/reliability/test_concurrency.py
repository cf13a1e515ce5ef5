"""Many clients at once against a real server: no errors, and a pull cursor that never skips a row.

25 pushers (checks of shared devices, photos of their own) and 25 pullers
(each paging from its own cursor with a page size of its own) run together
for DURATION seconds: 10 by default, 30 with FIELDSYNC_LONG=1.

Over PostgreSQL (issue 16) the same runs against two server processes on one
database: pushers split between them, and each puller asks the two in turn,
page after page, so a cursor one process signed is continued by the other.
Versions are handed out by two processes' transactions at once: a puller
must never be given version N+1 while N is still to commit, or it skips N for
good. Photos are written once each, so a skipped one is missing at the end.
"""

from __future__ import annotations

import os
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench._server import ServerProcess
from sync import hlc
from tests.pg import drop_database, new_database
from tests.reliability.wire import (
    Spec,
    Threads,
    Wire,
    check_spec,
    full_pull,
    integrity,
    photo_spec,
    prepare,
    start_all,
)

LONG = os.environ.get("FIELDSYNC_LONG") == "1"
DURATION = [pytest.param(30.0, marks=pytest.mark.slow, id="30s")] if LONG else [pytest.param(10.0, id="10s")]
PUSHERS = 25
PULLERS = 25
# One phone per person, as in an office: a user may enrol only `max_clients_per_user` (10) clients.
TECHNICIANS = [f"tech{i}" for i in range(PUSHERS + PULLERS // 2 + 1)]
SUPERVISORS = ["lin", *(f"sup{i}" for i in range(1, PULLERS // 2 + 1))]
DEVICES = 40


class Pusher:
    def __init__(self, url: str, username: str, seed: int, devices: list[str]) -> None:
        self.wire = Wire(url, username)
        self.clock = hlc.Clock(self.wire.client_id)
        self.rng = random.Random(seed)
        self.devices = devices
        self.pushed = 0
        self.rejected: list[dict[str, Any]] = []

    def spec(self, number: int) -> Spec:
        stamp = hlc.parse(self.clock.now())
        name = self.wire.username
        if self.rng.random() < 0.6:
            spec = check_spec(self.rng, name, self.rng.choice(self.devices), stamp.ms)
        else:
            spec = photo_spec(self.rng, f"{name}/{self.wire.client_id}", number, stamp.ms, None)
        spec.counter = stamp.counter
        return spec

    def run(self, stop: threading.Event) -> None:
        seq = 1
        while not stop.is_set():
            specs = [self.spec(seq + i) for i in range(self.rng.randint(1, 40))]
            body = self.wire.push(self.wire.changes(seq, specs))
            assert body["acked_seq"] == seq + len(specs) - 1
            self.rejected += [r for r in body["results"] if r["status"] == "rejected"]
            seq += len(specs)
            self.pushed += len(specs)
        self.wire.close()


class Puller:
    """Pages from its cursor and remembers every row version it was given, in order; pages through
    each of `urls` in turn."""

    def __init__(self, urls: list[str], username: str, seed: int) -> None:
        self.wire = Wire(urls[0], username)
        self.https = [self.wire.http, *(httpx.Client(base_url=url, timeout=60) for url in urls[1:])]
        self.rng = random.Random(seed)
        self.cursor = "0"
        self.seen: dict[tuple[str, str], tuple[int, dict[str, Any], bool]] = {}
        self.last_version = 0
        self.pages = 0
        self.out_of_order: list[tuple[int, int]] = []

    def page(self) -> bool:
        http = self.https[self.pages % len(self.https)]
        body = self.wire.pull(self.cursor, limit=self.rng.choice([1, 7, 50, 200, 1000]), http=http)
        for row in body["rows"]:
            if row["version"] <= self.last_version:
                self.out_of_order.append((self.last_version, row["version"]))
            self.last_version = row["version"]
            self.seen[(row["collection"], row["id"])] = (row["version"], row["fields"], row["deleted"])
        # The cursor never goes back, and stands at or past the last row it was given.
        assert int(body["cursor"].split(".")[1]) >= self.last_version
        self.cursor = body["cursor"]
        self.pages += 1
        return bool(body["has_more"])

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.page()

    def catch_up(self) -> None:
        while self.page():
            pass
        self.wire.close()
        for http in self.https[1:]:
            http.close()


@pytest.mark.parametrize("duration", DURATION)
def test_concurrent_pushers_and_pullers(tmp_path: Path, duration: float) -> None:
    devices = prepare(tmp_path / "server", TECHNICIANS, DEVICES, SUPERVISORS)
    run(devices, [ServerProcess(tmp_path / "server")], duration)
    assert integrity(tmp_path / "server" / "fieldsync.db") == "ok"


@pytest.mark.parametrize("duration", DURATION)
def test_concurrent_pushers_and_pullers_over_two_processes(tmp_path: Path, postgres: str, duration: float) -> None:
    database = new_database(postgres)
    try:
        devices = prepare(tmp_path / "prepare", TECHNICIANS, DEVICES, SUPERVISORS, database=database)
        run(devices, [ServerProcess(tmp_path / f"process{i}", args=("--database", database)) for i in range(2)],
            duration)
    finally:
        drop_database(database)


def run(devices: list[str], servers: list[ServerProcess], duration: float) -> None:
    start_all(servers)
    try:
        urls = [server.url for server in servers]
        # Signed in side by side: a sign-in is a password hash's worth of CPU on the server.
        with ThreadPoolExecutor(8) as pool:
            pushers = list(pool.map(lambda i: Pusher(urls[i % len(urls)], TECHNICIANS[i], i, devices), range(PUSHERS)))
            # Half the pullers are technicians (pulls filtered by their sites), half supervisors.
            pullers = list(pool.map(lambda i: Puller(urls[i % len(urls):] + urls[:i % len(urls)],
                                                     SUPERVISORS[i // 2] if i % 2 else TECHNICIANS[PUSHERS + i // 2],
                                                     1000 + i), range(PULLERS)))
        stop = threading.Event()
        threads = Threads()
        for i, pusher in enumerate(pushers):
            threads.start(lambda p=pusher: p.run(stop), f"pusher{i}")
        for i, puller in enumerate(pullers):
            threads.start(lambda p=puller: p.run(stop), f"puller{i}")
        deadline = time.monotonic() + duration
        try:
            while time.monotonic() < deadline:
                threads.raise_first()
                time.sleep(0.05)
        finally:
            stop.set()
            threads.join()
        for puller in pullers:
            puller.catch_up()
        final = {key: (row["version"], row["fields"], row["deleted"])
                 for key, row in full_pull(urls[-1]).items()}
    finally:
        for server in servers:
            server.stop()

    assert [r for p in pushers for r in p.rejected] == []
    assert all(p.pushed > 0 for p in pushers)
    assert all(p.pages > 1 for p in pullers)
    assert len(final) > len(devices)
    for puller in pullers:
        assert puller.out_of_order == []
        # Each row's last version seen is the one the server holds: no row, and no write, missed.
        assert puller.seen == final

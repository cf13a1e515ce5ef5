"""Crash safety: a real server killed with SIGKILL at random moments while clients push.

Four clients push fixed batches of checks (of shared devices: real conflicts)
and photos, keeping each batch until a 200 acknowledges it. A transport error
means the server died: the client reconnects, learns from the server where it
stands, and resends. After every restart, every acknowledged change is in
the database, which passes `PRAGMA integrity_check`; at the end, the merged
rows equal those of the same workload run without kills.

Over PostgreSQL (issue 16) two server processes share one database, half the
clients on each; the two are killed in turn, each restarted after its kill but the last.
A client whose process died resumes on the survivor: its acked_seq read
there, its last acknowledged batch answered from the receipts, its pending
one re-sent. The run without kills it must end level with is one SQLite server.

FIELDSYNC_LONG=1 runs the long variant (more kills, a longer workload).
"""

from __future__ import annotations

import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench._server import ServerProcess
from server.services import backend_of
from server.settings import Settings
from sync import hlc
from tests.pg import drop_database, new_database
from tests.reliability.wire import (
    Spec,
    Threads,
    Wire,
    device_ids,
    full_pull,
    integrity,
    merged,
    missing_acknowledged,
    prepare,
    start_all,
    workload,
)

LONG = os.environ.get("FIELDSYNC_LONG") == "1"
KILLS = [pytest.param(150, marks=pytest.mark.slow, id="150-kills")] if LONG else [pytest.param(20, id="20-kills")]
# Each kill over PostgreSQL costs a process restart (seconds of imports) beside the survivor's work.
PG_KILLS = [pytest.param(40, marks=pytest.mark.slow, id="40-kills")] if LONG else [pytest.param(3, id="3-kills")]
TECHNICIANS = ["chen", "liu", "wang", "zhao"]
DEVICES = 30
BATCH = 20
# Acknowledged pushes (across clients) between a restart and the next kill: 0 to twice this.
ACKS_PER_LIFE = 8


class Pusher:
    """A client that pushes its batches in order and never gives one up before it is acknowledged."""

    def __init__(self, urls: list[str], at: int, username: str, batches: list[list[Spec]]) -> None:
        self.urls = urls  # the server processes; this client starts on urls[at]
        self.wire = Wire(urls[at], username, timeout=60)
        self.batches = batches
        self.lock = threading.Lock()
        self.acknowledged: list[dict[str, Any]] = []
        self.acks = 0
        self.reconnects = 0
        self.moves = 0  # resumed on another process than the one that died
        self.lost_responses = 0
        self.last: tuple[list[dict[str, Any]], list[dict[str, Any]]] | None = None
        self.rejected: list[dict[str, Any]] = []

    @property
    def acked_seq(self) -> int:
        return self.acknowledged[-1]["seq"] if self.acknowledged else 0

    def run(self) -> None:
        seq = 1
        for specs in self.batches:
            changes = self.wire.changes(seq, specs)
            while True:
                try:
                    body = self.wire.push(changes)
                    break
                except httpx.TransportError:
                    self.reconnects += 1
                    died = self.wire.url
                    self.wire.reconnect(urls=self.urls)
                    self.moves += self.wire.url != died
                    self.resume(changes)
            assert body["acked_seq"] == changes[-1]["seq"], body
            self.rejected += [r for r in body["results"] if r["status"] == "rejected"]
            with self.lock:
                self.acknowledged.extend(changes)
                self.acks += 1
            self.last = (changes, body["results"])
            seq += len(changes)
        self.wire.close()

    def resume(self, pending: list[dict[str, Any]]) -> None:
        """Back from a crash: the server's acked_seq says whether the pending batch was committed
        (its response lost) or not; a resend of the last acknowledged batch gives its stored results."""
        try:
            acked = self.wire.pull("0", limit=1)["acked_seq"]
            assert acked in (self.acked_seq, pending[-1]["seq"]), (acked, self.acked_seq, pending[-1]["seq"])
            self.lost_responses += acked == pending[-1]["seq"]
            if self.last is not None:
                body = self.wire.push(self.last[0])
                assert body["results"] == self.last[1]
                assert body["acked_seq"] == acked
        except httpx.TransportError:
            return  # killed again: the caller's resend fails, and it comes back here

    def snapshot(self) -> tuple[str, list[dict[str, Any]]]:
        with self.lock:
            return self.wire.client_id, list(self.acknowledged)


def run_workload(
    servers: list[ServerProcess], settings: Settings, plan: dict[str, list[list[Spec]]], kills: int,
    rng: random.Random,
) -> tuple[dict[Any, Any], list[Pusher]]:
    """Push the plan through real server processes over the database `settings` names, killing them
    in turn `kills` times (each restarted after its kill, but the last of several); returns the merged rows."""
    sqlite = settings.database is None
    start_all(servers)
    try:
        urls = [server.url for server in servers]
        pushers = [Pusher(urls, i % len(urls), name, batches) for i, (name, batches) in enumerate(plan.items())]
        threads = Threads()
        for pusher in pushers:
            threads.start(pusher.run, pusher.wire.username)

        def acks() -> int:
            return sum(p.acks for p in pushers)

        def busy() -> bool:
            return any(t.is_alive() for t in threads.threads)

        for kill in range(kills):
            target = acks() + rng.randint(0, 2 * ACKS_PER_LIFE)
            deadline = time.monotonic() + 120
            while acks() < target and busy() and time.monotonic() < deadline:
                threads.raise_first()
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02))  # land anywhere in a request, not just after a response
            server = servers[kill % len(servers)]
            server.kill()
            # Acknowledgements recorded by now came from responses sent before the kill.
            acknowledged = dict(p.snapshot() for p in pushers)
            assert missing_acknowledged(settings, acknowledged) == []  # the survivor may be writing meanwhile
            if sqlite or kill < kills - 1:  # the last one killed of several stays down: the survivor finishes
                server.start()
            assert not sqlite or integrity(settings.db_path) == "ok"
            threads.raise_first()
        threads.join()
        assert not sqlite or integrity(settings.db_path) == "ok"
        assert missing_acknowledged(settings, dict(p.snapshot() for p in pushers)) == []
        assert all(p.acked_seq == sum(len(b) for b in p.batches) for p in pushers)
        assert [r for p in pushers for r in p.rejected] == []
        rows = full_pull(next(s.url for s in servers if s.proc is not None))
    finally:
        for server in servers:
            server.stop()
    return merged(rows, ["device_checks", "photos"]), pushers


def calm_run(tmp_path: Path, plan: dict[str, list[list[Spec]]]) -> dict[Any, Any]:
    """The plan's merged rows through one SQLite server that is never killed."""
    prepare(tmp_path / "calm", TECHNICIANS, DEVICES)
    calm, _ = run_workload([ServerProcess(tmp_path / "calm")], Settings(data_dir=tmp_path / "calm"), plan, 0,
                           random.Random(11))
    return calm


def plan_for(kills: int) -> dict[str, list[list[Spec]]]:
    batches = -(-kills * ACKS_PER_LIFE * 3 // 2 // len(TECHNICIANS))
    ticks = batches * BATCH * len(TECHNICIANS)
    # HLCs in the past, one millisecond apart: the same plan for both runs, nothing clamped.
    base_ms = hlc.wall_ms() - ticks - 60_000
    return workload(7, TECHNICIANS, device_ids(DEVICES), batches, BATCH, base_ms)


@pytest.mark.parametrize("kills", KILLS)
def test_acknowledged_changes_survive_sigkill(tmp_path: Path, kills: int) -> None:
    plan = plan_for(kills)
    prepare(tmp_path / "killed", TECHNICIANS, DEVICES)
    settings = Settings(data_dir=tmp_path / "killed")
    killed, pushers = run_workload([ServerProcess(tmp_path / "killed")], settings, plan, kills, random.Random(11))

    assert sum(p.reconnects for p in pushers) >= 1
    assert duplicates(settings) == ([], [])
    assert killed == calm_run(tmp_path, plan)


@pytest.mark.parametrize("kills", PG_KILLS)
def test_acknowledged_changes_survive_sigkill_of_one_of_two_processes(
    tmp_path: Path, postgres: str, kills: int
) -> None:
    plan = plan_for(kills)
    database = new_database(postgres)
    try:
        prepare(tmp_path / "prepare", TECHNICIANS, DEVICES, database=database)
        servers = [ServerProcess(tmp_path / f"process{i}", args=("--database", database)) for i in range(2)]
        settings = Settings(data_dir=tmp_path / "prepare", database=database)
        killed, pushers = run_workload(servers, settings, plan, kills, random.Random(11))
        twice = duplicates(settings)
    finally:
        drop_database(database)

    assert sum(p.moves for p in pushers) >= 1  # someone's process died under it, and it went on elsewhere
    assert twice == ([], [])
    assert killed == calm_run(tmp_path, plan)


def duplicates(settings: Settings) -> tuple[list[Any], list[Any]]:
    """Row versions handed out twice, and conflict-log entries written twice (a replay merged again)."""
    database = backend_of(settings).open(settings.database or settings.db_path, 1)
    try:
        with database.read() as db:
            versions = db.execute("SELECT version FROM rows GROUP BY version HAVING count(*) > 1").fetchall()
            entries = db.execute(
                "SELECT kind, collection, row_id, register, client_id, seq, hlc, other_client_id, other_hlc"
                " FROM conflicts GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9 HAVING count(*) > 1").fetchall()
            return versions, entries
    finally:
        database.close()


def test_a_killed_server_is_gone(tmp_path: Path) -> None:
    """Regression: ServerProcess.kill() sent SIGKILL to granian's parent process only; its worker
    lived on, serving the port with the database open, so a "killed" server kept acknowledging."""
    prepare(tmp_path / "server", TECHNICIANS, 1)
    server = ServerProcess(tmp_path / "server").start()
    try:
        server.kill()
        with pytest.raises(httpx.TransportError):
            httpx.get(server.url + "/sync/pull", timeout=5)
    finally:
        server.stop()

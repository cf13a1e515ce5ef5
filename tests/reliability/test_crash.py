"""Crash safety: a real server killed with SIGKILL at random moments while clients push.

Four clients push fixed batches of checks (of shared devices: real conflicts)
and photos, keeping each batch until a 200 acknowledges it. A transport error
means the server died: the client reconnects, learns from the server where it
stands, and resends. After every restart, every acknowledged change is in
the database, which passes `PRAGMA integrity_check`; at the end, the merged
rows equal those of the same workload run without kills.

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
from sync import hlc
from tests.reliability.wire import (
    Spec,
    Threads,
    Wire,
    full_pull,
    integrity,
    merged,
    missing_acknowledged,
    prepare,
    workload,
)

LONG = os.environ.get("FIELDSYNC_LONG") == "1"
KILLS = [pytest.param(150, marks=pytest.mark.slow, id="150-kills")] if LONG else [pytest.param(20, id="20-kills")]
TECHNICIANS = ["chen", "liu", "wang", "zhao"]
DEVICES = 30
BATCH = 20
# Acknowledged pushes (across clients) between a restart and the next kill: 0 to twice this.
ACKS_PER_LIFE = 8


class Pusher:
    """A client that pushes its batches in order and never gives one up before it is acknowledged."""

    def __init__(self, url: str, username: str, batches: list[list[Spec]]) -> None:
        self.wire = Wire(url, username, timeout=60)
        self.batches = batches
        self.lock = threading.Lock()
        self.acknowledged: list[dict[str, Any]] = []
        self.acks = 0
        self.reconnects = 0
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
                    self.wire.reconnect()
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
    data: Path, plan: dict[str, list[list[Spec]]], kills: int, rng: random.Random
) -> tuple[dict[Any, Any], list[Pusher]]:
    """Push the plan through a real server, killing it `kills` times; returns the merged rows."""
    server = ServerProcess(data).start()
    db_path = data / "fieldsync.db"
    try:
        pushers = [Pusher(server.url, name, batches) for name, batches in plan.items()]
        threads = Threads()
        for pusher in pushers:
            threads.start(pusher.run, pusher.wire.username)

        def acks() -> int:
            return sum(p.acks for p in pushers)

        def busy() -> bool:
            return any(t.is_alive() for t in threads.threads)

        for _ in range(kills):
            target = acks() + rng.randint(0, 2 * ACKS_PER_LIFE)
            deadline = time.monotonic() + 120
            while acks() < target and busy() and time.monotonic() < deadline:
                threads.raise_first()
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02))  # land anywhere in a request, not just after a response
            server.kill()
            # Acknowledgements recorded by now came from responses sent before the kill.
            acknowledged = dict(p.snapshot() for p in pushers)
            server.start()
            assert integrity(db_path) == "ok"
            assert missing_acknowledged(db_path, acknowledged) == []
            threads.raise_first()
        threads.join()
        assert integrity(db_path) == "ok"
        assert missing_acknowledged(db_path, dict(p.snapshot() for p in pushers)) == []
        assert all(p.acked_seq == sum(len(b) for b in p.batches) for p in pushers)
        assert [r for p in pushers for r in p.rejected] == []
        rows = full_pull(server.url)
    finally:
        server.stop()
    return merged(rows, ["device_checks", "photos"]), pushers


@pytest.mark.parametrize("kills", KILLS)
def test_acknowledged_changes_survive_sigkill(tmp_path: Path, kills: int) -> None:
    batches = -(-kills * ACKS_PER_LIFE * 3 // 2 // len(TECHNICIANS))
    ticks = batches * BATCH * len(TECHNICIANS)
    # HLCs in the past, one millisecond apart: the same plan for both runs, nothing clamped.
    base_ms = hlc.wall_ms() - ticks - 60_000
    devices = prepare(tmp_path / "killed", TECHNICIANS, DEVICES)
    prepare(tmp_path / "calm", TECHNICIANS, DEVICES)
    plan = workload(7, TECHNICIANS, devices, batches, BATCH, base_ms)

    killed, pushers = run_workload(tmp_path / "killed", plan, kills, random.Random(11))
    calm, _ = run_workload(tmp_path / "calm", plan, 0, random.Random(11))

    assert sum(p.reconnects for p in pushers) >= 1
    assert len(killed) == len(calm)
    assert killed == calm


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

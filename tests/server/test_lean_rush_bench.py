"""The lean push server (bench/lean/, issue 15, session 32) is faithful to the push contract, so the
rush's figures against it say something about the real server's design: over HTTP, a small rush
converges with no error and every superseded change is on record in the conflict log; in-process, the
very pushes the real server takes give the same results, rows and log entries. No time is asserted."""

from __future__ import annotations

import sqlite3
from typing import Any

import msgspec
import pytest

from bench import lean_rush, morning_rush, push_cpu
from bench.lean import store as lean
from bench.lean.reads import Reads
from server.services import Store
from server.settings import Settings
from sync import hlc
from sync.collection import expand_groups
from sync.schema import COLLECTIONS
from sync.wire import PushRequest

_sorted = msgspec.json.Encoder(order="sorted").encode

NAMES = ["tech00", "tech01", "tech02"]


def test_a_small_rush_against_the_lean_server_and_the_real_one_converges(capsys):
    every = lean_rush.main(["--rounds", "1", "--variants", "lean-group4", "--clients", "4", "--changes", "50",
                            "--batch", "10", "--devices", "6"])
    for name in ("real", "lean-group4"):
        (r,) = every[name]
        assert r["errors"] == [] and r["converged"] == r["clients"] == 4
        assert sum(r["statuses"].values()) == 200 and r["statuses"].get("superseded", 0) > 0
        assert r["integrity"] == "ok"
        assert r["stored"]["receipts"][0] == 200  # a receipt a change (none pruned at this size)
        assert r["kinds"].get("lost", 0) > 0 and r["kinds"].get("overwritten", 0) > 0
    out = capsys.readouterr().out
    assert "round 1" in out and "all rounds (median)" in out and "lean-group4" in out


def _registers(change: dict[str, Any]) -> dict[str, bytes]:
    """A change's registers and their values as the log keeps them (a group's as one value), as in
    `sync.merge`."""
    spec = COLLECTIONS[change["collection"]]
    fields = expand_groups(spec, change["fields"]) if spec.groups else change["fields"]
    regs: dict[str, Any] = {}
    for name, value in fields.items():
        if name not in spec.parents:
            reg = spec.register_of(name)
            if reg != name:
                regs.setdefault(reg, {})[name] = value
            else:
                regs[name] = value
    return {reg: _sorted(value) for reg, value in regs.items()}


def test_every_superseded_change_of_a_lean_rush_is_on_record():
    """Over HTTP, each superseded change lost at least one value that differed (else it would be
    applied): that value is in the lean server's log, as this change's own `lost` entry or as the same
    writer's entry of the same row, register and value (the project logs a value once)."""
    args = morning_rush.arguments(["--clients", "4", "--changes", "60", "--batch", "15", "--devices", "5"])
    r = morning_rush.run(args, prepare=lean_rush.lean_prepare, serve=lean_rush.serve_lean("lean"), keep_log=True)
    assert r["errors"] == [] and r["converged"] == 4 and r["superseded"]
    on_record = {(row, reg, writer, _sorted(msgspec.json.decode(value)) if value is not None else _sorted(None))
                 for row, reg, writer, value in r["log"]}
    for client_id, seq in r["superseded"]:
        change = r["changes"][client_id][seq - 1]
        assert any((change["id"], reg, client_id, value) in on_record for reg, value in _registers(change).items()), \
            (client_id, seq)


def _clocks(stored: str) -> dict[str, list[str]]:
    """Clocks as [hlc, writer]: the real server stores the HLC alone when its node is the writer."""
    return {reg: [value, hlc.node_of(value)] if isinstance(value, str) else value
            for reg, value in msgspec.json.decode(stored).items()}


@pytest.mark.parametrize("group", [1, 5])
def test_the_lean_server_merges_and_logs_as_the_real_one(tmp_path, group):
    """The very pushes of a rush (three phones, the same devices), taken in the same order by the real
    server in-process and by the lean writer: the same result for every change, the same rows and
    clocks (the photos' server-written `blob` aside) and the same conflict log, entry for entry."""
    ids = morning_rush.prepare(tmp_path / "real", NAMES, 5)
    store = Store(Settings(data_dir=tmp_path / "real"))
    try:
        requests = push_cpu.rush_requests(store, NAMES, ids, changes=40, batch=10)
        writer = lean_rush.lean_beside(tmp_path / "lean", store, NAMES, ids)
        real_results, lean_results = [], []
        for caller, request in requests:
            real_results += [(caller.client_id, r.seq, r.status) for r in store.push(caller, request).results]
        lean_callers = {c.client_id: lean.Caller(c.client_id, c.user_id, c.username, c.role, c.sites)
                        for c, _ in requests}
        # Submitted `group` at a time, so a transaction may take several pushes (group commit).
        for start in range(0, len(requests), group):
            waiting = [writer.submit(lean_callers[c.client_id], msgspec.json.decode(msgspec.json.encode(r),
                                     type=PushRequest)) for c, r in requests[start:start + group]]
            for (caller, _), done in zip(requests[start:start + group], waiting, strict=True):
                lean_results += [(caller.client_id, r.seq, r.status) for r in done.result(timeout=30).results]
        writer.stop()
    finally:
        store.close()
    assert lean_results == real_results
    assert {s for _, _, s in real_results} >= {"applied", "superseded"}
    entry = ("kind, collection, row_id, site_id, register, reason, client_id, user_id, hlc, seq, old_value,"
             " new_value, other_client_id, other_hlc")
    with sqlite3.connect(tmp_path / "real" / "fieldsync.db") as real, \
            sqlite3.connect(tmp_path / "lean" / "fieldsync.db") as low:
        real_log = real.execute(f"SELECT {entry} FROM conflicts ORDER BY id").fetchall()
        assert real_log and low.execute(f"SELECT {entry} FROM conflicts ORDER BY id").fetchall() == real_log
        real_rows = {(c, i): (msgspec.json.decode(f), _clocks(k)) for c, i, f, k in real.execute(
            "SELECT collection, id, fields, clocks FROM rows WHERE collection IN ('device_checks', 'photos')")}
        for fields, clocks in real_rows.values():
            fields.pop("blob", None)
            clocks.pop("blob", None)
        assert {(c, i): (msgspec.json.decode(f), _clocks(k)) for c, i, f, k in low.execute(
            "SELECT collection, id, fields, clocks FROM rows WHERE collection IN ('device_checks', 'photos')")
        } == real_rows
        # A version per row write, unique, and the receipts and acked_seq of every change.
        versions = [v for (v,) in low.execute("SELECT version FROM rows")]
        assert len(versions) == len(set(versions))
        assert low.execute("SELECT count(*) FROM receipts").fetchone()[0] == len(real_results)
        assert dict(low.execute("SELECT id, acked_seq FROM clients")) == dict(real.execute(
            "SELECT id, acked_seq FROM clients"))


def test_the_push_path_alone_runs_for_both_writers(capsys):
    """`--in-process`: the real push in turn and the lean writer's closed loop, with and without group
    commit, print a line each a round; the lean writer takes every push (fewer commits when grouped)."""
    assert lean_rush.main(["--in-process", "1,4", "--rounds", "1", "--clients", "3", "--changes", "20",
                           "--batch", "10", "--devices", "5"]) == {}
    lines = capsys.readouterr().out.splitlines()
    real = next(line for line in lines if line.startswith("real, round 1"))
    one = next(line for line in lines if line.startswith("lean-group1 "))
    four = next(line for line in lines if line.startswith("lean-group4 "))
    assert real.split()[-2] == one.split()[-2] == "6"  # six pushes, a commit each
    assert 1 <= int(four.split()[-2]) <= 6


def test_a_page_built_by_sqlite_is_the_rows_read_one_by_one(tmp_path):
    """The lean pull's page as one JSON array from SQLite (`Reads.page`) holds the very rows, in the
    same order, with the same cursor, has_more and acked_seq, as the rows read one by one (`Reads.pull`),
    for a technician (a range a site) and a supervisor, in small pages and in one."""
    ids = morning_rush.prepare(tmp_path / "real", NAMES[:2], 5)
    store = Store(Settings(data_dir=tmp_path / "real"))
    try:
        requests = push_cpu.rush_requests(store, NAMES[:2], ids, changes=40, batch=10)
        writer = lean_rush.lean_beside(tmp_path / "lean", store, NAMES[:2], ids)
    finally:
        store.close()
    for c, r in requests:
        writer.submit(lean.Caller(c.client_id, c.user_id, c.username, c.role, c.sites), r).result(timeout=30)
    writer.stop()
    reads = Reads(tmp_path / "lean")
    c = requests[0][0]
    technician = lean.Caller(c.client_id, c.user_id, c.username, c.role, c.sites)
    for caller in (technician, technician._replace(sites=None)):
        for limit in (7, 1000):
            cursor, one_by_one, built = 0, [], []
            while True:
                rows, top, more, acked = reads.pull(caller, cursor, limit)
                page, *rest = reads.page(caller, cursor, limit)
                assert rest == [top, more, acked]
                one_by_one += [{"collection": x[0], "id": x[1], "fields": msgspec.json.decode(x[2]),
                                "deleted": bool(x[3]), "version": x[4]} for x in rows]
                built += msgspec.json.decode(page)
                cursor = top
                if not more:
                    break
            assert built == one_by_one and len(built) > 5 + 3  # the devices, the site, the template, the rush's rows

"""POST /sync/push over HTTP: receipts, acknowledgement, atomicity, clocks, per-change rejections."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sync import hlc
from sync.hlc import Hlc
from sync.schema import device_check_id
from tests.helpers import ok as _ok
from tests.helpers import problem as _problem

TS = "2026-11-20T10:15:00.000Z"
HOUR = 3_600_000


def _check(site: dict[str, str], cam: str = "cam1", **result: Any) -> tuple[str, dict[str, Any]]:
    row_id = device_check_id(site["inspection"], site[cam])
    return row_id, {"inspection_id": site["inspection"], "device_id": site[cam], **result}


# -- receipts and acked_seq ---------------------------------------------------------


def test_retry_of_the_same_batch_returns_the_same_results_and_changes_nothing(site, wang, dump):
    check, fields = _check(site, outcome="serviced", checked_by="wang", checked_at=TS)
    changes = [
        wang.change("device_checks", check, fields, delete=False),
        wang.change("devices", site["cam1"], {"location": "lobby", "bogus": 1}),
        wang.change("sites", site["site"], {"name": "mine now"}),
    ]
    first = _ok(wang.push(changes))
    assert first["acked_seq"] == 3
    assert [r["status"] for r in first["results"]] == ["applied", "applied", "rejected"]
    before = dump()
    again = _ok(wang.push(changes))
    assert again["results"] == first["results"]
    assert (again["acked_seq"], again["version"]) == (first["acked_seq"], first["version"])
    assert dump() == before


def test_partly_replayed_batch_applies_only_the_new_changes(site, wang, row_of):
    c1 = wang.change("devices", site["cam1"], {"location": "lobby"})
    c2 = wang.change("devices", site["cam2"], {"location": "roof"})
    first = _ok(wang.push([c1, c2]))
    version = row_of("devices", site["cam2"])["version"]
    c3 = wang.change("devices", site["cam1"], {"serial_no": "SN-1"})
    second = _ok(wang.push([c2, c3]))
    assert second["acked_seq"] == 3
    assert second["results"][0] == first["results"][1]
    assert second["results"][1] == {"seq": 3, "status": "applied"}
    assert row_of("devices", site["cam2"])["version"] == version  # c2 not applied again
    assert row_of("devices", site["cam1"])["fields"]["serial_no"] == "SN-1"


def test_seq_gap_is_409_with_acked_seq(site, wang, dump):
    _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"})]))
    wang.seq += 1  # seq 2 never sent
    before = dump()
    body = _problem(wang.push([wang.change("devices", site["cam1"], {"location": "hall"})]), 409, "seq_gap")
    assert body["acked_seq"] == 1
    assert dump() == before


def test_first_push_must_start_at_seq_one(site, wang, dump):
    wang.seq = 4
    before = dump()
    body = _problem(wang.push([wang.change("devices", site["cam1"], {"location": "x"})]), 409, "seq_gap")
    assert body["acked_seq"] == 0
    assert dump() == before


def test_seq_reused_with_another_change_is_409_and_nothing_applies(site, wang, dump, row_of):
    c1 = wang.change("devices", site["cam1"], {"location": "lobby"})
    _ok(wang.push([c1]))
    reused = {**c1, "hlc": wang.clock.now(), "fields": {"location": "hall"}}
    c2 = wang.change("devices", site["cam2"], {"location": "roof"})
    before = dump()
    _problem(wang.push([reused, c2]), 409, "seq_reused")
    assert dump() == before
    assert "location" not in row_of("devices", site["cam2"])["fields"]


@pytest.mark.parametrize("other", [
    {"fields": {"location": "hall"}},
    {"id": "cam2"},
    {"collection": "device_checks"},
    {"delete": True},
], ids=["fields", "id", "collection", "delete"])
def test_seq_reused_with_the_same_hlc_and_another_change_is_409(site, wang, dump, other):
    # Regression (stateful, acknowledged value lost): a phone restored from a backup gets its
    # HLC clock back with its database, so the change it makes next can carry the seq *and*
    # the HLC of one it pushed after the backup. The server answered it as a replay: the new
    # change was acknowledged `applied` and never applied.
    c1 = wang.change("devices", site["cam1"], {"location": "lobby"})
    _ok(wang.push([c1]))
    if "id" in other:
        other = {"id": site[other["id"]]}
    reused = {**c1, **other}
    before = dump()
    _problem(wang.push([reused]), 409, "seq_reused")
    assert dump() == before
    assert _ok(wang.push([c1]))["results"] == [{"seq": 1, "status": "applied"}]  # the true replay still is one


def test_a_failure_mid_batch_leaves_nothing(site, wang, dump, row_of, refuse_inserts):
    # A real failure inside the transaction, after the rows of the batch are written:
    # the database refuses the receipt of the third change.
    lift = refuse_inserts("receipts", "NEW.seq = 3")
    check, fields = _check(site, outcome="serviced", checked_by="wang", checked_at=TS)
    changes = [
        wang.change("device_checks", check, fields, delete=False),
        wang.change("devices", site["cam1"], {"location": "lobby"}),
        wang.change("devices", site["cam2"], {"location": "roof"}),
    ]
    before = dump()
    _problem(wang.push(changes), 500, "server_error")
    assert dump() == before
    assert row_of("device_checks", check) is None
    lift()
    body = _ok(wang.push(changes))
    assert body["acked_seq"] == 3 and {r["status"] for r in body["results"]} == {"applied"}
    assert row_of("device_checks", check) is not None


# -- clocks -----------------------------------------------------------------------------


def test_client_clock_behind_is_corrected(site, wang, lin, row_of):
    now = hlc.wall_ms()
    # The supervisor wrote a few seconds ago, with a good clock.
    _ok(lin.push([lin.change("devices", site["cam1"], {"location": "gate"},
                             hlc_=str(Hlc(now - 5_000, 0, lin.client_id)))]))
    # The phone's clock is two hours slow; its change is newer all the same.
    sent = Hlc(now - 2 * HOUR, 0, wang.client_id)
    body = _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=str(sent))],
                         client_time=hlc.format_ts(sent.ms)))
    assert body["results"] == [{"seq": 1, "status": "applied", "clock": "corrected"}]
    assert body["clock_offset_ms"] >= 2 * HOUR
    row = row_of("devices", site["cam1"])
    assert row["fields"]["location"] == "lobby"
    corrected = str(Hlc(sent.ms + body["clock_offset_ms"], sent.counter, sent.node))
    assert row["clocks"]["location"] == [corrected, wang.client_id]
    # The server's clock never absorbs the uncorrected (or corrected) HLC of a skewed client.
    assert hlc.parse(body["server_hlc"]).ms <= hlc.parse(corrected).ms


def test_small_skew_is_not_corrected(site, wang, row_of):
    sent = wang.clock.now()
    body = _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=sent)],
                         client_time=hlc.format_ts(hlc.parse(sent).ms - 60_000)))
    assert body["results"] == [{"seq": 1, "status": "applied"}]
    assert row_of("devices", site["cam1"])["clocks"]["location"][0] == sent


def test_the_server_clock_absorbs_hlcs_it_neither_corrected_nor_clamped(site, wang):
    ahead = str(Hlc(hlc.wall_ms() + 120_000, 7, wang.client_id))  # two minutes ahead: within the skew
    body = _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=ahead)]))
    assert "clock" not in body["results"][0]
    assert body["server_hlc"] > ahead
    assert tuple(hlc.parse(body["server_hlc"]))[:2] > tuple(hlc.parse(ahead))[:2]


def test_the_server_clock_does_not_absorb_a_corrected_hlc(site, wang):
    # The phone's clock is two hours fast, and so are its HLCs.
    sent = Hlc(hlc.wall_ms() + 2 * HOUR, 0, wang.client_id)
    body = _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=str(sent))],
                         client_time=hlc.format_ts(sent.ms)))
    assert body["results"][0]["clock"] == "corrected"
    assert body["clock_offset_ms"] < 0
    assert hlc.parse(body["server_hlc"]).ms < sent.ms


def test_hlc_far_ahead_with_a_good_client_time_is_clamped(site, wang, lin, row_of):
    future = Hlc(hlc.wall_ms() + 24 * HOUR, 0, wang.client_id)
    body = _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=str(future))]))
    assert body["results"] == [{"seq": 1, "status": "applied", "clock": "clamped"}]
    stored, writer = row_of("devices", site["cam1"])["clocks"]["location"]
    assert writer == wang.client_id
    assert hlc.parse(stored).node == hlc.SERVER_NODE  # a fresh server HLC
    assert stored <= body["server_hlc"]
    # The future HLC did not pull the server's clock a day ahead.
    assert hlc.parse(body["server_hlc"]).ms < future.ms
    # A later write by a client that has seen any response since (as every client
    # takes in server_hlc) wins: the clamped value does not hold the register for a day.
    lin.clock.observe(lin.pull().json()["server_hlc"])
    later = _ok(lin.push([lin.change("devices", site["cam1"], {"location": "gate"})]))
    assert later["results"] == [{"seq": 1, "status": "applied"}]
    assert row_of("devices", site["cam1"])["fields"]["location"] == "gate"


def test_clamped_hlcs_strictly_increase_within_a_batch(site, wang, row_of):
    future = hlc.wall_ms() + 24 * HOUR
    changes = [wang.change("devices", site[cam], {"location": "x"}, hlc_=str(Hlc(future, i, wang.client_id)))
               for i, cam in enumerate(["cam1", "cam2"])]
    body = _ok(wang.push(changes))
    assert [r["clock"] for r in body["results"]] == ["clamped", "clamped"]
    first = row_of("devices", site["cam1"])["clocks"]["location"][0]
    second = row_of("devices", site["cam2"])["clocks"]["location"][0]
    assert first < second


def test_receipts_keep_the_hlc_as_sent(site, wang, store):
    future = str(Hlc(hlc.wall_ms() + 24 * HOUR, 0, wang.client_id))
    change = wang.change("devices", site["cam1"], {"location": "x"}, hlc_=future)
    first = _ok(wang.push([change]))
    again = _ok(wang.push([change]))  # a retry is recognised, not seq_reused
    assert again["results"] == first["results"]
    with store.read() as db:
        assert db.execute("SELECT hlc FROM receipts WHERE seq = 1").fetchone()[0] == future


# -- per-change rejections ----------------------------------------------------------------


def test_invalid_hlc_rejects_that_change_alone(site, wang, lin, row_of):
    changes = [
        wang.change("devices", site["cam1"], {"location": "a"}),
        wang.change("devices", site["cam1"], {"serial_no": "b"}, hlc_=lin.clock.now()),  # another client's node
        wang.change("devices", site["cam1"], {"model": "c"}, hlc_="yesterday"),
        wang.change("devices", site["cam1"], {"model": "d"}, hlc_=str(Hlc(hlc.wall_ms(), 0, "srv"))),
        wang.change("devices", site["cam2"], {"location": "e"}),
    ]
    body = _ok(wang.push(changes))
    assert body["acked_seq"] == 5
    assert [(r["status"], r.get("reason")) for r in body["results"]] == [
        ("applied", None), ("rejected", "invalid_hlc"), ("rejected", "invalid_hlc"), ("rejected", "invalid_hlc"),
        ("applied", None)]
    fields = row_of("devices", site["cam1"])["fields"]
    assert fields["location"] == "a" and "serial_no" not in fields and "model" not in fields
    assert row_of("devices", site["cam2"])["fields"]["location"] == "e"


def test_unknown_collection_rejects_that_change_alone(site, wang, row_of):
    body = _ok(wang.push([
        wang.change("cameras", site["cam1"], {"location": "a"}),
        wang.change("devices", site["cam1"], {"location": "b"}),
    ]))
    assert [(r["status"], r.get("reason")) for r in body["results"]] == [
        ("rejected", "unknown_collection"), ("applied", None)]
    assert row_of("devices", site["cam1"])["fields"]["location"] == "b"


def test_parent_change_is_immutable_alone(site, lin, row_of):
    body = _ok(lin.push([
        lin.change("devices", site["cam1"], {"site_id": str(uuid.uuid4()), "location": "a"}),
        lin.change("devices", site["cam1"], {"site_id": site["site"], "location": "b"}),
    ]))
    assert [(r["status"], r.get("reason")) for r in body["results"]] == [("rejected", "immutable"), ("applied", None)]
    row = row_of("devices", site["cam1"])
    assert (row["fields"]["site_id"], row["fields"]["location"]) == (site["site"], "b")


def test_rejected_fields_travel_with_an_applied_result(site, wang):
    body = _ok(wang.push([wang.change("devices", site["cam1"], {"location": "a", "colour": "red"})]))
    assert body["results"] == [{"seq": 1, "status": "applied", "rejected_fields": {"colour": "unknown_field"}}]


def test_superseded_change(site, wang, lin, row_of):
    _ok(lin.push([lin.change("devices", site["cam1"], {"location": "gate"})]))
    old = str(Hlc(hlc.wall_ms() - 60_000, 0, wang.client_id))
    body = _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=old)]))
    assert body["results"] == [{"seq": 1, "status": "superseded"}]
    assert row_of("devices", site["cam1"])["fields"]["location"] == "gate"


# -- versions ---------------------------------------------------------------------------


def _versions(store) -> list[int]:
    with store.read() as db:
        return [v for (v,) in db.execute("SELECT version FROM rows ORDER BY version")]


def test_version_is_the_highest_row_version_and_each_write_gets_its_own(site, wang, lin, store):
    start = max(_versions(store))
    changes = [wang.change("devices", site[cam], {"location": f"spot {i}"})
               for i, cam in enumerate(["cam1", "cam2", "cam1"])]
    body = _ok(wang.push(changes))
    versions = _versions(store)
    assert body["version"] == max(versions)
    assert len(set(versions)) == len(versions)
    assert body["version"] > start
    # A later push by someone else moves the version on, past every version before.
    other = _ok(lin.push([lin.change("devices", site["cam2"], {"model": "M"})]))
    assert other["version"] == max(_versions(store)) > body["version"]
    # A push that writes nothing still reports the highest version.
    nothing = _ok(wang.push([wang.change("cameras", site["cam1"], {})]))
    assert nothing["version"] == other["version"]


def test_a_superseded_change_writes_no_version(site, wang, lin, store):
    _ok(lin.push([lin.change("devices", site["cam1"], {"location": "gate"})]))
    before = _versions(store)
    old = str(Hlc(hlc.wall_ms() - 60_000, 0, wang.client_id))
    body = _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=old)]))
    assert _versions(store) == before
    assert body["version"] == max(before)


def test_pushed_rows_pull_back_at_versions_no_higher_than_the_push(site, wang):
    body = _ok(wang.push([wang.change("devices", site["cam1"], {"location": "a"})]))
    pulled = wang.pull().json()
    assert max(r["version"] for r in pulled["rows"]) == body["version"]


class _Rollback(Exception):
    pass


def test_a_row_read_decodes_its_clocks_only_when_used(store, site, row_of):
    # Issue 15: a push reads every parent it names, and decoding their clocks cost 9 % of a push of
    # checks, so a row as read keeps them as stored until something asks. Asked, they are the stored
    # ones; written back untouched, they are stored as they were; set, they are the new ones.
    from server.storage.postgres import rows as on_postgres
    from server.storage.sqlite import rows as on_sqlite
    from tests.conftest import BACKEND

    Transaction = (on_postgres if BACKEND == "postgresql" else on_sqlite).Transaction  # the suite's backend's
    stored = row_of("devices", site["cam1"])
    with pytest.raises(_Rollback), store.write() as db:
        tx = Transaction(db, store.now_ms())
        cam = tx.lookup("devices", site["cam1"])
        assert cam is not None
        tx.put(cam)
        tx.flush_rows()
        again = Transaction(db, store.now_ms()).lookup("devices", site["cam1"])
        assert again is not None and again.clocks == stored["clocks"] and again.fields == stored["fields"]
        again.clocks = {"code": ["1796546905378-0000-srv", "srv"]}
        assert again.clocks == {"code": ["1796546905378-0000-srv", "srv"]}
        raise _Rollback

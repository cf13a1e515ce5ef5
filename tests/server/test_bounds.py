"""Receipts and the conflict log stay bounded over time (issue 15).

Receipts a client has confirmed (it pushed past them) are forgotten but for the newest few;
a value already in the conflict log for the same writer and register is not logged again.
The server here keeps 3 receipts a client, so that a few pushes go past the bound.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import msgspec
import pytest

from client_sdk import Client
from server.services import Store
from server.settings import Settings
from sync import hlc
from tests.client_sdk.support import restored, supervisor_rows
from tests.conftest import Session

KEEP = 3


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "server", receipts_kept_per_client=KEEP)


def _seqs(store: Store, client_id: str) -> list[int]:
    with store.read() as db:
        return [s for (s,) in db.execute("SELECT seq FROM receipts WHERE client_id = ? ORDER BY seq", [client_id])]


def _ok(resp: Any) -> Any:
    assert resp.status_code == 200, resp.text
    return resp.json()


# -- receipts ----------------------------------------------------------------------------------


def test_receipts_a_client_pushed_past_are_forgotten_but_the_newest(site, wang, store, dump):
    # Regression (issue 15, receipts): every change's receipt was kept for ever, 19 MB per
    # 100,000 changes. A push starting at seq F says the client holds every result below F.
    sent = []
    for i in range(6):
        sent.append(wang.change("devices", site["cam1"], {"location": f"room {i}"}))
        _ok(wang.push([sent[-1]]))
    assert _seqs(store, wang.client_id) == [4, 5, 6]
    # The newest are still answered as before: a lost response's retry, and a reused seq.
    assert _ok(wang.push(sent[3:]))["results"] == [{"seq": s, "status": "applied"} for s in (4, 5, 6)]
    # A seq whose receipt is gone cannot be told from a reused one: 409, nothing changes, no 500.
    before = dump()
    body = wang.push([sent[0]])
    assert body.status_code == 409 and body.json()["code"] == "seq_reused"
    assert dump() == before


def test_receipts_a_client_has_not_pushed_past_are_kept_whatever_their_number(site, wang, store):
    # The client may not have the answer of its last push (lost response): all of it stays.
    batch = [wang.change("devices", site["cam1"], {"location": f"room {i}"}) for i in range(8)]
    first = _ok(wang.push(batch))
    assert _seqs(store, wang.client_id) == list(range(1, 9))
    again = _ok(wang.push(batch))
    assert again["results"] == first["results"] and again["acked_seq"] == 8
    _ok(wang.push([wang.change("devices", site["cam2"], {"location": "roof"})]))
    assert _seqs(store, wang.client_id) == [7, 8, 9]  # now it has confirmed 1..8


def test_a_phone_restored_from_a_backup_older_than_its_receipts_loses_nothing(http, site, new_client, tmp_path):
    # Regression (issue 15, receipts): the backup holds an unsent change whose receipt the
    # server has since forgotten; the restored phone resends it (seq 1) and makes a new one.
    # No receipt: seq_reused, the phone enrols anew and resends both; every value is there.
    phone = new_client(http)
    phone.sync()
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    phone.close()
    backup = tmp_path / "backup.db"
    shutil.copyfile(tmp_path / "phone.db", backup)
    phone = Client(tmp_path / "phone.db", http)
    old_client = phone.client_id
    phone.sync()
    for i in range(KEEP + 1):
        phone.write("devices", site["cam2"], {"serial_no": f"SN-{i}"})
        phone.sync()
    phone.close()
    phone = restored(tmp_path / "phone.db", backup, http)
    phone.write("devices", site["cam1"], {"model": "DS-2CD"})
    assert [r.status for r in phone.sync().results] == ["applied", "applied"]
    assert phone.client_id != old_client and phone.pending() == []
    devices = {r["id"]: r["fields"] for r in supervisor_rows(http) if r["collection"] == "devices"}
    assert devices[site["cam1"]]["location"] == "Gate 2" and devices[site["cam1"]]["model"] == "DS-2CD"
    assert devices[site["cam2"]]["serial_no"] == f"SN-{KEEP}"
    assert phone.server_rows() == supervisor_rows(http)
    phone.close()


# -- the conflict log ---------------------------------------------------------------------------


def _older(who: Session, minutes: int) -> str:
    """An HLC of `who`'s, `minutes` ago (written offline, so it loses to anything newer)."""
    return str(hlc.Hlc(hlc.wall_ms() - minutes * 60_000, 0, who.client_id))


def _logged(store: Store) -> list[tuple[str, str, str | None, Any, Any]]:
    with store.read() as db:
        found = db.execute("SELECT kind, client_id, other_client_id, old_value, new_value FROM conflicts"
                           " WHERE register = 'location' ORDER BY id").fetchall()
    return [(k, c, o, msgspec.json.decode(old), msgspec.json.decode(new)) for k, c, o, old, new in found]


@pytest.mark.parametrize("value", ["lobby", "hall"], ids=["another value", "the same value"])
def test_a_value_that_lost_is_logged_once_per_writer(site, wang, lin, store, value):
    # Regression (issue 15, conflict log): a technician's value that lost to the same newer
    # value again (the same camera re-checked offline) was logged each time.
    _ok(lin.push([lin.change("devices", site["cam1"], {"location": "hall"})]))

    def offline(minutes: int, location: str) -> dict[str, Any]:
        return wang.change("devices", site["cam1"], {"location": location}, hlc_=_older(wang, minutes))

    _ok(wang.push([offline(30, value)]))
    _ok(wang.push([offline(20, value), offline(10, value)]))  # again in a later push, and twice in one
    _ok(wang.push([offline(5, "roof")]))  # another value of the same writer is logged
    assert _logged(store) == [("lost", wang.client_id, lin.client_id, "hall", value),
                              ("lost", wang.client_id, lin.client_id, "hall", "roof")]


def test_a_value_overwritten_again_is_not_logged_twice(site, wang, lin, store):
    # wang's "lobby" is overwritten by lin, written again by wang, overwritten again: on record once.
    for _ in range(2):
        _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"})]))
        _ok(lin.push([lin.change("devices", site["cam1"], {"location": "hall"})]))
    assert _logged(store) == [
        ("overwritten", lin.client_id, wang.client_id, "lobby", "hall"),
        ("overwritten", wang.client_id, lin.client_id, "hall", "lobby"),
    ]

"""The client SDK against the real server: overlay, batching, recovery, cuts, restores."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import httpx
import pytest

from client_sdk import Client
from sync import errors as E
from sync import hlc
from sync.schema import device_check_id
from tests.client_sdk.support import cut_client, restored, supervisor_rows
from tests.conftest import SITE

MINUTE = 60_000


def shifted(ms: int):
    return lambda: hlc.wall_ms() + ms


def test_first_sync_brings_the_site_and_status(http, store, site, new_client):
    phone = new_client(http)
    report = phone.sync()
    assert report.pushed == 0 and report.pulled == 4
    assert {d["fields"]["code"] for d in phone.rows("devices")} == {"CAM-001", "CAM-002"}
    assert phone.server_rows() == supervisor_rows(http)
    status = phone.status()
    assert status["user"] == "wang" and status["client_id"] == phone.client_id
    assert status["pending"] == 0 and status["acked_seq"] == 0
    assert status["cursor"] == phone.cursor != "0"
    assert status["server_epoch"] == phone.server_epoch == store.server_epoch
    assert status["last_sync"] is not None


def test_pending_change_is_laid_over_the_pulled_rows(http, site, new_client):
    phone = new_client(http)
    phone.sync()
    check = phone.record_check(site["inspection"], site["cam1"], "serviced", items={"lens_cleaned": True})
    assert check == device_check_id(site["inspection"], site["cam1"])
    view = phone.get("device_checks", check)
    assert view is not None and not view["deleted"]
    assert view["fields"]["outcome"] == "serviced" and view["fields"]["item.lens_cleaned"] is True
    assert view["fields"]["checked_by"] == "wang" and "note" not in view["fields"]
    assert [r["id"] for r in phone.rows("device_checks")] == [check]
    assert all(r["collection"] != "device_checks" for r in phone.server_rows())
    [entry] = phone.pending()
    # The group was expanded before queueing: the outbox holds what the server will store.
    assert entry["fields"]["note"] is None and entry["delete"] is False and entry["seq"] == 1


def test_applied_change_stays_laid_over_until_pulled(http, site, new_client):
    phone = new_client(http)
    phone.sync()
    check = phone.record_check(site["inspection"], site["cam1"], "fault", note="lens cracked")
    [result] = phone.push()
    assert result.status == "applied" and phone.pending() == [] and phone.acked_seq == 1
    # Pushed, not yet pulled: the edit must not flicker away.
    assert all(r["collection"] != "device_checks" for r in phone.server_rows())
    assert phone.get("device_checks", check)["fields"]["note"] == "lens cracked"
    assert phone.pull() >= 1
    pulled = {(r["collection"], r["id"]): r for r in phone.server_rows()}[("device_checks", check)]
    assert phone.get("device_checks", check) == pulled
    assert phone.problems() == []


def _phone_behind_a_newer_write(http, site, new_client):
    """Two phones: `late`, whose clock runs a minute behind, and `early`, a minute ahead,
    which has set CAM-001's location to "Gate 2": whatever `late` writes there loses."""
    late = new_client(http, "late", wall=shifted(-MINUTE))
    late.sync()
    early = new_client(http, "early", wall=shifted(MINUTE))
    early.sync()
    early.write("devices", site["cam1"], {"location": "Gate 2"})
    early.sync()
    return late, early


def test_superseded_change_drops_its_overlay_and_is_a_problem(http, site, new_client):
    late, early = _phone_behind_a_newer_write(http, site, new_client)
    # `late` has not heard of that write, and its clock runs behind: its value loses.
    late.write("devices", site["cam1"], {"location": "Lobby"})
    assert late.get("devices", site["cam1"])["fields"]["location"] == "Lobby"
    [result] = late.push()
    assert result.status == "superseded"
    assert "location" not in late.get("devices", site["cam1"])["fields"]
    [problem] = late.problems()
    assert problem["status"] == "superseded" and problem["fields"] == {"location": "Lobby"}
    late.pull()
    assert late.get("devices", site["cam1"])["fields"]["location"] == "Gate 2"
    assert late.server_rows() == early.server_rows() == supervisor_rows(http)


def test_rejected_change_drops_its_overlay_and_is_a_problem(http, site, new_client):
    phone = new_client(http)
    phone.sync()
    ghost = str(uuid.uuid4())  # a device no server knows: the SDK enforces no foreign keys
    check = phone.record_check(site["inspection"], ghost, "serviced")
    assert phone.get("device_checks", check) is not None
    report = phone.sync()
    assert [r.status for r in report.results] == ["rejected"]
    assert phone.get("device_checks", check) is None
    [problem] = phone.problems()
    assert problem["status"] == "rejected" and problem["reason"] == "unknown_parent"
    assert problem["id"] == check and problem["detail"]


@pytest.mark.parametrize("fields", [{"warranty_from": "9999-12-31"}, {"installed_on": "1899-12-31"}])
def test_a_date_past_the_years_is_refused_offline_as_on_the_server(http, site, new_client, fields):
    # Regression (s24-plans, device dates past the calendar): a supervisor's client refuses what the server
    # refuses (years 1900 to 2100), and queues nothing.
    office = new_client(http, "office", user="lin")
    office.sync()
    with pytest.raises(E.InvalidRequest) as refused:
        office.write("devices", site["cam1"], fields)
    assert refused.value.extra.get("reason") == "invalid_field"
    assert office.pending() == []
    office.write("devices", site["cam1"], {"warranty_from": "2100-12-31", "installed_on": "1900-01-01"})
    assert len(office.pending()) == 1


def test_local_writes_are_checked_with_the_server_rules(http, site, new_client):
    phone = new_client(http)
    phone.sync()
    check = device_check_id(site["inspection"], site["cam1"])
    base = {"inspection_id": site["inspection"], "device_id": site["cam1"]}
    with pytest.raises(E.InvalidRequest, match="no collection"):
        phone.write("gadgets", str(uuid.uuid4()), {"x": 1})
    with pytest.raises(E.Forbidden, match="server"):
        phone.write("device_checks", check, {**base, "sealed_by": str(uuid.uuid4())}, delete=False)
    with pytest.raises(E.Forbidden):
        phone.write("sites", SITE, {"name": "Renamed"})
    with pytest.raises(E.Forbidden):
        phone.delete("devices", site["cam1"])
    with pytest.raises(E.InvalidRequest, match="outcome"):
        phone.record_check(site["inspection"], site["cam1"], "exploded")
    with pytest.raises(E.InvalidRequest, match="note is required"):
        phone.record_check(site["inspection"], site["cam1"], "fault", note=" ")
    with pytest.raises(E.InvalidRequest, match="uuid5"):
        phone.write("device_checks", str(uuid.uuid4()), {**base, "outcome": "serviced"}, delete=False)
    with pytest.raises(E.InvalidRequest, match="required"):
        phone.write("device_checks", check, {"outcome": "serviced"})
    with pytest.raises(E.InvalidRequest, match="unknown_field"):
        phone.write("devices", site["cam1"], {"colour": "red"})
    with pytest.raises(E.Forbidden, match="own name"):
        phone.write("device_checks", check, {**base, "outcome": "serviced", "checked_by": "zhao"}, delete=False)
    with pytest.raises(E.Forbidden, match="supervisors only"):
        phone.write("devices", site["cam1"], {"site_id": str(uuid.uuid4())})
    assert phone.pending() == []
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    assert [p["fields"] for p in phone.pending()] == [{"location": "Gate 2"}]
    phone.record_check(site["inspection"], site["cam1"], "serviced")
    with pytest.raises(E.InvalidRequest, match="cannot change"):
        phone.write("device_checks", check, {**base, "device_id": site["cam2"]})
    assert len(phone.pending()) == 2


def test_outbox_is_pushed_in_batches(http, site, new_client):
    wire, transport = cut_client(http)
    phone = new_client(wire, batch_size=2)
    phone.sync()
    transport.paths.clear()
    for i in range(5):
        phone.write("devices", site["cam1" if i % 2 else "cam2"], {"location": f"spot {i}"})
    report = phone.sync()
    assert [r.seq for r in report.results] == [1, 2, 3, 4, 5]
    assert transport.paths.count("POST /sync/push") == 3
    assert phone.acked_seq == 5 and phone.pending() == []
    assert phone.server_rows() == supervisor_rows(http)


def test_lost_push_response_is_resent_harmlessly(http, site, new_client):
    wire, transport = cut_client(http)
    phone = new_client(wire)
    phone.sync()
    phone.record_check(site["inspection"], site["cam1"], "serviced", items={"lens_cleaned": True})
    phone.record_check(site["inspection"], site["cam2"], "fault", note="no power")
    transport.cut_after = {transport.count + 1}
    with pytest.raises(httpx.ReadError):
        phone.sync()
    # The server committed; the client knows nothing of it yet and keeps both pending.
    assert len(phone.pending()) == 2 and phone.acked_seq == 0
    report = phone.sync()
    assert [r.status for r in report.results] == ["applied", "applied"]
    assert phone.pending() == [] and phone.acked_seq == 2 and phone.problems() == []
    assert phone.server_rows() == supervisor_rows(http)
    checks = [r for r in phone.server_rows() if r["collection"] == "device_checks"]
    assert len(checks) == 2


@pytest.mark.parametrize("where", ["before", "after"])
@pytest.mark.parametrize("cut", range(1, 9))
def test_cut_at_any_request_then_rerun_finishes(http, site, new_client, cut, where):
    wire, transport = cut_client(http)
    phone = new_client(wire, batch_size=2, page_size=2)
    phone.sync()
    phone.record_check(site["inspection"], site["cam1"], "serviced", items={"lens_cleaned": True})
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    phone.record_check(site["inspection"], site["cam2"], "fault", note="no power")
    phone.delete("device_checks", device_check_id(site["inspection"], site["cam2"]))
    start = transport.count
    (transport.cut_before if where == "before" else transport.cut_after).add(start + cut)
    try:
        phone.sync()
    except httpx.TransportError:
        assert transport.cuts == 1
    transport.cut_before.clear()
    transport.cut_after.clear()
    phone.sync()
    assert phone.pending() == [] and phone.acked_seq == 4 and phone.problems() == []
    rows = supervisor_rows(http)
    assert phone.server_rows() == rows
    by_id = {(r["collection"], r["id"]): r for r in rows}
    check1 = by_id[("device_checks", device_check_id(site["inspection"], site["cam1"]))]
    check2 = by_id[("device_checks", device_check_id(site["inspection"], site["cam2"]))]
    assert check1["fields"]["item.lens_cleaned"] is True and not check1["deleted"]
    assert check2["deleted"] and check2["fields"]["note"] == "no power"
    assert by_id[("devices", site["cam1"])]["fields"]["location"] == "Gate 2"


@pytest.mark.one_sqlite_server("backs up and restores the SQLite file (tests/client_sdk/support.Server)")
def test_seq_gap_resends_what_the_server_forgot(server, site, new_client, tmp_path):
    phone = new_client(server.http)
    phone.sync()
    phone.record_check(site["inspection"], site["cam1"], "serviced")
    phone.sync()
    backup = server.backup(tmp_path / "backup.db")
    check2 = phone.record_check(site["inspection"], site["cam2"], "fault", note="no power")
    phone.sync()
    assert phone.acked_seq == 2
    # The server comes back from a copy under the same epoch (an operator's mistake):
    # it has lost seq 2, which the client thinks acknowledged.
    phone.close()
    http = server.restore(backup, new_epoch=False)
    phone = Client(tmp_path / "phone.db", http)
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    report = phone.sync()
    assert [(r.seq, r.status) for r in report.results] == [(2, "applied"), (3, "applied")]
    assert phone.acked_seq == 3 and phone.pending() == []
    assert phone.server_rows() == supervisor_rows(http)
    assert phone.get("device_checks", check2)["fields"]["note"] == "no power"
    phone.close()


def test_seq_reused_by_a_reinstalled_app_enrols_anew(http, site, new_client, tmp_path):
    phone = new_client(http)
    phone.sync()
    phone.record_check(site["inspection"], site["cam1"], "serviced")
    phone.sync()
    old_client = phone.client_id
    phone.close()
    copy = tmp_path / "copy.db"
    shutil.copyfile(tmp_path / "phone.db", copy)
    phone = Client(tmp_path / "phone.db", http)
    phone.write("devices", site["cam1"], {"location": "Gate 2"})  # seq 2, acknowledged below
    phone.sync()
    phone.close()
    # The app is reinstalled from the old copy: seq 2 again, with another change.
    for suffix in ("", "-wal", "-shm"):
        Path(f"{tmp_path / 'phone.db'}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(copy, tmp_path / "phone.db")
    phone = Client(tmp_path / "phone.db", http)
    assert phone.client_id == old_client and phone.acked_seq == 1
    phone.write("devices", site["cam2"], {"location": "Roof"})
    report = phone.sync()
    assert phone.client_id != old_client
    assert [(r.seq, r.status) for r in report.results] == [(1, "applied")]
    assert phone.acked_seq == 1 and phone.pending() == []
    assert [p["seq"] for p in phone.problems()] == []
    devices = {r["id"]: r for r in phone.rows("devices")}
    # Neither the lost install's edit nor the new one is lost.
    assert devices[site["cam1"]]["fields"]["location"] == "Gate 2"
    assert devices[site["cam2"]]["fields"]["location"] == "Roof"
    assert phone.server_rows() == supervisor_rows(http)
    phone.close()


def test_a_phone_restored_from_a_backup_reissuing_a_seq_and_its_hlc_loses_nothing(http, site, new_client, tmp_path):
    # Regression (stateful, acknowledged value lost): the phone's clock is behind the server's,
    # so its HLCs run on the server's time, which it absorbed at its last sync; restored from a
    # backup, its clock comes back too, and the next change gets the seq *and* the HLC of the
    # one it pushed after the backup. The server took it for a replay of that one: answered
    # `applied`, never applied, and the technician's edit was gone without a trace.
    slow = hlc.wall_ms() - MINUTE
    phone = new_client(http, wall=lambda: slow)
    phone.sync()
    old_client = phone.client_id
    phone.close()
    backup = tmp_path / "backup.db"
    shutil.copyfile(tmp_path / "phone.db", backup)
    phone = Client(tmp_path / "phone.db", http, wall=lambda: slow)
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    [sent] = phone.pending()
    assert [r.status for r in phone.sync().results] == ["applied"]
    phone.close()
    phone = restored(tmp_path / "phone.db", backup, http, wall=lambda: slow)
    phone.write("devices", site["cam2"], {"location": "Roof"})
    [again] = phone.pending()
    assert (again["seq"], again["hlc"]) == (sent["seq"], sent["hlc"])  # another change, the same stamp
    assert [r.status for r in phone.sync().results] == ["applied"]
    assert phone.client_id != old_client and phone.pending() == []
    devices = {r["id"]: r["fields"] for r in supervisor_rows(http) if r["collection"] == "devices"}
    assert devices[site["cam2"]]["location"] == "Roof"
    assert devices[site["cam1"]]["location"] == "Gate 2"
    assert phone.server_rows() == supervisor_rows(http)
    phone.close()


def test_a_phone_restored_from_before_its_re_enrolment_signs_in_again_and_loses_nothing(
        http, site, new_client, tmp_path):
    # Regression (stateful, signed out after a restore): after a seq_reused the phone enrols a
    # new client and the old one is revoked; a copy of the phone from before holds the old one.
    # It is signed out (a copy never signs in by itself), keeps its unsent change, and sends it
    # once its technician signs in with the password.
    phone = new_client(http)
    phone.sync()
    phone.close()
    backup = tmp_path / "backup.db"
    shutil.copyfile(tmp_path / "phone.db", backup)
    phone = Client(tmp_path / "phone.db", http)
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    phone.sync()
    phone.close()
    phone = restored(tmp_path / "phone.db", backup, http)
    old_client = phone.client_id
    phone.write("devices", site["cam2"], {"location": "Roof"})
    phone.sync()  # seq 1 again, another change: seq_reused, a new client in the old one's place
    assert phone.client_id != old_client
    phone.close()
    phone = restored(tmp_path / "phone.db", backup, http)
    assert phone.client_id == old_client
    phone.write("devices", site["cam1"], {"serial_no": "SN-9"})
    with pytest.raises(E.ClientUnavailable) as signed_out:
        phone.sync()
    assert signed_out.value.extra["pending"] == 1 and len(phone.pending()) == 1
    phone.login("wang", "demo")
    assert [r.status for r in phone.sync().results] == ["applied"]
    assert phone.client_id not in (old_client, None) and phone.pending() == []
    devices = {r["id"]: r["fields"] for r in supervisor_rows(http) if r["collection"] == "devices"}
    assert devices[site["cam1"]]["serial_no"] == "SN-9"
    assert devices[site["cam1"]]["location"] == "Gate 2" and devices[site["cam2"]]["location"] == "Roof"
    phone.close()


def test_expired_token_signs_in_again_with_the_same_client(http, store, site, new_client):
    phone = new_client(http)
    phone.sync()
    client_id, token = phone.client_id, phone.db.meta("token")
    with store.write() as db:
        db.execute("UPDATE tokens SET last_used_ms = 0")  # idle since 1970
    store._touched.clear()
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    report = phone.sync()
    assert [r.status for r in report.results] == ["applied"]
    assert phone.client_id == client_id and phone.db.meta("token") != token


def test_revoked_token_signs_in_again_with_the_same_client(http, store, site, new_client):
    phone = new_client(http)
    phone.sync()
    client_id = phone.client_id
    with store.write() as db:
        db.execute("UPDATE tokens SET revoked_at = '2026-11-20T10:15:00.000Z'")
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    assert [r.status for r in phone.sync().results] == ["applied"]
    assert phone.client_id == client_id


def test_a_revoked_phone_stops_keeps_its_outbox_and_enrols_again_only_after_a_sign_in(http, site, new_client, lin):
    # Regression (issue 9, finding 2): on client_unavailable the SDK enrolled a new client with the
    # password it kept in its database, and kept syncing after a supervisor had revoked it.
    phone = new_client(http)
    phone.sync()
    phone.record_check(site["inspection"], site["cam1"], "serviced")
    phone.sync()
    old_client = phone.client_id
    assert http.delete(f"/api/clients/{old_client}", headers=lin.headers).status_code == 204
    phone.record_check(site["inspection"], site["cam2"], "fault", note="no power")
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    with pytest.raises(E.ClientUnavailable, match="signed out") as refused:
        phone.sync()
    assert refused.value.extra["pending"] == 2
    clients = http.get("/api/clients", headers=lin.headers, params={"username": "wang"}).json()["clients"]
    assert [c["id"] for c in clients] == [old_client]  # nothing enrolled behind the supervisor's back
    assert len(phone.pending()) == 2  # the unsent work stays on the phone
    with pytest.raises(E.ClientUnavailable, match="signed out"):
        phone.sync()  # and it stays stopped, without asking the server again
    phone.login("wang", "demo")  # the technician signs in again, interactively
    report = phone.sync()
    assert phone.client_id != old_client
    assert [(r.seq, r.status) for r in report.results] == [(1, "applied"), (2, "applied")]
    assert phone.server_rows() == supervisor_rows(http)


def test_the_client_never_stores_a_password(http, store, site, tmp_path):
    path = tmp_path / "phone.db"
    with Client(path, http) as phone:
        phone.login("wang", "demo")
        phone.sync()
        # An expired token still recovers: the refresh credential signs the same client in again.
        client_id = phone.client_id
        with store.write() as db:
            db.execute("UPDATE tokens SET revoked_at = '2026-11-20T10:15:00.000Z'")
        phone.sync()
        assert phone.client_id == client_id
    files = [f for f in tmp_path.iterdir() if f.name.startswith("phone.db")]
    assert files and not [f for f in files if b"demo" in f.read_bytes()]
    # A database written by an older version, which kept the password, loses it on opening.
    with Client(path, http) as phone:
        phone.db.set_meta(password="demo")
    with Client(path, http) as phone:
        assert phone.db.meta("password") is None
        phone.sync()


def test_wrong_password_is_refused_and_not_remembered(http, site, tmp_path):
    phone = Client(tmp_path / "phone.db", http)
    with pytest.raises(E.InvalidCredentials):
        phone.login("wang", "nope")
    assert phone.client_id is None and phone.db.meta("refresh_token") is None
    with pytest.raises(E.Unauthorized):
        phone.record_check(str(uuid.uuid4()), str(uuid.uuid4()), "serviced")
    phone.close()


@pytest.mark.one_sqlite_server("backs up and restores the SQLite file (tests/client_sdk/support.Server)")
def test_server_restored_from_backup_gets_everything_resent(server, store, site, new_client, tmp_path):
    phone = new_client(server.http)
    phone.sync()
    check1 = phone.record_check(site["inspection"], site["cam1"], "serviced", items={"lens_cleaned": True})
    phone.sync()
    backup = server.backup(tmp_path / "backup.db")
    old_epoch, old_client = phone.server_epoch, phone.client_id
    check2 = phone.record_check(site["inspection"], site["cam2"], "fault", note="no power")
    cam3 = str(uuid.uuid4())
    store.write_server_changes([("devices", cam3, {"site_id": SITE, "code": "CAM-003", "status": "active"}, False)])
    phone.sync()
    assert {r["id"] for r in phone.rows("devices")} == {site["cam1"], site["cam2"], cam3}
    phone.close()
    # Restored from the backup: check2 and CAM-003 are gone from the server.
    http = server.restore(backup)
    phone = Client(tmp_path / "phone.db", http)
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    phone.sync()
    assert phone.server_epoch != old_epoch and phone.client_id != old_client
    assert phone.pending() == [] and phone.acked_seq == 3
    rows = supervisor_rows(http)
    assert phone.server_rows() == rows
    by_id = {r["id"]: r for r in rows}
    assert by_id[check1]["fields"]["item.lens_cleaned"] is True
    assert by_id[check2]["fields"]["note"] == "no power"
    assert by_id[site["cam1"]]["fields"]["location"] == "Gate 2"
    # The snapshot did not bring CAM-003: the client dropped its copy.
    assert cam3 not in by_id and phone.get("devices", cam3) is None
    phone.close()


@pytest.mark.one_sqlite_server("backs up and restores the SQLite file (tests/client_sdk/support.Server)")
def test_a_phone_enrolled_after_the_backup_signs_in_again_and_resends_everything(server, store, site, tmp_path):
    """The restored server never knew this client or its refresh credential: the phone is signed
    out, and the technician's sign-in enrols it anew as after any restore (all resent, a snapshot)."""
    backup = server.backup(tmp_path / "backup.db")
    phone = Client(tmp_path / "phone.db", server.http)
    phone.login("wang", "demo")
    phone.sync()
    check = phone.record_check(site["inspection"], site["cam1"], "serviced")
    phone.sync()
    old_epoch = phone.server_epoch
    phone.close()
    http = server.restore(backup)
    phone = Client(tmp_path / "phone.db", http)
    with pytest.raises(E.ClientUnavailable):
        phone.sync()
    phone.login("wang", "demo")
    phone.sync()
    assert phone.server_epoch != old_epoch and phone.pending() == []
    rows = {r["id"]: r for r in supervisor_rows(http)}
    assert rows[check]["fields"]["outcome"] == "serviced"  # acknowledged before, lost in the restore, resent
    assert phone.server_rows() == supervisor_rows(http)
    phone.close()


@pytest.mark.one_sqlite_server("backs up and restores the SQLite file (tests/client_sdk/support.Server)")
def test_restore_noticed_on_pull_with_an_empty_outbox(server, site, new_client, tmp_path):
    phone = new_client(server.http)
    phone.sync()
    backup = server.backup(tmp_path / "backup.db")
    check = phone.record_check(site["inspection"], site["cam1"], "serviced")
    phone.sync()
    phone.close()
    http = server.restore(backup)
    phone = Client(tmp_path / "phone.db", http)
    report = phone.sync()  # nothing pending: the pull is the first to see the new epoch
    # Regression (s26-phone3 item 2): the check resent after the pull found the restore is counted (was 0).
    assert (report.pushed, report.resent) == (1, 1)
    assert phone.server_rows() == supervisor_rows(http)
    assert phone.get("device_checks", check)["fields"]["outcome"] == "serviced"
    phone.close()


def test_expired_cursor_takes_a_fresh_snapshot(http, store, site, new_client):
    phone = new_client(http)
    phone.sync()
    gone = str(uuid.uuid4())
    store.write_server_changes([("devices", gone, {"site_id": SITE, "code": "CAM-009"}, False)])
    phone.sync()
    store.write_server_changes([("devices", gone, {}, True)])
    # The tombstone is purged before the client pulls it: its cursor is past the horizon.
    assert store.purge_tombstones(now_ms=hlc.wall_ms() + 365 * 86_400_000) == 1
    assert phone.get("devices", gone) is not None
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    phone.sync()
    assert phone.get("devices", gone) is None
    assert phone.get("devices", site["cam1"])["fields"]["location"] == "Gate 2"
    assert phone.server_rows() == supervisor_rows(http)
    assert phone.db.meta("snapshot") is None


@pytest.mark.one_sqlite_server("backs up and restores the SQLite file (tests/client_sdk/support.Server)")
def test_snapshot_cut_midway_finishes_on_the_next_sync(server, store, site, new_client, tmp_path):
    phone = new_client(server.http)
    phone.sync()
    backup = server.backup(tmp_path / "backup.db")
    gone = str(uuid.uuid4())
    store.write_server_changes([("devices", gone, {"site_id": SITE, "code": "CAM-009"}, False)])
    phone.sync()
    phone.close()
    http = server.restore(backup)
    wire, transport = cut_client(http)
    phone = Client(tmp_path / "phone.db", wire, page_size=1)
    # The pull that sees the new epoch, the enrolment, the snapshot's first page, then lost.
    transport.cut_after = {4}
    with pytest.raises(httpx.ReadError):
        phone.sync()
    assert phone.cursor != "0" and phone.db.meta("snapshot") == "running"
    assert phone.get("devices", gone) is not None  # not dropped before the snapshot completes
    phone.sync()
    assert phone.db.meta("snapshot") is None
    assert phone.get("devices", gone) is None
    assert phone.server_rows() == supervisor_rows(http)
    phone.close()


def test_skewed_clock_is_corrected_by_the_server(http, site, new_client):
    phone = new_client(http, wall=shifted(30 * MINUTE))
    phone.sync()
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    [result] = phone.push()
    assert result.status == "applied" and result.clock == "corrected"


def test_acknowledged_changes_are_forgotten_after_30_days(http, site, new_client):
    offset = [0]
    phone = new_client(http, wall=lambda: hlc.wall_ms() + offset[0])
    phone.sync()
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    phone.sync()
    assert phone.db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    offset[0] = 29 * 86_400_000
    phone.sync()
    assert phone.db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 1
    offset[0] = 31 * 86_400_000
    phone.sync()
    assert phone.db.conn.execute("SELECT count(*) FROM outbox").fetchone()[0] == 0


def test_conflicts_lists_what_concerns_the_technician(http, site, new_client):
    late, _ = _phone_behind_a_newer_write(http, site, new_client)
    late.write("devices", site["cam1"], {"location": "Lobby"})
    late.sync()
    lost = [c for c in late.conflicts() if c.kind == "lost"]
    assert [(c.row_id, c.register, c.new_value, c.old_value) for c in lost] == [
        (site["cam1"], "location", "Lobby", "Gate 2")
    ]


def test_another_user_cannot_take_over_a_database_with_data(http, site, new_client):
    phone = new_client(http)
    phone.sync()
    with pytest.raises(E.InvalidRequest, match="belongs to wang"):
        phone.login("zhao", "demo")


def test_an_applied_change_pulled_over_stays_off_through_a_fresh_snapshot(http, site, new_client):
    # Regression (contract sync-protocol.md "Client side"): an applied change stays laid over
    # until the client has pulled up to the push's version, and no longer. A fresh snapshot
    # (a cursor this server does not sign, or one expired) pages up from version 0, and each
    # page set the version pulled so far back down: the phone's own older value came back over
    # the newer one it had pulled, until the snapshot finished (a cut link: until the next sync).
    phone = new_client(http, page_size=1)
    phone.sync()
    phone.write("devices", site["cam1"], {"location": "Lobby"})
    phone.sync()
    office = new_client(http, "office", user="lin")
    office.sync()
    office.write("devices", site["cam1"], {"location": "Gate 2"})
    office.sync()
    phone.sync()
    assert phone.get("devices", site["cam1"])["fields"]["location"] == "Gate 2"
    phone.db.set_meta(cursor="v1.3.not-signed")  # as an older server's cursor: invalid_cursor, a snapshot

    class Cut(Exception):
        pass

    def cut(progress):
        raise Cut  # the link drops after the snapshot's first page was stored

    phone.on_progress = cut
    with pytest.raises(Cut):
        phone.pull()
    assert phone.cursor != "0"  # the first page is in
    assert phone.get("devices", site["cam1"])["fields"]["location"] == "Gate 2"
    phone.on_progress = None
    phone.pull()
    assert phone.get("devices", site["cam1"])["fields"]["location"] == "Gate 2"
    assert phone.server_rows() == supervisor_rows(http)


@pytest.mark.one_sqlite_server("backs up and restores the SQLite file (tests/client_sdk/support.Server)")
def test_an_edit_pushed_to_a_restored_server_stays_laid_over_until_pulled(server, store, site, new_client, tmp_path):
    # Regression (contract sync-protocol.md "Client side"): a technician's edit never flickers back
    # between push and pull. A restored server hands out again the versions it lost, lower than
    # the one the phone had pulled up to from it before: an edit pushed there was taken as pulled
    # already, and vanished from the phone until its next pull.
    phone = new_client(server.http)
    phone.sync()
    backup = server.backup(tmp_path / "backup.db")
    store.write_server_changes([("devices", str(uuid.uuid4()), {"site_id": SITE, "code": f"CAM-1{i:02d}"}, False)
                                for i in range(10)])
    phone.sync()
    phone.close()
    http = server.restore(backup)
    phone = Client(tmp_path / "phone.db", http)
    phone.write("devices", site["cam2"], {"location": "Roof"})
    [result] = phone.push()  # the restore is noticed here: enrolled anew, resent
    assert result.status == "applied"
    assert phone.get("devices", site["cam2"])["fields"]["location"] == "Roof"
    phone.pull()
    assert phone.get("devices", site["cam2"])["fields"]["location"] == "Roof"
    assert phone.server_rows() == supervisor_rows(http)
    phone.close()


@pytest.mark.one_sqlite_server("backs up and restores the SQLite file (tests/client_sdk/support.Server)")
def test_a_restored_server_gets_every_change_the_phone_still_holds(server, site, new_client, tmp_path):
    # Regression (contract sync-protocol.md "Client side"): when the server was restored, the client
    # resends everything it still holds. It resent only what it had acknowledged in the last 30
    # days, and dropped the rest from its outbox: an edit pushed 31 days ago, never pulled since
    # (so still held, laid over its rows), was lost with the restore.
    shift = [0]
    phone = new_client(server.http, wall=lambda: hlc.wall_ms() + shift[0])
    phone.sync()
    backup = server.backup(tmp_path / "backup.db")
    phone.write("devices", site["cam1"], {"location": "Roof"})
    [result] = phone.push()
    assert result.status == "applied"
    phone.close()
    shift[0] = 31 * 86_400_000
    http = server.restore(backup)
    phone = Client(tmp_path / "phone.db", http, wall=lambda: hlc.wall_ms() + shift[0])
    phone.sync()
    rows = {r["id"]: r for r in supervisor_rows(http)}
    assert rows[site["cam1"]]["fields"]["location"] == "Roof"
    assert phone.server_rows() == supervisor_rows(http)
    phone.close()


def test_a_sync_cut_before_it_starts_reports_nothing_of_the_last_one(http, site, new_client, monkeypatch):
    """fixphone32: a Ctrl-C in the housekeeping before the push printed the previous sync's counts."""
    phone = new_client(http)
    assert phone.sync().pulled == 4

    def interrupted() -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(phone.outbox, "prune", interrupted)
    with pytest.raises(KeyboardInterrupt):
        phone.sync()
    cut = phone.sync_so_far()
    assert (cut.pushed, cut.pulled, cut.uploaded) == (0, 0, 0)

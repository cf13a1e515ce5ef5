"""A phone enrolled anew in its own place (`seq_reused`, a revoked client signed in again) keeps what it
was told about its changes: the superseded and rejected ones stay listed, and an applied edit not yet
pulled stays laid over; only the unanswered changes are resent."""

from __future__ import annotations

import shutil
import uuid

import pytest

from client_sdk import Client
from client_sdk.cli import main
from sync import errors as E
from tests.client_sdk.support import restored, supervisor_rows


def _answered(phone: Client, site: dict[str, str]) -> str:
    """Push a check the server rejects (a device it does not know) and an edit it applies, and pull
    nothing after: returns the rejected check's id."""
    phone.sync()
    check = phone.record_check(site["inspection"], str(uuid.uuid4()), "serviced")
    phone.write("devices", site["cam1"], {"location": "Gate 2"})
    assert [r.status for r in phone.push()] == ["rejected", "applied"]
    return check


def _kept(phone: Client, site: dict[str, str], check: str) -> None:
    [problem] = phone.problems()
    assert (problem["id"], problem["status"], problem["reason"]) == (check, "rejected", "unknown_parent")
    assert phone.problems(unresolved_only=True) == [problem]
    assert phone.get("devices", site["cam1"])["fields"]["location"] == "Gate 2"  # not pulled yet


def test_a_phone_enrolled_anew_after_seq_reused_keeps_its_problems_and_its_edits(http, site, new_client, tmp_path):
    # Regression (s25-phone, known from the s24 note): re-enrolling after `seq_reused` kept only the
    # pending changes. The rejected check vanished from the technician's problems, and the applied
    # edit stopped being laid over: the phone showed CAM-001 without its new location until a pull.
    phone = new_client(http)
    check = _answered(phone, site)
    phone.close()
    backup = tmp_path / "backup.db"
    shutil.copyfile(tmp_path / "phone.db", backup)
    phone = Client(tmp_path / "phone.db", http)
    phone.write("devices", site["cam2"], {"serial_no": "SN-1"})  # seq 3, acknowledged, then lost below
    phone.sync()
    phone.close()
    phone = restored(tmp_path / "phone.db", backup, http)
    old_client = phone.client_id
    phone.write("devices", site["cam2"], {"location": "Roof"})  # seq 3 again, another change
    assert [(r.seq, r.status) for r in phone.push()] == [(1, "applied")]  # after seq_reused, renumbered
    assert phone.client_id != old_client and phone.pending() == []
    _kept(phone, site, check)
    phone.pull()
    _kept(phone, site, check)
    assert phone.get("devices", site["cam2"])["fields"]["location"] == "Roof"
    assert phone.server_rows() == supervisor_rows(http)
    # The kept changes never go out again: the next change is seq 2 of the new client.
    assert phone.write("devices", site["cam2"], {"model": "DS-2CD"}) == 2
    assert [(r.seq, r.status) for r in phone.sync().results] == [(2, "applied")]
    assert len(phone.problems()) == 1


def test_a_revoked_phone_signed_in_again_keeps_its_problems_and_its_edits(http, site, new_client, lin, tmp_path,
                                                                           capsys):
    # Regression (s25-phone): the same loss when a supervisor revoked the phone and its technician
    # signed in again with the password (a new client, the pending changes renumbered).
    phone = new_client(http)
    check = _answered(phone, site)
    assert http.delete(f"/api/clients/{phone.client_id}", headers=lin.headers).status_code == 204
    phone.write("devices", site["cam2"], {"location": "Roof"})
    with pytest.raises(E.ClientUnavailable):
        phone.sync()
    phone.login("wang", "demo")
    _kept(phone, site, check)
    # The CLI lists it without a seq: its old one is gone, and a seq below 1 means nothing to anyone.
    assert main(["--db", str(tmp_path / "phone.db"), "outbox"], http=http) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if check in x]
    assert line.split()[:3] == ["#-", "rejected", "unknown_parent"]
    assert [(r.seq, r.status) for r in phone.push()] == [(1, "applied")]
    _kept(phone, site, check)
    phone.sync()
    assert phone.server_rows() == supervisor_rows(http)
    assert [p["id"] for p in phone.problems()] == [check]

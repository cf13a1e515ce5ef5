"""What a technician's phone does and says after the server was restored from a backup, with a real
server process and `fieldsync restore` (helpers of `test_restore`)."""

from __future__ import annotations

import io
from contextlib import redirect_stdout
from pathlib import Path

from bench._server import ServerProcess
from client_sdk.cli.main import main as phone
from server.cli import main
from sync.messages import words
from sync.schema import device_check_id as check_id
from tests.e2e.test_restore import open_client, server_state
from tests.reliability.wire import INSPECTION, prepare

STROKES = [[[10.0, 40.0], [30.0, 10.0], [50.0, 40.0]], [[90.0, 25.0], [140.0, 30.0]]]


def test_a_partly_signed_sheet_resent_after_a_restore_is_verified_against_its_own_sheet(tmp_path: Path) -> None:
    # Regression (s26-phone3 item 3): after a restore the phone resent the customer's signature before its
    # sheet and image went up again, so the restored server checked it against the inspection's full sheet
    # (a mismatch for a sheet that listed only some checks) or refused it for its missing image.
    data, dest = tmp_path / "server", tmp_path / "backup"
    dev = prepare(data, ["wang"], 3)
    server = ServerProcess(data).start()
    try:
        wang, http = open_client(tmp_path / "wang.db", server.url, "wang")
        for device in dev[:2]:
            wang.record_check(INSPECTION, device, "serviced", note="ok")
        wang.sync()
        assert main(["backup", "--data", str(data), "--to", str(dest)]) == 0
        # After the backup: the customer signs for the first device only; the second stays unsigned.
        signature = wang.sign(INSPECTION, "陈女士", strokes=STROKES, devices=[dev[0]])
        wang.sync()
        assert wang.get("signatures", signature)["fields"]["verification"] == "valid"
        wang.close()
        http.close()
    finally:
        server.stop()

    assert main(["restore", "--from", str(dest), "--data", str(data), "--force"]) == 0
    server.start()
    try:
        wang, http = open_client(tmp_path / "wang.db", server.url)
        report = wang.sync()
        state = server_state(server.url)
        wang.close()
        http.close()
    finally:
        server.stop()

    assert ("signatures", signature) in state, "the resent signature was refused"
    assert state[("signatures", signature)][0]["verification"] == "valid"
    sealed = {key[1]: fields.get("sealed_by") for key, (fields, _, _) in state.items() if key[0] == "device_checks"}
    assert sealed == {check_id(INSPECTION, dev[0]): signature, check_id(INSPECTION, dev[1]): None}
    assert report.resent == 3  # the two checks and the signature


def test_the_phone_tells_the_changes_it_resent_after_a_restore(tmp_path: Path) -> None:
    # Regression (s26-phone3 item 2): after a restore `sync` printed "0 change(s) pushed" although the phone
    # had enrolled anew and resent its work, and said nothing of the restore.
    data, dest = tmp_path / "server", tmp_path / "backup"
    dev = prepare(data, ["wang"], 4)
    db = tmp_path / "wang.db"
    server = ServerProcess(data).start()
    try:
        assert phone(["--db", str(db), "--server", server.url, "login", "wang", "--password", "demo"]) == 0
        assert main(["backup", "--data", str(data), "--to", str(dest)]) == 0
        wang, http = open_client(db, server.url)
        for device in dev:
            wang.record_check(INSPECTION, device, "serviced", note="after the backup")
        wang.close()
        http.close()
        assert phone(["--db", str(db), "--server", server.url, "sync"]) == 0
    finally:
        server.stop()

    assert main(["restore", "--from", str(dest), "--data", str(data), "--force"]) == 0
    server.start()
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            assert phone(["--db", str(db), "--server", server.url, "sync"]) == 0
        state = server_state(server.url)
    finally:
        server.stop()

    lines = out.getvalue().splitlines()
    cli = words("cli", "en")
    # The four checks were sent again, are counted, and are on the restored server.
    assert lines[0] == cli["synced"].format(pushed=4, pulled=lines[0].split(", ")[1].split()[0]), lines
    assert lines[1] == cli["restored"].format(count=4)
    assert sum(key[0] == "device_checks" for key in state) == 4

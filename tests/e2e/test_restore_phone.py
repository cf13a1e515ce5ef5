"""What a technician's phone does and says after the server was restored from a backup, with a real
server process and `fieldsync restore` (helpers of `test_restore`)."""

from __future__ import annotations

import io
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from bench._server import ServerProcess
from client_sdk import Client, SyncReport
from client_sdk.cli.main import main as phone
from client_sdk.outbox import Progress
from server.cli import main
from sync.messages import words
from sync.schema import device_check_id as check_id
from tests.e2e.test_restore import open_client, server_state
from tests.reliability.wire import INSPECTION, Wire, prepare

STROKES = [[[10.0, 40.0], [30.0, 10.0], [50.0, 40.0]], [[90.0, 25.0], [140.0, 30.0]]]


def checked_then_backed_up(tmp_path: Path) -> tuple[ServerProcess, Client, httpx.Client, list[str]]:
    """A real server (its data in `tmp_path`/server) where Wang's phone checks two of three devices and syncs; then
    the server is backed up to `tmp_path`/backup. Returns the server, running, the phone, its HTTP client and the
    devices."""
    data, dest = tmp_path / "server", tmp_path / "backup"
    dev = prepare(data, ["wang"], 3)
    server = ServerProcess(data).start()
    try:
        wang, http = open_client(tmp_path / "wang.db", server.url, "wang")
        for device in dev[:2]:
            wang.record_check(INSPECTION, device, "serviced", note="ok")
        wang.sync()
        assert main(["backup", "--data", str(data), "--to", str(dest)]) == 0
    except BaseException:
        server.stop()
        raise
    return server, wang, http, dev


def restored(tmp_path: Path) -> int:
    """`fieldsync restore` of the backup `checked_then_backed_up` took."""
    return main(["restore", "--from", str(tmp_path / "backup"), "--data", str(tmp_path / "server"), "--force"])


def signed_after_a_backup_then_restored(tmp_path: Path, renew_token: bool = False,
                                        ) -> tuple[ServerProcess, list[str], str]:
    """Wang's phone checks two of three devices and syncs; after a backup the customer signs for the first device
    only (the second stays unsigned), and the phone syncs (with `renew_token`, its token dead first, so that sync
    renews it); the backup is restored. Returns the restored server, started, the devices and the signature."""
    server, wang, http, dev = checked_then_backed_up(tmp_path)
    try:
        signature = wang.sign(INSPECTION, "陈女士", strokes=STROKES, devices=[dev[0]])
        if renew_token:
            wang.db.set_meta(token="expired")
        wang.sync()
        assert wang.get("signatures", signature)["fields"]["verification"] == "valid"
        assert wang.pending() == [] and wang.uploads(waiting_only=True) == []
        wang.close()
        http.close()
    finally:
        server.stop()
    assert restored(tmp_path) == 0
    return server.start(), dev, signature


@pytest.mark.parametrize("renew_token", [False, True])
def test_a_partly_signed_sheet_resent_after_a_restore_is_verified_against_its_own_sheet(tmp_path: Path,
                                                                                      renew_token: bool) -> None:
    # Regression (s26-phone3 item 3): after a restore the phone resent the customer's signature before its
    # sheet and image went up again, so the restored server checked it against the inspection's full sheet
    # (a mismatch for a sheet that listed only some checks) or refused it for its missing image.
    # Regression (s26-phone4 item 1), `renew_token`: the phone's token was renewed after the backup, so after the
    # restore its first request, an upload, was refused 401 and the re-sign-in found the restore inside that
    # upload. The sheets and images queued again by the recovery were not in that run's list: the push resent
    # the customer's signature before its image, and the restored server refused it.
    server, dev, customer = signed_after_a_backup_then_restored(tmp_path, renew_token)
    try:
        wang, http = open_client(tmp_path / "wang.db", server.url)
        own = []
        if renew_token:
            # Offline, before this sync: the technician signs the same sheet; only his image waits to go.
            own = [wang.sign(INSPECTION, "王工", "technician", strokes=STROKES[:1], devices=[dev[0]])]
            assert [u["kind"] for u in wang.uploads(waiting_only=True)] == ["image"]
        report = wang.sync()
        state = server_state(server.url)
        wang.close()
        http.close()
    finally:
        server.stop()

    for signature in (customer, *own):
        assert ("signatures", signature) in state, "a resent signature was refused"
        assert state[("signatures", signature)][0]["verification"] == "valid"
    sealed = {key[1]: fields.get("sealed_by") for key, (fields, _, _) in state.items() if key[0] == "device_checks"}
    assert sealed == {check_id(INSPECTION, dev[0]): customer, check_id(INSPECTION, dev[1]): None}
    assert report.resent == 3 + len(own)  # the two checks and the signature (and the new one, renumbered)


def checked_after_a_backup_then_restored(tmp_path: Path, db: Path, devices: int,
                                         sign_in_again: bool = False) -> ServerProcess:
    """Wang's phone (the CLI) signs in; after a backup it records a check of each device and syncs (with
    `sign_in_again`, signing in with his password first: a sign-in the backup lacks); the backup is restored.
    Returns the restored server, started."""
    data, dest = tmp_path / "server", tmp_path / "backup"
    dev = prepare(data, ["wang"], devices)
    server = ServerProcess(data).start()
    try:
        assert phone(["--db", str(db), "--server", server.url, "login", "wang", "--password", "demo"]) == 0
        assert main(["backup", "--data", str(data), "--to", str(dest)]) == 0
        wang, http = open_client(db, server.url)
        for device in dev:
            wang.record_check(INSPECTION, device, "serviced", note="after the backup")
        wang.close()
        http.close()
        if sign_in_again:
            assert phone(["--db", str(db), "--server", server.url, "login", "wang", "--password", "demo"]) == 0
        assert phone(["--db", str(db), "--server", server.url, "sync"]) == 0
    finally:
        server.stop()
    assert main(["restore", "--from", str(dest), "--data", str(data), "--force"]) == 0
    return server.start()


def said_then_stopped(server: ServerProcess, db: Path, *commands: list[str]) -> tuple[list[str], dict[Any, Any]]:
    """Run the phone's CLI `commands` against `server`, then stop it: the lines they printed, the server's rows."""
    out = io.StringIO()
    try:
        with redirect_stdout(out):
            for command in commands:
                assert phone(["--db", str(db), "--server", server.url, *command]) == 0
        state = server_state(server.url)
    finally:
        server.stop()
    return out.getvalue().splitlines(), state


def test_the_phone_tells_the_changes_it_resent_after_a_restore(tmp_path: Path) -> None:
    # Regression (s26-phone3 item 2): after a restore `sync` printed "0 change(s) pushed" although the phone
    # had enrolled anew and resent its work, and said nothing of the restore.
    db = tmp_path / "wang.db"
    server = checked_after_a_backup_then_restored(tmp_path, db, 4)
    lines, state = said_then_stopped(server, db, ["sync"])
    cli = words("cli", "en")
    # The four checks were sent again, are counted, and are on the restored server.
    assert lines[0] == cli["synced"].format(pushed=4, pulled=lines[0].split(", ")[1].split()[0]), lines
    assert lines[1] == cli["restored"].format(count=4)
    assert sum(key[0] == "device_checks" for key in state) == 4


def test_a_restore_found_by_login_is_told(tmp_path: Path) -> None:
    # Regression (s26-phone4 item 2): a technician signed out at the restored server (his sign-in renewed after
    # the backup, which the backup lacks) signs in again with his password: `login` found the restore, enrolled
    # anew and queued his work again, but said nothing of it.
    db = tmp_path / "wang.db"
    server = checked_after_a_backup_then_restored(tmp_path, db, 3, sign_in_again=True)
    lines, state = said_then_stopped(server, db, ["login", "wang", "--password", "demo"], ["sync"])
    cli = words("cli", "en")
    assert lines[1] == cli["restored_login"].format(count=3), lines
    assert sum(key[0] == "device_checks" for key in state) == 3


def conflict_log(url: str) -> list[dict[str, Any]]:
    """Every entry of the server's conflict log, as the supervisor reads it."""
    lin = Wire(url, "lin")
    try:
        return list(Wire.checked(lin.http.get("/api/conflicts", headers=lin.headers,
                                              params={"limit": 1000}))["conflicts"])
    finally:
        lin.close()


def synced_then_stopped(server: ServerProcess, wang: Client, http: httpx.Client,
                        ) -> tuple[SyncReport, dict[Any, Any], list[dict[str, Any]]]:
    """One sync of Wang's phone, which leaves nothing waiting; then the server's rows and conflict log, the phone
    closed and the server stopped."""
    try:
        report = wang.sync()
        assert wang.pending() == [] and wang.uploads(waiting_only=True) == []
        return report, server_state(server.url), conflict_log(server.url)
    finally:
        wang.close()
        http.close()
        server.stop()


def test_a_seq_gap_from_a_restored_server_is_met_as_the_restore_it_is(tmp_path: Path) -> None:
    # Regression (s27-phone6 item 1): after a restore with a new epoch whose first answer to the phone was a 409
    # seq_gap (its token still in the backup, a check recorded since), the phone read only a success's epoch and
    # took the gap for a server restored without one: it resent its changes as its old client, and only that
    # push's answer showed the new epoch, so it enrolled anew and resent everything again. The conflict log kept
    # every entry of the resent rows twice, and the inspection's "in progress", resent after the first resend
    # had completed it, was refused. The phone now reads the epoch header of error answers too.
    server, dev, customer = signed_after_a_backup_then_restored(tmp_path)
    wang, http = open_client(tmp_path / "wang.db", server.url)
    wang.record_check(INSPECTION, dev[2], "fault", note="after the restore")
    report, state, log = synced_then_stopped(server, wang, http)

    assert report.resent == 5, report  # the two checks, the signature, the inspection started and the new check
    assert state[("signatures", customer)][0]["verification"] == "valid"
    refused = [(c["collection"], c["kind"], c.get("detail")) for c in log if c["kind"].startswith("rejected")]
    assert refused == [], refused
    entries = [(c["collection"], c["row_id"], c["register"], c["kind"]) for c in log]
    assert len(entries) == len(set(entries)), entries


def test_a_restore_met_by_a_photo_upload_after_the_push_has_the_resent_changes_pushed_after_their_bytes(
        tmp_path: Path) -> None:
    # `Client._upload_all` (s27-phone6 item 3): the server is restored between the push and the photo's upload;
    # the phone's token, renewed after the backup, is refused there, and the re-sign-in finds the new epoch inside
    # the upload. The same sync sends the sheet and the signature's image again, then the resent changes, then
    # the photo: nothing is left waiting, and the customer's signature is valid on the restored server.
    jpeg = tmp_path / "after.jpg"
    Image.new("RGB", (64, 48), (200, 40, 40)).save(jpeg, "JPEG")
    restored_at: list[str] = []
    server, wang, http, dev = checked_then_backed_up(tmp_path)

    def restore_once_pushed(progress: Progress) -> None:
        if progress.what == "push" and not restored_at:
            server.stop()
            assert restored(tmp_path) == 0
            server.start()
            restored_at.append("after the push")

    try:
        customer = wang.sign(INSPECTION, "陈女士", strokes=STROKES, devices=[dev[0]])
        photo = wang.add_photo(INSPECTION, dev[0], jpeg)
        wang.db.set_meta(token="expired")  # its next request renews it: a token the backup lacks
        wang.on_progress = restore_once_pushed
    except BaseException:
        server.stop()
        raise
    report, state, log = synced_then_stopped(server, wang, http)

    assert restored_at == ["after the push"]
    assert report.resent == 4, report  # the two checks, the signature and the photo
    assert state[("signatures", customer)][0]["verification"] == "valid"
    assert ("photos", photo) in state
    assert [c for c in log if c["kind"].startswith("rejected")] == []


class ResendLost(httpx.HTTPTransport):
    """Loses the answer of the first push the server takes (200), after it has handled it."""

    lost = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path == "/sync/push" and response.status_code == 200 and not self.lost:
            response.read()
            response.close()
            self.lost += 1
            raise httpx.ReadError("the link dropped before the answer came", request=request)
        return response


def test_a_sync_cut_before_its_resend_after_a_restore_was_acknowledged_does_not_claim_it_sent_it(
        tmp_path: Path) -> None:
    # Regression (s29 review of phone29, finding 1): the restore found, the sheet and the signature's image went up
    # again, then the resend push's answer was lost. The cut sync printed "0 change(s) pushed" beside "… sent your
    # recent work again (3 change(s), counted above)": nothing was counted, and the changes were still waiting.
    # A cut sync now says they go at the next sync.
    server, _, _ = signed_after_a_backup_then_restored(tmp_path)
    db = tmp_path / "wang.db"
    lossy = ResendLost()
    http = httpx.Client(base_url=server.url, transport=lossy, timeout=30)
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            status = phone(["--db", str(db), "sync"], http=http)
        waiting = Client(db, http)
        held = len(waiting.pending())
        waiting.close()
        lines, state = said_then_stopped(server, db, ["sync"])
    finally:
        http.close()
        server.stop()
    cli = words("cli", "en")
    assert (status, lossy.lost) == (3, 1), err.getvalue()
    assert held == 3  # the two checks and the signature, all still held
    assert out.getvalue().splitlines() == [cli["synced"].format(pushed=0, pulled=0),
                                           cli["restored_login"].format(count=held),
                                           cli["uploaded"].format(count=2)]
    # The next sync sends them; the restored server holds the customer's signature.
    assert lines[0].startswith(cli["synced"].format(pushed=held, pulled=0).split(",")[0]), lines
    assert sum(key[0] == "signatures" for key in state) == 1

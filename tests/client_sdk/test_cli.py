"""The `fieldsync-client` CLI against the real server (its test client passed in)."""

from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import httpx
import pytest
from PIL import Image

from client_sdk import Client
from client_sdk.cli import MESSAGES, main
from sync.schema import device_check_id
from tests.conftest import SITE


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "cli.db")


def test_login_check_by_code_outbox_and_sync(http, site, store, db, capsys):
    items = [{"key": "lens_cleaned", "label": "Lens wiped clean", "type": "bool"},
             {"key": "screws", "label": "Screws tightened", "type": "int"}, {"key": "label", "label": "Label", "type": "text"}]
    store.write_server_changes([("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "template-dome")),
                                 {"kind": "dome_camera", "title": "Dome", "items": json.dumps(items)}, False)])
    assert main(["--db", db, "login", "wang", "--password", "demo", "--name", "wang-phone"], http=http) == 0
    assert "Signed in as Wang (technician)" in capsys.readouterr().out
    assert main(["--db", db, "sync"], http=http) == 0
    assert "5 row(s) pulled" in capsys.readouterr().out  # the site, its two devices and inspection, the checklist

    assert main(["--db", db, "inspections"], http=http) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert "2026-Q4" in line and "Test park" in line and "0/2" in line and "2026-12-20" in line

    prefix = site["inspection"][:8]
    assert main(["--db", db, "check", prefix, "cam-001", "--outcome", "serviced",
                 "--item", "lens_cleaned=true", "--item", "screws=4", "--item", "label=faded"], http=http) == 0
    assert "Recorded CAM-001: serviced (pending, seq 1)" in capsys.readouterr().out
    assert main(["--db", db, "outbox"], http=http) == 0
    out = capsys.readouterr().out
    assert "1 change(s) waiting" in out and device_check_id(site["inspection"], site["cam1"]) in out

    # Offline still counts what is recorded: the overlay shows the check.
    assert main(["--db", db, "inspections"], http=http) == 0
    out = capsys.readouterr().out
    assert "1/2" in out
    sheet_no = out.split()[0]
    assert sheet_no.startswith("PM-2026Q4")
    assert main(["--db", db, "check", sheet_no, "CAM-002", "--outcome", "not_accessible",
                 "--note", "no key to the room"], http=http) == 0
    assert "Recorded CAM-002: not_accessible (pending, seq 2)" in capsys.readouterr().out

    assert main(["--db", db, "sync"], http=http) == 0
    assert "2 change(s) pushed" in capsys.readouterr().out
    assert main(["--db", db, "outbox"], http=http) == 0
    out = capsys.readouterr().out
    assert "0 change(s) waiting" in out and MESSAGES["no_problems"] in out

    client = Client(db, http)
    check = client.get("device_checks", device_check_id(site["inspection"], site["cam1"]))
    assert check["fields"]["item.lens_cleaned"] is True
    assert check["fields"]["item.screws"] == 4 and check["fields"]["item.label"] == "faded"
    assert client.server_url == "http://testserver.local"
    client.close()


def test_check_refuses_what_it_cannot_find_or_the_server_would_refuse(http, site, db, capsys):
    main(["--db", db, "login", "wang", "--password", "demo"], http=http)
    main(["--db", db, "sync"], http=http)
    capsys.readouterr()
    assert main(["--db", db, "check", "ffff", "CAM-001", "--outcome", "serviced"], http=http) == 2
    assert "No inspection matches" in capsys.readouterr().err
    assert main(["--db", db, "check", site["inspection"], "CAM-404", "--outcome", "serviced"], http=http) == 2
    assert "No device 'CAM-404'" in capsys.readouterr().err
    assert main(["--db", db, "check", site["inspection"], "CAM-002", "--outcome", "fault"], http=http) == 1
    assert "note is required" in capsys.readouterr().err
    assert main(["--db", db, "check", site["inspection"], "CAM-002", "--outcome", "serviced",
                 "--item", "oops"], http=http) == 2
    assert "ITEM=VALUE" in capsys.readouterr().err
    assert main(["--db", db, "outbox"], http=http) == 0
    assert "0 change(s) waiting" in capsys.readouterr().out


def test_commands_need_a_login_first(http, db, capsys):
    assert main(["--db", db, "outbox"], http=http) == 2
    assert "login" in capsys.readouterr().err


def _token(http) -> str:
    return http.post("/auth/token", json={"username": "lin", "password": "demo", "client_name": "t"}).json()["token"]


def _one(entries, **match):
    [found] = [e for e in entries if all(e.get(k) == v for k, v in match.items())]
    return found


def test_conflicts_show_the_lost_value(http, site, db, tmp_path, capsys):
    main(["--db", db, "login", "wang", "--password", "demo"], http=http)
    main(["--db", db, "sync"], http=http)
    other = str(tmp_path / "other.db")
    main(["--db", other, "login", "wang", "--password", "demo"], http=http)
    main(["--db", other, "sync"], http=http)
    main(["--db", db, "check", site["inspection"], "CAM-001", "--outcome", "serviced", "--note", "first"], http=http)
    main(["--db", other, "check", site["inspection"], "CAM-001", "--outcome", "fault", "--note", "second"],
         http=http)
    main(["--db", db, "sync"], http=http)
    main(["--db", other, "sync"], http=http)
    capsys.readouterr()
    assert main(["--db", db, "conflicts"], http=http) == 0
    out = capsys.readouterr().out
    assert "overwritten" in out and "“second”" in out and "“first”" in out
    # Regression (issue 10, finding 13): the CLI printed Python dicts, row UUIDs and no-op entries.
    [line] = [x for x in out.splitlines() if "overwritten" in x]
    assert " CAM-001 " in line and site["cam1"][:8] not in line
    assert "{" not in line and "'" not in line and "checked_by" not in line  # the same on both sides
    at = http.get("/api/conflicts", headers={"Authorization": f"Bearer {_token(http)}"}).json()["conflicts"]
    shanghai = datetime.fromisoformat(_one(at, kind="overwritten", register="result")["at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert line.startswith(f"  {shanghai:%Y-%m-%d %H:%M} overwritten")
    same = sum(bool(e.get("no_op")) for e in at)
    assert same >= 1 and f"{same} more where both sides wrote the same value (nothing lost) not shown." in out
    # Regression (s28 repair): a logged time (the checks' `checked_at`) read as the wire's UTC, eight hours off
    # the entry's own time beside it; it reads on the site's clock.
    entry = _one(at, kind="overwritten", register="result")
    for side in ("old_value", "new_value"):
        checked = datetime.fromisoformat(entry[side]["checked_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
        assert f"checked_at “{checked:%Y-%m-%d %H:%M:%S}”" in line and entry[side]["checked_at"] not in line, line


def test_database_path_from_the_environment(http, site, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("FIELDSYNC_CLIENT_DB", str(tmp_path / "env.db"))
    assert main(["login", "wang", "--password", "demo"], http=http) == 0
    assert (tmp_path / "env.db").exists()


def test_unreachable_server_is_reported_and_nothing_is_lost(http, site, db, capsys):
    main(["--db", db, "login", "wang", "--password", "demo"], http=http)
    main(["--db", db, "sync"], http=http)
    main(["--db", db, "check", site["inspection"], "CAM-001", "--outcome", "skipped"], http=http)
    capsys.readouterr()
    assert main(["--db", db, "--server", "http://127.0.0.1:9", "sync"]) == 3
    assert "cannot be reached" in capsys.readouterr().err
    main(["--db", db, "outbox"], http=http)
    assert "1 change(s) waiting" in capsys.readouterr().out


class _SignalLostInUploads(httpx.BaseTransport):
    """Forwards to the server, but the signal is lost at the first upload (tus, `/files`)."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner = inner

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.startswith("/files"):
            raise httpx.ConnectError("no signal", request=request)
        return self.inner.handle_request(request)


def _photo_taken(http: httpx.Client, site: dict[str, str], db: str, tmp_path: Path) -> None:
    """Wang signs in on the phone, syncs, and takes a photo of CAM-001 (its upload queued)."""
    main(["--db", db, "login", "wang", "--password", "demo"], http=http)
    main(["--db", db, "sync"], http=http)
    jpeg = tmp_path / "cam1.jpg"
    Image.new("RGB", (64, 48), (20, 120, 200)).save(jpeg, "JPEG")
    assert main(["--db", db, "photo", site["inspection"], "CAM-001", str(jpeg)], http=http) == 0


def test_a_sync_cut_in_an_upload_says_the_upload_is_kept(http, site, db, tmp_path, capsys):
    # Regression (s27-phone6 walk): a sync whose push went through and whose photo upload met no signal said
    # "nothing of yours is waiting to be sent", while the photo had not reached the server.
    _photo_taken(http, site, db, tmp_path)
    capsys.readouterr()
    cut = httpx.Client(transport=_SignalLostInUploads(http._transport), base_url=http.base_url)
    assert main(["--db", db, "sync"], http=cut) == 3
    err = capsys.readouterr().err.strip()
    assert err == MESSAGES["offline_uploads"].format(url=str(http.base_url).rstrip("/"), error="no signal", uploads=1)
    assert main(["--db", db, "sync"], http=http) == 0
    assert main(["--db", db, "uploads"], http=http) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "0 upload(s) waiting."


def test_an_upload_that_failed_is_not_promised_for_later_but_told_with_what_to_do(http, site, db, tmp_path, capsys):
    # Regression (s27-fixphone item 4): a photo whose prepared file was gone (or whose bytes the server refused)
    # is `failed`, and nothing sends it again; yet a sync said it was "still waiting", and offline the phone said
    # it was "kept and will be sent later". The technician learnt nothing of taking it again.
    _photo_taken(http, site, db, tmp_path)
    phone = Client(db, http)
    [upload] = phone.uploads()
    phone.close()
    Path(upload["path"]).unlink()  # the prepared file is gone
    capsys.readouterr()
    assert main(["--db", db, "sync"], http=http) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1:] == [MESSAGES["uploads_failed"].format(count=1)]  # not "1 upload(s) still waiting"
    main(["--db", db, "check", site["inspection"], "CAM-001", "--outcome", "skipped"], http=http)
    capsys.readouterr()
    assert main(["--db", db, "--server", "http://127.0.0.1:9", "sync"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].startswith("The server at http://127.0.0.1:9 cannot be reached")
    assert err[0].endswith(MESSAGES["offline"].split("}")[-1]), err  # one change kept; no upload promised
    assert err[1:] == [MESSAGES["uploads_failed"].format(count=1)]


def test_every_command_is_documented(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for command in ("login", "sync", "inspections", "check", "outbox", "conflicts"):
        assert command in out


def test_outbox_names_what_is_still_to_send_by_sheet_and_device_and_its_times_on_the_sites_clock(
        http, site, db, capsys):
    """Regression (s28 repair): `outbox`, the technician's list of what is still to send, named each change by
    collection and uuid only and showed its times as the wire's UTC (`checked_at='2026-12-07T12:26:21.902Z'`),
    eight hours off the clock in the plant room."""
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert main(["--db", db, "check", site["inspection"], "CAM-001", "--outcome", "serviced"], http=http) == 0
    capsys.readouterr()
    assert main(["--db", db, "outbox"], http=http) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if device_check_id(site["inspection"], site["cam1"]) in x]
    phone = Client(db, http)
    try:
        checked_at = phone.get("device_checks", device_check_id(site["inspection"], site["cam1"]))["fields"]["checked_at"]
        sheet_no = phone.get("inspections", site["inspection"])["fields"]["sheet_no"]
    finally:
        phone.close()
    assert f" {sheet_no} CAM-001: " in line, line
    local = datetime.fromisoformat(checked_at).astimezone(ZoneInfo("Asia/Shanghai"))  # the test site's zone
    assert f"checked_at='{local:%Y-%m-%d %H:%M:%S}'" in line and checked_at not in line, line


def _outbox_shows_on(db: str, http: httpx.Client, capsys: pytest.CaptureFixture[str], checked_at: str,
                     zone: str) -> None:
    """`outbox` shows the waiting check's `checked_at` on the clock of `zone`."""
    capsys.readouterr()
    assert main(["--db", db, "outbox"], http=http) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if "checked_at=" in x]
    local = datetime.fromisoformat(checked_at).astimezone(ZoneInfo(zone))
    assert f"checked_at='{local:%Y-%m-%d %H:%M:%S}'" in line, line


def test_a_change_labelled_before_labels_kept_a_zone_shows_its_sites_clock_once_the_site_leaves(
        http, site, store, db, capsys):
    """Regression (s29 phone walk): a change recorded by the app before session 28 has a label with no `tz`; once
    its site left the phone, `outbox` showed its times on the default zone (Asia/Shanghai), 15 hours off for a
    site in Los Angeles. The upgrade (phone migration m008) fills the zone in while the site is still held."""
    store.write_server_changes([("sites", SITE, {"name": "Test park", "customer": "ACME",
                                                 "tz": "America/Los_Angeles"}, False)])
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert main(["--db", db, "check", site["inspection"], "CAM-001", "--outcome", "serviced"], http=http) == 0
    old = sqlite3.connect(db)  # as the app before session 28 wrote it: no zone in the label, m008 not applied
    with old:
        old.execute("UPDATE outbox SET label = json_remove(label, '$.tz')")
        old.execute("DELETE FROM _sqlite_migrations WHERE name = 'm008_outbox_label_tz'")
    old.close()
    phone = Client(db, http)  # the upgraded app opens it
    phone.close()
    phone = Client(db, http)  # and again: nothing changes twice
    try:
        assert [p["label"].get("tz") for p in phone.pending()] == ["America/Los_Angeles"]
        store.remove_member(SITE, "wang")
        phone.pull()
        assert phone.get("sites", SITE) is None
        checked_at = next(p for p in phone.pending() if p["collection"] == "device_checks")["fields"]["checked_at"]
    finally:
        phone.close()
    _outbox_shows_on(db, http, capsys, checked_at, "America/Los_Angeles")


def test_outbox_shows_a_change_whose_site_left_the_phone_on_that_sites_clock(http, site, store, db, capsys):
    """Regression (s28 fixrepair, item 4): a change still to send whose site had left the phone (a pull that took
    him off it while the change waited) had its times shown on the default zone, not the site's."""
    store.write_server_changes([("sites", SITE, {"name": "Test park", "customer": "ACME", "tz": "Asia/Urumqi"},
                                 False)])
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert main(["--db", db, "check", site["inspection"], "CAM-001", "--outcome", "serviced"], http=http) == 0
    store.remove_member(SITE, "wang")
    phone = Client(db, http)
    try:
        phone.pull()  # the site's rows leave the phone; the check still waits to be sent
        assert phone.get("sites", SITE) is None
        checked_at = phone.pending()[0]["fields"]["checked_at"]
    finally:
        phone.close()
    _outbox_shows_on(db, http, capsys, checked_at, "Asia/Urumqi")

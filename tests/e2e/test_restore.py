"""A restore from backup loses nothing a client still remembers.

A real server process; two technicians' clients (the SDK) sync before and
after a backup; the operator restores the backup with `fieldsync restore`.
The restored server has a new `server_epoch`: each client enrols anew,
resends everything it still holds, takes a fresh snapshot, and in the end
every client holds exactly the server's rows, which include every change
made after the backup.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from bench._server import ServerProcess
from client_sdk import Client
from server.cli import main
from tests.reliability.wire import INSPECTION, full_pull, prepare


def open_client(path: Path, url: str, user: str | None = None) -> tuple[Client, httpx.Client]:
    http = httpx.Client(base_url=url, timeout=30)
    client = Client(path, http)
    if user is not None:
        client.login(user, "demo")
    return client, http


def shown(client: Client) -> dict[tuple[str, str], Any]:
    return {(r["collection"], r["id"]): (r["fields"], r["deleted"], r["version"]) for r in client.server_rows()}


def server_state(url: str) -> dict[tuple[str, str], Any]:
    return {key: (r["fields"], r["deleted"], r["version"]) for key, r in full_pull(url).items()}


def photo(client: Client, number: int, caption: str) -> str:
    photo_id = f"00000000-0000-4000-8000-{number:012d}"
    client.create("photos", photo_id, {
        "inspection_id": INSPECTION, "sha256": f"{number:064x}", "content_type": "image/jpeg",
        "bytes": 1000 + number, "taken_at": "2026-11-20T10:15:00.000Z", "caption": caption, "stage": "after",
    })
    return photo_id


def test_clients_resend_what_they_hold_after_a_restore(tmp_path: Path) -> None:
    data, dest = tmp_path / "server", tmp_path / "backup"
    dev = prepare(data, ["wang", "zhao"], 4)
    server = ServerProcess(data).start()
    opened: list[tuple[Client, httpx.Client]] = []
    try:
        wang, wang_http = open_client(tmp_path / "wang.db", server.url, "wang")
        zhao, zhao_http = open_client(tmp_path / "zhao.db", server.url, "zhao")
        opened += [(wang, wang_http), (zhao, zhao_http)]
        wang.record_check(INSPECTION, dev[0], "serviced", note="before the backup", items={"lens_cleaned": True})
        zhao.record_check(INSPECTION, dev[1], "serviced", note="before the backup")
        first_photo = photo(zhao, 1, "before the backup")
        wang.sync(), zhao.sync(), wang.sync()
        old_epoch = wang.server_epoch
        old_ids = (wang.client_id, zhao.client_id)

        assert main(["backup", "--data", str(data), "--to", str(dest)]) == 0

        # Acknowledged after the backup: the restore will make the server forget these.
        check_2 = wang.record_check(INSPECTION, dev[2], "fault", note="after the backup: cable cut")
        check_0 = wang.record_check(INSPECTION, dev[0], "serviced", note="after the backup: re-checked")
        second_photo = photo(zhao, 2, "after the backup")
        zhao.write("photos", first_photo, {"caption": "edited after the backup"})
        wang.sync(), zhao.sync()
        assert wang.pending() == [] and zhao.pending() == []
        # Never sent before the restore.
        check_3 = zhao.record_check(INSPECTION, dev[3], "not_accessible", note="locked room")
        # What the technicians see on their phones (pulled rows with their outbox laid over).
        remembered = {(r["collection"], r["id"]): (r["fields"], r["deleted"])
                      for c in (wang, zhao) for coll in ("device_checks", "photos")
                      for r in c.rows(coll, include_deleted=True)}
    finally:
        server.stop()

    assert main(["restore", "--from", str(dest), "--data", str(data), "--force"]) == 0
    server.start()
    try:
        # The phones come back (the app restarted); their databases are as they were.
        for client, http in opened:
            client.close()
            http.close()
        wang, wang_http = open_client(tmp_path / "wang.db", server.url)
        zhao, zhao_http = open_client(tmp_path / "zhao.db", server.url)
        opened = [(wang, wang_http), (zhao, zhao_http)]
        for _ in range(2):
            wang.sync()
            zhao.sync()
        state = server_state(server.url)
        wang_rows, zhao_rows = shown(wang), shown(zhao)
        epochs = (wang.server_epoch, zhao.server_epoch)
        new_ids = (wang.client_id, zhao.client_id)
        pending = wang.pending() + zhao.pending()
    finally:
        for client, http in opened:
            client.close()
            http.close()
        server.stop()

    assert epochs[0] == epochs[1] != old_epoch
    assert set(new_ids).isdisjoint(old_ids)  # enrolled anew
    assert pending == []
    assert wang_rows == state and zhao_rows == state
    fields = {key: value[0] for key, value in state.items()}
    assert fields[("device_checks", check_0)]["note"] == "after the backup: re-checked"
    assert fields[("device_checks", check_0)]["item.lens_cleaned"] is True
    assert fields[("device_checks", check_2)]["outcome"] == "fault"
    assert fields[("device_checks", check_3)]["note"] == "locked room"
    assert fields[("photos", second_photo)]["caption"] == "after the backup"
    assert fields[("photos", first_photo)]["caption"] == "edited after the backup"
    # Every check and photo a phone showed before the restore is on the server, as it was shown.
    assert len(remembered) == 6
    for key, (row_fields, deleted) in remembered.items():
        assert (state[key][0], state[key][1]) == (row_fields, deleted), key

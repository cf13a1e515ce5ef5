"""Two clients of one technician edit offline, then sync in every order; both end equal to the server."""

from __future__ import annotations

from itertools import permutations

import pytest

from sync.schema import device_check_id
from tests.client_sdk.support import supervisor_rows

STEPS = [("phone", "push"), ("phone", "pull"), ("tablet", "push"), ("tablet", "pull")]


@pytest.mark.parametrize("order", list(permutations(STEPS)), ids=lambda o: "-".join(f"{c[0]}{s[1]}" for c, s in o))
def test_offline_edits_converge_in_every_order(http, site, new_client, order):
    phone = new_client(http, "phone")
    tablet = new_client(http, "tablet")
    insp, cam1, cam2 = site["inspection"], site["cam1"], site["cam2"]
    check1, check2 = device_check_id(insp, cam1), device_check_id(insp, cam2)
    phone.record_check(insp, cam1, "serviced")
    phone.record_check(insp, cam2, "serviced", items={"cable_ok": True})
    phone.sync()
    tablet.sync()
    assert tablet.get("device_checks", check2) == phone.get("device_checks", check2)

    # Offline. Same check, different items: both survive.
    phone.write("device_checks", check1, {"item.lens_cleaned": True})
    tablet.write("device_checks", check1, {"item.focus_adjusted": True})
    # Same register, conflicting values: one wins, the other is kept in the conflict log.
    phone.write("devices", cam1, {"location": "Gate 2"})
    tablet.write("devices", cam1, {"location": "Lobby"})
    # Delete on one, edit on the other: the row is deleted and keeps the edit.
    phone.delete("device_checks", check2)
    tablet.write("device_checks", check2, {"item.cable_ok": False})

    clients = {"phone": phone, "tablet": tablet}
    for name, step in order:
        getattr(clients[name], step)()
    for client in (phone, tablet, phone):
        client.sync()

    rows = supervisor_rows(http)
    for client in (phone, tablet):
        assert client.pending() == []
        assert client.server_rows() == rows
        shown = [r for c in ("sites", "devices", "inspections", "device_checks")
                 for r in client.rows(c, include_deleted=True)]
        assert sorted(shown, key=lambda r: (r["collection"], r["id"])) == rows
    by_id = {(r["collection"], r["id"]): r for r in rows}
    first = by_id[("device_checks", check1)]
    assert first["fields"]["item.lens_cleaned"] is True and first["fields"]["item.focus_adjusted"] is True
    second = by_id[("device_checks", check2)]
    assert second["deleted"] is True and second["fields"]["item.cable_ok"] is False
    location = by_id[("devices", cam1)]["fields"]["location"]
    assert location in ("Gate 2", "Lobby")
    loser = "Lobby" if location == "Gate 2" else "Gate 2"
    # The losing value is not lost: the server logged it, and the technician sees it.
    logged = [c for c in phone.conflicts() if c.collection == "devices" and c.register == "location"]
    assert loser in {c.old_value for c in logged} | {c.new_value for c in logged}

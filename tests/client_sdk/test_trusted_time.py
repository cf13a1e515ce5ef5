"""The times a phone records into rows, when its clock is far off (docs/sync-protocol.md, "Client side"):
the server's time anchored to the clock since boot at each sync (client_sdk/clock.py)."""

from __future__ import annotations

import pytest

from client_sdk import clock
from sync import hlc
from sync.schema import device_check_id
from tests.client_sdk.support import HOUR, YEAR, Phone
from tests.conftest import Session

STROKES = [[[10, 40], [30, 10]], [[90, 25], [140, 30]]]


def _sheet(http, inspection_id: str) -> dict:
    lin = Session(http, "lin")
    return lin.http.get(f"/api/inspections/{inspection_id}", headers=lin.headers).json()


def _check_time(phone, site) -> int:
    check = phone.get("device_checks", device_check_id(site["inspection"], site["cam1"]))
    return hlc.parse_ts(check["fields"]["checked_at"])


def test_a_phone_a_year_ahead_records_the_servers_time_on_the_sheet(http, site, store, new_client):
    # Regression (s25-phone3, finding 1): the server corrects a push's HLCs by the phone's offset but
    # stores its fields as sent, so a phone a year ahead put next year on the customer's signed sheet
    # (the check's time, the inspection's start, the signature's time).
    insp = site["inspection"]
    store.write_server_changes([("inspections", insp, {"status": "scheduled", "started_at": None}, None)])
    clocks = Phone(shift=YEAR)
    phone = new_client(http, wall=clocks.wall, boot=clocks.boot)
    before = hlc.wall_ms()
    phone.sync()  # anchors the server's time to the boot clock
    after = hlc.wall_ms()
    clocks.elapsed += HOUR  # an hour on site
    phone.record_check(insp, site["cam1"], "serviced")
    phone.sign(insp, "陈女士", "customer", strokes=STROKES)
    phone.sync()
    sheet = _sheet(http, insp)
    [check] = [d for d in sheet["coverage"]["devices"] if d["device_id"] == site["cam1"]]
    [signature] = sheet["signatures"]
    recorded = [check["checked_at"], signature["signed_at"], sheet["inspection"]["started_at"]]
    # The server's time at the anchor, plus the hour the boot clock counted since.
    assert all(before + HOUR <= hlc.parse_ts(at) <= after + HOUR for at in recorded), recorded


def test_a_clock_set_right_after_the_sync_records_its_own_time(http, site, new_client):
    # Regression (s25-phone3, finding 1): stamping with the offset the last sync measured (the way not
    # taken) shifted every later time by that stale offset once the technician set his clock right.
    clocks = Phone(shift=YEAR)
    phone = new_client(http, wall=clocks.wall, boot=clocks.boot)
    phone.sync()
    clocks.shift = 0  # he sets the clock right (or the phone gets network time back)
    clocks.elapsed += 2 * HOUR
    phone.record_check(site["inspection"], site["cam1"], "serviced")
    assert _check_time(phone, site) == clocks.wall()


@pytest.mark.parametrize("shift", [YEAR, -2 * HOUR], ids=["a year ahead", "two hours behind"])
def test_after_a_reboot_the_phone_records_its_own_clock(http, site, new_client, shift):
    # Regression (s25-phone3, finding 1): the clock since boot starts again at a reboot, so the anchor
    # of the last sync no longer says how much time has passed: the phone's own clock is all it has.
    clocks = Phone(shift=shift)
    phone = new_client(http, wall=clocks.wall, boot=clocks.boot)
    phone.sync()
    clocks.elapsed += HOUR
    clocks.reboot()
    clocks.elapsed += HOUR
    phone.record_check(site["inspection"], site["cam1"], "serviced")
    assert _check_time(phone, site) == clocks.wall()


def test_a_clock_within_the_skew_records_its_own_time(http, site, new_client):
    # Within the server's 5 min skew a push is not corrected: the phone's own clock is kept.
    clocks = Phone(shift=4 * 60_000)
    phone = new_client(http, wall=clocks.wall, boot=clocks.boot)
    phone.sync()
    clocks.elapsed += HOUR
    phone.record_check(site["inspection"], site["cam1"], "serviced")
    assert _check_time(phone, site) == clocks.wall()


@pytest.mark.parametrize(("kept", "boot", "expected"), [
    ("b 1000 5000", ("b", 4000), 8000),  # the same boot: the server's time plus the time since
    ("b 1000 5000", ("c", 4000), None),  # another boot
    ("b 1000 5000", ("b", 500), None),  # a boot clock earlier than at the anchor
    ("b 1000 5000", (None, 4000), None),  # a platform that cannot name its boot
    (None, ("b", 4000), None),  # never synced
    ("b 1000", ("b", 4000), None),  # not an anchor this SDK wrote
    ("b x 5000", ("b", 4000), None),
])
def test_the_anchor_reads_only_within_its_boot(kept, boot, expected):
    assert clock.anchored_now(kept, boot) == expected


def test_the_boot_clock_names_this_boot():
    boot_id, since = clock.boot_clock()
    assert boot_id and since > 0
    assert clock.boot_clock()[0] == boot_id and clock.boot_clock()[1] >= since
    assert clock.anchored_now(clock.anchor(5000, (boot_id, since)), clock.boot_clock()) >= 5000

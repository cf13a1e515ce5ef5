"""GET /sync/pull: paging, cursors, scope, the tombstone horizon."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from server.engine.pull import Page, PulledRow
from sync.wire import PullResponse, Row
from tests.helpers import ok as _ok
from tests.helpers import problem as _problem

# The sites of tests/conftest.py: wang is a member of SITE, zhao of OTHER_SITE.
SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-site"))
OTHER_SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-other-site"))
TEMPLATE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-template"))
ITEMS = '[{"key": "lens_cleaned", "label": "Lens cleaned", "type": "bool"}]'


def _new_devices(session: Any, site_id: str, n: int) -> list[str]:
    ids = [str(uuid.uuid4()) for _ in range(n)]
    body = _ok(session.push([session.change("devices", i, {"site_id": site_id, "system": "video",
                                                          "code": f"CAM-{k:03d}", "status": "active"}, delete=False)
                             for k, i in enumerate(ids)]))
    assert {r["status"] for r in body["results"]} == {"applied"}
    return ids


def _pull_all(session: Any, cursor: str = "0", limit: int = 4) -> tuple[list[dict[str, Any]], str, int]:
    rows: list[dict[str, Any]] = []
    pages = 0
    while True:
        page = _ok(session.pull(cursor, limit))
        pages += 1
        assert len(page["rows"]) <= limit
        rows += page["rows"]
        cursor = page["cursor"]
        if not page["has_more"]:
            return rows, cursor, pages


def _other_site(lin: Any) -> list[str]:
    site = _ok(lin.push([lin.change("sites", OTHER_SITE, {"name": "Plant", "customer": "ACME"}, delete=False)]))
    assert site["results"][0]["status"] == "applied"
    return _new_devices(lin, OTHER_SITE, 3)


# -- paging -----------------------------------------------------------------------------------


def test_paging_never_skips_or_repeats(site, lin, wang):
    ids = _new_devices(lin, site["site"], 25)
    whole = _ok(lin.pull("0", 1000))
    assert not whole["has_more"]
    rows, cursor, pages = _pull_all(lin, limit=4)
    keys = [(r["collection"], r["id"]) for r in rows]
    assert len(keys) == len(set(keys))
    assert keys == [(r["collection"], r["id"]) for r in whole["rows"]]
    assert {("devices", i) for i in ids} <= set(keys)
    versions = [r["version"] for r in rows]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)
    assert pages == -(-len(rows) // 4) + (1 if len(rows) % 4 == 0 else 0)
    assert cursor == whole["cursor"]
    assert _ok(lin.pull(cursor, 4))["rows"] == []


def test_paging_with_writes_between_pages_ends_at_the_server_state(site, lin, wang):
    ids = _new_devices(lin, site["site"], 25)
    held: dict[tuple[str, str], dict[str, Any]] = {}
    cursor, n = "0", 0
    while True:
        page = _ok(lin.pull(cursor, 4))
        for row in page["rows"]:
            held[(row["collection"], row["id"])] = row
        cursor = page["cursor"]
        # Between pages, someone edits a row already paged and one not yet paged.
        if n < 3:
            _ok(wang.push([wang.change("devices", ids[n], {"location": f"moved {n}"}),
                           wang.change("devices", ids[-1 - n], {"location": f"moved {n}"})]))
        n += 1
        if not page["has_more"]:
            break
    truth = {(r["collection"], r["id"]): r for r in _ok(lin.pull("0", 1000))["rows"]}
    assert held == truth


def test_limit_is_capped_and_must_be_positive(site, lin):
    _new_devices(lin, site["site"], 3)
    assert len(_ok(lin.pull("0", 5000))["rows"]) == 7
    _problem(lin.pull("0", 0), 400, "invalid_request")


# -- cursors ---------------------------------------------------------------------------------


def test_cursor_reaches_the_servers_highest_version_beyond_the_callers_rows(site, wang, lin):
    first = _ok(wang.pull())
    assert not first["has_more"]
    _other_site(lin)  # rows of a site wang is not a member of, written after his rows
    top = _ok(lin.pull("0", 1000))
    later = _ok(wang.pull(first["cursor"], 1000))
    assert later["rows"] == [] and later["has_more"] is False
    assert later["cursor"] != first["cursor"]  # each user's cursors are their own: compare positions
    # The highest version may be a membership change rather than a row (they share the sequence).
    assert later["version"] == top["version"] >= max(r["version"] for r in top["rows"])


def test_cursor_stays_put_when_nothing_changed(site, wang):
    first = _ok(wang.pull())
    assert _ok(wang.pull(first["cursor"]))["cursor"] == first["cursor"]


BAD_CURSORS = [
    "garbage", "v1.", "v1.-1", "v2.3", "v1.3.4", "v1.3x", "V1.3", "v1.99999999999999999",
    # Regression: str.isdigit() accepts these, and int() then raised (a 500) or read them as a number.
    "v1.\u00b2", "v1.\u0663",
    # Issue 9: the old unsigned format (whose tags a client could edit), and an over-long cursor.
    "v1.3", "v1.0.u5.o0", "v1.3." + "A" * 300,
]


def test_opaque_cursor_garbage_is_400_invalid_cursor(site, wang):
    for cursor in BAD_CURSORS:
        _problem(wang.pull(cursor), 400, "invalid_cursor")


def test_snapshot_cursors(site, wang):
    full = _ok(wang.pull("0"))
    assert full["rows"]
    assert _ok(wang.pull(""))["rows"] == full["rows"]
    assert _ok(wang.http.get("/sync/pull", headers=wang.headers))["rows"] == full["rows"]


def test_pull_carries_acked_seq(site, wang, lin):
    assert _ok(wang.pull())["acked_seq"] == 0
    _ok(wang.push([wang.change("devices", site["cam1"], {"location": f"l{i}"}) for i in range(3)]))
    assert _ok(wang.pull())["acked_seq"] == 3
    assert _ok(lin.pull())["acked_seq"] == 0


# -- tombstones ------------------------------------------------------------------------------


def test_cursor_below_the_tombstone_horizon_is_410(site, wang, lin, store):
    old_cursor = _ok(wang.pull())["cursor"]
    _ok(lin.push([lin.change("devices", site["cam2"], {}, delete=True)]))
    after_delete = _ok(wang.pull(old_cursor))
    assert [(r["id"], r["deleted"]) for r in after_delete["rows"]] == [(site["cam2"], True)]
    # Far enough in the future that the deleted row is past the horizon.
    assert store.purge_tombstones(now_ms=store.now_ms() + 10 * 365 * 86_400_000) == 1
    _problem(wang.pull(old_cursor), 410, "cursor_expired")
    # A cursor at the horizon saw the tombstone and is still good; so is a fresh snapshot.
    assert _ok(wang.pull(after_delete["cursor"]))["rows"] == []
    snapshot = _ok(wang.pull("0"))
    assert site["cam2"] not in {r["id"] for r in snapshot["rows"]}
    assert site["cam1"] in {r["id"] for r in snapshot["rows"]}


def test_purge_forgets_only_rows_deleted_before_the_horizon(site, lin, store):
    _ok(lin.push([lin.change("devices", site["cam2"], {}, delete=True)]))
    assert store.purge_tombstones() == 0
    cursor = _ok(lin.pull())["cursor"]
    assert _ok(lin.pull(cursor))["rows"] == []


# -- scope -------------------------------------------------------------------------------------


def test_technician_pulls_only_their_sites_and_the_templates(site, wang, zhao, lin):
    _ok(lin.push([lin.change("checklist_templates", TEMPLATE, {"kind": "dome_camera", "title": "Dome",
                                                                "items": ITEMS}, delete=False)]))
    others = _other_site(lin)
    mine = {(r["collection"], r["id"]) for r in _ok(wang.pull("0", 1000))["rows"]}
    assert mine == {("sites", SITE), ("devices", site["cam1"]), ("devices", site["cam2"]),
                    ("inspections", site["inspection"]), ("checklist_templates", TEMPLATE)}
    theirs = {(r["collection"], r["id"]) for r in _ok(zhao.pull("0", 1000))["rows"]}
    assert theirs == {("sites", OTHER_SITE), ("checklist_templates", TEMPLATE)} | {("devices", i) for i in others}
    everything = {(r["collection"], r["id"]) for r in _ok(lin.pull("0", 1000))["rows"]}
    assert everything == mine | theirs


def test_rows_come_whole(site, wang, lin):
    _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"})]))
    [row] = [r for r in _ok(lin.pull())["rows"] if r["id"] == site["cam1"]]
    assert row["fields"] == {"site_id": SITE, "system": "video", "kind": "dome_camera", "code": "CAM-001",
                             "status": "active", "location": "lobby"}
    assert row["deleted"] is False and row["collection"] == "devices" and row["version"] > 0


# -- the encoding (issue 15) ----------------------------------------------------------------------


def test_a_page_sends_each_row_as_stored_byte_for_byte_what_the_wire_row_gives(site, store, lin, wang):
    """Rows go out with their stored JSON spliced in, not decoded and encoded again (issue 15, the pull
    path): a page must be exactly the bytes the wire's `PullResponse` encodes, for whole rows (CJK text,
    numbers, a deletion) and for rows that left the scope."""
    cam, gone = str(uuid.uuid4()), _new_devices(lin, SITE, 1)[0]
    body = _ok(lin.push([
        lin.change("devices", cam, {"site_id": SITE, "system": "video", "code": "CAM-汉字-\"引号\"",
                                    "status": "active"}, delete=False),
        lin.change("devices", gone, {}, delete=True),
    ]))
    assert {r["status"] for r in body["results"]} == {"applied"}
    first = wang.pull("0", 1000)
    assert store.remove_member(SITE, "wang")
    second = wang.pull(first.json()["cursor"], 1000)
    for page, kind in ((first, "deleted"), (second, "removed")):
        sent = page.content
        assert any(r[kind] for r in page.json()["rows"])
        assert msgspec.json.encode(msgspec.json.decode(sent, type=PullResponse)) == sent
    assert any(r["fields"].get("code") == "CAM-汉字-\"引号\"" for r in first.json()["rows"])


def test_the_server_page_has_the_wire_fields_in_the_wire_order():
    """`engine.pull.Page`/`PulledRow` are how the server encodes `PullResponse`/`Row`: the same fields,
    so a field added to the wire cannot be left out of what the server sends."""
    for ours, wire in ((Page, PullResponse), (PulledRow, Row)):
        assert ours.__struct_fields__ == wire.__struct_fields__
        assert ours.__struct_config__.omit_defaults == wire.__struct_config__.omit_defaults


def test_a_pull_on_another_process_hands_out_the_servers_clock(site, wang, lin, other_http, row_of):
    # Regression (contract sync-protocol.md "Hybrid logical clock (HLC)"): a client advances its
    # clock on every response's `server_hlc`, so that what it writes after a pull orders after what
    # it pulled. A process that had not stamped since another one absorbed a phone's HLC (a clock
    # three minutes fast: within the skew, taken as sent) answered its own older clock: the
    # supervisor's correction of the value it had just pulled then lost to it (superseded).
    from sync import hlc
    from sync.hlc import Hlc
    from tests.conftest import Session

    ahead = str(Hlc(hlc.wall_ms() + 180_000, 0, wang.client_id))
    _ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"}, hlc_=ahead)]))
    stored = row_of("devices", site["cam1"])["clocks"]["location"][0]
    elsewhere = Session(other_http, "lin")  # signs in through the other process, which stamps nothing
    assert _ok(elsewhere.push([]))["server_hlc"] > stored  # an empty push stamps nothing either
    body = _ok(elsewhere.pull())
    pulled = next(r for r in body["rows"] if r["id"] == site["cam1"])
    assert pulled["fields"]["location"] == "lobby"
    assert body["server_hlc"] > stored
    elsewhere.clock.observe(body["server_hlc"])
    later = _ok(elsewhere.push([elsewhere.change("devices", site["cam1"], {"location": "gate"})]))
    assert later["results"] == [{"seq": 1, "status": "applied"}]
    assert row_of("devices", site["cam1"])["fields"]["location"] == "gate"

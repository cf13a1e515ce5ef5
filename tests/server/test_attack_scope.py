"""Issue 9, findings 1, 5, 12 and 15: what a hostile technician tried against the scope of
pulls and the conflict log, and with oversized strings; each attack now fails."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from server.engine.cursor import Cursor, encode_cursor
from sync.schema import device_check_id
from tests.helpers import ok, problem, pull_all

SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-site"))  # as in tests/conftest.py
OTHER_SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "fieldsync-test-other-site"))
TS = "2026-11-20T10:15:00.000Z"


def _other_site(store: Any) -> None:
    store.write_server_changes([
        ("sites", OTHER_SITE, {"name": "Other park"}, False),
        *[("devices", str(uuid.uuid5(uuid.NAMESPACE_URL, f"other-cam{i}")),
           {"site_id": OTHER_SITE, "kind": "dome_camera", "code": f"CAM-{i:03d}"}, False) for i in range(3)],
    ])


def _pages(session: Any, cursor: str, limit: int, given: list[str]) -> str:
    """Pull to the end in pages of `limit`, adding every cursor the server hands out to `given`."""
    while True:
        body = ok(session.pull(cursor, limit))
        cursor = body["cursor"]
        given.append(cursor)
        if not body["has_more"]:
            return cursor


def _site_rows(store: Any) -> set[str]:
    with store.read() as db:
        return {r for (r,) in db.execute("SELECT id FROM rows WHERE site_id = ?", [SITE])}


def _assert_nothing_of_the_site(session: Any, cursor: str, site_rows: set[str]) -> None:
    """From this cursor to the end, the site's rows come only as `removed`, without fields."""
    rows, _ = pull_all(session, cursor, limit=1000)
    for row in rows:
        if row["id"] in site_rows:
            assert row["removed"] and row["fields"] == {}, (cursor, row)


@pytest.fixture
def given(site, store, zhao, wang, lin) -> list[str]:
    """Every cursor zhao was given while a member of wang's site: snapshot pages, a scope
    catch-up in pages, the version stream. Then he is removed, and the site goes on."""
    _other_site(store)
    cursors: list[str] = []
    cursor = _pages(zhao, "0", 1, cursors)  # snapshot pages (`s`)
    store.add_member(SITE, "zhao")
    cursor = _pages(zhao, cursor, 1, cursors)  # a catch-up towards the new scope (`u`, `o`)
    ok(lin.push([lin.change("devices", site["cam1"], {"location": "gate"})]))
    check = device_check_id(site["inspection"], site["cam2"])
    ok(wang.push([wang.change("device_checks", check, {
        "inspection_id": site["inspection"], "device_id": site["cam2"], "outcome": "fault",
        "note": "alarm code 4711 on the panel", "checked_by": "wang", "checked_at": TS}, delete=False)]))
    cursor = _pages(zhao, cursor, 1, cursors)  # the version stream
    # Removed (his rows of the site leave), added again, and removed once more half-way through
    # the catch-up that brought the site back: its cursor names a target when he was a member.
    store.remove_member(SITE, "zhao")
    cursor = _pages(zhao, cursor, 1, cursors)
    store.add_member(SITE, "zhao")
    body = ok(zhao.pull(cursor, 1))
    assert body["has_more"] and ".u" in body["cursor"]
    cursors.append(body["cursor"])
    store.remove_member(SITE, "zhao")
    # After the removal the site goes on: new values, a new device.
    ok(lin.push([lin.change("devices", site["cam1"], {"location": "server room"}),
                 lin.change("devices", str(uuid.uuid4()), {"site_id": SITE, "code": "CAM-NEW"}, delete=False)]))
    ok(wang.push([wang.change("device_checks", check, {"outcome": "fault", "note": "panel code 9999"})]))
    assert len(set(cursors)) >= 10
    assert any(".u" in c for c in cursors) and any(".s" in c for c in cursors)
    return cursors


def test_replayed_cursors_of_an_ex_member_bring_nothing_of_the_site_but_removed_rows(store, zhao, given):
    site_rows = _site_rows(store)
    for cursor in given:
        _assert_nothing_of_the_site(zhao, cursor, site_rows)


def _edits(cursor: str) -> list[str]:
    """The cursor with every number in it changed, tags added, the MAC kept or dropped."""
    payload, _, mac = cursor.rpartition(".")
    edits = [payload, f"{payload}.", f"{payload}.{mac[:-1]}", f"{payload}.u1.o0.{mac}", f"{payload}.t1.{mac}",
             f"v1.0.u{payload.split('.')[1]}.o0.{mac}", cursor.upper()]
    for match in re.finditer(r"\d+", payload):
        if match.start() == 1:  # the "1" of "v1"
            continue
        number = int(match.group())
        for other in {0, number + 1, max(number - 1, 0), 999999} - {number}:
            edited = payload[:match.start()] + str(other) + payload[match.end():]
            edits += [f"{edited}.{mac}", edited]
    return edits


def test_edited_and_unsigned_cursors_are_400_invalid_cursor(store, zhao, given):
    site_rows = _site_rows(store)
    for cursor in given:
        for edited in _edits(cursor):
            problem(zhao.pull(edited), 400, "invalid_cursor")
    # The forged cursors of the attack, in the old unsigned format.
    for forged in ["v1.0.u5.o0", "v1.3.u9.o999999", "v1.0.t1", "v1.12"]:
        problem(zhao.pull(forged), 400, "invalid_cursor")
    # An over-long cursor is refused before anything is computed from it.
    problem(zhao.pull(given[-1] + "A" * 10_000), 400, "invalid_cursor")
    # Every honest cursor still works (the MAC held it unchanged).
    _assert_nothing_of_the_site(zhao, given[-1], site_rows)


def test_another_users_cursor_is_400_invalid_cursor(zhao, wang, given):
    for cursor in given:
        problem(wang.pull(cursor), 400, "invalid_cursor")
    mine = ok(wang.pull("0"))["cursor"]
    problem(zhao.pull(mine), 400, "invalid_cursor")


def test_even_a_validly_signed_forged_cursor_cannot_widen_scope(store, zhao, given):
    # Defence in depth, as if the key had leaked: cursors made up with the server's own key,
    # claiming every version as the scope and every catch-up target, still bring nothing
    # of the site whole (the current memberships bound every page).
    site_rows = _site_rows(store)
    with store.read() as db:
        top = int(store._meta(db)["version"])
    for claimed in range(0, top + 1):
        for forged in [Cursor(0, target=claimed), Cursor(claimed, target=claimed),
                       Cursor(0, target=claimed, offset=999_999), Cursor(claimed, target=top, offset=1),
                       Cursor(claimed, scope=0), Cursor(0, scope=claimed), Cursor(claimed, snapshot=True)]:
            _assert_nothing_of_the_site(zhao, encode_cursor(forged, store.cursor_secret, _zhao_id(store)), site_rows)


def _zhao_id(store: Any) -> str:
    with store.read() as db:
        return str(db.execute("SELECT id FROM users WHERE username = 'zhao'").fetchone()[0])


def test_the_cursor_key_survives_a_restart_and_is_shared_by_every_store_on_the_database(settings, store, wang):
    from server.services import Store

    cursor = ok(wang.pull("0"))["cursor"]
    other = Store(settings)  # a second process on the same database, or the same one restarted
    try:
        assert other.cursor_secret == store.cursor_secret and len(store.cursor_secret) == 32
    finally:
        other.close()
    ok(wang.pull(cursor))


def test_a_phone_holding_a_cursor_from_before_signing_takes_a_fresh_snapshot(http, site, new_client):
    phone = new_client(http, "phone")
    phone.sync()
    with phone.db.transaction():
        phone.db.set_meta_tx(cursor="v1.3")  # as an older server issued it
    phone.sync()
    assert phone.get("devices", site["cam1"]) is not None
    assert phone.cursor.startswith("v1.") and phone.cursor != "v1.3"


# -- finding 15: another site's row is answered as one that does not exist ---------------------------


@pytest.fixture
def theirs(store, zhao, lin) -> dict[str, str]:
    """Rows of zhao's site: a device, an inspection with a check and a photo (zhao's)."""
    from sync.schema import inspection_id

    cam = str(uuid.uuid5(uuid.NAMESPACE_URL, "other-cam0"))
    cam2 = str(uuid.uuid5(uuid.NAMESPACE_URL, "other-cam1"))
    _other_site(store)
    insp = inspection_id(OTHER_SITE, "2026-Q4")
    ok(lin.push([lin.change("inspections", insp, {"site_id": OTHER_SITE, "period": "2026-Q4"}, delete=False)]))
    check, photo = device_check_id(insp, cam), str(uuid.uuid4())
    body = ok(zhao.push([
        zhao.change("device_checks", check, {"inspection_id": insp, "device_id": cam, "outcome": "serviced",
                                             "checked_by": "zhao", "checked_at": TS}, delete=False),
        zhao.change("photos", photo, {"inspection_id": insp, "device_id": cam2, "sha256": "ab" * 32,
                                      "content_type": "image/jpeg", "bytes": 10}, delete=False),
    ]))
    assert [r["status"] for r in body["results"]] == ["applied", "applied"]
    return {"device": cam, "inspection": insp, "check": check, "photo": photo}


# (collection, which of zhao's rows, fields, delete): each pushed by wang to zhao's row and to a new id.
PROBES = [
    ("devices", "device", {"location": "B2"}, None),
    ("devices", "device", {}, True),
    ("device_checks", "check", {"outcome": "fault", "note": "x"}, None),
    ("inspections", "inspection", {"status": "completed"}, None),  # told how many devices were unchecked
    # Regression (s24): counting an inspection pushed new as `completed` read the stored row of that id,
    # another site's, and told its unchecked count; with a site of the caller's too.
    ("inspections", "inspection", {"status": "completed", "site_id": SITE, "period": "2026-Q4"}, None),
    ("inspections", "inspection", {"status": "in_progress", "started_at": TS}, None),
    ("photos", "photo", {"caption": "mine now"}, None),
    ("photos", "photo", {}, True),
    ("sites", None, {"name": "Renamed"}, None),
]


def _same(entry: dict[str, Any], row_id: str) -> dict[str, Any]:
    """A log entry or result without what differs between two pushes of the same change."""
    text = str({k: v for k, v in entry.items() if k not in ("id", "at", "hlc", "seq", "row_id")})
    return {"text": text.replace(row_id, "<id>")}


def test_pushing_to_another_sites_row_answers_exactly_as_for_a_row_that_does_not_exist(
        site, theirs, wang, lin, store, row_of):
    before = {key: row_of(c, theirs[key]) for c, key in [("devices", "device"), ("device_checks", "check"),
                                                          ("inspections", "inspection"), ("photos", "photo")]}
    for collection, key, fields, delete in PROBES:
        existing = theirs[key] if key else OTHER_SITE
        missing = str(uuid.uuid4())
        results = ok(wang.push([wang.change(collection, existing, fields, delete),
                                wang.change(collection, missing, fields, delete)]))["results"]
        assert results[0]["status"] == "rejected", (collection, fields, results)
        assert _same(results[0], existing) == _same(results[1], missing), (collection, fields, results)
        seen = ok(wang.http.get("/api/conflicts", headers=wang.headers, params={"collection": collection}))
        one = [_same(e, existing) for e in seen["conflicts"] if (e["row_id"], e["seq"]) == (existing, wang.seq - 1)]
        other = [_same(e, missing) for e in seen["conflicts"] if (e["row_id"], e["seq"]) == (missing, wang.seq)]
        assert one == other, (collection, fields, one, other)
    # Nothing of zhao's site changed, and nothing wang can read names it.
    assert before == {key: row_of(c, theirs[key]) for c, key in [
        ("devices", "device"), ("device_checks", "check"), ("inspections", "inspection"), ("photos", "photo")]}
    everything = str(ok(wang.http.get("/api/conflicts", headers=wang.headers)))
    assert OTHER_SITE not in everything
    # The supervisors' audit trail keeps the truth: which site's row it was.
    audit = ok(lin.http.get("/api/audit", headers=lin.headers, params={"kind": "push_forbidden"}))["entries"]
    hidden = [e for e in audit if e["username"] == "wang" and e["detail"]["row_id"] in set(theirs.values())]
    assert len(hidden) == sum(1 for _, key, _, _ in PROBES if key)
    assert {e["detail"]["site_id"] for e in hidden} == {OTHER_SITE}


def test_creating_a_row_under_the_id_of_another_sites_row_is_refused_without_naming_its_site(
        site, theirs, wang, row_of):
    before = row_of("photos", theirs["photo"])
    [result] = ok(wang.push([wang.change("photos", theirs["photo"], {
        "inspection_id": site["inspection"], "sha256": "cd" * 32, "content_type": "image/jpeg", "bytes": 5},
        delete=False)]))["results"]
    assert (result["status"], result["reason"]) == ("rejected", "forbidden")
    assert OTHER_SITE not in str(result) and theirs["inspection"] not in str(result)
    assert row_of("photos", theirs["photo"]) == before
    assert OTHER_SITE not in str(ok(wang.http.get("/api/conflicts", headers=wang.headers)))


# -- finding 12: the conflict log of a technician covers the sites he is a member of now -----------------


def test_an_ex_member_no_longer_reads_new_values_of_registers_he_wrote_through_the_conflict_log(
        site, store, wang, lin):
    def mine() -> list[dict[str, Any]]:
        return ok(wang.http.get("/api/conflicts", headers=wang.headers))["conflicts"]

    ok(wang.push([wang.change("devices", site["cam1"], {"location": "lobby"})]))
    ok(lin.push([lin.change("devices", site["cam1"], {"location": "gate"})]))
    assert [(e["kind"], e["new_value"]) for e in mine()] == [("overwritten", "gate")]
    store.remove_member(SITE, "wang")
    ok(lin.push([lin.change("devices", site["cam2"], {"location": "vault, code 1234"})]))
    ok(lin.push([lin.change("devices", site["cam1"], {"location": "vault door"})]))
    assert mine() == []
    assert ok(wang.http.get("/api/conflicts", headers=wang.headers, params={"site_id": SITE}))["conflicts"] == []
    # The supervisor still sees all of it; added again, wang sees his entries again.
    assert [e["new_value"] for e in ok(lin.http.get("/api/conflicts", headers=lin.headers))["conflicts"]] == ["gate"]
    store.add_member(SITE, "wang")
    assert [(e["kind"], e["new_value"]) for e in mine()] == [("overwritten", "gate")]


# -- finding 5: what a client sends is bounded before it is stored ----------------------------------


def _stored_chars(store: Any) -> int:
    """Characters of client text the server keeps for pushes: receipts, the conflict log, the audit."""
    with store.read() as db:
        return sum(db.execute(f"SELECT coalesce(sum({expr}), 0) FROM {table}").fetchone()[0] for table, expr in [
            ("receipts", "length(result) + length(hlc)"),
            ("conflicts", "length(coalesce(detail, '')) + length(coalesce(new_value, ''))"
                          " + length(coalesce(old_value, '')) + length(collection) + length(row_id)"
                          " + length(coalesce(register, '')) + length(coalesce(hlc, ''))"),
            ("audit", "length(detail)"),
        ])


def test_junk_pushes_no_longer_fill_the_disk(site, store, wang):
    # The attack, inside the wire bounds: unknown fields and invalid values of 60,000 characters,
    # unknown collection names, long ids; each push about 6 MB.
    junk = "J" * 60_000
    sent = 0
    for _ in range(3):
        changes = []
        for i in range(33):
            changes += [
                wang.change("devices", site["cam1"], {"location": "ok", f"x{i}": junk}),  # a rejected field
                wang.change("devices", site["cam1"], {"location": junk}),  # an invalid value: rejected whole
                wang.change("c" * 64, "i" * 128, {"x": junk}),  # an unknown collection
            ]
        body = wang.push(changes)
        sent += len(body.request.content)
        results = ok(body)["results"]
        assert {r["status"] for r in results} == {"applied", "rejected"}
        assert all(len(r.get("detail") or "") <= 512 for r in results)
    assert sent > 15_000_000
    assert _stored_chars(store) < sent / 100  # was more than what was sent (183 MB for 50 MB)


def test_a_rejected_value_is_logged_as_its_length_and_hash(site, lin, wang):
    import hashlib
    import json

    value = "V" * 5_000
    ok(wang.push([wang.change("devices", site["cam1"], {"location": "ok", "colour": value}),
                  wang.change("devices", site["cam2"], {"location": value}),
                  wang.change("devices", site["cam2"], {"location": "short", "colour": "red"})]))
    entries = ok(lin.http.get("/api/conflicts", headers=lin.headers))["conflicts"]
    by = {(e["row_id"], e["kind"], e.get("register")): e for e in entries}
    as_json = json.dumps(value)
    assert by[(site["cam1"], "rejected_field", "colour")]["new_value"] == {
        "truncated": True, "length": len(as_json), "sha256": hashlib.sha256(as_json.encode()).hexdigest()}
    whole = by[(site["cam2"], "rejected", None)]
    assert whole["new_value"]["truncated"] is True and whole["new_value"]["length"] > 5_000
    assert len(whole["detail"]) <= 512 and "5000 characters" in whole["detail"]
    # Short values are kept as they were sent.
    assert by[(site["cam2"], "rejected_field", "colour")]["new_value"] == "red"


def test_every_text_field_of_the_schema_has_a_length_limit():
    from sync.schema import COLLECTIONS, TEXT_LIMITS

    for collection in COLLECTIONS.values():
        for name, spec in [*collection.fields.items(), ("item.x", collection.open_field)]:
            if spec is None or spec.choices or spec.type not in TEXT_LIMITS:
                continue
            assert spec.limit is not None and spec.limit <= 65_536, (collection.name, name)
            assert not spec.valid("x" * (spec.limit + 1)), (collection.name, name)
            if spec.type != "items":
                assert spec.valid("x" * spec.limit), (collection.name, name)


def test_a_conflict_page_stops_at_a_mebibyte(site, lin, wang):
    from sync import hlc
    from sync.hlc import Hlc

    check = device_check_id(site["inspection"], site["cam2"])
    ok(lin.push([lin.change("device_checks", check, {
        "inspection_id": site["inspection"], "device_id": site["cam2"], "outcome": "fault", "note": "A" * 2_000,
        "checked_by": "wang", "checked_at": TS}, delete=False)]))
    # 400 of wang's older notes lose to lin's: each logged with both values, about 4 KB. Each note
    # differs: the log keeps a writer's same value for a register once (issue 15).
    old = hlc.wall_ms() - 60_000
    ok(wang.push([wang.change("device_checks", check, {"outcome": "fault", "note": f"{i:03d}" + "B" * 1_997},
                              hlc_=str(Hlc(old + i, 0, wang.client_id))) for i in range(400)]))
    seen: list[int] = []
    after = 0
    pages = 0
    while True:
        response = lin.http.get("/api/conflicts", headers=lin.headers, params={"after": after, "limit": 1000})
        page = ok(response)
        pages += 1
        assert len(response.content) <= 1024 * 1024 + 200  # the entries, and the page around them
        seen += [e["id"] for e in page["conflicts"]]
        if page.get("next_after") is None:
            break
        after = page["next_after"]
    assert pages >= 2 and len(seen) == len(set(seen)) >= 400

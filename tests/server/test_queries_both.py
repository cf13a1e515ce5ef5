"""The domains' queries (`server/storage/<domain>.py`) give the same answers on SQLite and PostgreSQL
(issue 16): the demo and a month of the technician report's rows are written to a SQLite store, every
table is copied to a new PostgreSQL database, and each query runs on both with the same arguments.

Each query's SQLite answer must also say something (not empty, not None, not 0, unless the case
is about nothing being found), so that two empty answers never pass for agreement."""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

import psycopg
import pytest

from bench import billing as bench
from server.demo import load_demo
from server.domains.callbacks.service import month_bounds
from server.services import Store
from server.settings import Settings
from server.storage import (
    archive,
    billing,
    callbacks,
    conflicts,
    duty,
    identity,
    imports,
    inspections,
    media,
    pages,
    protocol,
    queries,
    scope,
    service,
    settle,
    sheets,
    signatures,
    throttle,
)
from server.storage.postgres.backend import POSTGRES
from server.storage.postgres.connection import Database as PgDatabase
from server.storage.sqlite.backend import SQLITE
from server.storage.writes import dialect
from sync.merge import RowState
from tests.pg import drop_database, new_database

_REFERENCED = ["users", "clients", "blobs"]  # copied first: other tables' foreign keys name them
_IDENTITY = {"audit", "conflicts"}  # their `id` is PostgreSQL's identity column: copied as it is


def _copy(source: sqlite3.Connection, target: PgDatabase) -> None:
    """Every table of the SQLite file into the migrated PostgreSQL database, `meta` included."""
    tables = sorted((t for (t,) in source.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                                  " AND name NOT LIKE 'sqlite%' AND name != '_sqlite_migrations'")),
                    key=lambda t: (t not in _REFERENCED, _REFERENCED.index(t) if t in _REFERENCED else 0, t))
    with target.write() as db:
        db.execute("DELETE FROM meta")
        for table in tables:
            columns = [c[1] for c in source.execute(f"PRAGMA table_info({table})")]
            marks = ", ".join("CAST(? AS jsonb)" if (table, c) == ("rows", "fields") else "?" for c in columns)
            values = [[bool(v) if (table, c) == ("rows", "period_moved") else v for c, v in zip(columns, r, strict=True)]
                      for r in source.execute(f"SELECT {', '.join(columns)} FROM {table}")]
            if values:
                db.executemany(f"INSERT INTO {table}({', '.join(columns)})"
                               f"{' OVERRIDING SYSTEM VALUE' if table in _IDENTITY else ''} VALUES ({marks})", values)


class Seeded(NamedTuple):
    sqlite: Store
    postgres: PgDatabase
    ids: dict[str, Any]
    month: str


def _ids(db: sqlite3.Connection, month: str) -> dict[str, Any]:
    """The rows the queries are asked about, picked from the SQLite copy."""
    def one(sql: str, args: list[Any] | None = None) -> Any:
        found = db.execute(sql, args or []).fetchone()
        assert found is not None, sql
        return found[0]

    sealed_visit = "SELECT id FROM rows WHERE collection = 'service_visits' AND json_extract(fields, '$.sealed_by') IS NOT NULL"
    ids = {
        "site": one("SELECT parent_id FROM rows WHERE collection = 'inspections' ORDER BY id"),
        "inspection": one("SELECT id FROM rows WHERE collection = 'inspections' ORDER BY id"),
        "device": one("SELECT device_id FROM rows WHERE collection = 'service_requests' ORDER BY id"),
        "request": one("SELECT id FROM rows WHERE collection = 'service_requests' AND id IN"
                       " (SELECT parent_id FROM rows WHERE collection = 'service_visits') ORDER BY id"),
        "visit": one(sealed_visit + " AND id IN (SELECT parent_id FROM rows WHERE collection = 'charge_lines')"),
        "signature": one("SELECT json_extract(fields, '$.sealed_by') FROM rows WHERE id = (" + sealed_visit
                         + " AND id IN (SELECT parent_id FROM rows WHERE collection = 'charge_lines'))"),
        "signature_sha": one("SELECT json_extract(fields, '$.image_sha256') FROM rows WHERE collection = 'signatures'"),
        "user": one("SELECT user_id FROM memberships ORDER BY user_id"),
        "technician": one("SELECT username FROM users WHERE role = 'technician' ORDER BY username"),
        "roster": one("SELECT id FROM rows WHERE collection = 'duty_roster'"),
        "duty_owner": one("SELECT json_extract(fields, '$.logged_by') FROM rows WHERE collection = 'duty_calls'"),
    }
    ids["site_name"] = one("SELECT json_extract(fields, '$.name') FROM rows WHERE id = ?", [ids["site"]])
    ids["customer"] = one("SELECT json_extract(fields, '$.customer') FROM rows WHERE id = ?", [ids["site"]])
    ids["code"] = one("SELECT json_extract(fields, '$.code') FROM rows WHERE id = ?", [ids["device"]])
    ids["device_site"] = one("SELECT parent_id FROM rows WHERE id = ?", [ids["device"]])
    ids["signature_row"] = one("SELECT id FROM rows WHERE collection = 'signatures'"
                               " AND json_extract(fields, '$.image_sha256') = ?", [ids["signature_sha"]])
    ids["number"] = one("SELECT json_extract(fields, '$.number') FROM rows WHERE id = ?", [ids["request"]])
    ids["sheet_no"] = one("SELECT json_extract(fields, '$.sheet_no') FROM rows WHERE collection = 'inspections'"
                          " AND json_extract(fields, '$.sheet_no') IS NOT NULL")
    ids["kinds"] = sorted({k for (k,) in db.execute("SELECT json_extract(fields, '$.kind') FROM rows"
                                                     " WHERE collection = 'checklist_templates'")})
    ids["bounds"] = {site: month_bounds(month, tz) for site, tz in callbacks.site_zones(db).items()}
    ids["conflict_rows"] = {r for (r,) in db.execute("SELECT row_id FROM conflicts")}
    ids["logged"] = [tuple(r) for r in db.execute(
        "SELECT collection, row_id, register, client_id, new_value FROM conflicts WHERE kind = 'lost'")]
    return ids


def _seed_extra(db: sqlite3.Connection, ids: dict[str, Any], now: int) -> None:
    """What the demo leaves out: clients (two console sessions enrolled in one millisecond), an open
    upload, a signature's image its creator uploaded, and conflict-log entries (one with a null value)."""
    db.execute("INSERT INTO row_creators(collection, row_id, user_id, client_id) VALUES ('signatures', ?, ?, 'c-phone')",
               [ids["signature_row"], ids["user"]])
    db.execute("INSERT INTO blobs(sha256, content_type, bytes, created_at) VALUES (?, 'image/png', 900,"
               " '2026-12-01T08:00:00.000Z') ON CONFLICT DO NOTHING", [ids["signature_sha"]])
    db.execute("INSERT INTO blob_owners(sha256, user_id, uploaded_at) VALUES (?, ?, '2026-12-01T08:00:00.000Z')",
               [ids["signature_sha"], ids["user"]])
    db.executemany("INSERT INTO clients(id, user_id, name, created_at, app) VALUES (?, ?, ?, ?, ?)",
                   [("c-phone", ids["user"], "phone", "2026-12-01T08:00:00.000Z", None),
                    ("c-console-1", ids["user"], "console", "2026-12-01T09:00:00.000Z", "console"),
                    ("c-console-2", ids["user"], "console", "2026-12-01T09:00:00.000Z", "console"),
                    ("c-console-3", ids["user"], "console", "2026-12-02T09:00:00.000Z", "console")])
    db.execute("INSERT INTO uploads(id, user_id, client_id, sha256, content_type, length, status, created_ms,"
               " updated_ms) VALUES ('u1', ?, 'c-phone', 'ab' || hex(randomblob(31)), 'image/jpeg', 5000, 'open', ?, ?)",
               [ids["user"], now, now])
    entry = ("INSERT INTO conflicts(at, kind, collection, row_id, site_id, register, reason, client_id, user_id,"
             " hlc, seq, old_value, new_value, other_client_id) VALUES (?, ?, 'devices', ?, ?, ?, 'older', ?, ?, ?, ?, ?, ?, ?)")
    db.executemany(entry, [
        ("2026-12-01T08:00:00.000Z", "lost", ids["device"], ids["site"], "location", "c-phone", ids["user"],
         "2026-12-01T08:00:00.000Z-0000-aaaa", 1, '"hall"', '"lobby"', "c-console-1"),
        ("2026-12-01T08:01:00.000Z", "lost", ids["device"], ids["site"], "notes", "c-phone", ids["user"],
         "2026-12-01T08:01:00.000Z-0000-aaaa", 2, '"x"', None, None),
        ("2026-12-01T08:02:00.000Z", "overwritten", ids["device"], None, "model", "c-console-1", None,
         "2026-12-01T08:02:00.000Z-0000-aaaa", 3, '"A"', '"B"', "c-phone"),
    ])


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, postgres: str) -> Iterator[Seeded]:
    month = bench.last_month()
    store = Store(Settings(data_dir=tmp_path_factory.mktemp("queries")))
    load_demo(store)
    bench.build(store, 2, month)
    with store.write() as db:
        base = _ids(db, month)
        _seed_extra(db, base, store.now_ms())
    url = new_database(postgres)
    target = POSTGRES.open(url)
    try:
        with store.read() as db:
            _copy(db, target)
            ids = _ids(db, month)
        yield Seeded(store, target, ids, month)
    finally:
        target.close()
        store.close()
        drop_database(url)


def _photo_ids(db: Any) -> list[str]:
    return [i for (i,) in db.execute("SELECT id FROM rows WHERE collection = 'photos' ORDER BY id")]


class Case(NamedTuple):
    name: str
    run: Callable[[Any, dict[str, Any]], Any]
    ordered: bool = True  # whether the answer's order is the query's (else compared as sorted)
    empty: bool = False  # whether an empty answer is what it should be


def _inspections(db: Any) -> Any:
    return inspections._Queries(db, store=None)  # type: ignore[arg-type]  # `signatures` is not run here


# One query of each module at least; every statement the SQLite-only table of docs/architecture.md names.
CASES = [
    Case("archive.site_exists", lambda db, i: archive.site_exists(db, i["site"])),
    Case("archive.site_named", lambda db, i: archive.site_named(db, i["customer"].upper(), f" {i['site_name']} ", "x")),
    Case("archive.site_devices", lambda db, i: archive.site_devices(db, i["site"]), ordered=False),
    Case("archive.by_sheet_no", lambda db, i: archive.by_sheet_no(db, i["sheet_no"])),
    Case("archive.by_request_number", lambda db, i: archive.by_request_number(db, i["number"])),
    Case("archive.by_device_code", lambda db, i: archive.by_device_code(db, i["device_site"], i["code"])),
    Case("archive.devices_by_code (every site)", lambda db, i: archive.devices_by_code(db, i["code"], None, 50)),
    Case("archive.devices_by_code (a JSON list of sites)",
         lambda db, i: archive.devices_by_code(db, i["code"], [i["device_site"], "elsewhere"], 50)),
    Case("archive.devices_by_code (no site)", lambda db, i: archive.devices_by_code(db, i["code"], [], 50), empty=True),
    Case("billing.visit_lines (the item register's clock)", lambda db, i: billing.visit_lines(db, i["visit"])),
    Case("billing.active_kinds", lambda db, i: billing.active_kinds(db, i["site"])),
    Case("callbacks.technician_month", lambda db, i: callbacks.technician_month(db, i["bounds"], 2**62)),
    Case("callbacks.site_zones", lambda db, i: callbacks.site_zones(db)),
    Case("conflicts.entries (a viewer's sites as a JSON list)",
         lambda db, i: list(conflicts.entries(db, 0, {"collection": None, "row_id": None, "site_id": None, "kind": None},
                                              (i["user"], frozenset({i["site"]})), 50))),
    Case("conflicts.entries (no limit, newest first)",
         lambda db, i: list(conflicts.entries(db, 0, {"collection": "devices", "row_id": None, "site_id": None,
                                                      "kind": None}, None, -1, before=2**62))),
    Case("conflicts.rows_by_id", lambda db, i: sorted(conflicts.rows_by_id(db, i["conflict_rows"]))),
    Case("conflicts.on_record (null-safe equality)",
         lambda db, i: conflicts.on_record(db, [*i["logged"], ("devices", "nowhere", "notes", "c-phone", None)])),
    Case("duty.roster", lambda db, i: duty.roster(db, i["roster"])),
    Case("duty.calls_between", lambda db, i: duty.calls_between(db, "2000-01-01T00:00:00.000Z", "2999-01-01T00:00:00.000Z")),
    Case("duty.unresolved_before", lambda db, i: duty.unresolved_before(db, "2999-01-01T00:00:00.000Z")),
    Case("identity.users (a member's sites)", lambda db, i: identity.users(db)),
    Case("identity.console_sessions_past", lambda db, i: identity.console_sessions_past(db, i["user"], "console", 1)),
    Case("identity.clients", lambda db, i: identity.clients(db, i["user"], None)),
    Case("identity.audit_entries", lambda db, i: identity.audit_entries(db, 0, None, None, 20)),
    Case("identity.sites_named", lambda db, i: identity.sites_named(db, i["site_name"])),
    Case("identity.open_upload_bytes", lambda db, i: identity.open_upload_bytes(db, i["user"])),
    Case("identity.members", lambda db, i: identity.members(db, i["site"])),
    Case("inspections.kinds", lambda db, i: _inspections(db).kinds(i["site"])),
    Case("inspections.planned", lambda db, i: _inspections(db).planned("quarterly")),
    Case("inspections.inspections", lambda db, i: _inspections(db).inspections(None, i["site"], "scheduled"),
         ordered=False),
    Case("inspections.device_totals", lambda db, i: _inspections(db).device_totals([i["site"]])),
    Case("inspections.photos_of_device", lambda db, i: _inspections(db).photos_of_device(i["device"], i["site"]),
         empty=True),
    Case("media.referenced (one ? for each place)", lambda db, i: media.MediaQueries(db).referenced(i["signature_sha"])),
    Case("media.uploaded_signature_sites", lambda db, i: list(media.MediaQueries(db).uploaded_signature_sites(
        i["signature_sha"]))),
    Case("media.blob_rows", lambda db, i: media.MediaQueries(db).blob_rows(i["visit"])),
    Case("media.open_uploads", lambda db, i: media.MediaQueries(db).open_uploads("c-phone")),
    Case("pages.page (an owner's own rows)", lambda db, i: pages.page(db, 0, {i["site"]}, None, 1000,
                                                                      owner=i["duty_owner"])),
    Case("pages.scope_changes", lambda db, i: pages.scope_changes(db, 10**9, {i["site"]}, set(), None, None)),
    Case("pages.scope_changes (into a window of no period)",
         lambda db, i: pages.scope_changes(db, 10**9, {i["site"]}, {i["site"]}, None, set())),
    Case("queries.checks", lambda db, i: queries.checks(db, i["inspection"]), empty=True),
    Case("scope.sites_at", lambda db, i: scope.sites_at(db, i["user"], 10**9)),
    Case("service.request_events", lambda db, i: service.request_events(db, i["request"])),
    Case("service.events_before_seal", lambda db, i: service.events_before_seal(db, i["request"])),
    Case("service.list_requests", lambda db, i: service.list_requests(
        db, sites=None, site_id=None, status=None, assigned_to=None, open_=None, breached=None, at_risk=False,
        now_ms=0, after=None, limit=100)),
    Case("service.list_requests (no site in scope)", lambda db, i: service.list_requests(
        db, sites=[], site_id=None, status=None, assigned_to=None, open_=None, breached=None, at_risk=True,
        now_ms=0, after=None, limit=100), empty=True),
    Case("service.recorded_faults", lambda db, i: service.recorded_faults(db, "2000-01-01", "2999-01-01"),
         ordered=False),
    Case("service.device_requests", lambda db, i: service.device_requests(db, i["device"]), ordered=False),
    Case("service.site_terms", lambda db, i: service.site_terms(db, i["site"])),
    Case("settle.open_inspections", lambda db, i: settle.open_inspections(db, i["site"])),
    Case("settle.unchecked_devices", lambda db, i: settle.unchecked_devices(db, i["site"], i["inspection"])),
    Case("settle.live_signatures", lambda db, i: settle.live_signatures(db, i["visit"])),
    Case("sheets.templates", lambda db, i: sheets.templates(db, i["kinds"])),
    Case("signatures.seal_counts", lambda db, i: signatures.seal_counts(db, i["inspection"]), empty=True),
    Case("signatures.sealed_by", lambda db, i: signatures.sealed_by(db, i["visit"], i["signature"]), ordered=False),
    Case("signatures.signature_rows", lambda db, i: signatures.signature_rows(db, i["visit"])),
    Case("signatures.visit_codes", lambda db, i: signatures.visit_codes(db, i["visit"])),
]


def _said(answer: Any) -> bool:
    return bool(answer) and answer != (0, 0)


def _plain(answer: Any, ordered: bool) -> Any:
    """Rows as lists (psycopg's and sqlite3's tuples alike), unordered answers sorted; a row's fields
    as JSON, decoded: PostgreSQL gives JSONB back in its own spacing and key order."""
    if isinstance(answer, str) and answer.startswith("{"):
        return json.loads(answer)
    if isinstance(answer, list | tuple):
        items = [_plain(a, True) for a in answer]
        return items if ordered else sorted(items, key=repr)
    if isinstance(answer, dict):
        return {k: _plain(v, True) for k, v in answer.items()}
    return answer


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.name)
def test_a_query_answers_alike_on_both(seeded: Seeded, case: Case) -> None:
    with seeded.sqlite.read() as db:
        expected = case.run(db, seeded.ids)
    with seeded.postgres.read() as db:
        assert dialect(db) is POSTGRES.sql
        found = case.run(db, seeded.ids)
    assert _said(expected) != case.empty, (case.name, expected)
    assert _plain(found, case.ordered) == _plain(expected, case.ordered), case.name


def test_every_query_module_is_asked() -> None:
    asked = {case.name.split(".")[0] for case in CASES} | {"protocol", "throttle", "imports"}  # by _writes
    modules = {p.stem for p in Path(archive.__file__).parent.glob("*.py")} - {
        "__init__", "base", "writes", "testing", "receipts"}  # receipts: one DELETE, run by the push tests
    assert modules <= asked, modules - asked


def test_the_report_counts_on_postgresql_what_sqlite_counts(seeded: Seeded) -> None:
    # The report's whole statement (bounds as one JSON list, hints only on SQLite, counts FILTERed).
    with seeded.sqlite.read() as db:
        plain = bench.plain_report(db, seeded.month, 2**62)
    with seeded.postgres.read() as db:
        report = callbacks.technician_month(db, seeded.ids["bounds"], 2**62)
    assert report and {t: r["visits"] for t, r in report.items()} == {t: r["visits"] for t, r in plain.items()}


def test_versions_taken_on_postgresql_by_two_writers_differ(postgres: str) -> None:
    # scope.take_version (a membership's or window's place among versions) reads the counter as a
    # push does (Dialect.version: FOR UPDATE). Read without the lock, a second writer read the
    # same value while the first was still open, and both took the same version.
    url = new_database(postgres)
    db = POSTGRES.open(url)
    try:
        taken: list[int] = []
        with db.write() as first:
            taken.append(scope.take_version(first))
            second = threading.Thread(target=lambda: taken.append(_take(db)))
            second.start()
            with psycopg.connect(url, autocommit=True) as watch:
                deadline = time.monotonic() + 30
                while not watch.execute("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                                        " AND datname = current_database()").fetchone()[0]:
                    assert time.monotonic() < deadline, "the second writer never waited"
                    time.sleep(0.01)
        second.join()
        assert taken[1] == taken[0] + 1
    finally:
        db.close()
        drop_database(url)


def _take(db: PgDatabase) -> int:
    with db.write() as conn:
        return scope.take_version(conn)


def _writes(db: Any, now: int) -> list[Any]:
    """The domains' writes, then what reads say of them: a transcript both backends must give alike."""
    m = media.MediaQueries(db)
    user, sha = "u-1", "ab" * 32
    site, device, photo = "s-1", "d-1", "p-1"
    tx = (POSTGRES if dialect(db) is POSTGRES.sql else SQLITE).transaction(db, now)
    for collection, row_id, fields, site_id in [
        ("sites", site, {"name": "Park", "tz": "Asia/Shanghai"}, site),
        ("devices", device, {"site_id": site, "code": "CAM-1", "kind": "dome_camera"}, site),
        ("photos", photo, {"device_id": device, "sha256": sha, "blob": "missing"}, site),
    ]:
        tx.put(RowState(collection, row_id, fields, {k: ["2026-12-01T08:00:00.000Z-0000-aaaa", "c-1"] for k in fields},
                        False, site_id, 0))
    tx.creators.append(("photos", photo, user, "c-1"))
    tx.finish(None, [], [])
    identity.insert_user(db, user, "wang", "Wang", "technician", "hash", "2026-12-01T08:00:00.000Z")
    client = identity.enrol(db, user, "phone", now, None)
    identity.add_token(db, "t-hash", client, now)
    identity.audit(db, "login", username="wang", client_id=client, now_ms=now, note="first")
    protocol.record_sync(db, client, 7, "2026-12-01T08:00:00.000Z", 12, "app/1")
    protocol.save_clock(db, "2026-12-01T08:00:00.000Z-0000-srv")
    protocol.save_clock(db, "2026-11-01T08:00:00.000Z-0000-srv")  # never backwards
    keys = ["pair:wang|10.0.0.1", "user:wang"]
    throttle.lock(db, keys)
    throttle.add(db, keys, now, "a-1")
    throttle.add(db, keys[:1], now + 1, "a-2")
    throttle.report(db, keys[1:], now)
    throttled = [throttle.counts(db, keys, now - 1), sorted(throttle.reported(db, keys, now - 1))]
    throttle.take_back(db, keys, now, "a-1")
    throttled.append(throttle.counts(db, keys, now - 1))
    throttle.clear(db, keys[0], now)
    throttle.prune(db, now)
    throttled += [throttle.counts(db, keys, 0), sorted(throttle.reported(db, keys, 0))]
    out: list[Any] = [identity.set_member(db, site, user, True, "2026-12-01T08:00:00.000Z"),
                      identity.set_member(db, site, user, True, "2026-12-01T08:00:00.000Z"),
                      sorted(scope.memberships(db, user)), settle.is_member(db, site, "wang")]
    scope.record_window(db, ["2026Q4"], "2026-12-01T08:00:00.000Z")
    scope.record_window(db, ["2026Q4"], "2026-12-01T08:00:00.000Z")
    out += [protocol.acked_seq(db, client), protocol.server_clock(db), protocol.current_version(db),
            sorted(protocol.meta(db)), *throttled]
    for n in range(3):  # the third past two a user: the oldest goes
        imports.keep(db, f"k-{n}", "session-1" if n < 2 else "session-2", user, site, b"xlsx%d" % n, now + n,
                     now + 60_000, 2, 8)
    out += [imports.find(db, "k-0", "session-1", site, now), imports.find(db, "k-2", "session-2", site, now),
            imports.take(db, "k-2", "session-2", site, now), imports.take(db, "k-2", "session-2", site, now)]
    imports.done(db, "k-2", '{"added": 1}')
    out += [imports.find(db, "k-2", "session-2", site, now)]
    out += [scope.window_at(db, 10**9), identity.token_holder(db, "t-hash")[3:6]]
    m.add_upload("up-1", user, client, sha, "image/jpeg", "a.jpg", 10, 0, "open", now)
    out += [m.open_uploads(client), m.upload("up-1"), m.open_upload_ids(), m.awaiting(sha, user), m.referenced(sha)]
    m.store_blob("up-1", user, sha, "image/jpeg", 10, None, now)
    m.store_blob("up-1", user, sha, "image/jpeg", 10, None, now)  # a second completion changes nothing
    out += [m.reconcilable(), m.owned(sha, user), settle.uploaded_image(db, sha, user),
            media.uploaded_among(db, user, [sha, "cd" * 32]), m.uploads_untouched_since(now + 1)]
    m.forget_uploads(["up-1"])
    out += [m.blobs_created_before("2999-01-01T00:00:00.000Z")]
    service.set_terms_override(db, site, {"response_hours": 4}, "chen", "2026-12-01T08:00:00.000Z")
    service.set_terms_override(db, site, {"response_hours": 8}, "chen", "2026-12-01T09:00:00.000Z")
    service.save_clocks(db, [("r-1", site, "open", "wang", now, 1, 0, now + 5, now + 1, now,
                              service.phone_reversed("021-5555 0109"), "mark-a")])
    service.save_milestones(db, [("r-1", [("respond", None, "open", now + 5, None)])])
    out += [service.terms_override(db, site), service.stored_clocks(db, "r-1"), service.list_requests(
        db, sites=[site], site_id=None, status="open", assigned_to="wang", open_=True, breached=False,
        at_risk=True, now_ms=now + 2, after=(0, ""), limit=10)]
    # the number's tail ending in 9 (its range's bound past the digits), and one it does not end with
    out += [service.list_requests(db, sites=[site], site_id=None, status=None, assigned_to=None, open_=None,
                                  breached=None, at_risk=None, now_ms=now, after=None, limit=10, phone_tail=tail)
            for tail in ("9010", "90105555120", "9011", "90105555120" + "0")]
    # The call-backs still to make (m033): one due, one stopped by a pause (no due), one made.
    service.save_clocks(db, [(r, site, "closed", "wang", now, 0, 0, None, None, now, None, mark)
                             for r, mark in (("r-2", "mark-b"), ("r-3", None), ("r-4", "mark-a"))])
    # m040: the clocks counted with terms other than a file's, NULL (before m040) among them
    out += [service.counted_otherwise(db, "mark-a"), service.still_otherwise(db, ["r-1", "r-2", "r-3"], "mark-a")]
    service.save_milestones(db, [("r-2", [("callback", "v-2", "breached", now + 7, 1)]),
                                 ("r-3", [("callback", "v-3", "open", None, 1)]),
                                 ("r-4", [("callback", "v-4", "breached", now + 3, None)])])
    out += [service.list_requests(db, sites=[site], site_id=None, status=None, assigned_to=None, open_=None,
                                  breached=None, at_risk=None, now_ms=now, after=(now + 7, "r-2"), limit=10,
                                  callback_due=True),
            service.count_callbacks_due(db, sites=[site], now_ms=now), service.callback_due_of(db, "r-2"),
            service.list_requests(db, sites=None, site_id=None, status=None, assigned_to=None, open_=None,
                                  breached=None, at_risk=None, now_ms=now, after=None, limit=10, callback_due=False)]
    service.drop_clocks(db, "r-1")
    signatures.record_verification(db, "sig-1", "i-1", "inspection", b"{}")
    signatures.record_verification(db, "sig-1", "i-1", "sheet", b"{}")
    out += [service.stored_clocks(db, "r-1"),
            db.execute("SELECT compared FROM verifications WHERE signature_id = 'sig-1'").fetchall(),
            tx.next_counter("sheet_seq/2026Q4"), tx.next_counter("sheet_seq/2026Q4"),
            identity.revoke(db, "2026-12-02T00:00:00.000Z", "id = ?", client), identity.open_clients(db, user)]
    return [_plain(o, True) for o in out]


def test_the_domains_writes_leave_the_same_on_both(tmp_path: Path, postgres: str) -> None:
    # Upserts (ON CONFLICT), a counter, a membership's version, a window's, a null-safe list filter.
    url = new_database(postgres)
    transcripts = []
    try:
        for backend, location in [(SQLITE, tmp_path / "db.db"), (POSTGRES, url)]:
            db = backend.open(location)
            try:
                with db.write() as conn:
                    transcripts.append(_writes(conn, 1_764_576_000_000))
            finally:
                db.close()
    finally:
        drop_database(url)
    assert transcripts[0][0] is True and transcripts[0][1] is False and transcripts[0][-3:] == [2, 1, 0]
    assert transcripts[1] == transcripts[0]



def test_on_record_finds_the_logged_values_among_hundreds_on_both(seeded: Seeded) -> None:
    # Regression (issue 15, the push path, third round): `on_record` binds its values, 64 a statement
    # padded with nulls, instead of one JSON list. Across statements (1,100 values: eighteen, the last
    # padded), the positions found are the logged values' and only theirs, on both backends.
    logged = seeded.ids["logged"]
    assert logged
    values = [("devices", f"nowhere-{n}", "notes", "c-phone", None) for n in range(1_100)]
    wanted = {3, 511, 512, 700, 1_099}
    for n in wanted:
        values[n] = logged[n % len(logged)]
    for store in (seeded.sqlite, seeded.postgres):
        with store.read() as db:
            assert conflicts.on_record(db, values) == wanted


def test_on_record_answers_alike_at_each_statement_size_on_both(seeded: Seeded) -> None:
    # Issue 15 (the fixed cost of a push, session 28): a small push's values are padded to 4 or 16, not
    # to 64 (each padding row cost a probe of the log). At the edges of each size the positions found
    # are the logged values' and only theirs, on both backends.
    logged = seeded.ids["logged"]
    for count in (1, 3, 4, 5, 15, 16, 17, 63, 64, 65):
        values = [("devices", f"nowhere-{n}", "notes", "c-phone", None) for n in range(count)]
        wanted = {0, count - 1}
        for n in wanted:
            values[n] = logged[n % len(logged)]
        for store in (seeded.sqlite, seeded.postgres):
            with store.read() as db:
                assert conflicts.on_record(db, values) == wanted, count

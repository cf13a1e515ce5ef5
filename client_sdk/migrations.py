"""The phone database's schema, created and evolved by sqlite-utils migrations.

A phone's database lives for years and holds the technician's unsent work, so
its schema only ever moves forward, one recorded migration at a time, as the
server's does (server/storage/sqlite/migrations.py). Add a migration at the end; never edit one that
has shipped.

The app before migrations ran `CREATE TABLE IF NOT EXISTS` on every start
(the outbox, rows and meta in local.py, the upload queue in media.py) and
recorded nothing. `m001_phone_v1` is that schema, still `IF NOT EXISTS`: on a
database that app wrote it changes nothing but the record, so the outbox, the
upload queue and the sign-in are kept (tests/client_sdk/test_replica.py opens
`fixtures/phone-v1.sql`, written by that app).
"""

from __future__ import annotations

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("fieldsync-client")


@migrations()
def m001_phone_v1(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        -- Rows exactly as last pulled. `seen` marks rows a running snapshot brought.
        CREATE TABLE IF NOT EXISTS rows (
            collection TEXT NOT NULL,
            id TEXT NOT NULL,
            fields TEXT NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL DEFAULT 0,
            seen INTEGER NOT NULL DEFAULT 1,
            PRIMARY KEY (collection, id)
        ) WITHOUT ROWID;
        -- Every local change, pending until the server acknowledges it, then kept
        -- with its result for 30 days (resent if the server is restored).
        CREATE TABLE IF NOT EXISTS outbox (
            seq INTEGER PRIMARY KEY,
            collection TEXT NOT NULL,
            id TEXT NOT NULL,
            hlc TEXT NOT NULL,
            fields TEXT NOT NULL,
            "delete" INTEGER,
            created_ms INTEGER NOT NULL,
            state TEXT NOT NULL DEFAULT 'pending'
                CHECK (state IN ('pending', 'applied', 'superseded', 'rejected')),
            reason TEXT,
            detail TEXT,
            rejected_fields TEXT,
            clock TEXT,
            push_version INTEGER,
            acked_ms INTEGER
        );
        CREATE INDEX IF NOT EXISTS outbox_row ON outbox(collection, id);
        CREATE INDEX IF NOT EXISTS outbox_state ON outbox(state);
        -- Blobs waiting to reach the server, and the ones that did. `kind`: a sheet is
        -- uploaded before the push that carries its signature; images after it.
        CREATE TABLE IF NOT EXISTS uploads (
            sha256 TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            content_type TEXT NOT NULL,
            length INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('sheet', 'image')),
            url TEXT,
            "offset" INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'uploading', 'done', 'failed')),
            error TEXT,
            queued_ms INTEGER NOT NULL,
            done_ms INTEGER
        );
        CREATE INDEX IF NOT EXISTS uploads_state ON uploads(state);
        """
    )


@migrations()
def m002_service_terms(db: sqlite_utils.Database) -> None:
    """Each site's response-time terms as the server last handed them (issue 12, item 5): the
    countdowns are computed offline from these, so they outlive a sync that cannot fetch them."""
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS service_terms (
            site_id TEXT PRIMARY KEY,
            contract TEXT NOT NULL,
            terms TEXT NOT NULL,
            fetched_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        """
    )


@migrations()
def m003_reference_data(db: sqlite_utils.Database) -> None:
    """What the server prices and rosters with, as it last handed it (issue 13, item 7): the fee
    book with its tax rate, and the duty rules, so the phone shows a bill and who is on duty
    offline."""
    db.executescript(
        """
        CREATE TABLE IF NOT EXISTS reference_data (
            name TEXT PRIMARY KEY,
            body TEXT NOT NULL,
            fetched_ms INTEGER NOT NULL
        ) WITHOUT ROWID;
        """
    )


@migrations()
def m004_outbox_labels(db: sqlite_utils.Database) -> None:
    """What the technician calls each change's row, kept when it is recorded: the sheet or request number,
    the device's code, the site (JSON). A pull that removes the site (he was taken off it) takes the rows
    these were read from, and his refused work must still read `CAM-001 on PM-2026Q4-0001`, not ids.
    Changes recorded before this have none and are named from the rows as before."""
    db.executescript("ALTER TABLE outbox ADD COLUMN label TEXT;")


@migrations()
def m005_dropped_uploads(db: sqlite_utils.Database) -> None:
    """An upload may be `dropped`: the server refused for good every change that names its bytes (a photo
    of a site the technician was taken off), so sending them would only spend his mobile data on a blob
    no row points at. SQLite cannot change a CHECK in place: the table is copied, statement by statement
    (`executescript` would commit each one, and a crash between the drop and the rename lose the queue)."""
    for statement in (
        """CREATE TABLE uploads_new (
            sha256 TEXT PRIMARY KEY,
            path TEXT NOT NULL,
            content_type TEXT NOT NULL,
            length INTEGER NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('sheet', 'image')),
            url TEXT,
            "offset" INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL DEFAULT 'queued'
                CHECK (state IN ('queued', 'uploading', 'done', 'failed', 'dropped')),
            error TEXT,
            queued_ms INTEGER NOT NULL,
            done_ms INTEGER
        )""",
        'INSERT INTO uploads_new SELECT sha256, path, content_type, length, kind, url, "offset", state, error,'
        " queued_ms, done_ms FROM uploads",
        "DROP TABLE uploads",
        "ALTER TABLE uploads_new RENAME TO uploads",
        "CREATE INDEX uploads_state ON uploads(state)",
    ):
        db.execute(statement)


@migrations()
def m006_outbox_sent_seq(db: sqlite_utils.Database) -> None:
    """The seq the server knew an answered change by, kept when a new enrolment moves it below seq 1
    (`Outbox.renumber_tx`): the conflict log names a change by its client and that seq, and a change taken
    with its answer lost is settled from those entries (`client_sdk/settle.py`). NULL: its seq is that one."""
    db.execute("ALTER TABLE outbox ADD COLUMN sent_seq INTEGER")


@migrations()
def m007_outbox_told(db: sqlite_utils.Database) -> None:
    """When the technician was told that a change's result stays unknown (reason `result_unknown`, settled for
    good: `client_sdk/settle.py`): a sync tells it once, `outbox` keeps listing it until it is pruned. NULL:
    not told yet (a phone upgraded holding such a change tells it once more)."""
    db.execute("ALTER TABLE outbox ADD COLUMN told_ms INTEGER")


@migrations()
def m008_outbox_label_tz(db: sqlite_utils.Database) -> None:
    """The site's time zone in each change's label (`tz`), which labels written before session 28 lack: a change
    whose site then left the phone (a pull took him off it) showed its times on the users' default zone, not
    its site's. Filled from the site while the phone still holds it (an upgrade opens the database before any
    pull); a label that has it, or whose site is gone, is left as it is, so running it again changes nothing."""
    db.execute(
        """UPDATE outbox SET label = json_set(label, '$.tz', (
               SELECT json_extract(r.fields, '$.tz') FROM rows r
               WHERE r.collection = 'sites' AND r.id = json_extract(outbox.label, '$.site')))
           WHERE label IS NOT NULL AND json_valid(label) AND json_extract(label, '$.tz') IS NULL
             AND EXISTS (SELECT 1 FROM rows r WHERE r.collection = 'sites'
                         AND r.id = json_extract(outbox.label, '$.site')
                         AND json_type(r.fields, '$.tz') = 'text')"""
    )

"""The schema, created and evolved by sqlite-utils migrations (one function per step, never edited once released)."""

from __future__ import annotations

import secrets
import sqlite3
import uuid

import sqlite_utils
from sqlite_utils.migrations import Migrations

migrations = Migrations("fieldsync")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db.executescript(
        """
        CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
        CREATE TABLE users (
            id TEXT PRIMARY KEY,
            username TEXT NOT NULL UNIQUE,
            name TEXT NOT NULL,
            role TEXT NOT NULL CHECK (role IN ('technician', 'supervisor')),
            password_hash TEXT NOT NULL,
            created_at TEXT NOT NULL
        );
        CREATE TABLE memberships (
            site_id TEXT NOT NULL,
            user_id TEXT NOT NULL REFERENCES users(id),
            PRIMARY KEY (site_id, user_id)
        );
        CREATE TABLE clients (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL REFERENCES users(id),
            name TEXT NOT NULL,
            acked_seq INTEGER NOT NULL DEFAULT 0,
            created_at TEXT NOT NULL,
            last_sync_at TEXT,
            clock_offset_ms INTEGER,
            app TEXT,
            revoked_at TEXT
        );
        CREATE TABLE tokens (
            token_hash TEXT PRIMARY KEY,
            client_id TEXT NOT NULL REFERENCES clients(id),
            created_at TEXT NOT NULL,
            last_used_ms INTEGER NOT NULL,
            revoked_at TEXT
        );
        CREATE INDEX tokens_client ON tokens(client_id);
        -- Every collection lives in one table: a row's fields as JSON, one
        -- [hlc, writer] clock per register, and the derived scope columns.
        -- A rowid table, not WITHOUT ROWID: rows are around a kilobyte, and
        -- random UUID keys in a clustered index left pages half empty.
        CREATE TABLE rows (
            collection TEXT NOT NULL,
            id TEXT NOT NULL,
            site_id TEXT,
            parent_id TEXT,
            device_id TEXT,
            fields TEXT NOT NULL,
            clocks TEXT NOT NULL,
            deleted INTEGER NOT NULL DEFAULT 0,
            version INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE UNIQUE INDEX rows_key ON rows(collection, id);
        CREATE UNIQUE INDEX rows_version ON rows(version);
        CREATE INDEX rows_parent ON rows(collection, parent_id);
        CREATE INDEX rows_device ON rows(device_id, collection) WHERE device_id IS NOT NULL;
        CREATE TABLE receipts (
            client_id TEXT NOT NULL,
            seq INTEGER NOT NULL,
            hlc TEXT NOT NULL,
            result TEXT NOT NULL,
            PRIMARY KEY (client_id, seq)
        ) WITHOUT ROWID;
        CREATE TABLE conflicts (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            collection TEXT NOT NULL,
            row_id TEXT NOT NULL,
            site_id TEXT,
            register TEXT,
            reason TEXT,
            detail TEXT,
            client_id TEXT,
            user_id TEXT,
            hlc TEXT,
            seq INTEGER,
            old_value TEXT,
            new_value TEXT,
            other_client_id TEXT,
            other_hlc TEXT
        );
        CREATE INDEX conflicts_row ON conflicts(collection, row_id);
        CREATE INDEX conflicts_site ON conflicts(site_id);
        CREATE INDEX conflicts_user ON conflicts(user_id);
        """
    )
    db.execute(
        "INSERT INTO meta(key, value) VALUES ('server_epoch', ?), ('version', '0'),"
        " ('horizon_version', '0'), ('hlc', '')",
        [str(uuid.uuid4())],
    )


def migrate(conn: sqlite3.Connection) -> None:
    migrations.apply(sqlite_utils.Database(conn))


@migrations()
def m002_plans(db: sqlite_utils.Database) -> None:
    """Maintenance plans: which sites get an inspection each period, when due, and for whom."""
    db.executescript(
        """
        CREATE TABLE plans (
            site_id TEXT PRIMARY KEY,
            frequency TEXT NOT NULL CHECK (frequency IN ('quarterly', 'half_yearly', 'monthly')),
            due_day INTEGER NOT NULL DEFAULT 20,
            technician TEXT
        );
        """
    )


@migrations()
def m004_scope_events(db: sqlite_utils.Database) -> None:
    """Membership changes, each at a place in the row version sequence, so that a
    pull knows which sites a cursor's rows reflect (issue 5: scope changes)."""
    db.executescript(
        """
        CREATE TABLE scope_events (
            version INTEGER PRIMARY KEY,
            user_id TEXT NOT NULL,
            site_id TEXT NOT NULL,
            member INTEGER NOT NULL,
            at TEXT NOT NULL
        );
        CREATE INDEX scope_events_user ON scope_events(user_id, version);
        CREATE INDEX rows_site_version ON rows(site_id, version);
        -- Memberships made before this migration count from the beginning.
        INSERT INTO scope_events(version, user_id, site_id, member, at)
            SELECT -rowid, user_id, site_id, 1, '' FROM memberships;
        """
    )


@migrations()
def m005_blobs(db: sqlite_utils.Database) -> None:
    """Blobs, who has uploaded them, resumable uploads, and who created each photo and signature (issue 4)."""
    db.executescript(
        """
        -- What the server knows about a stored blob besides its bytes (EXIF of photos).
        CREATE TABLE blobs (
            sha256 TEXT PRIMARY KEY,
            content_type TEXT NOT NULL,
            bytes INTEGER NOT NULL,
            width INTEGER,
            height INTEGER,
            taken_at TEXT,
            taken_local TEXT,
            orientation INTEGER,
            lat REAL,
            lon REAL,
            created_at TEXT NOT NULL
        );
        -- Users who have sent these bytes: proof of possession, per user.
        CREATE TABLE blob_owners (
            sha256 TEXT NOT NULL REFERENCES blobs(sha256),
            user_id TEXT NOT NULL,
            uploaded_at TEXT NOT NULL,
            PRIMARY KEY (sha256, user_id)
        ) WITHOUT ROWID;
        CREATE TABLE uploads (
            id TEXT PRIMARY KEY,
            user_id TEXT NOT NULL,
            client_id TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            content_type TEXT NOT NULL,
            filename TEXT,
            length INTEGER NOT NULL,
            received INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL CHECK (status IN ('open', 'complete', 'failed')),
            error TEXT,
            created_ms INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        );
        CREATE INDEX uploads_age ON uploads(updated_ms);
        -- The user whose client created a photos or signatures row: their upload makes its blob stored.
        CREATE TABLE row_creators (
            collection TEXT NOT NULL,
            row_id TEXT NOT NULL,
            user_id TEXT,
            client_id TEXT,
            PRIMARY KEY (collection, row_id)
        ) WITHOUT ROWID;
        CREATE INDEX rows_photo_sha256 ON rows(json_extract(fields, '$.sha256')) WHERE collection = 'photos';
        CREATE INDEX rows_signature_image ON rows(json_extract(fields, '$.image_sha256'))
            WHERE collection = 'signatures';
        CREATE INDEX rows_signature_sheet ON rows(json_extract(fields, '$.sheet_sha256'))
            WHERE collection = 'signatures';
        """
    )


@migrations()
def m006_verifications(db: sqlite_utils.Database) -> None:
    """What each signature was compared with, as it stood then (issue 4: sealed sheets).

    `compared` is `sheet` (the checks the stored sheet listed) or `inspection`
    (the full sheet: the sheet blob was not stored yet); `checks` is the
    server's state of those checks, `{device_id: {field: value}}`, so a
    mismatch shows how the sheet differed when it was signed.
    """
    db.executescript(
        """
        CREATE TABLE verifications (
            signature_id TEXT PRIMARY KEY,
            inspection_id TEXT NOT NULL,
            compared TEXT NOT NULL CHECK (compared IN ('sheet', 'inspection')),
            checks TEXT NOT NULL
        );
        CREATE INDEX verifications_inspection ON verifications(inspection_id);
        """
    )


@migrations()
def m007_audit(db: sqlite_utils.Database) -> None:
    """Who signed in, failed to, was throttled, revoked a client, changed a site's members,
    or had a change rejected as forbidden (issue 5). `username`, `client_id` and
    `address` are the actor's; `detail` is JSON."""
    db.executescript(
        """
        CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            kind TEXT NOT NULL,
            username TEXT,
            client_id TEXT,
            address TEXT,
            detail TEXT NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_kind ON audit(kind, id);
        CREATE INDEX audit_username ON audit(username, id);
        """
    )


def backfill_periods(db: sqlite3.Connection | sqlite_utils.Database) -> None:
    """Set `rows.period` from the rows themselves: an inspection's own, its children's."""
    db.execute(
        "UPDATE rows SET period = json_extract(fields, '$.period') WHERE collection = 'inspections'"
    )
    db.execute(
        "UPDATE rows SET period = (SELECT i.period FROM rows i WHERE i.collection = 'inspections'"
        " AND i.id = rows.parent_id) WHERE collection IN ('device_checks', 'photos', 'signatures')"
    )


@migrations()
def m010_sync_window(db: sqlite_utils.Database) -> None:
    """The sync window (issue 5): each row's period, and the windows the server has served.

    A window change, like a membership change, takes a place in the version
    sequence, so that a cursor knows which periods its rows reflect.
    """
    db.executescript(
        """
        ALTER TABLE rows ADD COLUMN period TEXT;
        CREATE TABLE window_events (
            version INTEGER PRIMARY KEY,
            periods TEXT NOT NULL,
            at TEXT NOT NULL
        );
        """
    )
    backfill_periods(db)


@migrations()
def m011_cursor_secret(db: sqlite_utils.Database) -> None:
    """The key that signs pull cursors (issue 9): kept in the database so that it survives
    restarts, is the same for every process on this database and moves with its backups."""
    db.execute("INSERT INTO meta(key, value) VALUES ('cursor_secret', ?) ON CONFLICT(key) DO NOTHING", [secrets.token_hex(32)])



@migrations()
def m012_identity(db: sqlite_utils.Database) -> None:
    """Lost phones (issue 9 #2): a user can be disabled, and a client holds a refresh
    credential instead of its user's password (only its SHA-256 is kept, with its last use)."""
    db.executescript(
        """
        ALTER TABLE users ADD COLUMN disabled_at TEXT;
        ALTER TABLE clients ADD COLUMN refresh_hash TEXT;
        ALTER TABLE clients ADD COLUMN refresh_used_ms INTEGER;
        """
    )


@migrations(transactional=False)
def m013_service_desk_role(db: sqlite_utils.Database) -> None:
    """The service desk role (issue 12): users.role's CHECK admits `service_desk`.

    SQLite cannot change a CHECK in place, so the table is rebuilt (SQLite's
    own recipe: foreign keys off, one transaction, a foreign-key check before
    the commit)."""
    conn = db.conn
    conn.execute("PRAGMA foreign_keys = OFF")
    try:
        try:
            conn.executescript(
                """
                BEGIN IMMEDIATE;
                CREATE TABLE users_new (
                    id TEXT PRIMARY KEY,
                    username TEXT NOT NULL UNIQUE,
                    name TEXT NOT NULL,
                    role TEXT NOT NULL CHECK (role IN ('technician', 'supervisor', 'service_desk')),
                    password_hash TEXT NOT NULL,
                    created_at TEXT NOT NULL,
                    disabled_at TEXT
                );
                INSERT INTO users_new (id, username, name, role, password_hash, created_at, disabled_at)
                    SELECT id, username, name, role, password_hash, created_at, disabled_at FROM users;
                DROP TABLE users;
                ALTER TABLE users_new RENAME TO users;
                """
            )
            if conn.execute("PRAGMA foreign_key_check").fetchone() is not None:
                raise sqlite3.IntegrityError("m013: a foreign key no longer holds")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    finally:
        conn.execute("PRAGMA foreign_keys = ON")


@migrations()
def m014_service_terms(db: sqlite_utils.Database) -> None:
    """A site's override of its contract's response-time terms (issue 12), set by a supervisor:
    the override as JSON (keys of `sync.clocks.TERM_KEYS`), who set it and when."""
    db.executescript(
        """
        CREATE TABLE service_terms (
            site_id TEXT PRIMARY KEY,
            override TEXT NOT NULL,
            set_by TEXT NOT NULL,
            set_at TEXT NOT NULL
        );
        """
    )


@migrations()
def m015_service_clocks(db: sqlite_utils.Database) -> None:
    """What a request's clocks derive, kept where a list query can use it (issue 12, "Speed"):
    `breach_at` and `risk_at` (ms; NULL when no pending milestone can breach or become at
    risk before the next event), `breached` (a milestone is already breached for good), `open`,
    and the request's status, site and assignee for the filters. Recomputed in the write
    transaction of every change to the request, its events, visits or signatures."""
    db.executescript(
        """
        CREATE TABLE service_clocks (
            request_id TEXT PRIMARY KEY,
            site_id TEXT NOT NULL,
            status TEXT,
            assigned_to TEXT,
            reported_ms INTEGER NOT NULL,
            open INTEGER NOT NULL,
            breached INTEGER NOT NULL,
            breach_at INTEGER,
            risk_at INTEGER,
            computed_ms INTEGER NOT NULL
        );
        CREATE INDEX service_clocks_order ON service_clocks(reported_ms, request_id);
        CREATE INDEX service_clocks_site ON service_clocks(site_id, reported_ms, request_id);
        CREATE INDEX service_clocks_breach ON service_clocks(breach_at) WHERE breach_at IS NOT NULL;
        """
    )


@migrations()
def m016_request_window(db: sqlite_utils.Database) -> None:
    """Closed and cancelled service requests leave the sync window with the quarter of their call
    (issue 12). A row's period may now change after it was stored: `period_moved` marks such a
    row, since phones may hold it under its old period and must get it as `removed`. The requests
    that have already ended are written again, so that they and their visits, events and
    signatures take their period and a new version (the next pull removes them from phones)."""
    from sync import hlc

    from .rows import Transaction

    db.execute("ALTER TABLE rows ADD COLUMN period_moved INTEGER NOT NULL DEFAULT 0")
    tx = Transaction(db.conn, hlc.wall_ms())
    ended = {i for (i,) in db.execute(
        "SELECT id FROM rows WHERE collection = 'service_requests'"
        " AND json_extract(fields, '$.status') IN ('closed', 'cancelled')")}
    tx.load({"service_requests": ended})
    for row_id in sorted(ended):
        row = tx.rows[("service_requests", row_id)]
        if row is not None:
            tx.put(row)
    tx.finish(None, [], [])


@migrations()
def m018_callbacks(db: sqlite_utils.Database) -> None:
    """Call-backs and the monthly technician report (issue 13). Each request's milestones as they
    last evaluated (`service_milestones`: `met`, `breached`, `not_applicable`, or `open` with the
    moment it breaches), recomputed with `service_clocks`; and indexes on the times the report
    counts months by. Requests stored before this get their milestones when the store next opens
    (`milestones_backfill` in meta)."""
    db.executescript(
        """
        CREATE TABLE service_milestones (
            request_id TEXT NOT NULL,
            n INTEGER NOT NULL,
            name TEXT NOT NULL,
            visit_id TEXT,
            status TEXT NOT NULL,
            breach_at INTEGER,
            PRIMARY KEY (request_id, n)
        ) WITHOUT ROWID;
        CREATE INDEX service_milestones_visit ON service_milestones(visit_id) WHERE visit_id IS NOT NULL;
        CREATE INDEX rows_visit_recorded ON rows(json_extract(fields, '$.recorded_at'))
            WHERE collection = 'service_visits';
        CREATE INDEX rows_signature_signed ON rows(json_extract(fields, '$.signed_at'))
            WHERE collection = 'signatures';
        CREATE INDEX rows_callback_called ON rows(json_extract(fields, '$.called_at'))
            WHERE collection = 'callbacks';
        INSERT INTO meta(key, value) SELECT 'milestones_backfill', '1'
            WHERE EXISTS (SELECT 1 FROM service_clocks);
        """
    )


@migrations()
def m019_receipt_digest(db: sqlite_utils.Database) -> None:
    """A receipt keeps what its change said (`Change.digest`), not only its seq and HLC: a phone
    restored from a backup can send another change under an acknowledged seq *and* HLC, which
    must be `seq_reused`, not answered as a replay (and so dropped). Receipts written before
    have none and are compared by HLC alone."""
    db.execute("ALTER TABLE receipts ADD COLUMN digest TEXT")


@migrations()
def m020_report_indexes(db: sqlite_utils.Database) -> None:
    """The monthly technician report by site (issue 13, "Speed"): per site, the range of its own
    local month in an index on (site, the time counted by), holding what the report reads so that
    it never opens a row's JSON; and a visit by id, a call-back by visit, the same way. They replace
    m018's indexes on the time alone, which had the report look each row's site up in the month's
    bounds (8.7 s at 1,000 sites); m018's on a visit's `recorded_at` stays for the faults report."""
    db.executescript(
        """
        DROP INDEX rows_signature_signed;
        DROP INDEX rows_callback_called;
        CREATE INDEX rows_visit_month ON rows(site_id, json_extract(fields, '$.recorded_at'), deleted, parent_id,
            json_extract(fields, '$.technician')) WHERE collection = 'service_visits';
        CREATE INDEX rows_visit_seal ON rows(id, deleted, json_extract(fields, '$.sealed_by'),
            json_extract(fields, '$.technician')) WHERE collection = 'service_visits';
        CREATE INDEX rows_signature_month ON rows(site_id, json_extract(fields, '$.signed_at'), deleted, parent_id, id)
            WHERE collection = 'signatures';
        CREATE INDEX rows_callback_month ON rows(site_id, json_extract(fields, '$.called_at'), deleted,
            json_extract(fields, '$.reached'), parent_id, json_extract(fields, '$.rating'),
            json_extract(fields, '$.points')) WHERE collection = 'callbacks';
        CREATE INDEX rows_callback_visit ON rows(parent_id, deleted, json_extract(fields, '$.reached'))
            WHERE collection = 'callbacks';
        """
    )


@migrations()
def m021_lookups(db: sqlite_utils.Database) -> None:
    """The look-ups people use (issue 14): a sheet by its number (an inspection's or a visit's) and a
    request by its number, each one index probe; a device by its code is found among its site's."""
    db.executescript(
        """
        CREATE INDEX rows_sheet_no ON rows(json_extract(fields, '$.sheet_no'))
            WHERE collection IN ('inspections', 'service_visits');
        CREATE INDEX rows_request_number ON rows(json_extract(fields, '$.number'))
            WHERE collection = 'service_requests';
        """
    )


from . import (  # noqa: E402, F401 (steps m023-m040 beside this one register on `migrations` after their imports)
    migrations_archive,  # m023
    migrations_audit,  # m035, after service m033-m034
    migrations_bounds,  # m024, m025
    migrations_callers,  # m036-m037, after audit m035
    migrations_extensions,  # m039-m040, after inspections m038
    migrations_inspections,  # m038, after callers m037
    migrations_service,  # m033-m034, after sheets m031-m032, media m030, clients m029, shared m027-m028, throttle m026
)

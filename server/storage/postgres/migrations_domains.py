"""The PostgreSQL steps after m001 (`migrations.py` runs them in this order): the domains' tables and
indexes, level with SQLite's schema after its newest step (m025, `sqlite/migrations*.py`).

The same tables, columns (names, order, NOT NULL, defaults), CHECKs, keys, foreign keys and index
names as SQLite ends with, in PostgreSQL's words:
- INTEGER is `bigint`, also where it holds 0 or 1 (`open`, `breached`, `member`), so that the SQL
  both backends share (`open = 1`) reads alike; REAL is `double precision`; JSON text stays `text`
  (only `rows.fields` is JSON: `json` since pg027, `migrations.py`). One exception, from m001:
  `rows.period_moved` is `boolean`, since the shared `… OR period_moved` (pages.py) and the upsert's `period_moved OR …` need a
  boolean on PostgreSQL, where SQLite takes its 0 or 1 as one.
- A rowid-keyed table whose key the database hands out (`audit.id`, as m001's `conflicts.id`) has
  an identity column of the same name; `scope_events` and `window_events` are keyed by a version
  the server gives, so theirs is a plain `bigint` key.
- WITHOUT ROWID has no equal (every PostgreSQL table is a heap): those tables keep their primary key.
- The expression indexes on a row's JSON field name it as `(fields ->> 'name')`, the text the
  dialect writes (`postgres/rows.SQL.field`), which the planner must see again to use them; m001's
  `json_extract` would be inlined to the same, but the plain operator says it. Fields
  the queries read as numbers or booleans (`reached`, `points`) are indexed as text too: a cast in
  an index would fail the insert of a row whose field does not cast, which a client can send.
  Their `WHERE collection = …` is kept.
- SQLite's backfills (m004's memberships, m010's periods, m016's ended requests, m018's
  `milestones_backfill`) have nothing to do here: no PostgreSQL database held the domains' data
  before this step. A new database's `meta` is seeded by `migrations._seed`, as SQLite's steps seed it.
"""

from __future__ import annotations

DOMAINS: list[tuple[str, str]] = [
    ("m002_domains", """
        -- m001's primary key of rows under the name of SQLite's unique index on the same columns.
        ALTER TABLE rows RENAME CONSTRAINT rows_pkey TO rows_key;
        -- m001 made it an integer: a bigint as every other INTEGER of SQLite's.
        ALTER TABLE rows ALTER COLUMN deleted TYPE bigint;
        CREATE TABLE users (
            id text PRIMARY KEY,
            username text NOT NULL UNIQUE,
            name text NOT NULL,
            role text NOT NULL CHECK (role IN ('technician', 'supervisor', 'service_desk')),
            password_hash text NOT NULL,
            created_at text NOT NULL,
            disabled_at text
        );
        CREATE TABLE memberships (
            site_id text NOT NULL,
            user_id text NOT NULL REFERENCES users(id),
            PRIMARY KEY (site_id, user_id)
        );
        CREATE TABLE clients (
            id text PRIMARY KEY,
            user_id text NOT NULL REFERENCES users(id),
            name text NOT NULL,
            acked_seq bigint NOT NULL DEFAULT 0,
            created_at text NOT NULL,
            last_sync_at text,
            clock_offset_ms bigint,
            app text,
            revoked_at text,
            refresh_hash text,
            refresh_used_ms bigint
        );
        CREATE TABLE tokens (
            token_hash text PRIMARY KEY,
            client_id text NOT NULL REFERENCES clients(id),
            created_at text NOT NULL,
            last_used_ms bigint NOT NULL,
            revoked_at text
        );
        CREATE INDEX tokens_client ON tokens(client_id);
        CREATE TABLE plans (
            site_id text PRIMARY KEY,
            frequency text NOT NULL CHECK (frequency IN ('quarterly', 'half_yearly', 'monthly')),
            due_day bigint NOT NULL DEFAULT 20,
            technician text
        );
        CREATE TABLE scope_events (
            version bigint PRIMARY KEY,
            user_id text NOT NULL,
            site_id text NOT NULL,
            member bigint NOT NULL,
            at text NOT NULL
        );
        CREATE INDEX scope_events_user ON scope_events(user_id, version);
        CREATE TABLE blobs (
            sha256 text PRIMARY KEY,
            content_type text NOT NULL,
            bytes bigint NOT NULL,
            width bigint,
            height bigint,
            taken_at text,
            taken_local text,
            orientation bigint,
            lat double precision,
            lon double precision,
            created_at text NOT NULL
        );
        CREATE TABLE blob_owners (
            sha256 text NOT NULL REFERENCES blobs(sha256),
            user_id text NOT NULL,
            uploaded_at text NOT NULL,
            PRIMARY KEY (sha256, user_id)
        );
        CREATE TABLE uploads (
            id text PRIMARY KEY,
            user_id text NOT NULL,
            client_id text NOT NULL,
            sha256 text NOT NULL,
            content_type text NOT NULL,
            filename text,
            length bigint NOT NULL,
            received bigint NOT NULL DEFAULT 0,
            status text NOT NULL CHECK (status IN ('open', 'complete', 'failed')),
            error text,
            created_ms bigint NOT NULL,
            updated_ms bigint NOT NULL
        );
        CREATE INDEX uploads_age ON uploads(updated_ms);
        CREATE TABLE verifications (
            signature_id text PRIMARY KEY,
            inspection_id text NOT NULL,
            compared text NOT NULL CHECK (compared IN ('sheet', 'inspection', 'visit')),
            checks text NOT NULL
        );
        CREATE INDEX verifications_inspection ON verifications(inspection_id);
        CREATE TABLE audit (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at text NOT NULL,
            kind text NOT NULL,
            username text,
            client_id text,
            address text,
            detail text NOT NULL DEFAULT '{}'
        );
        CREATE INDEX audit_kind ON audit(kind, id);
        CREATE INDEX audit_username ON audit(username, id);
        CREATE TABLE window_events (
            version bigint PRIMARY KEY,
            periods text NOT NULL,
            at text NOT NULL
        );
        CREATE TABLE service_terms (
            site_id text PRIMARY KEY,
            override text NOT NULL,
            set_by text NOT NULL,
            set_at text NOT NULL
        );
        CREATE TABLE service_clocks (
            request_id text PRIMARY KEY,
            site_id text NOT NULL,
            status text,
            assigned_to text,
            reported_ms bigint NOT NULL,
            open bigint NOT NULL,
            breached bigint NOT NULL,
            breach_at bigint,
            risk_at bigint,
            computed_ms bigint NOT NULL
        );
        CREATE INDEX service_clocks_order ON service_clocks(reported_ms, request_id);
        CREATE INDEX service_clocks_site ON service_clocks(site_id, reported_ms, request_id);
        CREATE INDEX service_clocks_breach ON service_clocks(breach_at) WHERE breach_at IS NOT NULL;
        CREATE TABLE service_milestones (
            request_id text NOT NULL,
            n bigint NOT NULL,
            name text NOT NULL,
            visit_id text,
            status text NOT NULL,
            breach_at bigint,
            PRIMARY KEY (request_id, n)
        );
        CREATE INDEX service_milestones_visit ON service_milestones(visit_id) WHERE visit_id IS NOT NULL;
        -- The expression indexes on rows, as SQLite's m005 to m023 leave them.
        CREATE INDEX rows_photo_sha256 ON rows((fields ->> 'sha256')) WHERE collection = 'photos';
        CREATE INDEX rows_signature_image ON rows((fields ->> 'image_sha256')) WHERE collection = 'signatures';
        CREATE INDEX rows_signature_sheet ON rows((fields ->> 'sheet_sha256')) WHERE collection = 'signatures';
        CREATE INDEX rows_visit_recorded ON rows((fields ->> 'recorded_at')) WHERE collection = 'service_visits';
        CREATE INDEX rows_visit_month ON rows(site_id, (fields ->> 'recorded_at'), deleted, parent_id,
            (fields ->> 'technician')) WHERE collection = 'service_visits';
        CREATE INDEX rows_visit_seal ON rows(id, deleted, (fields ->> 'sealed_by'), (fields ->> 'technician'))
            WHERE collection = 'service_visits';
        CREATE INDEX rows_signature_month ON rows(site_id, (fields ->> 'signed_at'), deleted, parent_id, id)
            WHERE collection = 'signatures';
        CREATE INDEX rows_callback_month ON rows(site_id, (fields ->> 'called_at'), deleted,
            (fields ->> 'reached'), parent_id, (fields ->> 'rating'), (fields ->> 'points'))
            WHERE collection = 'callbacks';
        CREATE INDEX rows_callback_visit ON rows(parent_id, deleted, (fields ->> 'reached'))
            WHERE collection = 'callbacks';
        CREATE INDEX rows_sheet_no ON rows((fields ->> 'sheet_no'))
            WHERE collection IN ('inspections', 'service_visits');
        CREATE INDEX rows_request_number ON rows((fields ->> 'number')) WHERE collection = 'service_requests';
        CREATE INDEX rows_device_code ON rows((fields ->> 'code')) WHERE collection = 'devices';
    """),
]

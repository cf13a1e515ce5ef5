"""The PostgreSQL schema: named steps, applied once each and recorded in `migrations`, as
sqlite-utils records SQLite's. Several processes may start at once: the steps run in one
transaction under an advisory lock, so one process applies them and the others find them done.

m001 made what the backend contract needs (`meta`, `rows`, `receipts`, `conflicts`, `row_creators`);
m002 (`migrations_domains.py`) brings the schema level with SQLite's step m025, m026 adds the
login throttle; pg027 and pg030 are PostgreSQL's own (`rows.fields` as `json`; m001's
`json_extract` shim dropped). The two
histories differ (PostgreSQL's starts where SQLite's ended); the schemas they end in must not:
tests/server/test_schema_parity.py compares them, so a new SQLite step needs its PostgreSQL one.
"""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Callable
from typing import Any

import psycopg

from ..base import Unreachable, refuse_newer
from ..identity import AUDIT_DISPATCH
from ..imports import TABLES as IMPORTS
from ..inspections import PERIOD_INDEX
from ..media import DOOMED, PIECES
from ..service import (
    PHONE_BACKFILL_POSTGRES,
    PHONE_NATIONAL,
    PHONE_REVERSED,
    STORED_KEYS,
    TERMS_COLUMN,
    TO_MAKE_COLUMN,
    landline_rekeyed,
    rekeyed,
    to_make_backfill,
)
from ..signatures import SIGNED_DEVICES, SIGNED_TECHNICIAN, TECHNICIAN_BACKFILL_POSTGRES
from ..throttle import TABLES
from .migrations_domains import DOMAINS

# pg_advisory_xact_lock's key for "migrating": any constant our other locks do not use.
MIGRATING = 0x66_73_6D_67  # "fsmg"


def _caller_landline(conn: psycopg.Connection[Any]) -> None:
    """m037: each stored key that kept a mainland landline's country code in its national form, by the live
    rule, as SQLite's step (storage/sqlite/migrations_callers.py)."""
    found = conn.execute(STORED_KEYS).fetchall()
    with conn.cursor() as cursor:
        cursor.executemany("UPDATE service_clocks SET phone_reversed = %s WHERE request_id = %s", landline_rekeyed(found))


def _caller_extension(conn: psycopg.Connection[Any]) -> None:
    """m039: each request's `phone_reversed` from its caller's number by the live rule, as SQLite's step
    (storage/sqlite/migrations_extensions.py): an extension kept apart from the number."""
    found = conn.execute("SELECT c.request_id, r.fields ->> 'caller_phone', c.phone_reversed FROM service_clocks c"
                         " JOIN rows r ON r.collection = 'service_requests' AND r.id = c.request_id"
                         " WHERE json_typeof(r.fields -> 'caller_phone') = 'string'").fetchall()
    with conn.cursor() as cursor:
        cursor.executemany("UPDATE service_clocks SET phone_reversed = %s WHERE request_id = %s", rekeyed(found))


# A step is SQL, or (m037, m039) a function of the connection, for a rule only Python has.
STEPS: list[tuple[str, str | Callable[[psycopg.Connection[Any]], None]]] = [
    ("m001_rows", """
        CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
        -- As SQLite's `rows`: a row's fields (JSONB, so that they can be queried and indexed),
        -- one clock per register (text: only Python reads them), the derived scope columns.
        CREATE TABLE rows (
            collection text NOT NULL,
            id text NOT NULL,
            site_id text,
            parent_id text,
            device_id text,
            fields jsonb NOT NULL,
            clocks text NOT NULL,
            deleted integer NOT NULL DEFAULT 0,
            version bigint NOT NULL,
            updated_ms bigint NOT NULL,
            period text,
            period_moved boolean NOT NULL DEFAULT false,
            PRIMARY KEY (collection, id)
        );
        CREATE UNIQUE INDEX rows_version ON rows(version);
        CREATE INDEX rows_parent ON rows(collection, parent_id);
        CREATE INDEX rows_device ON rows(device_id, collection) WHERE device_id IS NOT NULL;
        CREATE INDEX rows_site_version ON rows(site_id, version);
        CREATE TABLE receipts (
            client_id text NOT NULL,
            seq bigint NOT NULL,
            hlc text NOT NULL,
            result text NOT NULL,
            digest text,
            PRIMARY KEY (client_id, seq)
        );
        CREATE TABLE conflicts (
            id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
            at text NOT NULL,
            kind text NOT NULL,
            collection text NOT NULL,
            row_id text NOT NULL,
            site_id text,
            register text,
            reason text,
            detail text,
            client_id text,
            user_id text,
            hlc text,
            seq bigint,
            old_value text,
            new_value text,
            other_client_id text,
            other_hlc text
        );
        CREATE INDEX conflicts_site ON conflicts(site_id);
        CREATE INDEX conflicts_user ON conflicts(user_id);
        CREATE INDEX conflicts_register ON conflicts(collection, row_id, register,
            (CASE kind WHEN 'lost' THEN client_id WHEN 'overwritten' THEN other_client_id END));
        CREATE TABLE row_creators (
            collection text NOT NULL,
            row_id text NOT NULL,
            user_id text,
            client_id text,
            PRIMARY KEY (collection, row_id)
        );
        -- SQLite's json_extract for the '$.name' paths the shared SQL uses, as text: equal to a
        -- string parameter as SQLite's is (a number compared needs a cast). Inlined by the planner.
        CREATE FUNCTION json_extract(doc jsonb, path text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT doc ->> substr(path, 3) $$;
    """),
    *DOMAINS,
    # The login throttle's tables, SQLite's m026 in the same words (storage/throttle.py).
    ("m026_login_attempts", TABLES.format(integer="bigint")),
    # A row's fields as `json`, which keeps the text it is given, not `jsonb`, which prints its own
    # (spaces, keys reordered): a pull splices the stored text into its page (`engine/pull.py`'s
    # `PulledRow`), and must send the very bytes SQLite does, no bigger. `->>` and the expression
    # indexes work alike on it (rebuilt here); a field is read by parsing the text, which costs
    # little on rows of a few hundred bytes. Rows stored before keep jsonb's text.
    ("pg027_rows_fields_json", """
        ALTER TABLE rows ALTER COLUMN fields TYPE json USING CAST(CAST(fields AS text) AS json);
        DROP FUNCTION json_extract(jsonb, text);
        CREATE FUNCTION json_extract(doc json, path text) RETURNS text
            LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$ SELECT doc ->> substr(path, 3) $$;
    """),
    # The console's kept spreadsheet imports, SQLite's m027 (storage/imports.py).
    ("m027_pending_imports", IMPORTS.format(integer="bigint", blob="bytea")),
    # An upload's pieces in a bucket, SQLite's m028 (storage/media.py).
    ("m028_upload_pieces", PIECES.format(integer="bigint")),
    # A client's place in the order of enrolment, SQLite's m029 (storage/identity.py): numbered by a
    # sequence (`Dialect.next_number`), owned by the column so that `fieldsync migrate` sets it past
    # the copied numbers; clients already there by enrolment time, then id (no rowid here).
    ("m029_clients_enrolled", """
        ALTER TABLE clients ADD COLUMN enrolled bigint NOT NULL DEFAULT 0;
        CREATE SEQUENCE clients_enrolled OWNED BY clients.enrolled;
        UPDATE clients SET enrolled = o.n
            FROM (SELECT id, row_number() OVER (ORDER BY created_at, id) AS n FROM clients) AS o
            WHERE o.id = clients.id;
        SELECT setval('clients_enrolled', max(enrolled)) FROM clients HAVING count(*) > 0;
    """),
    # m001's json_extract shim (SQLite's function for the shared SQL) is no one's any more: every
    # query reads a field through its dialect (`writes.Dialect.field`: `fields ->> 'name'`).
    ("pg030_drop_json_extract", "DROP FUNCTION json_extract(json, text);"),
    # Blobs being removed, SQLite's m030 (storage/media.py).
    ("m030_blobs_doomed", DOOMED.format(integer="bigint")),
    # What named each device a signed sheet listed, SQLite's m031 (storage/signatures.py).
    ("m031_signed_devices", SIGNED_DEVICES),
    # Whom a signed sheet named as its technician, SQLite's m032 (storage/signatures.py).
    ("m032_signed_technician", SIGNED_TECHNICIAN + TECHNICIAN_BACKFILL_POSTGRES),
    # The call-backs still to make, SQLite's m033 (storage/service.py).
    ("m033_callback_to_make", TO_MAKE_COLUMN.format(integer="bigint") + to_make_backfill("CAST(c.fields ->> 'reached' AS boolean)")),
    # A request's caller's number, digits last first, and its index, SQLite's m034 (storage/service.py).
    ("m034_caller_phone", PHONE_REVERSED.format(text='text COLLATE "C"') + PHONE_BACKFILL_POSTGRES),
    # A request's dispatch history read by request, SQLite's m035 (storage/identity.py `dispatches`).
    ("m035_audit_dispatch", AUDIT_DISPATCH.format(request_id="(CAST(detail AS json) ->> 'request_id')")),
    # A caller's mainland mobile number without its country code, SQLite's m036 (storage/service.py).
    ("m036_caller_phone_national", PHONE_NATIONAL),
    # A caller's mainland landline in its national form, SQLite's m037 (storage/service.py).
    ("m037_caller_landline_national", _caller_landline),
    # The inspections of a period by an index, SQLite's m038 (storage/inspections.py).
    ("m038_inspection_period", PERIOD_INDEX.format(period="(fields ->> 'period')")),
    # A caller's extension apart from the number, SQLite's m039 (storage/sqlite/migrations_extensions.py).
    ("m039_caller_extension", _caller_extension),
    # The terms file each request's stored clocks were counted with, SQLite's m040 (domains/service/recount.py).
    ("m040_clocks_terms", TERMS_COLUMN),
]


def _seed(conn: psycopg.Connection[Any]) -> None:
    conn.execute(
        "INSERT INTO meta(key, value) VALUES ('server_epoch', %s), ('version', '0'), ('horizon_version', '0'),"
        " ('hlc', ''), ('cursor_secret', %s)",
        [str(uuid.uuid4()), secrets.token_hex(32)],
    )


def migrate(conn: psycopg.Connection[Any], stop_before: str | None = None) -> tuple[str, ...]:
    """Apply the steps not applied yet, in one transaction; up to `stop_before` when named (as
    sqlite-utils' `apply` does: a database as it stood before that step, for an upgrade's test).
    The steps it applied (none when another process got there first). A role that may not create
    tables there is `Unreachable`, in one line saying what to grant, not psycopg's traceback."""
    try:
        return _migrate(conn, stop_before)
    except psycopg.errors.InsufficientPrivilege as exc:
        role, name = conn.info.user, conn.info.dbname
        raise Unreachable(f"the role {role} may not make fieldsync's tables in the database {name}"
                          f" ({exc.diag.message_primary}): the role must own the database; as the postgres user,"
                          f" ALTER DATABASE {name} OWNER TO {role} (or create it so: createdb --owner {role} {name});"
                          " docs/operations.md") from None


def _migrate(conn: psycopg.Connection[Any], stop_before: str | None) -> tuple[str, ...]:
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", [MIGRATING])
        conn.execute("CREATE TABLE IF NOT EXISTS migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL"
                     " DEFAULT now())")
        done = {name for (name,) in conn.execute("SELECT name FROM migrations")}
        refuse_newer(sorted(done), [name for name, _ in STEPS])
        applied: list[str] = []
        for name, sql in STEPS:
            if name == stop_before:
                break
            if name not in done:
                if callable(sql):
                    sql(conn)
                else:
                    conn.execute(sql.encode())
                if name == "m001_rows":
                    _seed(conn)
                conn.execute("INSERT INTO migrations(name) VALUES (%s)", [name])
                applied.append(name)
    return tuple(applied)

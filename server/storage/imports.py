"""The console's kept spreadsheet imports (`domains/console/archive_pages.py`), on both backends.

A file uploaded for a dry run waits in `pending_imports` for its apply, so that the apply finds it
on whichever server process it reaches (issue 16); what the apply did stays in the same row for
the page that shows it. Every row is short-lived: `keep` deletes the expired ones and bounds the
rest, and the file is cleared once applied.
"""

from __future__ import annotations

from .base import Connection

# SQLite's m027 and PostgreSQL's step of the same name. `{integer}`/`{blob}`: SQLite's INTEGER and
# BLOB are PostgreSQL's bigint and bytea. A migration: never edited once released.
TABLES = """
    CREATE TABLE pending_imports (
        token TEXT PRIMARY KEY,
        owner TEXT NOT NULL,
        user_id TEXT NOT NULL,
        site_id TEXT NOT NULL,
        kept_ms {integer} NOT NULL,
        expires_ms {integer} NOT NULL,
        data {blob},
        report TEXT
    );
    CREATE INDEX pending_imports_user ON pending_imports(user_id, kept_ms);
    CREATE INDEX pending_imports_expires ON pending_imports(expires_ms);
"""


def keep(db: Connection, token: str, owner: str, user_id: str, site_id: str, data: bytes, now_ms: int, expires_ms: int,
         per_user: int, at_most: int) -> None:
    """Keep `data` under `token`, replacing this session's earlier file for the site; the expired ones
    go, then the user's oldest past `per_user` and everyone's oldest past `at_most`."""
    db.execute("DELETE FROM pending_imports WHERE expires_ms < ? OR (owner = ? AND site_id = ?)",
               [now_ms, owner, site_id])
    db.execute("INSERT INTO pending_imports(token, owner, user_id, site_id, kept_ms, expires_ms, data)"
               " VALUES (?, ?, ?, ?, ?, ?, ?)", [token, owner, user_id, site_id, now_ms, expires_ms, data])
    db.execute("DELETE FROM pending_imports WHERE user_id = ? AND token NOT IN (SELECT token FROM pending_imports"
               " WHERE user_id = ? ORDER BY kept_ms DESC, token LIMIT ?)", [user_id, user_id, per_user])
    db.execute("DELETE FROM pending_imports WHERE token NOT IN (SELECT token FROM pending_imports"
               " ORDER BY kept_ms DESC, token LIMIT ?)", [at_most])


def find(db: Connection, token: str, owner: str, site_id: str, now_ms: int) -> tuple[bytes | None, str | None] | None:
    """The kept file (None once applied) and the apply's report as JSON, if the token is this
    session's for this site and has not expired."""
    found = db.execute("SELECT data, report FROM pending_imports WHERE token = ? AND owner = ? AND site_id = ?"
                       " AND expires_ms >= ?", [token, owner, site_id, now_ms]).fetchone()
    return None if found is None else (None if found[0] is None else bytes(found[0]), found[1])


def take(db: Connection, token: str, owner: str, site_id: str, now_ms: int) -> bytes | None:
    """The kept file, once: the row's file is cleared in the same transaction, and of two applies
    racing on two processes only the one whose clearing changed the row gets it."""
    found = find(db, token, owner, site_id, now_ms)
    if found is None or found[0] is None:
        return None
    cleared = db.execute("UPDATE pending_imports SET data = NULL WHERE token = ? AND data IS NOT NULL", [token])
    return found[0] if cleared.rowcount == 1 else None


def done(db: Connection, token: str, report: str) -> None:
    db.execute("UPDATE pending_imports SET report = ? WHERE token = ?", [report, token])

"""Users, clients, tokens, memberships and the audit trail: their SQL (`domains/identity/service.py`).

Every function runs on the connection it is given, inside its caller's transaction.
"""

from __future__ import annotations

import sqlite3
import uuid
from pathlib import Path
from typing import Any

import msgspec

from sync import hlc

from .base import Sql
from .queries import equal_to
from .scope import take_version
from .writes import Dialect, dialect, per_dialect

_encode = msgspec.json.Encoder().encode


def audit(
    db: Sql,
    kind: str,
    *,
    username: str | None = None,
    client_id: str | None = None,
    address: str | None = None,
    now_ms: int | None = None,
    **detail: Any,
) -> None:
    """One audit row, written on the caller's connection: in the same transaction as what it records."""
    db.execute(
        "INSERT INTO audit(at, kind, username, client_id, address, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [hlc.format_ts(hlc.wall_ms() if now_ms is None else now_ms), kind, username, client_id, address,
         _encode(detail).decode()],
    )


def user_id_of(db: Sql, username: str) -> str | None:
    found = db.execute("SELECT id FROM users WHERE username = ?", [username]).fetchone()
    return None if found is None else str(found[0])


def username_of(db: Sql, user_id: str) -> str:
    return str(db.execute("SELECT username FROM users WHERE id = ?", [user_id]).fetchone()[0])


def insert_user(db: Sql, user_id: str, username: str, name: str, role: str, password_hash: str,
                created_at: str) -> None:
    db.execute(
        "INSERT INTO users(id, username, name, role, password_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [user_id, username, name, role, password_hash, created_at],
    )


def credentials(db: Sql, username: str) -> tuple[str, str, str, str] | None:
    """(id, name, role, password_hash) of a user."""
    found = db.execute(
        "SELECT id, name, role, password_hash FROM users WHERE username = ?", [username]
    ).fetchone()
    return None if found is None else (found[0], found[1], found[2], found[3])


def password_state(db: Sql, user_id: str) -> tuple[str, str | None]:
    """(password_hash, disabled_at) of a user."""
    found = db.execute("SELECT password_hash, disabled_at FROM users WHERE id = ?", [user_id]).fetchone()
    return found[0], found[1]


def set_password(db: Sql, user_id: str, password_hash: str) -> None:
    db.execute("UPDATE users SET password_hash = ? WHERE id = ?", [password_hash, user_id])


def set_disabled(db: Sql, user_id: str, stamp: str | None) -> None:
    db.execute("UPDATE users SET disabled_at = ? WHERE id = ?", [stamp, user_id])


def set_member(db: Sql, site_id: str, user_id: str, member: bool, at: str) -> bool:
    """Add or end a membership; a change takes a place in the version sequence, so that every
    cursor is either before it or after it. False if there was nothing to change."""
    if member:
        changed = db.execute(
            "INSERT INTO memberships(site_id, user_id) VALUES (?, ?) ON CONFLICT(site_id, user_id) DO NOTHING",
            [site_id, user_id],
        ).rowcount
    else:
        changed = db.execute("DELETE FROM memberships WHERE site_id = ? AND user_id = ?", [site_id, user_id]).rowcount
    if changed:
        db.execute(
            "INSERT INTO scope_events(version, user_id, site_id, member, at) VALUES (?, ?, ?, ?, ?)",
            [take_version(db), user_id, site_id, int(member), at],
        )
    return bool(changed)


def members(db: Sql, site_id: str) -> list[str]:
    return [u for (u,) in db.execute(
        "SELECT u.username FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.site_id = ? ORDER BY u.username", [site_id])]


def open_clients(db: Sql, user_id: str) -> int:
    """How many clients of the user are not revoked."""
    return int(db.execute(
        "SELECT count(*) FROM clients WHERE user_id = ? AND revoked_at IS NULL", [user_id]
    ).fetchone()[0])


def console_sessions_past(db: Sql, user_id: str, app: str, keep: int) -> list[str]:
    """The user's clients enrolled by `app` and not revoked, but the newest `keep`, newest first."""
    # By the order of enrolment (`enrolled`, m029): two enrolled in one millisecond go oldest first,
    # as they came. In Python: PostgreSQL has no LIMIT -1.
    return [c for (c,) in db.execute(
        "SELECT id FROM clients WHERE user_id = ? AND app = ? AND revoked_at IS NULL"
        " ORDER BY enrolled DESC", [user_id, app]).fetchall()[keep:]]


def client_owner(db: Sql, client_id: str) -> tuple[str, str | None] | None:
    """(user_id, revoked_at) of a client."""
    found = db.execute("SELECT user_id, revoked_at FROM clients WHERE id = ?", [client_id]).fetchone()
    return None if found is None else (found[0], found[1])


def refresh_state(db: Sql, client_id: str) -> tuple[Any, ...] | None:
    """(user_id, client name, revoked_at, refresh_hash, refresh_used_ms, username, name, role, disabled_at)."""
    found: tuple[Any, ...] | None = db.execute(
        "SELECT c.user_id, c.name, c.revoked_at, c.refresh_hash, c.refresh_used_ms, u.username, u.name,"
        " u.role, u.disabled_at FROM clients c JOIN users u ON u.id = c.user_id WHERE c.id = ?",
        [client_id],
    ).fetchone()
    return found


def revoke(db: Sql, stamp: str, clients: str, value: str) -> int:
    """Revoke the clients `WHERE <clients>` (a SQL condition on `clients` with one parameter):
    their tokens and refresh credentials die, and their receipts go (`receipts.forget_revoked`).
    Returns how many were not revoked before."""
    db.execute(f"UPDATE tokens SET revoked_at = ? WHERE revoked_at IS NULL"
               f" AND client_id IN (SELECT id FROM clients WHERE {clients})", [stamp, value])
    revoked = db.execute(f"UPDATE clients SET revoked_at = ?, refresh_hash = NULL"
                         f" WHERE revoked_at IS NULL AND {clients}", [stamp, value]).rowcount
    # After the client's row: a push locks that row before it prunes receipts, so the two never wait
    # for each other in a circle on PostgreSQL.
    db.execute(f"DELETE FROM receipts WHERE client_id IN (SELECT id FROM clients WHERE {clients})", [value])
    return int(revoked)


@per_dialect
def _enrol(sql: Dialect) -> str:
    return ("INSERT INTO clients(id, user_id, name, created_at, app, enrolled)"
            f" VALUES (?, ?, ?, ?, ?, {sql.next_number('clients', 'enrolled')})")


def enrol(db: Sql, user_id: str, name: str, now: int, app: str | None) -> str:
    client_id = str(uuid.uuid4())
    db.execute(_enrol(db), [client_id, user_id, name, hlc.format_ts(now), app])
    return client_id


def add_token(db: Sql, token_hash: str, client_id: str, now: int) -> None:
    db.execute(
        "INSERT INTO tokens(token_hash, client_id, created_at, last_used_ms) VALUES (?, ?, ?, ?)",
        [token_hash, client_id, hlc.format_ts(now), now],
    )


def set_refresh(db: Sql, client_id: str, refresh_hash: str | None, now: int) -> None:
    """A new refresh credential (its hash), or with None only its last use."""
    if refresh_hash is not None:
        db.execute("UPDATE clients SET refresh_hash = ?, refresh_used_ms = ? WHERE id = ?",
                   [refresh_hash, now, client_id])
    else:
        db.execute("UPDATE clients SET refresh_used_ms = ? WHERE id = ?", [now, client_id])


def token_holder(db: Sql, token_hash: str) -> tuple[Any, ...] | None:
    """(last_used_ms, token revoked_at, client id, client revoked_at, user id, username, name, role,
    disabled_at) of a token."""
    found: tuple[Any, ...] | None = db.execute(
        "SELECT t.last_used_ms, t.revoked_at, c.id, c.revoked_at, u.id, u.username, u.name, u.role,"
        " u.disabled_at FROM tokens t JOIN clients c ON c.id = t.client_id JOIN users u ON u.id = c.user_id"
        " WHERE t.token_hash = ?",
        [token_hash],
    ).fetchone()
    return found


def touch_token(db: Sql, token_hash: str, now: int) -> None:
    db.execute("UPDATE tokens SET last_used_ms = ? WHERE token_hash = ?", [now, token_hash])


def open_upload_bytes(db: Sql, user_id: str) -> int:
    """Bytes the user's unfinished uploads announced."""
    return int(db.execute(
        "SELECT coalesce(sum(length), 0) FROM uploads WHERE user_id = ? AND status = 'open'", [user_id]
    ).fetchone()[0])


def password_hashes(db_path: Path) -> dict[str, str]:
    """{username: password_hash}, read from the file without migrating or writing it."""
    conn = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True)
    try:
        return dict(conn.execute("SELECT username, password_hash FROM users").fetchall())
    finally:
        conn.close()


def site_exists(db: Sql, site_id: str) -> bool:
    return db.execute(
        "SELECT 1 FROM rows WHERE collection = 'sites' AND id = ? AND deleted = 0", [site_id]
    ).fetchone() is not None


def sites_named(db: Sql, ref: str) -> list[tuple[str, str]]:
    """(id, name) of the live sites whose id or name is `ref`, the one of that id first."""
    field = dialect(db).field
    return [(i, n) for i, n in db.execute(
        f"SELECT id, coalesce({field('fields', 'name')}, id) FROM rows WHERE collection = 'sites'"
        f" AND deleted = 0 AND (id = ? OR {field('fields', 'name')} = ?) ORDER BY id = ? DESC",
        [ref, ref, ref],
    )]


def role_of(db: Sql, username: str) -> str | None:
    found = db.execute("SELECT role FROM users WHERE username = ?", [username]).fetchone()
    return None if found is None else str(found[0])


def disabled_at(db: Sql, username: str) -> str | None:
    found: str | None = db.execute("SELECT disabled_at FROM users WHERE username = ?", [username]).fetchone()[0]
    return found


def clients(db: Sql, user_id: str | None, username: str | None) -> list[tuple[Any, ...]]:
    """(id, username, name, created_at, last_sync_at, clock_offset_ms, app, acked_seq, revoked_at) of
    the clients of a user (by id and/or username; None: any), by username, then age."""
    where: list[str] = []
    args: list[Any] = []
    equal_to({"c.user_id": user_id, "u.username": username}, where, args)
    return db.execute(
        "SELECT c.id, u.username, c.name, c.created_at, c.last_sync_at, c.clock_offset_ms, c.app,"
        " c.acked_seq, c.revoked_at FROM clients c JOIN users u ON u.id = c.user_id"
        f"{' WHERE ' + ' AND '.join(where) if where else ''} ORDER BY u.username, c.created_at, c.id",
        args,
    ).fetchall()


def audit_entries(db: Sql, after: int, kind: str | None, username: str | None,
                  limit: int) -> list[tuple[Any, ...]]:
    """(id, at, kind, username, client_id, address, detail as JSON) of audit entries after id `after`."""
    where: list[str] = ["id > ?"]
    args: list[Any] = [after]
    equal_to({"kind": kind, "username": username}, where, args)
    return db.execute(
        "SELECT id, at, kind, username, client_id, address, detail FROM audit"
        f" WHERE {' AND '.join(where)} ORDER BY id LIMIT ?",
        [*args, limit],
    ).fetchall()


# m035: the entries of kind `dispatch` by request (`{request_id}`: each backend's `text_field` of it).
AUDIT_DISPATCH = "CREATE INDEX audit_dispatch ON audit({request_id}, id) WHERE kind = 'dispatch';"


@per_dialect
def _dispatches(sql: Dialect) -> str:
    # The very expression of the index `audit_dispatch` (m035): SQLite uses it only for the same text.
    return ("SELECT at, username, detail FROM audit"
            f" WHERE kind = 'dispatch' AND {sql.text_field('detail', 'request_id')} = ? ORDER BY id")


def dispatches(db: Sql, request_id: str) -> list[tuple[str, str | None, str]]:
    """(at, username, detail as JSON) of a request's `dispatch` audit entries, in the order they were written."""
    return db.execute(_dispatches(db), [request_id]).fetchall()


def users(db: Sql) -> list[tuple[str, str, str, str | None, list[str]]]:
    """(username, name, role, disabled_at, the site ids they are a member of, in order) of every
    account, by username."""
    found: dict[str, tuple[str, str, str, str | None, list[str]]] = {}
    for username, name, role, disabled, site_id in db.execute(
        "SELECT u.username, u.name, u.role, u.disabled_at, m.site_id FROM users u"
        " LEFT JOIN memberships m ON m.user_id = u.id ORDER BY u.username, m.site_id"
    ):
        account = found.setdefault(username, (username, name, role, disabled, []))
        if site_id is not None:
            account[4].append(site_id)
    return list(found.values())

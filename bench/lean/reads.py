"""The lean push server's reads (bench-only, issue 15, session 32): sign-in, the bearer token's check on
every request, and the pull, each on a read connection of the calling thread's own."""

from __future__ import annotations

import hashlib
import secrets
import sqlite3
import threading
import uuid
from pathlib import Path
from typing import Any

from .store import Caller, Problem, _password, connect


class Reads:
    """Sign-in, the token's check and the pull, on a connection of the calling thread's own."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self._local = threading.local()
        self.epoch = self.conn().execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0]

    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.data)
        return conn

    def sign_in(self, username: str, password: str, client_id: str | None, name: str) -> tuple[str, str, Caller]:
        """(token, client_id, caller); enrols a client unless `client_id` is the user's own."""
        conn = self.conn()
        found = conn.execute("SELECT id, role, salt, password FROM users WHERE username = ?", [username]).fetchone()
        if found is None or not secrets.compare_digest(_password(found[2], password), found[3]):
            raise Problem(401, "invalid_credentials", "wrong username or password")
        user_id = found[0]
        token = secrets.token_urlsafe(32)
        with conn:  # its own short write: sign-in is outside the rush's measured pushes
            conn.execute("BEGIN IMMEDIATE")
            if client_id is None:
                client_id = str(uuid.uuid4())
                conn.execute("INSERT INTO clients (id, user_id, name) VALUES (?, ?, ?)", [client_id, user_id, name])
            elif conn.execute("SELECT 1 FROM clients WHERE id = ? AND user_id = ? AND NOT revoked",
                              [client_id, user_id]).fetchone() is None:
                raise Problem(403, "forbidden", "not a client of this user")
            conn.execute("INSERT INTO tokens VALUES (?, ?)", [hashlib.sha256(token.encode()).digest(), client_id])
        caller = self.caller(token)
        assert caller is not None
        return token, client_id, caller

    def caller(self, token: str) -> Caller | None:
        """Who holds this bearer token, read from the tables on every request."""
        conn = self.conn()
        found = conn.execute(
            "SELECT c.id, u.id, u.username, u.role FROM tokens t JOIN clients c ON c.id = t.client_id"
            " JOIN users u ON u.id = c.user_id WHERE t.hash = ? AND NOT c.revoked",
            [hashlib.sha256(token.encode()).digest()]).fetchone()
        if found is None:
            return None
        sites = None if found[3] == "supervisor" else frozenset(
            s for (s,) in conn.execute("SELECT site_id FROM members WHERE user_id = ?", [found[1]]))
        return Caller(found[0], found[1], found[2], found[3], sites)

    def pull(self, caller: Caller, cursor: int, limit: int) -> tuple[list[tuple[Any, ...]], int, bool, int]:
        """(rows as (collection, id, fields JSON, deleted, version), next cursor, has_more, acked_seq),
        one snapshot."""
        conn = self.conn()
        columns = "SELECT collection, id, fields, deleted, version FROM rows"
        conn.execute("BEGIN")
        try:
            acked = conn.execute("SELECT acked_seq FROM clients WHERE id = ?", [caller.client_id]).fetchone()[0]
            if caller.sites is None:
                rows = conn.execute(f"{columns} WHERE version > ? ORDER BY version LIMIT ?",
                                    [cursor, limit + 1]).fetchall()
            else:
                # A range of (site_id, version) a site, and the rows of no site (templates): each an index
                # range, merged here (one statement with `site_id IN (…)` read every row of the sites).
                rows = conn.execute(f"{columns} WHERE site_id IS NULL AND version > ? ORDER BY version LIMIT ?",
                                    [cursor, limit + 1]).fetchall()
                for site in sorted(caller.sites):
                    rows += conn.execute(f"{columns} WHERE site_id = ? AND version > ? ORDER BY version LIMIT ?",
                                         [site, cursor, limit + 1]).fetchall()
                rows = sorted(rows, key=lambda r: r[4])[:limit + 1]
            more = len(rows) > limit
            rows = rows[:limit]
            top = rows[-1][4] if more else conn.execute("SELECT coalesce(max(version), 0) FROM rows").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        return rows, max(top, cursor), more, acked


    def page(self, caller: Caller, cursor: int, limit: int) -> tuple[bytes, int, bool, int]:
        """`pull`, the page's rows spliced into one JSON array by SQLite in one statement: (the array, next
        cursor, has_more, acked_seq). One step of SQLite lets the GIL go once; a row a step (`pull`)
        let it go and wait to take it back a thousand times a page, behind the writer."""
        conn = self.conn()
        columns = "SELECT collection, id, fields, deleted, version FROM rows"
        if caller.sites is None:
            ranges, args = [f"SELECT * FROM ({columns} WHERE version > ? ORDER BY version LIMIT ?)"], [cursor, limit + 1]
        else:
            ranges = [f"SELECT * FROM ({columns} WHERE site_id IS NULL AND version > ? ORDER BY version LIMIT ?)"]
            args = [cursor, limit + 1]
            for site in sorted(caller.sites):
                ranges.append(f"SELECT * FROM ({columns} WHERE site_id = ? AND version > ? ORDER BY version LIMIT ?)")
                args += [site, cursor, limit + 1]
        conn.execute("BEGIN")
        try:
            acked = conn.execute("SELECT acked_seq FROM clients WHERE id = ?", [caller.client_id]).fetchone()[0]
            array, more, last = conn.execute(
                f"WITH page AS MATERIALIZED (SELECT * FROM ({' UNION ALL '.join(ranges)}) ORDER BY version LIMIT ?),"
                " shown AS (SELECT * FROM page ORDER BY version LIMIT ?)"
                # Each row's object spliced together from its stored JSON, never parsed: `json_object` with
                # `json(fields)` parsed and wrote every row's fields again, 25 µs a row (7 s of the rush's pulls).
                " SELECT (SELECT '[' || coalesce(group_concat('{\"collection\":' || json_quote(collection)"
                " || ',\"id\":' || json_quote(id) || ',\"fields\":' || CAST(fields AS TEXT)"
                " || ',\"deleted\":' || CASE WHEN deleted THEN 'true' ELSE 'false' END"
                " || ',\"version\":' || version || '}', ','), '') || ']' FROM shown),"
                " (SELECT count(*) > ? FROM page), (SELECT max(version) FROM shown)",
                [*args, limit + 1, limit, limit]).fetchone()
            top = last if more else conn.execute("SELECT coalesce(max(version), 0) FROM rows").fetchone()[0]
        finally:
            conn.execute("COMMIT")
        return array.encode(), max(top or 0, cursor), bool(more), acked

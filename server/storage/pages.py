"""Pages of rows for pulls: the version stream inside a scope, and the rows that left or
entered a scope (`engine/pull.py` pages through them).

A scope is some sites (None: every site) and some periods (None: every period). A row
without a site reaches everyone only when its collection is global by declaration, and only
its owner when its collection names one (`Scope.owner`: a duty call logged without a site).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from sync.schema import GLOBAL_COLLECTIONS, OWNED_COLLECTIONS

from .base import Sql
from .writes import dialect


def among(values: Collection[str]) -> str:
    """The marks of `IN (…)` for these values; `(NULL)` when there are none: PostgreSQL refuses
    SQLite's `IN ()`, and `IN (NULL)` is as false (never `NOT IN`: that would be NULL, not true)."""
    return f"({','.join('?' * len(values))})" if values else "(NULL)"


def _in_window(window: set[str]) -> tuple[str, list[Any]]:
    return f"(period IS NULL OR period IN {among(window)})", sorted(window)


def _scope_filter(db: Sql, sites: set[str] | None, window: set[str] | None, moved: bool = False,
                  owner: str | None = None) -> tuple[str, list[Any]]:
    """SQL (and its arguments) for rows inside a scope: some sites, some periods (`moved`: and the
    rows whose period changed after they were stored, wherever it is now); `owner`: the username
    whose own site-less rows it holds."""
    where, args = "", []
    if sites is not None:
        # A row without a site reaches everyone only when its collection is global by declaration:
        # a row whose site could not be found is nobody's, not everybody's.
        owned = "".join(f" OR (collection = ? AND {dialect(db).field('fields', name)} = ?)"
                        for name in OWNED_COLLECTIONS.values()) if owner is not None else ""
        where += (f" AND (site_id IN {among(sites)}"
                  f" OR (site_id IS NULL AND (collection IN ({','.join('?' * len(GLOBAL_COLLECTIONS))}){owned})))")
        args += [*sorted(sites), *GLOBAL_COLLECTIONS,
                 *(v for name in OWNED_COLLECTIONS for v in (name, owner) if owner is not None)]
    if window is not None:
        inside, periods = _in_window(window)
        where += f" AND ({inside} OR period_moved)" if moved else f" AND {inside}"
        args += periods
    return where, args


def page(
    db: Sql, after: int, sites: set[str] | None, window: set[str] | None, limit: int,
    moved: bool = False, owner: str | None = None,
) -> list[tuple[str, str, str | None, int, int]]:
    """(collection, id, fields as JSON, deleted, version) of up to `limit` rows of the scope
    after version `after`, by version. With `moved`, also the rows whose period changed after
    they were stored and is now outside the window, with fields None: a client that pulled
    them before may hold them (a service request that closed). `owner`: the caller's username,
    whose own site-less rows are in scope. The PostgreSQL backend runs it too (its SQL is both's)."""
    where, args = _scope_filter(db, sites, window, moved, owner)
    shown, shown_args = ("fields", []) if window is None or not moved else (
        f"CASE WHEN {_in_window(window)[0]} THEN fields END", sorted(window))
    found: list[tuple[str, str, str | None, int, int]] = db.execute(
        f"SELECT collection, id, {shown}, deleted, version FROM rows WHERE version > ?{where}"
        " ORDER BY version LIMIT ?",
        [*shown_args, after, *args, limit],
    ).fetchall()
    return found


def whole(db: Sql, keys: list[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, int, int]]:
    """{(collection, id): (fields as JSON, deleted, version)} of these rows."""
    return {
        (c, i): (f, d, v)
        for c, i in keys
        for f, d, v in db.execute("SELECT fields, deleted, version FROM rows WHERE collection = ? AND id = ?", [c, i])
    }


def scope_changes(
    db: Sql,
    delivered: int,
    sites_then: set[str] | None,
    sites_now: set[str] | None,
    window_then: set[str] | None,
    window_now: set[str] | None,
) -> list[tuple[bool, str, str, int]]:
    """(removed, collection, id, version) of every row that left or entered the scope,
    in a fixed order so that a catch-up can page through it. A row that left is sent as
    removed whatever its version (the client may hold an older copy); a row that entered
    is sent whole only up to `delivered` (later ones come with the version stream)."""
    all_sites = sorted({r for (r,) in db.execute("SELECT id FROM rows WHERE collection = 'sites'")})
    then = set(all_sites) if sites_then is None else sites_then
    now = set(all_sites) if sites_now is None else sites_now
    entries: list[tuple[bool, str, str, int]] = []

    def rows_of(site_id: str, extra: str, args: list[Any]) -> list[tuple[str, str, int]]:
        return db.execute(
            f"SELECT collection, id, version FROM rows WHERE site_id = ?{extra} ORDER BY version",
            [site_id, *args],
        ).fetchall()

    left_window = None if window_then is None else sorted(window_then - (window_now or window_then))
    for site_id in sorted(then - now):  # a lost site: everything of it the client may hold
        entries += [(True, *r) for r in rows_of(site_id, *_scope_filter(db, None, window_then, moved=True))]
    for site_id in sorted(then & now):  # a kept site: the periods that left the window
        if window_now is not None and window_then != window_now:
            if window_then is None:
                # `NOT IN` of no value is PostgreSQL's syntax error, and `NOT IN (NULL)` is never true.
                extra = " AND period IS NOT NULL" + (f" AND period NOT IN {among(window_now)}" if window_now else "")
                entries += [(True, *r) for r in rows_of(site_id, extra, sorted(window_now))]
            elif left_window:
                extra = f" AND period IN ({','.join('?' * len(left_window))})"
                entries += [(True, *r) for r in rows_of(site_id, extra, left_window)]
    for site_id in sorted(now - then):  # a gained site: its rows in the window, up to the cursor
        extra, args = _scope_filter(db, None, window_now)
        entries += [(False, *r) for r in rows_of(site_id, extra + " AND version <= ?", [*args, delivered])]
    if window_then is not None and window_now is not None:
        entered = sorted(window_now - window_then)
        for site_id in sorted(then & now) if entered else []:  # periods that entered the window
            extra = f" AND period IN ({','.join('?' * len(entered))}) AND version <= ?"
            entries += [(False, *r) for r in rows_of(site_id, extra, [*entered, delivered])]
    return entries

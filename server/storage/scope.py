"""What a client's scope was at a version: memberships and sync windows, as events in the version sequence.

A membership or window change takes a place in the version sequence (`take_version`),
so that every cursor is either before it or after it.
"""

from __future__ import annotations

import msgspec

from .base import Sql
from .writes import dialect

_json_encode = msgspec.json.Encoder().encode
_periods = msgspec.json.Decoder(list[str])


def take_version(db: Sql) -> int:
    """The next version, taken in the writer's transaction; read as a push's transaction reads it
    (`Dialect.version`: on PostgreSQL `FOR UPDATE`, so that no other process takes the same one)."""
    version = int(db.execute(dialect(db).version).fetchone()[0]) + 1
    db.execute("UPDATE meta SET value = ? WHERE key = 'version'", [str(version)])
    return version


def record_window(db: Sql, periods: list[str], at: str) -> None:
    """Record the sync window's periods unless they are already the last recorded."""
    encoded = _json_encode(periods).decode()
    last = db.execute("SELECT periods FROM window_events ORDER BY version DESC LIMIT 1").fetchone()
    if last is None or last[0] != encoded:
        db.execute("INSERT INTO window_events(version, periods, at) VALUES (?, ?, ?)",
                   [take_version(db), encoded, at])


def window_at(db: Sql, version: int) -> set[str] | None:
    """The periods in the window at `version`; None before the first window (every period)."""
    found = db.execute(
        "SELECT periods FROM window_events WHERE version <= ? ORDER BY version DESC LIMIT 1", [version]
    ).fetchone()
    return None if found is None else set(_periods.decode(found[0]))


def sites_at(db: Sql, user_id: str | None, version: int) -> set[str] | None:
    """The sites a user was a member of once every scope event up to `version` had
    happened; None for a supervisor (every site)."""
    if user_id is None:
        return None
    sites: set[str] = set()
    for site_id, member in db.execute(
        "SELECT site_id, member FROM scope_events WHERE user_id = ? AND version <= ? ORDER BY version",
        [user_id, version],
    ):
        (sites.add if member else sites.discard)(site_id)
    return sites


def memberships(db: Sql, user_id: str | None) -> set[str]:
    """The sites a user is a member of in this snapshot (the newest there is)."""
    return {r for (r,) in db.execute("SELECT site_id FROM memberships WHERE user_id = ?", [user_id])}


def sites_ever(db: Sql, user_id: str) -> set[str]:
    """The sites a user has ever been made a member of (a membership older than the scope events'
    migration counts as made then)."""
    return {r for (r,) in db.execute("SELECT DISTINCT site_id FROM scope_events WHERE user_id = ? AND member = 1",
                                     [user_id])}

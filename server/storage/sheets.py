"""The printable sheets' reads (issue 14): the checklists of a site's kinds, a row's site, and a user's name."""

from __future__ import annotations

from typing import Any

from .base import Sql
from .service import _decode
from .writes import dialect, select_in


def templates(db: Sql, kinds: list[str] | None) -> list[dict[str, Any]]:
    """The live checklist templates of these device kinds (every kind's for None), by kind."""
    live = "SELECT fields FROM rows WHERE collection = 'checklist_templates' AND deleted = 0"
    found = db.execute(live).fetchall() if kinds is None else select_in(
        db, f"{live} AND {dialect(db).field('fields', 'kind')} IN ({{marks}})", kinds)
    return sorted((_decode(f) for (f,) in found), key=lambda t: str(t.get("kind")))


def located(db: Sql, collection: str, row_id: str) -> tuple[str | None, dict[str, Any]] | None:
    """(site id, fields) of a live row, else None."""
    found = db.execute("SELECT site_id, fields FROM rows WHERE collection = ? AND id = ? AND deleted = 0",
                       [collection, row_id]).fetchone()
    return None if found is None else (found[0], _decode(found[1]))


def person(db: Sql, username: str) -> str:
    """The name a user is shown by (王工, not wang); the username of a user not known here."""
    found = db.execute("SELECT name FROM users WHERE username = ?", [username]).fetchone()
    return str(found[0]) if found is not None and found[0] else username

"""The server's and a client's place in the protocol, in the SQL both backends speak: `meta` (the
epoch, the cursor secret, the version reached, the server's HLC), a client's `acked_seq` and receipts.
"""

from __future__ import annotations

from .base import Sql


def meta(db: Sql) -> dict[str, str]:
    """The `meta` table: server_epoch, version, horizon_version, hlc, cursor_secret, counters."""
    return dict(db.execute("SELECT key, value FROM meta").fetchall())


def current_version(db: Sql) -> int:
    """The last version taken (committed, or taken by this transaction); it takes no lock."""
    return int(db.execute("SELECT value FROM meta WHERE key = 'version'").fetchone()[0])


def server_clock(db: Sql) -> str:
    """The server's HLC as the last transaction that stamped with it left it ('' before any)."""
    return str(db.execute("SELECT value FROM meta WHERE key = 'hlc'").fetchone()[0])


def save_clock(db: Sql, last: str) -> None:
    """The server's HLC, so that a restarted server, or another process, never issues an older one.
    Only ever forward: the HLCs the server writes have one node, so their text sorts as they do."""
    db.execute("UPDATE meta SET value = ? WHERE key = 'hlc' AND value < ?", [last, last])


def acked_seq(db: Sql, client_id: str) -> int:
    return int(db.execute("SELECT acked_seq FROM clients WHERE id = ?", [client_id]).fetchone()[0])


def acked_seq_unless_revoked(db: Sql, client_id: str) -> int | None:
    """The client's acked_seq, or None once it is revoked: a push's read of its client's row, inside
    its write (the same read by key as `acked_seq`, one more column)."""
    acked, revoked_at = db.execute("SELECT acked_seq, revoked_at FROM clients WHERE id = ?", [client_id]).fetchone()
    return None if revoked_at is not None else int(acked)


def receipts(db: Sql, client_id: str, first: int, last: int) -> dict[int, tuple[str, str | None, str]]:
    """{seq: (hlc, digest, result as JSON)} of the client's acknowledged changes from `first` to
    `last`; the digest is None for receipts written before receipts kept one."""
    return {seq: (sent, digest, result) for seq, sent, digest, result in db.execute(
        "SELECT seq, hlc, digest, result FROM receipts WHERE client_id = ? AND seq BETWEEN ? AND ?",
        [client_id, first, last],
    )}


def record_sync(db: Sql, client_id: str, acked: int, at: str, offset: int, app: str | None) -> None:
    """What a push leaves on its client: how far it is acknowledged, when, its clock offset and app."""
    db.execute(
        "UPDATE clients SET acked_seq = ?, last_sync_at = ?, clock_offset_ms = ?, app = coalesce(?, app) WHERE id = ?",
        [acked, at, offset, app, client_id],
    )

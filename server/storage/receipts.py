"""Receipts kept bounded (issue 15): what a client can no longer resend is forgotten.

A push whose first change has seq F tells the server the client holds every result below F
(a client resends only what it has no result for), so those receipts are no longer needed
for replays. The newest `keep` of them are kept anyway: a phone restored from a recent backup
resends changes it had pushed after the backup, and those are still answered as replays
(or found reused, by their digest) exactly as before. A seq older than that has no receipt:
`409 seq_reused`, and the phone enrols anew and resends what it holds, which the merge
takes as the same writes again (their HLCs keep their time), so nothing is lost.

A revoked client can never push again (no token, no refresh, and no way back: a new client takes
its place), so its receipts go with its revocation (`identity.revoke`, in the same transaction),
and `fieldsync purge` forgets any left (of clients revoked before that rule: a push re-reads its
client's revocation inside its write, so none writes receipts after). Nothing else reads them:
the console's and the audit's view of what a phone sent is its rows' creators and the conflict log.
"""

from __future__ import annotations

from .base import Sql


def prune(db: Sql, client_id: str, first_sent: int, acked: int, keep: int) -> int:
    """Forget the client's receipts below `first_sent` (the push's first seq), keeping the newest
    `keep` up to `acked`; how many were forgotten."""
    below = min(first_sent - 1, acked - keep)
    if below < 1:
        return 0
    return db.execute("DELETE FROM receipts WHERE client_id = ? AND seq <= ?", [client_id, below]).rowcount


def forget_revoked(db: Sql) -> int:
    """Forget the receipts of revoked clients; how many."""
    return db.execute("DELETE FROM receipts WHERE client_id IN"
                      " (SELECT id FROM clients WHERE revoked_at IS NOT NULL)").rowcount

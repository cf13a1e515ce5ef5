"""What one user may hold at once: enrolled clients, bytes of unfinished uploads (issue 9, finding 9).

Per client limits alone were not enough: a user can enrol any number of clients.
Each check runs inside the write transaction that would go over it, so two
requests at once cannot both pass.
"""

from __future__ import annotations

from sync import errors as E
from sync.messages import words

from ...settings import Settings
from ...storage.base import Connection
from ...storage.identity import open_clients, open_upload_bytes

_WORDS = words("problems", "en")


def check_new_client(db: Connection, user_id: str, settings: Settings) -> None:
    """Before enrolling one more client for this user: 429 too_many_clients at the limit."""
    limit = settings.max_clients_per_user
    held = open_clients(db, user_id)
    if held >= limit:
        raise E.TooManyClients(_WORDS["too_many_clients"].format(held=held), limit=limit)


def check_upload_bytes(db: Connection, user_id: str, length: int, settings: Settings) -> None:
    """Before opening an upload of `length` bytes: the user's unfinished uploads stay under the limit."""
    limit = settings.max_open_upload_bytes_per_user
    held = open_upload_bytes(db, user_id)
    if held + length > limit:
        raise E.TooManyRequests(
            f"this user's unfinished uploads hold {held:,} bytes and this one adds {length:,}, over {limit:,};"
            " finish one (or let it expire) first",
            limit=limit,
        )

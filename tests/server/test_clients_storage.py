"""A client's rows in storage on either backend (`FIELDSYNC_TEST_BACKEND`): the order console sessions
are retired in, and what a revoked client leaves behind."""

from __future__ import annotations

from server.services import Store
from server.storage import identity as q

NOW = 1_800_000_000_000


def _user_id(store: Store, username: str) -> str:
    with store.read() as db:
        found = q.user_id_of(db, username)
    assert found is not None
    return found


def test_console_sessions_of_one_millisecond_are_retired_in_enrolment_order(store: Store) -> None:
    # Regression (closing note, console sessions): they were ordered by `created_at, id`, and the id is
    # a random UUID, so of sessions enrolled in one millisecond a newer one could be retired before an
    # older one (PostgreSQL has no rowid to fall back on). Twelve in one millisecond, in two transactions.
    lin = _user_id(store, "lin")
    enrolled = []
    for _ in range(2):
        with store.write() as db:
            enrolled += [q.enrol(db, lin, "browser", NOW, "console") for _ in range(6)]
    with store.write() as db:
        phone = q.enrol(db, lin, "phone", NOW, None)
    with store.read() as db:
        past = q.console_sessions_past(db, lin, "console", 3)
    assert past == list(reversed(enrolled[:9]))  # all but the newest three, newest first
    assert phone not in past

"""A client's rows in storage on either backend (`FIELDSYNC_TEST_BACKEND`): the order console sessions
are retired in, and what a revoked client leaves behind."""

from __future__ import annotations

from server.services import Store
from server.storage import identity as q
from server.storage.writes import RECEIPTS, write_many

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


def _receipts(store: Store, *clients: str) -> list[tuple[str, int]]:
    with store.read() as db:
        return sorted((c, s) for c in clients
                      for (s,) in db.execute("SELECT seq FROM receipts WHERE client_id = ?", [c]).fetchall())


def _with_receipts(store: Store, user_id: str, name: str, n: int) -> str:
    with store.write() as db:
        client = q.enrol(db, user_id, name, NOW, None)
        write_many(db, RECEIPTS, [(client, seq, f"hlc-{seq}", "digest", "{}") for seq in range(1, n + 1)])
    return client


def test_a_revoked_clients_receipts_go_with_its_revocation(store: Store) -> None:
    # Regression (closing note, issue 15's receipts target): receipts were pruned only by their own
    # client's next push, which a revoked client never makes, so a lost phone's stayed forever.
    wang, zhao = _user_id(store, "wang"), _user_id(store, "zhao")
    lost, kept = _with_receipts(store, wang, "lost phone", 5), _with_receipts(store, zhao, "phone", 3)
    with store.write() as db:
        assert q.revoke(db, "2027-01-01T00:00:00.000Z", "id = ?", lost) == 1
    assert _receipts(store, lost, kept) == [(kept, 1), (kept, 2), (kept, 3)]
    # Every client of a user at once (a new password, a disabled account) too.
    with store.write() as db:
        assert q.revoke(db, "2027-01-01T00:00:00.000Z", "user_id = ?", zhao) == 1
    assert _receipts(store, kept) == []


def test_purge_forgets_receipts_revoked_clients_left(store: Store) -> None:
    # Regression (closing note): receipts of clients revoked before their revocation took them are
    # forgotten by `fieldsync purge`.
    wang = _user_id(store, "wang")
    old, live = _with_receipts(store, wang, "old phone", 4), _with_receipts(store, wang, "phone", 2)
    with store.write() as db:
        db.execute("UPDATE clients SET revoked_at = '2026-01-01T00:00:00.000Z' WHERE id = ?", [old])
    assert len(_receipts(store, old)) == 4  # as a database from before this change holds them
    store.purge_tombstones()
    assert _receipts(store, old, live) == [(live, 1), (live, 2)]

"""A push racing its client's revocation (a lost phone's thief against the office's revoke): whichever
commits first, the push's rows never follow a revocation. The suite's backend for the ordering;
PostgreSQL itself (the `postgres` fixture) for a revocation waiting behind a push's version lock."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import msgspec
import psycopg
import pytest

from server.services import Caller, Store
from server.settings import Settings
from server.storage import identity
from sync import errors as E
from sync import hlc
from sync.schema import device_check_id
from sync.wire import PushRequest, TokenRequest

TS = "2026-11-20T09:00:00.000Z"


def _request(client_id: str, site: dict[str, str]) -> PushRequest:
    clock = hlc.Clock(client_id)
    check = device_check_id(site["inspection"], site["cam1"])
    fields = {"inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "serviced",
              "checked_by": "wang", "checked_at": TS}
    return msgspec.convert({"protocol": 1, "client_id": client_id, "client_time": hlc.format_ts(hlc.wall_ms()),
                            "changes": [{"seq": 1, "collection": "device_checks", "id": check,
                                         "hlc": clock.now(), "fields": fields}]}, PushRequest)


def _pushing(store: Store, caller: Caller, req: PushRequest) -> tuple[threading.Thread, list[Any]]:
    """The push on a thread of its own (a second writer); its answer, or the error it raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(store.push(caller, req))
        except E.SyncError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=run)
    worker.start()
    return worker, outcome


def test_a_push_checked_before_its_clients_revocation_applies_nothing(site, store, wang, row_of):
    # Regression (s23 leftovers, item 3): a push that passed its token check just before the revocation
    # committed wrote its rows and receipts after it. The token is checked, then the revocation commits
    # while it holds the writer (SQLite's one, PostgreSQL's version-counter lock), then the push writes.
    caller = store.authenticate(wang.headers["Authorization"].removeprefix("Bearer "))
    req = _request(wang.client_id, site)
    with store.write(versions=True) as db:
        worker, outcome = _pushing(store, caller, req)
        assert identity.revoke(db, hlc.format_ts(store.now_ms()), "id = ?", wang.client_id) == 1
    worker.join(60)  # a guard against a hang, not a measurement
    assert [type(o) for o in outcome] == [E.Unauthorized]  # a revoked token's 401, nothing applied
    assert row_of("device_checks", req.changes[0].id) is None
    with store.read() as db:
        assert db.execute("SELECT acked_seq FROM clients WHERE id = ?", [wang.client_id]).fetchone()[0] == 0
        assert db.execute("SELECT count(*) FROM receipts WHERE client_id = ?", [wang.client_id]).fetchone()[0] == 0
    assert wang.push([wang.change("device_checks", req.changes[0].id, {})]).status_code == 401


@pytest.fixture
def pg_store(new_settings: Callable[..., Settings], pg_url: str) -> Iterator[Store]:
    store = Store(new_settings(database=pg_url))
    store.create_user("lin", "Lin", "supervisor", "demo", demo=True)
    store.create_user("wang", "Wang", "technician", "demo", demo=True)
    yield store
    store.close()


def _waiting_on_a_lock(url: str) -> bool:
    with psycopg.connect(url, autocommit=True) as conn:
        return bool(conn.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                                 " AND wait_event_type = 'Lock'").fetchone()[0])


@pytest.mark.parametrize("revoking", ["revoke_client", "update_user"])
def test_a_revocation_on_postgresql_waits_for_a_push_holding_the_version_lock(pg_store, pg_url, revoking):
    # Regression (s23 leftovers, item 3): a revocation took no lock a push holds, so it could commit
    # between a push's read of its client and the push's commit. Now it waits for the push (here its
    # version lock, held): the push commits first, or reads its client revoked.
    store = pg_store
    lin, phone = (store.login(TokenRequest(username=name, password="demo", client_name="t")) for name in ("lin", "wang"))
    supervisor = store.authenticate(lin.token)
    done = threading.Event()

    def revoke() -> None:
        if revoking == "revoke_client":
            store.revoke_client(supervisor, phone.client_id)
        else:
            store.update_user("wang", disabled=True, by=supervisor)
        done.set()

    with store.write(versions=True):  # a push, between its read of its client and its commit
        worker = threading.Thread(target=revoke)
        worker.start()
        deadline = time.monotonic() + 60  # a guard against a hang, not a measurement
        while not _waiting_on_a_lock(pg_url) and not done.is_set() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert not done.is_set()  # the revocation waits for the push
    worker.join(60)
    assert done.is_set()
    with store.read() as db:
        assert db.execute("SELECT revoked_at FROM clients WHERE id = ?", [phone.client_id]).fetchone()[0]



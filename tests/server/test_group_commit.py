"""Pushes that wait for the writer commit together (issue 15): one transaction, one fsync, for every
push waiting, each in its own savepoint, so that one push's problem is its own."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import msgspec
import pytest

from server.engine import push as engine_push
from server.services import Caller, Store
from sync import errors as E
from sync import hlc
from sync.wire import PushRequest, TokenRequest


def _caller(store: Store) -> Caller:
    return store.authenticate(store.login(TokenRequest(username="lin", password="demo")).token)


def _request(caller: Caller, first_seq: int, names: list[str]) -> PushRequest:
    clock = hlc.Clock(caller.client_id)
    changes = [{"seq": first_seq + i, "collection": "sites", "id": str(uuid.uuid4()), "hlc": clock.now(),
                "fields": {"name": name}} for i, name in enumerate(names)]
    return msgspec.convert({"protocol": 1, "client_id": caller.client_id, "client_time": hlc.format_ts(hlc.wall_ms()),
                            "changes": changes}, PushRequest)


def _wait_for(condition: Any) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        assert time.monotonic() < deadline, "the condition never came true"
        time.sleep(0.005)


def test_pushes_waiting_for_the_writer_commit_together_and_a_bad_one_fails_alone(store: Store) -> None:
    callers = [_caller(store) for _ in range(3)]
    requests = [_request(callers[0], 1, ["North park", "South park"]), _request(callers[1], 1, ["East park"]),
                _request(callers[2], 5, ["Gap park"])]  # seq 5 first: a seq gap, this push's alone
    answers: dict[int, Any] = {}
    statements: list[str] = []

    def push(i: int) -> None:
        try:
            answers[i] = store.push(callers[i], requests[i])
        except Exception as exc:
            answers[i] = exc

    store.database.writer.set_trace_callback(statements.append)
    threads = [threading.Thread(target=push, args=(i,)) for i in range(3)]
    with store.write():  # the writer is busy: the three pushes queue up behind it, in this order
        for n, thread in enumerate(threads, 1):
            thread.start()
            _wait_for(lambda n=n: answers or len(getattr(engine_push._waiting.get(store.database), "items", ())) == n)
        assert not answers, answers
        statements.clear()  # what follows: this transaction's COMMIT, then the pushes'
    for thread in threads:
        thread.join()
    store.database.writer.set_trace_callback(None)

    assert [r.status for r in answers[0].results] == ["applied", "applied"]
    assert [r.status for r in answers[1].results] == ["applied"]
    assert isinstance(answers[2], E.SeqGap)
    writing = [s for s in statements if s in ("BEGIN IMMEDIATE", "COMMIT", "SAVEPOINT push", "ROLLBACK TO push")]
    # One transaction held all three; the next holders of the writer found nothing left to do.
    assert writing[:7] == ["COMMIT", "BEGIN IMMEDIATE", "SAVEPOINT push", "SAVEPOINT push", "SAVEPOINT push",
                           "ROLLBACK TO push", "COMMIT"]
    assert "SAVEPOINT push" not in writing[7:]
    with store.read() as db:
        names = {r[0] for r in db.execute("SELECT json_extract(fields, '$.name') FROM rows WHERE collection = 'sites'")}
        acked = dict(db.execute("SELECT id, acked_seq FROM clients").fetchall())
    assert {"North park", "South park", "East park"} <= names and "Gap park" not in names
    assert [acked[c.client_id] for c in callers] == [2, 1, 0]
    assert answers[1].version == answers[0].version + 1  # gap-free, in the order they were taken


@pytest.mark.parametrize("pushes", [1, 7])
def test_a_group_holds_at_most_group_changes(store: Store, pushes: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first push of a group waits for at most GROUP_CHANGES changes of others (and a push
    larger than that is a group of its own)."""
    monkeypatch.setattr(engine_push, "GROUP_CHANGES", 4)
    queue = engine_push._Queue()
    sizes = [3] * pushes + [5]
    for size in sizes:
        queue.items.append(engine_push._Waiting(None, _request(_caller(store), 1, ["p"] * size), 0, None))  # type: ignore[arg-type]
    groups = []
    while queue.items:
        groups.append([len(w.req.changes) for w in queue.take()])
    assert groups == [[3]] * pushes + [[5]]

"""A hook's note (`tx.note`) from work run at the batch's end (`tx.at_end`) (s29 fixes29a item 2): it
names no change, and was dropped without a word on both write paths, the push and the server's own writes.
It is refused loudly now, the transaction rolled back; a note from `staged` still reaches the log. A real
hook, registered on the store the app serves, over real pushes, on one app whatever the suite's mode (the hook is its store's)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from litestar.testing import TestClient

from server.app import create_app
from server.services import Store
from server.settings import Settings
from sync.merge import LogEntry, RowState
from sync.wire import Change
from tests.conftest import Session

_CAM = str(uuid.uuid5(uuid.NAMESPACE_URL, "cam1"))  # the site fixture's CAM-001


class _Noting:
    """Flags every device change it stages, from `staged` or from the work it leaves for the batch's end."""

    collections = ("devices",)

    def __init__(self, at_end: bool) -> None:
        self.at_end = at_end

    def prepare(self, store: Store, changes: Sequence[Change]) -> None:
        pass

    def settle(self, tx: Any, before: RowState | None, row: RowState) -> None:
        pass

    def staged(self, tx: Any, before: RowState | None, row: RowState) -> None:
        note = LogEntry("lost", "location", None, row.fields.get("location"), reason="test_flag", detail="flagged")
        if self.at_end:
            tx.at_end("test/noting", lambda: tx.note(note))
        else:
            tx.note(note)

    def rules(self, tx: Any) -> dict[str, Callable[..., Any]]:
        return {}


@pytest.fixture
def lin(settings: Settings, store: Store) -> Iterator[Session]:
    """The supervisor on one app over `store`, whichever the suite's mode: the hook is that store's."""
    with TestClient(create_app(settings, store)) as client:
        yield Session(client, "lin")


def _flagged(lin: Session) -> list[dict[str, Any]]:
    return [c for c in lin.http.get("/api/conflicts", headers=lin.headers, params={"limit": 1000}).json()[
        "conflicts"] if c.get("reason") == "test_flag"]


def _stored(store: Store) -> Any:
    with store.read() as db:
        return db.execute("SELECT fields, version FROM rows WHERE id = ?", [_CAM]).fetchone()


def test_a_note_from_staged_reaches_the_conflict_log_on_both_paths(store, site, lin):
    store.hooks.add(_Noting(at_end=False))
    assert lin.push([lin.change("devices", _CAM, {"location": "pushed"})]).json()["results"][0]["status"] == "applied"
    store.write_server_changes([("devices", _CAM, {"location": "the server's"}, False)])
    assert [(c["new_value"], c["seq"]) for c in _flagged(lin)] == [("pushed", 1), ("the server's", 0)]


def test_a_note_from_work_at_the_batchs_end_is_refused_loudly_not_lost(store, site, lin):
    # Regression: `flush` ran the at-end work after the last change's entries were logged, and a note it
    # made stayed in `tx.notes`, never written: the push answered `applied` and the log had nothing.
    store.hooks.add(_Noting(at_end=True))
    before = _stored(store)
    pushed = lin.push([lin.change("devices", _CAM, {"location": "pushed"})])
    assert pushed.status_code == 500  # a hook's mistake, the phone retries; nothing half-written
    with pytest.raises(RuntimeError, match="at the batch's end"):
        store.write_server_changes([("devices", _CAM, {"location": "the server's"}, False)])
    assert _stored(store) == before and _flagged(lin) == []
    assert "pushed" not in str(lin.pull().json()["rows"])

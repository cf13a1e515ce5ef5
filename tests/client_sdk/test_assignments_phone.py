"""What the technician's phone says of who a service request is assigned to: the desk's dispatch and a
supervisor's reassignment, as a sync brings them."""

from __future__ import annotations

import contextlib
import io
import os
import sys
from typing import Any

from client_sdk.cli import MESSAGES, main
from sync import hlc
from tests.client_sdk.test_service_phone import HOUR, desk_opens
from tests.conftest import SITE


def test_a_sync_tells_once_what_the_desk_dispatched_to_me_and_what_was_reassigned_off_me(
        http, store, site, chen, tmp_path, capsys):
    """Regression (s28 repair): a request dispatched to the technician, or reassigned to another while he
    was offline, changed nothing a sync said, and `requests` and `request` named no assignee: the list
    (mine and every open one at my sites) read the same for a job taken off him as for his own."""
    db = str(tmp_path / "phone.db")
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    capsys.readouterr()
    mine = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    assert main(["--db", db, "sync"], http=http) == 0
    [told] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("Assigned to you: ")]
    assert "CAM-001" in told and "camera 7 at the car park" in told, told
    assert main(["--db", db, "sync"], http=http) == 0
    assert "Assigned to you" not in capsys.readouterr().out  # told once

    store.add_member(SITE, "zhao")
    body = chen.push([chen.change("service_requests", mine, {"assigned_to": "zhao"})]).json()
    assert [r["status"] for r in body["results"]] == ["applied"]
    assert main(["--db", db, "sync"], http=http) == 0
    out = capsys.readouterr().out
    assert "was reassigned to zhao: it is no longer yours" in out, out
    assert main(["--db", db, "sync"], http=http) == 0
    assert "reassigned" not in capsys.readouterr().out
    assert main(["--db", db, "requests"], http=http) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert " zhao " in line and f" {MESSAGES['assigned_you']} " not in line, line
    assert main(["--db", db, "request", mine], http=http) == 0
    assert capsys.readouterr().out.splitlines()[0].endswith(", assigned to zhao")

    body = chen.push([chen.change("service_requests", mine, {"assigned_to": "wang"})]).json()
    assert [r["status"] for r in body["results"]] == ["applied"]
    assert main(["--db", db, "sync"], http=http) == 0
    assert "Assigned to you: " in capsys.readouterr().out  # given back: told again
    assert main(["--db", db, "requests"], http=http) == 0
    assert f" {MESSAGES['assigned_you']} " in capsys.readouterr().out


def _first_synced(http: Any, db: str) -> None:
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0


def test_a_phones_first_sync_says_in_one_line_how_many_are_his_then_each_phone_tells_each_dispatch_once(
        http, store, site, chen, tmp_path, capsys):
    """Regression (s28 fixrepair, item 3): a phone's first sync (a new phone, or the first after the upgrade that
    brought the news) told "Assigned to you" once for every open request already his, forty lines for a
    technician who expects his list (`requests`); it now says how many in one line. What is told is kept on each
    phone: his second phone tells a later dispatch too, once."""
    for _ in range(2):
        desk_opens(chen, site, hlc.wall_ms() - HOUR)
    a, b = str(tmp_path / "a.db"), str(tmp_path / "b.db")
    for db in (a, b):
        assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
        capsys.readouterr()
        assert main(["--db", db, "sync"], http=http) == 0
        out = capsys.readouterr().out
        assert "Assigned to you" not in out, out
        assert MESSAGES["yours_first"].format(count=2) in out.splitlines(), out
        assert main(["--db", db, "sync"], http=http) == 0
        assert "assigned to you" not in capsys.readouterr().out.casefold()
    desk_opens(chen, site, hlc.wall_ms() - HOUR, description="door 3 reader dead")
    for db in (a, b):  # once on each phone
        assert main(["--db", db, "sync"], http=http) == 0
        [told] = [x for x in capsys.readouterr().out.splitlines() if "assigned to you" in x.casefold()]
        assert told.startswith("Assigned to you: ") and "door 3 reader dead" in told, told
        assert main(["--db", db, "sync"], http=http) == 0
        assert "assigned to you" not in capsys.readouterr().out.casefold()


def test_a_dispatch_lost_to_a_reader_that_left_is_told_by_the_next_sync(http, store, site, chen, tmp_path, capsys,
                                                                         monkeypatch):
    """Regression (s28 fixrepair, item 1): `assignment_news` recorded the requests as told before the sync printed
    them: with the output a pipe whose reader had gone (or the phone killed while printing), "Assigned to you"
    never reached him and no later sync said it. It is recorded only once the lines are out (flushed)."""
    db = str(tmp_path / "phone.db")
    _first_synced(http, db)
    capsys.readouterr()
    desk_opens(chen, site, hlc.wall_ms() - HOUR)
    read, write = os.pipe()
    os.close(read)  # `fieldsync-client sync | head -0`: the reader has gone
    gone = io.TextIOWrapper(io.FileIO(write, "w"))  # a pipe: block-buffered
    monkeypatch.setattr(sys, "stdout", gone)
    assert main(["--db", db, "sync"], http=http) == 0
    monkeypatch.undo()
    with contextlib.suppress(BrokenPipeError):  # what the CLI left unflushed is lost (the fd is closed anyway)
        gone.close()
    assert main(["--db", db, "sync"], http=http) == 0
    [told] = [x for x in capsys.readouterr().out.splitlines() if x.startswith("Assigned to you: ")]
    assert "camera 7 at the car park" in told, told

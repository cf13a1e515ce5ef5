"""What the technician's phone says of who a service request is assigned to: the desk's dispatch and a
supervisor's reassignment, as a sync brings them."""

from __future__ import annotations

from client_sdk.cli import MESSAGES, main
from sync import hlc
from tests.client_sdk.test_service_phone import HOUR, desk_opens
from tests.conftest import SITE


def test_a_sync_tells_once_what_the_desk_dispatched_to_me_and_what_was_reassigned_off_me(
        http, store, site, chen, tmp_path, capsys):
    """Regression (s28 repair): a request dispatched to the technician, or reassigned to another while he
    was offline, changed nothing a sync said, and `requests` and `request` named no assignee: the list
    (mine and every open one at my sites) read the same for a job taken off him as for his own."""
    mine = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    db = str(tmp_path / "phone.db")
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    capsys.readouterr()
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

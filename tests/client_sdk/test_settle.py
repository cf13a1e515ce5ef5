"""How the phone settles a change the server took with its answer lost (`taken`, `client_sdk/settle.py`):
from the conflict log's entries of its client and seq, never telling a change counted that did not."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from typing import Any

import httpx

from bench._server import ROOT, ServerProcess
from client_sdk.cli import main
from sync import hlc
from tests.client_sdk.support import CutTransport
from tests.client_sdk.test_push_split import (  # noqa: F401 (`settings`: the server with a body limit)
    Recorder,
    _early_and_late,
    _lose_answer_then_lower_limit,
    settings,
)
from tests.conftest import server_args


def _states(phone: Any) -> list[tuple[str, str | None]]:
    return [(e.state, e.reason) for e in phone.db.entries()]


def _taken(http: Any, new_client: Any, recorder_class: type[Recorder], then: dict[str, str],
           site: dict[str, str]) -> tuple[Any, Any]:
    """Wang's phone behind a link a test can cut: its change of cam1's location is taken (the answer lost,
    then the proxy's limit lowered) as `then`, a small change of device `then["device"]`, goes through."""
    cut = CutTransport(http._transport)
    recorder = recorder_class(cut)
    wang = new_client(httpx.Client(transport=recorder, base_url=http.base_url))
    wang.sync()
    wang.write("devices", site["cam1"], {"location": "L" * 190})
    _lose_answer_then_lower_limit(wang, cut, recorder, 400)
    wang.write("devices", then["device"], {"location": then["location"]})
    wang.push()
    assert _states(wang) == [("applied", "result_lost"), ("applied", None)]
    return wang, recorder


def test_a_taken_change_that_lost_is_not_settled_applied_by_an_equal_value_whose_loss_was_not_logged_again(
        http, site, new_client):
    # Regression (s27-fixsettle item 1): `settle` read a register holding the value the change sent as won
    # unless a `lost` entry of the change's HLC explained it. The server logs a writer's losing value once
    # (`_on_record`): Wang's serial number SN-A had lost before, so its second loss went unlogged, and the
    # change, whose location lost too (the server answered `superseded`), was settled `applied`.
    early, late, cut, recorder = _early_and_late(http, new_client, "wang")
    early.write("devices", site["cam1"], {"serial_no": "SN-A"})
    early.sync()
    late.write("devices", site["cam1"], {"serial_no": "SN-A"})  # older: lost, logged (an equal value)
    late.sync()
    early.write("devices", site["cam1"], {"serial_no": "SN-A", "location": "Gate 2"})
    early.sync()
    late.write("devices", site["cam1"], {"serial_no": "SN-A", "location": "L" * 190})  # older: both lose
    _lose_answer_then_lower_limit(late, cut, recorder, 400)
    late.push()
    late.pull()
    logged = [(c.kind, c.register, c.seq) for c in late.conflicts() if c.client_id == late.client_id]
    assert logged == [("lost", "serial_no", 1), ("lost", "location", 2)]  # the second SN-A is on record once
    assert late.get("devices", site["cam1"])["fields"] == {**late.get("devices", site["cam1"])["fields"],
                                                            "serial_no": "SN-A", "location": "Gate 2"}
    assert [(p["status"], p["reason"]) for p in late.problems()] == [("superseded", "result_lost")]


def test_a_taken_change_replaced_by_the_phones_own_later_change_is_settled_applied(http, site, new_client):
    # Regression (s27-fixsettle item 3): a taken change whose location won, then replaced by the same phone's
    # next change (the server logs no loss for a writer overwriting itself), read `superseded`: the pulled row
    # no longer held its value, and no `overwritten` entry names it. No loss of it is logged: it counted.
    wang, _ = _taken(http, new_client, Recorder, {"device": site["cam1"], "location": "Gate 9"}, site)
    wang.pull()
    assert wang.get("devices", site["cam1"])["fields"]["location"] == "Gate 9"
    assert wang.problems() == []
    assert _states(wang) == [("applied", None), ("applied", None)]


def _refused_then_enrolled_anew(http: Any, site: dict[str, str], new_client: Any, lin: Any,
                                device: str) -> tuple[Any, str]:
    """Wang's check of `device`, which the server does not have, taken and refused (unknown_parent) with
    the answer and then the log's reading lost; his phone revoked and signed in again, its changes moved
    below seq 1. Returns the phone and the check's id."""
    cut = CutTransport(http._transport)
    recorder = Recorder(cut)
    wang = new_client(httpx.Client(transport=recorder, base_url=http.base_url))
    wang.sync()
    check = wang.record_check(site["inspection"], device, "serviced", note="n" * 1500)
    _lose_answer_then_lower_limit(wang, cut, recorder, 1000)
    wang.write("devices", site["cam1"], {"location": "Gate 3"})  # seq 2
    recorder.unavailable = {"/api/conflicts"}
    wang.push()
    assert not recorder.unavailable and _states(wang) == [("applied", "result_lost"), ("applied", None)]
    assert http.delete(f"/api/clients/{wang.client_id}", headers=lin.headers).status_code == 204
    wang.login("wang", "demo")
    assert [e.seq for e in wang.db.entries()] == [-2, -1]
    return wang, check


def test_a_taken_refusal_keeps_its_seq_for_the_log_after_the_phone_is_enrolled_anew(http, site, new_client, lin):
    # Regression (s27-fixsettle item 4): re-enrolled (a revoked phone signed in again), the phone moves its
    # answered changes below seq 1; `settle` matched the log's `rejected` entry by the change's seq, now -1,
    # so a refusal the push could not read (a 503) was never found: the check stayed `taken`. The seq the
    # server knew is kept (`sent_seq`).
    wang, check = _refused_then_enrolled_anew(http, site, new_client, lin, str(uuid.uuid4()))
    wang.sync()
    [problem] = wang.problems()
    assert (problem["id"], problem["status"], problem["reason"]) == (check, "rejected", "unknown_parent")


class Refusing(Recorder):
    """A `Recorder` whose next request to a path in `refused` is answered 403 with a problem body, as a server
    refusing to show it does."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        super().__init__(inner)
        self.refused: set[str] = set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path in self.refused:
            self.refused.discard(request.url.path)
            return httpx.Response(403, json={"type": "urn:fieldsync:problem:forbidden", "title": "Forbidden",
                                             "status": 403, "detail": "not shown", "code": "forbidden"},
                                  request=request)
        return super().handle_request(request)


def test_a_taken_change_whose_row_left_the_phone_is_settled_unknown_once_and_the_log_not_read_again(
        http, site, new_client, store, capsys):
    # Regression (s27-fixsettle item 2): `settle` gave up on a taken change whose row was no longer on the phone
    # (its technician taken off the site, whose log the server then hides) before reading the log, and read the
    # log again at every pull; after 30 days `prune` deleted it without a word. It is now settled for good as
    # unknown, told in the catalogue's words, and its log is not asked for again.
    wang, recorder = _taken(http, new_client, Recorder, {"device": site["cam2"], "location": "Gate 3"}, site)
    store.remove_member(site["site"], "wang")
    wang.pull()
    assert wang.get("devices", site["cam1"]) is None
    assert _states(wang)[0] == ("applied", "result_unknown")
    assert [(p["id"], p["status"]) for p in wang.problems()] == [(site["cam1"], "unknown")]
    recorder.unavailable = {"/api/conflicts"}
    wang.pull()
    assert recorder.unavailable == {"/api/conflicts"}  # not read again
    assert main(["--db", str(wang.db.path), "sync"], http=http) == 0
    assert "whether it counted can no longer be learnt on this phone" in capsys.readouterr().out


def test_a_taken_change_whose_log_the_server_refuses_to_show_is_settled_unknown(http, site, new_client):
    # Regression (s27-fixsettle item 2): a 4xx on the log's reading (not a 5xx, 429 or timeout: it will not
    # change by asking again) left the change taken, the log read again at every pull until `prune` dropped it.
    wang, recorder = _taken(http, new_client, Refusing, {"device": site["cam2"], "location": "Gate 3"}, site)
    recorder.refused = {"/api/conflicts"}
    wang.pull()
    assert not recorder.refused
    assert [(p["id"], p["status"], p["reason"]) for p in wang.problems()] == [(site["cam1"], "unknown",
                                                                               "result_unknown")]


def test_a_taken_change_that_won_one_register_and_lost_another_is_settled_applied(http, site, new_client):
    # Regression (s27-fixsettle2 item 1): `settle` took as a win only an `overwritten` entry of a later writer
    # replacing the change, never the change's own `overwritten` entry (logged when it beats another writer's
    # value): Wang's serial number beat Lin's older one while his location lost to Lin's newer one, the server
    # answered `applied`, and the phone settled it `superseded`.
    ahead = [0]
    lin = new_client(http, name="lin", user="lin", wall=lambda: hlc.wall_ms() + ahead[0])
    _, wang, cut, recorder = _early_and_late(http, new_client, "wang")
    lin.sync()
    lin.write("devices", site["cam1"], {"serial_no": "SN-LIN"})
    lin.sync()
    wang.sync()  # Wang's clock, behind, takes the server's: his next change is newer than SN-LIN
    ahead[0] = 1000
    lin.write("devices", site["cam1"], {"location": "Gate 2"})  # a second ahead: newer than Wang's next change
    lin.sync()
    wang.write("devices", site["cam1"], {"serial_no": "SN-WANG", "location": "L" * 190})
    _lose_answer_then_lower_limit(wang, cut, recorder, 400)
    wang.push()
    wang.pull()
    logged = [(c.kind, c.register, c.other_client_id) for c in wang.conflicts() if c.client_id == wang.client_id]
    assert sorted(logged) == [("lost", "location", lin.client_id), ("overwritten", "serial_no", lin.client_id)]
    assert wang.get("devices", site["cam1"])["fields"]["serial_no"] == "SN-WANG"
    assert wang.problems() == []
    assert _states(wang) == [("applied", None)]


class Revoking(Recorder):
    """A `Recorder` that, at the first reading of the conflict log, has a supervisor revoke the phone first
    (`revoke`): the phone is signed out between its pull and its settling."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        super().__init__(inner)
        self.revoke: Any = None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/api/conflicts" and self.revoke is not None:
            self.revoke, revoke = None, self.revoke
            revoke()
        return super().handle_request(request)


def test_a_taken_change_stays_taken_when_the_phone_is_signed_out_while_settling(http, site, new_client, lin):
    # Regression (s27-fixsettle2 item 2): signed out between its pull and the log's reading (its client revoked),
    # the phone's own `ClientUnavailable` (built on the phone: no HTTP status of an answer) was read as the
    # server refusing to show the log: the change was settled for good as unknown. It stays taken, and is
    # settled by the log once the technician signs in again.
    wang, recorder = _taken(http, new_client, Revoking, {"device": site["cam2"], "location": "Gate 3"}, site)
    recorder.revoke = lambda: http.delete(f"/api/clients/{wang.client_id}", headers=lin.headers)
    wang.pull()
    assert recorder.revoke is None
    assert _states(wang) == [("applied", "result_lost"), ("applied", None)]
    wang.login("wang", "demo")
    wang.sync()
    assert wang.problems() == []
    assert _states(wang) == [("applied", None), ("applied", None)]


def test_a_taken_refusal_renumbered_before_the_upgrade_that_keeps_its_seq_is_not_settled_applied(
        http, site, new_client, lin, store):
    # Regression (s27-fixsettle2 item 3): m006 gives the rows a phone already had no `sent_seq`; a taken change
    # moved below seq 1 before the upgrade matched no entry of the log by its seq, and with its row on the
    # phone (here the check another hand recorded since, of the device added meanwhile) the log's silence read
    # `applied`: the refusal was lost. Its entries are now those of its client and HLC.
    ghost = str(uuid.uuid4())
    wang, check = _refused_then_enrolled_anew(http, site, new_client, lin, ghost)
    with wang.db.conn:  # as m006 leaves a row the phone had before the upgrade
        wang.db.conn.execute("UPDATE outbox SET sent_seq = NULL")
    store.write_server_changes([
        ("devices", ghost, {"site_id": site["site"], "system": "video", "kind": "dome_camera", "code": "CAM-003",
                            "status": "active"}, False),
        ("device_checks", check, {"inspection_id": site["inspection"], "device_id": ghost, "outcome": "serviced",
                                  "checked_by": "lin"}, False),
    ])
    wang.sync()
    assert wang.get("device_checks", check) is not None
    [problem] = wang.problems()
    assert (problem["id"], problem["status"], problem["reason"]) == (check, "rejected", "unknown_parent")


def test_a_result_that_stays_unknown_is_told_once_and_outbox_keeps_listing_it(http, site, new_client, store,
                                                                              lin, capsys):
    # Regression (s28 repair, item a): a change settled for good as unknown (`result_unknown`) was told again at
    # every sync, and on `inspections` and the customer's sheet, for 30 days until `prune` dropped it: nothing
    # he can do resolves it. It is now told once (`told_ms`, m007), also across a new enrolment, and `outbox`
    # lists it in the same words, not as a bare `result_unknown` with no detail.
    wang, _ = _taken(http, new_client, Recorder, {"device": site["cam2"], "location": "Gate 3"}, site)
    store.remove_member(site["site"], "wang")
    db = str(wang.db.path)
    told = "whether it counted can no longer be learnt on this phone"
    assert main(["--db", db, "sync"], http=http) == 0
    assert capsys.readouterr().out.count(told) == 1
    assert main(["--db", db, "sync"], http=http) == 0
    assert told not in capsys.readouterr().out
    assert main(["--db", db, "outbox"], http=http) == 0
    [line] = [x for x in capsys.readouterr().out.splitlines() if "result_unknown" in x]
    assert told in line and site["cam1"] in line, line
    # Revoked and signed in again: the change moves below seq 1 and is not told again.
    assert http.delete(f"/api/clients/{wang.client_id}", headers=lin.headers).status_code == 204
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert told not in capsys.readouterr().out
    assert [p["status"] for p in wang.problems()] == ["unknown"]


def test_a_result_unknown_piped_to_a_reader_that_left_is_not_recorded_told(http, site, new_client, store, server):
    # Regression (s28 fixrepair, item 2): the notice of a result that stays unknown was recorded as told
    # (`told_ms`) right after `print`, but stdout to a pipe is block-buffered: with the reader gone
    # (`fieldsync-client sync | true`) the lines were lost at exit, after the record, and no later screen told
    # it. The output is flushed first; a failed flush raises before anything is recorded. A real `sync` process,
    # PYTHONUNBUFFERED unset, against a real server process over the same data.
    wang, _ = _taken(http, new_client, Recorder, {"device": site["cam2"], "location": "Gate 3"}, site)
    store.remove_member(site["site"], "wang")
    wang.sync()  # settles the change `unknown`; the API tells no one (the CLI's screens do)
    [untold] = wang.problems(unresolved_only=True)
    process = ServerProcess(server.settings.data_dir, args=tuple(server_args(server.settings)[2:])).start()
    try:
        read, write = os.pipe()
        os.close(read)  # the reader has gone before the phone writes a line
        env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
        done = subprocess.run([sys.executable, "-m", "client_sdk.cli", "--db", str(wang.db.path), "--server",
                               process.url, "sync"], stdout=write, stderr=subprocess.PIPE, text=True, env=env,
                              cwd=ROOT, timeout=300)
        os.close(write)
    finally:
        process.stop()
    assert [p["seq"] for p in wang.problems(unresolved_only=True)] == [untold["seq"]]  # not told: tell it again
    assert done.returncode == 0, done.stderr  # a reader that left ends the command quietly

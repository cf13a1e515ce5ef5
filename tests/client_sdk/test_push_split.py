"""The SDK sends batches the server takes: its `max_changes_per_push`, its `max_body_bytes`, a proxy's
body limit; a change too large on its own is refused on the phone and kept, and the rest goes on."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest

from client_sdk.cli import main
from server.settings import Settings
from sync import hlc
from tests.client_sdk.support import CutTransport, supervisor_rows
from tests.conftest import BACKEND

MOST_CHANGES = 4
MOST_BYTES = 32 * 1024


@pytest.fixture
def settings(new_settings: Any, request: pytest.FixtureRequest) -> Settings:
    """A server that takes at most 4 changes and 32 KiB a push."""
    options: dict[str, Any] = {"max_changes_per_push": MOST_CHANGES, "max_body_bytes": MOST_BYTES}
    if BACKEND == "postgresql":
        options["database"] = request.getfixturevalue("database")
    made: Settings = new_settings(**options)
    return made


class Recorder(httpx.BaseTransport):
    """Forwards to the real transport and records each push: its status and body size. With
    `proxy_limit`, a body over it is answered as nginx does past `client_max_body_size`: 413, HTML.
    The next request to a path in `unavailable` is answered as nginx does with the server away: 503, HTML."""

    def __init__(self, inner: httpx.BaseTransport, proxy_limit: int | None = None) -> None:
        self.inner = inner
        self.proxy_limit = proxy_limit
        self.unavailable: set[str] = set()
        self.pushes: list[tuple[int, int]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        size = len(request.read())
        if request.url.path in self.unavailable:
            self.unavailable.discard(request.url.path)
            response = httpx.Response(503, text="<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>",
                                      headers={"Content-Type": "text/html"}, request=request)
        elif self.proxy_limit is not None and size > self.proxy_limit:
            response = httpx.Response(413, text="<html><body><h1>413 Request Entity Too Large</h1></body></html>",
                                      headers={"Content-Type": "text/html"}, request=request)
        else:
            response = self.inner.handle_request(request)
        if request.url.path == "/sync/push":
            self.pushes.append((response.status_code, size))
        return response


def recorded(http: httpx.Client, proxy_limit: int | None = None) -> tuple[httpx.Client, Recorder]:
    recorder = Recorder(http._transport, proxy_limit)
    return httpx.Client(transport=recorder, base_url=http.base_url), recorder


def template(phone: Any, kind: str, chars: int) -> str:
    """Write a checklist template whose `items` take about `chars` characters; returns its id."""
    items = [{"key": f"item_{i}", "label": "x" * 90, "type": "bool"} for i in range(max(1, chars // 130))]
    row_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"split-{kind}"))
    phone.write("checklist_templates", row_id, {"kind": kind, "title": kind, "items": json.dumps(items)},
                delete=False)
    return row_id


def test_more_changes_than_the_server_takes_sync_fully(http, site, new_client):
    # Regression (s24-proto, stuck outbox): an outbox over the server's max_changes_per_push got
    # 413 too_many_changes on every push, for good; nothing recorded after it ever synced.
    wire, recorder = recorded(http)
    phone = new_client(wire)
    phone.sync()
    for i in range(10):
        phone.write("devices", site["cam1" if i % 2 else "cam2"], {"location": f"spot {i}"})
    report = phone.sync()
    assert [r.seq for r in report.results] == list(range(1, 11))
    assert {r.status for r in report.results} == {"applied"}
    assert phone.pending() == [] and phone.acked_seq == 10
    assert [status for status, _ in recorder.pushes] == [413, 200, 200, 200]
    assert phone.server_rows() == supervisor_rows(http)
    # The server's limit is remembered: the next pushes are cut to it before they are sent.
    recorder.pushes.clear()
    for i in range(5):
        phone.write("devices", site["cam1"], {"serial_no": f"SN-{i}"})
    phone.sync()
    assert [status for status, _ in recorder.pushes] == [200, 200]
    assert phone.pending() == [] and phone.acked_seq == 15


def test_a_batch_over_the_body_limit_syncs_by_splitting(http, site, new_client):
    # Regression (s24-proto, stuck outbox): changes that together were over max_body_bytes (long
    # template items) got 413 body_too_large on every push, for good.
    wire, recorder = recorded(http)
    lin = new_client(wire, name="lin", user="lin")
    lin.sync()
    made = [template(lin, f"kind_{i}", 10_000) for i in range(6)]
    report = lin.sync()
    assert [r.seq for r in report.results] == list(range(1, 7))
    assert {r.status for r in report.results} == {"applied"}
    assert lin.pending() == [] and lin.problems() == []
    statuses = [status for status, _ in recorder.pushes]
    # The first push, at the phone's default budget, learns the server's limit; every later one is within it.
    assert statuses[0] == 413 and set(statuses[1:]) == {200} and len(statuses) > 2
    assert all(size <= MOST_BYTES for _, size in recorder.pushes[1:])
    assert {r["id"] for r in lin.server_rows() if r["collection"] == "checklist_templates"} >= set(made)
    assert lin.server_rows() == supervisor_rows(http)


def test_a_proxy_413_without_a_limit_halves_the_batch(http, site, new_client):
    # Regression (s24-proto, stuck outbox): behind a proxy with a smaller body limit (nginx's 413 is an
    # HTML page, no `limit`), the phone halves the batch until it passes, down to one change.
    wire, recorder = recorded(http, proxy_limit=20_000)
    lin = new_client(wire, name="lin", user="lin")
    lin.sync()
    for i in range(6):
        template(lin, f"kind_{i}", 8_000)
    report = lin.sync()
    assert [r.seq for r in report.results] == list(range(1, 7))
    assert {r.status for r in report.results} == {"applied"}
    assert lin.pending() == [] and lin.problems() == []
    assert all(size <= 20_000 for status, size in recorder.pushes if status == 200)
    assert lin.server_rows() == supervisor_rows(http)


def test_a_change_too_large_on_its_own_is_kept_as_refused_and_the_rest_syncs(http, site, new_client):
    # Regression (s24-proto, stuck outbox): a single change over the server's body limit blocked
    # every change behind it for good. Now it is refused on the phone (kept, with the reason, among
    # the problems) and taken out of the seqs; the changes behind it sync.
    wire, recorder = recorded(http)
    lin = new_client(wire, name="lin", user="lin")
    lin.sync()
    big = template(lin, "big", 500)  # first a small version, acknowledged
    lin.sync()
    assert lin.acked_seq == 1
    small = template(lin, "small", 500)
    template(lin, "big", 40_000)  # seq 3: over 32 KiB on its own
    lin.write("devices", site["cam1"], {"location": "Gate 3"})
    report = lin.sync()
    assert [(r.seq, r.status) for r in report.results] == [(2, "applied"), (3, "applied")]
    assert lin.pending() == [] and lin.acked_seq == 3
    [refused] = lin.problems()
    assert (refused["id"], refused["status"], refused["reason"]) == (big, "rejected", "too_large")
    assert len(json.loads(refused["fields"]["items"])) == 40_000 // 130  # nothing of it lost
    assert lin.problems(unresolved_only=True) == [refused]  # the earlier small version does not hide it
    served = {r["id"]: r for r in supervisor_rows(http)}
    assert small in served and served[site["cam1"]]["fields"]["location"] == "Gate 3"
    assert len(json.loads(served[big]["fields"]["items"])) == 500 // 130
    # The seqs stay consecutive at the server: the next change is seq 4, taken without a seq_gap.
    seq = lin.write("devices", site["cam2"], {"location": "Gate 4"})
    assert seq == 4
    recorder.pushes.clear()
    assert [(r.seq, r.status) for r in lin.sync().results] == [(4, "applied")]
    assert [status for status, _ in recorder.pushes] == [200]
    # Recorded again within the limit, the refusal is resolved.
    template(lin, "big", 20_000)
    lin.sync()
    assert lin.problems(unresolved_only=True) == [] and lin.pending() == []
    assert lin.server_rows() == supervisor_rows(http)


def test_a_change_the_server_took_is_not_refused_as_too_large_when_its_answer_was_lost(http, site, new_client):
    # Regression (s25-phone, known from the s24 note): a template the server took, whose answer was
    # lost, was sent again after the proxy's limit was lowered; refused on its own, the phone kept it
    # as `rejected: too_large` though the server held it, and the change behind it met seq_reused
    # (a needless new client). The phone now asks what the server holds before refusing.
    cut = CutTransport(http._transport)
    recorder = Recorder(cut)
    lin = new_client(httpx.Client(transport=recorder, base_url=http.base_url), name="lin", user="lin")
    lin.sync()
    client_id = lin.client_id
    big = template(lin, "big", 20_000)  # seq 1, within the server's 32 KiB
    cut.cut_after = {cut.count + 1}
    with pytest.raises(httpx.ReadError):
        lin.push()
    served = {r["id"]: r for r in supervisor_rows(http)}
    assert len(json.loads(served[big]["fields"]["items"])) == 20_000 // 130  # the server holds it
    recorder.proxy_limit = 10_000  # the proxy's limit is lowered
    lin.write("devices", site["cam1"], {"location": "Gate 3"})  # seq 2
    report = lin.sync()
    assert [(r.seq, r.status) for r in report.results] == [(2, "applied")]
    assert lin.client_id == client_id and lin.acked_seq == 2 and lin.pending() == []
    assert lin.problems() == []  # nothing the technician must do again
    assert len(json.loads(lin.get("checklist_templates", big)["fields"]["items"])) == 20_000 // 130
    assert lin.server_rows() == supervisor_rows(http)


def _lose_answer_then_lower_limit(phone: Any, cut: CutTransport, recorder: Recorder, limit: int) -> None:
    """Push the outbox, lose the answer after the server applied it, then lower the proxy's body limit."""
    cut.cut_after = {cut.count + 1}
    with pytest.raises(httpx.ReadError):
        phone.push()
    recorder.proxy_limit = limit


@pytest.mark.parametrize("log_unavailable", [False, True])
def test_a_refusal_whose_answer_was_lost_is_learnt_from_the_conflict_log(http, site, new_client, log_unavailable):
    # Regression (s26-phone, item 1): a change the server took and refused, whose answer was lost, was
    # acknowledged as `applied` (`result_lost`) once the lowered limit refused it again: the technician never
    # learnt his check did not count. The server's conflict log keeps the refusal of this client's seq.
    # Regression (s27-fixphone item 1), `log_unavailable`: the push's reading of the log met a 503; the change
    # stayed `taken` for good, since the pull's `settle` never looked for a refusal (nor at a row it lacks).
    cut = CutTransport(http._transport)
    recorder = Recorder(cut)
    wang = new_client(httpx.Client(transport=recorder, base_url=http.base_url))
    wang.sync()
    ghost = str(uuid.uuid4())  # a device the server does not have: refused as unknown_parent
    check = wang.record_check(site["inspection"], ghost, "serviced", note="n" * 1500)
    _lose_answer_then_lower_limit(wang, cut, recorder, 1000)
    wang.write("devices", site["cam1"], {"location": "Gate 3"})  # seq 2
    recorder.unavailable = {"/api/conflicts"} if log_unavailable else set()
    report = wang.sync()
    assert [(r.seq, r.status) for r in report.results] == [(2, "applied")]
    assert not recorder.unavailable
    [problem] = wang.problems()
    assert (problem["id"], problem["status"], problem["reason"]) == (check, "rejected", "unknown_parent")
    assert problem["detail"] and wang.get("device_checks", check) is None
    assert wang.pending() == [] and wang.acked_seq == 2


def _early_and_late(http: Any, new_client: Any, late_user: str) -> tuple[Any, Any, Any, Any]:
    """Two synced phones, `late` two minutes behind (within the skew, not corrected) and behind a link
    whose answers a test can lose."""
    early = new_client(http, name="early", user="lin")
    cut = CutTransport(http._transport)
    recorder = Recorder(cut)
    late = new_client(httpx.Client(transport=recorder, base_url=http.base_url), name="late", user=late_user,
                      wall=lambda: hlc.wall_ms() - 120_000)
    late.sync()
    early.sync()
    return early, late, cut, recorder


def test_a_check_taken_that_lost_is_not_settled_applied_by_the_fields_that_never_change(http, site, new_client):
    # Regression (session 26, the final review): `settle` counted a change applied when any register of
    # the pulled row held its value, and a check always carries its inspection_id and device_id, which
    # never change: a check that lost to a newer one, its answer lost, read applied after the pull.
    early, late, cut, recorder = _early_and_late(http, new_client, "wang")
    check = late.record_check(site["inspection"], site["cam1"], "fault", note="L" * 300)  # the older HLC
    early.record_check(site["inspection"], site["cam1"], "serviced", note="early")
    early.sync()
    _lose_answer_then_lower_limit(late, cut, recorder, 400)
    late.push()
    late.pull()
    assert late.get("device_checks", check)["fields"]["outcome"] == "serviced"
    assert [(p["status"], p["reason"]) for p in late.problems() if p["id"] == check] == [
        ("superseded", "result_lost")]


def test_a_change_taken_with_its_answer_lost_is_not_told_applied_until_the_pull_settles_it(http, site, new_client,
                                                                                          capsys):
    # Regression (s26-phone, item 1): a change the server took but which lost to a newer value, its answer
    # lost, was `applied` on the phone's word. It is now `taken` (result unknown) until the pull covers the
    # server's version, and then `superseded` when no register of the pulled row holds its value.
    early, late, cut, recorder = _early_and_late(http, new_client, "lin")
    early.write("devices", site["cam1"], {"location": "Gate 2"})
    early.sync()
    late.write("devices", site["cam1"], {"location": "L" * 190})  # older than Gate 2: it loses
    _lose_answer_then_lower_limit(late, cut, recorder, 400)
    assert late.push() == []
    [taken] = late.problems()
    assert (taken["status"], taken["reason"]) == ("taken", "result_lost")  # not `applied`
    assert main(["--db", str(late.db.path), "outbox"], http=http) == 0
    assert "taken" in capsys.readouterr().out
    late.pull()
    [lost] = late.problems(unresolved_only=True)
    assert (lost["status"], lost["reason"]) == ("superseded", "result_lost")
    assert late.get("devices", site["cam1"])["fields"]["location"] == "Gate 2"
    # A change taken whose value holds after the pull is applied, and no problem.
    late.write("devices", site["cam2"], {"location": "M" * 190})
    recorder.proxy_limit = None
    _lose_answer_then_lower_limit(late, cut, recorder, 400)
    late.sync()
    assert [p["id"] for p in late.problems()] == [site["cam1"]]
    assert late.get("devices", site["cam2"])["fields"]["location"] == "M" * 190


def _two_checks_taken_then_one_overwritten(http: Any, site: Any, new_client: Any) -> tuple[Any, Recorder, str]:
    """Wang's phone (`late`) records checks of cam1 and cam2, which the server takes with the answer lost;
    then Lin's phone records a newer check of cam1. Returns `late`, its link and cam1's check."""
    early = new_client(http, name="early", user="lin")
    cut = CutTransport(http._transport)
    recorder = Recorder(cut)
    late = new_client(httpx.Client(transport=recorder, base_url=http.base_url), name="late", user="wang")
    late.sync()
    early.sync()
    check = late.record_check(site["inspection"], site["cam1"], "fault", note="L" * 300)
    other = late.record_check(site["inspection"], site["cam2"], "fault", note="M" * 300)
    _lose_answer_then_lower_limit(late, cut, recorder, 400)
    late.push()
    assert [(p["id"], p["status"]) for p in late.problems()] == [(check, "taken"), (other, "taken")]
    # Newer, from the other phone: the outcome and note of cam1's check are overwritten, cam2's stay.
    early.record_check(site["inspection"], site["cam1"], "serviced", note="early")
    early.sync()
    return late, recorder, check


def test_a_change_taken_with_its_answer_lost_then_overwritten_is_settled_applied_by_the_conflict_log(
        http, site, new_client):
    # s27-phone6 item 4: `settle` read a value another phone overwrote after it was applied as `superseded`, and
    # the technician was told his check may not have counted. The conflict log's `overwritten` entry names the
    # overwritten value's client and HLC (`other_client_id`, `other_hlc`): this change's, so it had counted.
    late, _, check = _two_checks_taken_then_one_overwritten(http, site, new_client)
    late.pull()
    assert late.get("device_checks", check)["fields"]["note"] == "early"
    assert late.problems() == []
    assert [(e.seq, e.state, e.reason) for e in late.db.entries()] == [(1, "applied", None), (2, "applied", None)]


def test_a_taken_change_whose_conflict_log_cannot_be_read_stays_taken_until_a_later_pull(http, site, new_client):
    # Regression (s27-fixphone item 1): one conflict-log request answered 503 during the pull ended the log's
    # reading with nothing more, and `settle` took that for "no overwritten entry": the check read
    # (1, 'superseded', 'result_lost') for good, though it had counted. An incomplete read now settles nothing.
    late, recorder, check = _two_checks_taken_then_one_overwritten(http, site, new_client)
    recorder.unavailable = {"/api/conflicts"}
    late.pull()
    assert not recorder.unavailable  # the 503 was met
    assert [(e.seq, e.state, e.reason) for e in late.db.entries()] == [
        (1, "applied", "result_lost"), (2, "applied", None)]
    assert [(p["id"], p["status"]) for p in late.problems()] == [(check, "taken")]  # still unknown, not superseded
    late.pull()  # the log read whole at a later pull settles it
    assert late.problems() == []
    assert [(e.seq, e.state, e.reason) for e in late.db.entries()] == [(1, "applied", None), (2, "applied", None)]


def test_a_taken_change_that_won_one_register_and_lost_another_is_settled_applied(http, site, new_client):
    # Regression (s27-fixphone item 2): the contract's `applied` is "at least one register won", but `settle`
    # wanted an `overwritten` entry for every register the row no longer held. A device change whose location won
    # (and was overwritten since) and whose serial number lost to a newer one read superseded.
    early, late, cut, recorder = _early_and_late(http, new_client, "lin")
    early.write("devices", site["cam1"], {"serial_no": "SN-EARLY"})
    early.sync()
    late.write("devices", site["cam1"], {"location": "L" * 190, "serial_no": "SN-LATE"})  # older than SN-EARLY
    _lose_answer_then_lower_limit(late, cut, recorder, 400)
    late.push()
    early.write("devices", site["cam1"], {"location": "Gate 2"})  # overwrites late's location
    early.sync()
    late.pull()
    kinds = {(c.kind, c.register) for c in late.conflicts() if c.row_id == site["cam1"]}
    assert {("overwritten", "location"), ("lost", "serial_no")} <= kinds
    assert late.get("devices", site["cam1"])["fields"]["serial_no"] == "SN-EARLY"
    assert late.problems() == []
    assert [(e.state, e.reason) for e in late.db.entries()] == [("applied", None)]


def test_a_push_cut_after_an_acknowledged_batch_counts_that_batch(http, site, new_client):
    # Regression (s29 review of phone29, finding 2): a push in several batches kept its results in a list of its
    # own, added to the sync's only when the whole push returned; the second batch's answer lost, the cut sync
    # said "0 change(s) pushed" though the server had acknowledged the first batch, and no later sync told it.
    cut = CutTransport(http._transport)
    wang = new_client(httpx.Client(transport=cut, base_url=http.base_url), batch_size=2)
    wang.sync()
    for i in range(5):
        wang.write("devices", site["cam1" if i % 2 else "cam2"], {"location": f"spot {i}"})
    cut.paths.clear()
    cut.cut_after = {cut.count + 2}  # the second batch's push: its answer is lost
    with pytest.raises(httpx.ReadError):
        wang.sync()
    assert cut.paths == ["POST /sync/push", "POST /sync/push"], cut.paths
    done = wang.sync_so_far()
    assert (done.pushed, [r.seq for r in done.results]) == (2, [1, 2])
    assert wang.acked_seq == 2

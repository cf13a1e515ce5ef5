"""Across New Year with next year's holidays added late (session 32, yearend32): the stored clock columns the
request list reads (breached, at risk, 待回访) follow the terms file the server counts with after a restart,
as a request's page does."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.domains.identity.service import Caller
from server.domains.service import service as service_module
from server.domains.service.office import ServiceOffice
from server.domains.service.recount import recount_if_terms_changed
from server.domains.service.service import ServiceRequests
from server.services import Store
from server.settings import Settings
from server.storage.service import counted_otherwise
from sync import hlc
from tests.conftest import SITE
from tests.server.test_server_cli import LAST, _clear_data_caches, _edited_calendar, data_files  # noqa: F401

LIN = Caller("u", "lin", "Lin", "supervisor", "c", None)


def _shanghai(text: str) -> int:
    return int(datetime.fromisoformat(f"{text}+08:00").timestamp() * 1000)


@pytest.fixture
def office_hours_site(data_files: Path, site: dict[str, str], store: Store) -> Iterator[str]:  # noqa: F811
    """The test site, urban, on an annual contract whose clocks count the office calendar's working hours."""
    _clear_data_caches()  # the copied files, read from here on
    store.write_server_changes([("sites", SITE, {"zone": "urban", "contract": "annual"}, False)])
    ServiceOffice(store).set_terms(None, SITE, {"calendar": "cn-2026-office"})
    yield SITE


def _on_site(requests: ServiceRequests, request: str) -> tuple[str, str]:
    found = {m.name: m for m in requests.detail(LIN, request).milestones}["on_site"]
    return found.due_at, found.status


def _breached(requests: ServiceRequests) -> list[str]:
    return [r.id for r in requests.list(LIN, breached="true").requests]


def test_next_years_holidays_added_after_a_request_move_it_off_the_breach_list_at_the_restart(
        office_hours_site: str, store: Store, settings: Settings, data_files: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (session 32, yearend32): the list's breach and risk flags read the columns stored when the request
    # last changed, counted with the calendar of then. A repair called in at 17:50 on 31 December, with the
    # calendar ending that day, is due on site at 12:30 on New Year's Day (a working day, as the docs say). The
    # operator adds 2027's holidays and restarts (docs/operations.md): the request's page said due on Monday
    # 4 January, pending, but the breach list kept it, breached since 12:30 on 1 January, until its next event.
    monkeypatch.setattr(store, "now_ms", lambda: _shanghai("2026-12-31 17:52"))
    request = str(uuid.uuid4())
    store.write_server_changes([("service_requests", request, {
        "site_id": office_hours_site, "reported_at": hlc.format_ts(_shanghai("2026-12-31 17:50")),
        "channel": "hotline", "kind": "repair", "caller_name": "刘先生", "description": "大门摄像机黑屏"}, False)])
    new_years_day = _shanghai("2027-01-01 13:00")
    monkeypatch.setattr(store, "now_ms", lambda: new_years_day)
    before = ServiceRequests(store)
    assert _on_site(before, request) == (hlc.format_ts(_shanghai("2027-01-01 12:30")), "breached")
    assert _breached(before) == [request]

    _edited_calendar(data_files, lambda text: text.replace(LAST, f'{LAST}, "2027-01-01", "2027-01-02", "2027-01-03"'))
    _clear_data_caches()  # a restart reads the file again
    monkeypatch.setattr(Store, "now_ms", lambda self: new_years_day)  # the restarted store's clock, from its start
    restarted = Store(settings)
    try:
        after: ServiceRequests = create_app(settings, restarted).state.service_requests  # the server starts
        assert _on_site(after, request) == (hlc.format_ts(_shanghai("2027-01-04 12:30")), "pending")
        assert _breached(after) == []  # the list agrees with the page
        assert [r.id for r in after.list(LIN, open_="true").requests] == [request]
        assert recount_if_terms_changed(restarted) is None  # the same file again: nothing counted twice
    finally:
        restarted.close()


def test_a_calendar_renamed_in_the_file_does_not_stop_the_server_from_starting(
        office_hours_site: str, store: Store, settings: Settings, data_files: Path,  # noqa: F811
        caplog: pytest.LogCaptureFixture) -> None:
    # The recount at start must not turn a site's terms the file no longer reads into a server that does not
    # start: the docs say to keep the calendar's name, and one renamed leaves that site's clocks unreadable,
    # as before, while the server serves, says why in its log, and counts again at its next start.
    request = str(uuid.uuid4())
    store.write_server_changes([("service_requests", request, {
        "site_id": office_hours_site, "reported_at": hlc.format_ts(_shanghai("2026-12-31 17:50")),
        "channel": "hotline", "kind": "repair", "caller_name": "刘先生", "description": "大门摄像机黑屏"}, False)])
    _edited_calendar(data_files, lambda text: text.replace('"cn-2026-office": {', '"cn-2027-office": {'))
    _clear_data_caches()
    restarted = Store(settings)
    try:
        with caplog.at_level("WARNING", logger="fieldsync"):
            create_app(settings, restarted)
        assert "no calendar named 'cn-2026-office'" in caplog.text
        assert recount_if_terms_changed(restarted) == 0  # still not counted: tried again, refused again
        with restarted.read() as db:
            assert counted_otherwise(db, service_module.terms_book().mark) == [(office_hours_site, request)]  # again
    finally:
        restarted.close()


def _request(store: Store, site_id: str, reported: str = "2026-12-31 17:50") -> str:
    request = str(uuid.uuid4())
    store.write_server_changes([("service_requests", request, {
        "site_id": site_id, "reported_at": hlc.format_ts(_shanghai(reported)),
        "channel": "hotline", "kind": "repair", "caller_name": "刘先生", "description": "大门摄像机黑屏"}, False)])
    return request


def _started(settings: Settings) -> tuple[Store, ServiceRequests]:
    """A server process that starts (its app built: the recount runs) on the terms file as it is now."""
    _clear_data_caches()
    restarted = Store(settings)
    return restarted, create_app(settings, restarted).state.service_requests


def test_a_rolling_restart_counts_again_what_a_process_on_the_old_file_rewrote(
        office_hours_site: str, store: Store, settings: Settings, data_files: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (fixyearend32, review item 2): one digest for the whole database. Several processes restarted one
    # at a time: the first on the new file counted every request and stored the digest; a process still on the old
    # file then rewrote a changed request's clocks with the old calendar (breached on New Year's Day); the next
    # process to start on the new file found the digest stored and counted nothing: the page said due on 4 January,
    # pending, the breach list kept it. Each row now keeps the mark of the file it was counted with (m040).
    new_years_day = _shanghai("2027-01-01 13:00")
    monkeypatch.setattr(Store, "now_ms", lambda self: new_years_day)
    request = _request(store, office_hours_site)
    old_book = service_module.terms_book()  # what the processes not restarted yet read
    _edited_calendar(data_files, lambda text: text.replace(LAST, f'{LAST}, "2027-01-01", "2027-01-02", "2027-01-03"'))
    first, _ = _started(settings)  # the first process restarts on the new file
    try:
        assert _breached(ServiceRequests(first)) == []
        with monkeypatch.context() as old_process:  # a process still on the old file: the request changes there
            old_process.setattr(service_module, "terms_book", lambda: old_book)
            store.write_server_changes([("service_requests", request, {"description": "大门摄像机黑屏，无信号"}, False)])
            assert _breached(ServiceRequests(store)) == [request]
        second, after = _started(settings)  # ... then restarts on the new file
        try:
            assert _on_site(after, request) == (hlc.format_ts(_shanghai("2027-01-04 12:30")), "pending")
            assert _breached(after) == []  # the list agrees with the page again
        finally:
            second.close()
    finally:
        first.close()


def _second_calendar(fixtures: Path, name: str) -> None:
    """fixtures/service_terms.json with a copy of the office calendar named `name` (a region's own, say)."""
    path = fixtures / "service_terms.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["calendars"][name] = data["calendars"]["cn-2026-office"]
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")


def _holidays_added(text: str) -> str:
    data = json.loads(text)
    data["calendars"]["cn-2026-office"]["holidays"] += ["2027-01-01", "2027-01-02", "2027-01-03"]
    return json.dumps(data, ensure_ascii=False, indent=2)


def test_a_site_whose_terms_no_longer_read_is_skipped_and_the_others_are_counted(
        office_hours_site: str, store: Store, settings: Settings, data_files: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    # Regression (fixyearend32, review item 4): site A's calendar has 2027's holidays added, site B's override names a
    # calendar renamed in the same edit. The whole recount rolled back at every start: A's request stayed on the
    # breach list while its page said pending. Now B is skipped (named in the log), A counted; B's rows keep their
    # mark, and the start after the name is put back counts them.
    new_years_day = _shanghai("2027-01-01 13:00")
    monkeypatch.setattr(Store, "now_ms", lambda self: new_years_day)
    _second_calendar(data_files, "cn-2026-shop")
    _clear_data_caches()
    other = str(uuid.uuid4())
    store.write_server_changes([("sites", other, {"name": "南山门店", "customer": "ACME", "tz": "Asia/Shanghai",
                                                  "zone": "urban", "contract": "annual"}, False)])
    ServiceOffice(store).set_terms(None, other, {"calendar": "cn-2026-shop"})
    at_a, at_b = _request(store, office_hours_site), _request(store, other)
    assert sorted(_breached(ServiceRequests(store))) == sorted([at_a, at_b])
    _edited_calendar(data_files, lambda text: _holidays_added(text).replace('"cn-2026-shop": {', '"cn-2027-shop": {'))
    with caplog.at_level("WARNING", logger="fieldsync"):
        restarted, after = _started(settings)
    try:
        assert "南山门店" in caplog.text and "no calendar named 'cn-2026-shop'" in caplog.text
        # A counted with the new holidays (B's list would refuse to read its renamed calendar, as before)
        assert [r.id for r in after.list(LIN, breached="true", site_id=office_hours_site).requests] == []
        with restarted.read() as db:
            assert counted_otherwise(db, service_module.terms_book().mark) == [(other, at_b)]
    finally:
        restarted.close()
    _edited_calendar(data_files, lambda text: text.replace('"cn-2027-shop": {', '"cn-2026-shop": {'))
    again, _ = _started(settings)  # the operator puts the name back: the next start counts B
    try:
        with again.read() as db:
            assert counted_otherwise(db, service_module.terms_book().mark) == []
    finally:
        again.close()


def test_the_recount_writes_a_batch_at_a_time_so_a_push_waits_for_one_batch_only(
        office_hours_site: str, store: Store, settings: Settings, data_files: Path,  # noqa: F811
        monkeypatch: pytest.MonkeyPatch) -> None:
    # Regression (fixyearend32, review item 1): the recount was one write holding the version lock over every
    # request (37-53 s at 60,000 requests: every push waited longer than the phone's 30 s timeout). Now each write
    # counts at most `batch` requests of one site; every request is counted, none twice.
    requests = [_request(store, office_hours_site, f"2026-12-31 17:{minute:02d}") for minute in range(40, 45)]
    _edited_calendar(data_files, lambda text: text.replace(LAST, f'{LAST}, "2027-01-01"'))
    _clear_data_caches()
    restarted = Store(settings)
    writes: list[int] = []
    real_write = restarted.write

    def counted_write(*args: Any, **kwargs: Any) -> Any:
        writes.append(len(writes))
        return real_write(*args, **kwargs)

    monkeypatch.setattr(restarted, "write", counted_write)
    try:
        assert recount_if_terms_changed(restarted, batch=2) == len(requests)
        assert len(writes) == 3  # 2 + 2 + 1
        assert recount_if_terms_changed(restarted, batch=2) is None  # all counted with this file: nothing again
        with restarted.read() as db:
            assert counted_otherwise(db, service_module.terms_book().mark) == []
    finally:
        restarted.close()

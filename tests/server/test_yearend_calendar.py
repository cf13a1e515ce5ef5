"""Across New Year with next year's holidays added late (session 32, yearend32): the stored clock columns the
request list reads (breached, at risk, 待回访) follow the terms file the server counts with after a restart,
as a request's page does."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from server.app import create_app
from server.domains.identity.service import Caller
from server.domains.service.office import ServiceOffice
from server.domains.service.recount import recount_if_terms_changed, terms_digest
from server.domains.service.service import ServiceRequests
from server.services import Store
from server.settings import Settings
from server.storage.service import terms_counted
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
        assert recount_if_terms_changed(restarted) is None  # still not counted: tried again, refused again
        with restarted.read() as db:
            assert terms_counted(db) != terms_digest()  # nothing written: the next start counts again
    finally:
        restarted.close()

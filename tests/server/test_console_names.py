"""The console names people as the printed sheets do: the user's name (孙工), not the username (session 26,
office). In-process on the real app, every page that names someone."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from sync.schema import device_check_id
from tests.conftest import SITE, Session
from tests.server.test_console_desk import console
from tests.server.test_service import open_request, results
from tests.server.test_visit_sealing import AT, visit_fields

NAME = "孙工"


@pytest.fixture
def sun(store: Any, http: Any) -> Session:
    """A technician of the test site whose name is not their username."""
    store.create_user("sun", NAME, "technician", "demo", demo=True)
    store.add_member(SITE, "sun")
    return Session(http, "sun")


def _cells(html: str, text: str) -> int:
    """How many elements of the page hold exactly `text` (a cell, an option), spaces aside."""
    return len(re.findall(rf">\s*{re.escape(text)}\s*<", html))


# Regression (session 26, office, finding 1): the request's 派给, the visit page's 技术员, the inspection
# page, a device's history, the dashboard, the request list, the month's report showed
# `sun` where the supervisor and the customer know 孙工; the printed sheets already named the person.
def test_every_page_names_the_person_not_the_username(http, store, site, chen, sun):
    request = open_request(chen, assigned_to="sun", device_id=site["cam1"])
    visit = str(uuid.uuid4())
    check = device_check_id(site["inspection"], site["cam1"])
    store.write_server_changes([("inspections", site["inspection"], {"assigned_to": "sun"}, False)])
    assert results(sun, [
        sun.change("service_visits", visit, visit_fields(request, technician="sun", recorded_by="sun")),
        sun.change("device_checks", check, {"inspection_id": site["inspection"], "device_id": site["cam1"],
                                            "outcome": "serviced", "checked_by": "sun", "checked_at": AT}),
        sun.change("service_requests", request, {"complexity": "complex"}),
    ]) == [("applied", None)] * 3
    console(http, "lin")
    pages = {"dashboard": "/console", "requests": "/console/service-requests",
             "request": f"/console/service-requests/{request}", "visit": f"/console/visits/{visit}",
             "device": f"/console/sites/{SITE}/devices/{site['cam1']}",
             "inspection": f"/console/inspections/{site['inspection']}", "report": "/console/reports?month=2026-11"}
    for page, url in pages.items():
        html = http.get(url).text
        assert NAME in html and _cells(html, "sun") == 0, page
    request_page = http.get(pages["request"]).text
    assert re.search(rf'id="assignee">{NAME}<', request_page)
    # The dispatch form still sends the username; it shows the name.
    assert f'<option value="sun" selected>{NAME}</option>' in request_page
    visit_page = http.get(pages["visit"]).text
    assert f"<th>技术员</th><td>{NAME}</td>" in visit_page
    scores = http.get(pages["report"]).text.split('id="scores"')[1].split("</table>")[0]
    assert f"<td>{NAME}</td>" in scores


def test_a_user_not_known_here_shows_the_username(http, store, site):
    # As on the printed sheets: a removed or unknown user reads as the username, not as nothing.
    store.write_server_changes([("inspections", site["inspection"], {"assigned_to": "gone"}, False)])
    console(http, "lin")
    html = http.get(f"/console/inspections/{site['inspection']}").text
    assert "<th>技术员</th><td>gone</td>" in html

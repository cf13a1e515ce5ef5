"""The console names people as the printed sheets do: the user's name (孙工), not the username (session 26,
office). In-process on the real app, every page that names someone."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from sync import hlc
from sync.hlc import Hlc
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
    assert '<th>技术员</th><td id="assignee">gone ' in html  # and marked as one who cannot work it
    assert 'id="assignee-unavailable"' in html


# Regression (session 26, office2, item 4 and finding 1): the conflict log's 提交人 and 另一方 columns (and the
# dashboard's latest conflicts) named people by the person's name with no test holding it; and a refusal's
# reason read as stored (`forbidden`, `unknown_field`) in the Chinese console, where the catalogue now has words.
def test_the_conflict_log_names_both_sides_and_says_why_in_words(http, site, lin, sun):
    early = str(Hlc(hlc.wall_ms() - 60_000, 0, sun.client_id))
    assert results(lin, [lin.change("devices", site["cam1"], {"location": "gate"})]) == [("applied", None)]
    assert results(sun, [
        sun.change("devices", site["cam1"], {"location": "lobby"}, hlc_=early),  # loses to lin's: sun's value lost
        sun.change("devices", site["cam2"], {"serial_no": "S1"}),
        sun.change("sites", SITE, {"name": "Sun's park"}),  # a technician may not rename a site
        sun.change("devices", site["cam2"], {"colour": "red"}),  # no such field
    ]) == [("superseded", None), ("applied", None), ("rejected", "forbidden"), ("applied", None)]
    assert results(lin, [lin.change("devices", site["cam2"], {"serial_no": "S2"})]) == [("applied", None)]
    console(http, "lin")
    rows = http.get("/console/conflicts").text.split('id="conflicts"')[1].split("</table>")[0].split("<tr>")[2:]
    by_what = {re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "|", row)).strip("| ") for row in rows}
    people = [[cell.strip() for cell in re.findall(r"<td>([^<]*)</td>", row)][-2:] for row in rows]
    assert people and all(_cells(row, "sun") == 0 for row in rows), by_what
    assert [NAME, "Lin"] in people  # sun's location lost to lin's
    assert ["Lin", NAME] in people  # lin overwrote sun's serial number
    assert sum(NAME in row for row in rows) == 4, by_what  # and sun's two refusals
    table = "".join(rows)
    assert "(无权修改)" in table and "(未知字段)" in table, by_what
    assert "forbidden" not in table and "unknown_field" not in table
    latest = http.get("/console").text.split('id="conflicts"')[1].split("</table>")[0]
    assert NAME in latest and _cells(latest, "sun") == 0

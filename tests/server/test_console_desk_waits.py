"""What the desk waits for that no clock counts (s29-desk29): a resolved request awaiting the customer's
signature on the dashboard and the request list, in the site's zone and the catalogue's words."""

from __future__ import annotations

import uuid
from datetime import datetime
from zoneinfo import ZoneInfo

from sync import hlc
from tests.conftest import SITE
from tests.helpers import ok
from tests.server.test_console_desk import console
from tests.server.test_service import HOUR, event, open_request, results, rows_of, ts
from tests.server.test_visit_sealing import handled, signature, visit_fields

LA = "America/Los_Angeles"


def _local(stamp: str, tz: str) -> str:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).astimezone(ZoneInfo(tz)).strftime("%Y-%m-%d %H:%M")


def _row(page: str, request: str) -> str:
    return page.split(f"/console/service-requests/{request}")[1].split("</tr>")[0]


def test_a_resolved_request_says_it_awaits_the_customers_signature_and_since_when(http, store, site, chen, wang):
    # s29-desk29 item 2: a resolved request (SR-2026-00009 in the demo) showed an empty countdown on the
    # dashboard: every clock met, nothing said that it waited for the customer to sign the visit sheet.
    store.write_server_changes([("sites", SITE, {"tz": LA}, False)])  # not the default zone: the site's own
    waiting, _, _ = handled(chen, wang)
    signed, signed_visit, signed_fields = handled(chen, wang)
    assert results(wang, [signature(wang, signed_visit, signed_fields)[1]]) == [("applied", None)]
    listed = {r["id"]: r for r in ok(chen.http.get("/api/service-requests", headers=chen.headers))["requests"]}
    detail = ok(chen.http.get(f"/api/service-requests/{waiting}", headers=chen.headers))
    [fixed] = [e["effective_at"] for e in detail["events"] if e["kind"] == "fixed"]
    assert listed[waiting]["status"] == "resolved" and listed[waiting]["awaiting_signature_since"] == fixed
    assert listed[signed]["status"] == "signed" and listed[signed]["awaiting_signature_since"] is None
    console(http, "chen")
    words = f"待客户签字（{_local(fixed, LA)} 已修复）"
    assert _local(fixed, LA) != _local(fixed, "Asia/Shanghai")
    for page in (http.get("/console/").text, http.get("/console/service-requests").text):
        assert f'<span class="waiting">{words}</span>' in _row(page, waiting)
        assert "待客户签字" not in _row(page, signed)
    english = http.get("/console/", params={"lang": "en"}).text
    assert f"awaiting the customer&#39;s signature (fixed {_local(fixed, LA)})" in _row(english, waiting)


def test_a_resolved_request_whose_sealed_visit_needs_a_revisit_does_not_await_a_signature(http, site, chen, wang):
    # Regression (s29-fixdesk29, item 1): a request fixed on a visit whose outcome was revisit_needed stays
    # `resolved` once the customer signed that sheet (only a sealed `resolved` outcome signs it); the list
    # still gave awaiting_signature_since and the dashboard and list read 待客户签字 though every sheet was
    # signed and the request waited for a revisit.
    now = hlc.wall_ms()
    request = open_request(chen, assigned_to="wang", reported_at=ts(now - 3 * HOUR))
    visit, fields = str(uuid.uuid4()), visit_fields(request, outcome="revisit_needed")
    assert results(wang, [wang.change("service_visits", visit, fields),
                          event(wang, request, "arrived", ts(now - 2 * HOUR), visit_id=visit),
                          event(wang, request, "fixed", ts(now - HOUR), visit_id=visit)]) == [("applied", None)] * 3
    listed = {r["id"]: r for r in ok(chen.http.get("/api/service-requests", headers=chen.headers))["requests"]}
    assert listed[request]["awaiting_signature_since"] is not None  # unsigned yet: it does wait for the signature
    assert results(wang, [signature(wang, visit, fields)[1]]) == [("applied", None)]
    assert rows_of(chen, "service_visits")[visit].get("sealed_by")
    listed = {r["id"]: r for r in ok(chen.http.get("/api/service-requests", headers=chen.headers))["requests"]}
    assert listed[request]["status"] == "resolved" and listed[request]["awaiting_signature_since"] is None
    console(http, "chen")
    for page in (http.get("/console/").text, http.get("/console/service-requests").text):
        assert "待客户签字" not in _row(page, request)

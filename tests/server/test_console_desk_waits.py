"""What the desk waits for that no clock counts (s29-desk29): a resolved request awaiting the customer's
signature on the dashboard and the request list, in the site's zone and the catalogue's words."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from tests.conftest import SITE
from tests.helpers import ok
from tests.server.test_console_desk import console
from tests.server.test_service import results
from tests.server.test_visit_sealing import handled, signature

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

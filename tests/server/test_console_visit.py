"""The console's visit page as the desk reads it to a customer on the phone (session 25, office2)."""

from __future__ import annotations

import re
import uuid
from typing import Any

import pytest

from tests.conftest import SITE
from tests.server.test_billing import LINES, visit_with_lines
from tests.server.test_console_desk import console
from tests.server.test_service import results
from tests.server.test_visit_sealing import AT

IN_WARRANTY = {"accepted_on": "2026-11-10", "warranty_months": 12}  # ten days before the call: all covered
CHEAP_PART = {**LINES[2], "decision": "agreed"}  # 150 yuan: under an annual contract's part cover
REMOTE = {"item": "remote_system", "quantity": 1}  # remote support: the warranty covers it, a contract does not


def _borne(http: Any, visit: str) -> list[str]:
    """Each line's 费用承担 (the last cell of its row), in order."""
    table = http.get(f"/console/visits/{visit}").text.split('id="lines"')[1].split("</table>")[0]
    assert "<th>费用承担</th>" in table and "<th>计费</th>" not in table
    return [re.findall(r"<td>([^<]*)</td>", row)[-1] for row in table.split("</tr>")[1:-1]]


# Regression (session 25, office2, finding 3): a line the contract or the warranty pays read 计费 否 (billed:
# no), as a declined part did: a clerk on the phone could not tell "the contract pays" from "not agreed".
@pytest.mark.parametrize(("site_fields", "call", "borne"), [
    # visit, labour, a part agreed, a part declined, diagnosis
    ({"contract": "per_visit"}, {}, ["客户付费", "客户付费", "客户付费", "客户未同意，不计费", "客户付费"]),
    # An annual contract pays the visit, labour, diagnosis and a part up to 200 yuan; not the 900-yuan one.
    ({"contract": "annual"}, {}, ["合同承担", "合同承担", "合同承担", "客户未同意，不计费", "合同承担"]),
    # Warranty comes first, whatever the contract; a declined part is still nobody's.
    ({"contract": "annual", **IN_WARRANTY}, {"device_id": "cam1", "reported_at": AT},
     ["保修承担", "保修承担", "保修承担", "客户未同意，不计费", "保修承担"]),
], ids=["per_visit", "annual", "warranty"])
def test_the_visit_page_says_who_bears_each_line(http, store, site, chen, wang, site_fields, call, borne):
    call = {k: site[v] if k == "device_id" else v for k, v in call.items()}
    _, visit, _ = visit_with_lines(store, chen, wang, site, LINES, site_fields=site_fields, **call)
    console(http, "chen")
    assert _borne(http, visit) == borne


def test_damage_leaves_the_part_to_the_contract_and_a_changed_contract_keeps_what_was_priced(
        http, store, site, chen, wang):
    # In warranty with damage by people: the warranty waives the visit; the part is not the warranty's,
    # and the annual contract pays it (under 200 yuan). Without the contract the customer pays it.
    _, visit, _ = visit_with_lines(store, chen, wang, site, [LINES[0], CHEAP_PART],
                                   site_fields={"contract": "annual", **IN_WARRANTY},
                                   device_id=site["cam1"], reported_at=AT)
    assert results(wang, [wang.change("service_visits", visit, {"warranty_void": "human_damage"})]) == [
        ("applied", None)]
    console(http, "chen")
    assert _borne(http, visit) == ["保修承担", "合同承担"]
    # The site's contract ends after the lines were priced: the stored prices stand (service.md, "Stored
    # prices"), and the page still names the contract that covered the part, not the customer.
    store.write_server_changes([("sites", SITE, {"contract": "per_visit"}, False)])
    assert _borne(http, visit) == ["保修承担", "合同承担"]


# Regression (session 26, office, finding 2): the page built its own pricing context beside the push's
# (`billing/hooks.py`), and read the device as it stands. A device deleted after the visit made a line the
# warranty paid read 合同承担 on a site with no contract: the push had priced it with the device's warranty.
def test_a_device_deleted_after_the_visit_still_shows_the_warranty_that_paid(http, store, site, chen, wang, lin):
    _, visit, _ = visit_with_lines(store, chen, wang, site, LINES[:2], site_fields={"contract": "per_visit",
                                   **IN_WARRANTY}, device_id=site["cam1"], reported_at=AT)
    console(http, "chen")
    assert _borne(http, visit) == ["保修承担", "保修承担"]
    assert results(lin, [lin.change("devices", site["cam1"], {}, delete=True)]) == [("applied", None)]
    assert _borne(http, visit) == ["保修承担", "保修承担"]
    # A line priced after the deletion: the push reads no device, so no warranty (as the phone does);
    # the customer pays it, and the page and the bill say so.
    line = str(uuid.uuid4())
    assert results(wang, [wang.change("charge_lines", line, {"visit_id": visit, **LINES[4]})]) == [("applied", None)]
    assert _borne(http, visit) == ["保修承担", "保修承担", "客户付费"]


def test_after_the_deletion_an_annual_contract_pays_and_the_page_says_so(http, store, site, chen, wang, lin):
    # The rows as they stand explain the cover (the contract): the deleted device is not read for it.
    _, visit, _ = visit_with_lines(store, chen, wang, site, [REMOTE], site_fields={"contract": "annual",
                                   **IN_WARRANTY}, device_id=site["cam1"], reported_at=AT)
    assert results(lin, [lin.change("devices", site["cam1"], {}, delete=True)]) == [("applied", None)]
    line = str(uuid.uuid4())
    assert results(wang, [wang.change("charge_lines", line, {"visit_id": visit, **LINES[1]})]) == [("applied", None)]
    console(http, "chen")
    # Remote support: the warranty's when priced (no contract covers it); labour after: the contract's.
    assert _borne(http, visit) == ["保修承担", "合同承担"]

"""The conflict log's values in words a supervisor reads (s28-conflictwords): on the conflicts page and the
dashboard, a listed choice by the catalogue's words, a boolean 是/否, a time in the site's zone, an amount in
yuan; the API keeps the values as stored. In-process on the real app, real pushes from real sessions."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from server.domains.console.web import MAX_SHOWN_VALUE, value_words
from sync.messages import label
from sync.schema import COLLECTIONS, device_check_id
from tests.conftest import SITE, Session
from tests.server.test_console_office import _at, page

CHECKED = "2026-12-07T02:13:00.000Z"  # 10:13 in Shanghai, 18:13 the day before in Los Angeles


def _rows(html: str) -> list[str]:
    """Each row of the page's conflicts table as the text a person reads, cells split by `|`."""
    table = html.split('id="conflicts"')[1].split("</table>")[0]
    return ["|".join(re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<td[^>]*>(.*?)</td>", row, re.S))
            for row in table.split("<tr>")[2:]]


def _values(rows: list[str], what: str, field: str) -> list[str]:
    """The `values` cells of the rows about `what`'s `field` (on the conflicts page: 6th cell)."""
    return [row.split("|")[5] for row in rows if row.split("|")[2:4] == [what, field]]


def _clash(http: Any, store: Any, site: dict[str, str], lin: Session, wang: Session) -> None:
    """Conflicts of every kind of value: an amount, a choice, a group with a time, a checklist answer, a
    refused choice and a refused long text."""
    lin2 = Session(http, "lin")  # a supervisor's second client (the console on another machine)
    items = [{"key": "lens_cleaned", "label": "Lens wiped clean", "label_zh": "镜头已擦拭", "type": "bool"}]
    store.write_server_changes([("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "dome")), {
        "kind": "dome_camera", "title": "Dome", "items": json.dumps(items)}, False)])
    ok = lambda who, changes: who.push(changes).json()["results"]  # noqa: E731
    assert ok(lin, [lin.change("sites", SITE, {"contract_price_fen": 1250}, hlc_=_at(lin, 60_000)),
                    lin.change("devices", site["cam2"], {"status": "retired"}, hlc_=_at(lin, 60_000))])
    assert ok(lin2, [lin2.change("sites", SITE, {"contract_price_fen": 99900}),
                     lin2.change("devices", site["cam2"], {"status": "active"})])
    check = device_check_id(site["inspection"], site["cam1"])
    parents = {"inspection_id": site["inspection"], "device_id": site["cam1"]}
    assert ok(wang, [wang.change("device_checks", check, {
        **parents, "outcome": "fault", "note": "lens cracked", "checked_by": "wang", "checked_at": CHECKED,
        "item.lens_cleaned": True}, hlc_=_at(wang, 60_000))])
    assert ok(lin, [lin.change("device_checks", check, {**parents, "item.lens_cleaned": False}),
                    lin.change("device_checks", check, {**parents, "outcome": "serviced", "checked_by": "lin",
                                                        "checked_at": CHECKED}, hlc_=_at(lin, 120_000))])
    assert ok(wang, [wang.change("devices", site["cam1"], {"system": "alarm", "location": "长" * 200}),  # may not
                     wang.change("devices", site["cam1"], {"location": "长" * 500})])  # past location's limit


# Regression (s28-conflictwords): the values column showed `1250 → 99900`, `retired → active`, `True → False`,
# a check's group as `{'outcome': 'fault', 'checked_by': 'wang', 'checked_at': '2026-12-07T02:13:00.000Z'}` and enum codes;
# a supervisor on the Chinese page reads the catalogue's words, 是/否, the site's time, yuan and people's names.
def test_each_kind_of_value_is_shown_in_words_on_the_conflicts_page(http, store, site, lin, wang):
    # The site in a zone other than the default one (Asia/Shanghai): a value's time must be the row's site's
    # (review of s28-conflictwords: at the default zone a page given no zone read the same).
    store.write_server_changes([("sites", SITE, {"tz": "America/Los_Angeles"}, False)])
    _clash(http, store, site, lin, wang)
    rows = _rows(page(lin, "/console/conflicts").text)
    assert _values(rows, "Test park", "合同金额") == ["12.50 元 → 999.00 元"], rows
    assert _values(rows, "CAM-002", "状态") == ["在用 → 已停用"], rows  # lin2 won: stored → sent
    assert _values(rows, "CAM-001", "镜头已擦拭") == ["是 → 否"], rows
    [group] = _values(rows, "CAM-001", "检查结果")  # lin's older check lost to wang's: stored → sent
    assert group == ("结果：故障；备注：lens cracked；检查人：Wang；检查时间：2026-12-06 18:13 → "
                     "结果：服务正常；检查人：Lin；检查时间：2026-12-06 18:13"), rows  # people by name, as elsewhere
    # Refused changes (no field: the whole change), the values sent: a choice in words, clipped as before; a
    # value too long for the log (kept as its length and digest) by its length, not `truncated：是；sha256：…`.
    assert _values(rows, "CAM-001", "") == ["→ （过长，未记录：515 个字符）",
                                           "→ " + ("系统：报警系统；位置：" + "长" * 200)[:MAX_SHOWN_VALUE] + "…"], rows
    assert not re.search(r"\b(retired|active|fault|serviced|alarm|True|False|1250|99900)\b|T02:13", "".join(rows))


def test_the_english_page_and_the_dashboard_show_the_same_words(http, store, site, lin, wang):
    _clash(http, store, site, lin, wang)
    rows = _rows(page(lin, "/console/conflicts", lang="en").text)
    assert _values(rows, "Test park", "Contract price") == ["¥12.50 → ¥999.00"], rows
    assert _values(rows, "CAM-002", "Status") == ["In use → Retired"], rows
    assert _values(rows, "CAM-001", "Lens wiped clean") == ["yes → no"], rows
    [group] = _values(rows, "CAM-001", "Check result")
    assert group.startswith("Outcome: Fault; ") and "2026-12-07 10:13 → Outcome: Serviced; " in group, group
    # The dashboard's latest conflicts: the same words, in a column of their own (it showed no values).
    dashboard = [row.split("|")[-1] for row in _rows(page(lin, "/console/").text)]
    assert "12.50 元 → 999.00 元" in dashboard and "是 → 否" in dashboard and "在用 → 已停用" in dashboard, dashboard
    # A refused change names no field: its kind in words, not `rejected` (the dashboard's 字段 column).
    fields = [row.split("|")[1] for row in _rows(page(lin, "/console/").text)]
    assert "修改被拒绝" in fields and "rejected" not in fields, fields
    # The API keeps the values as stored.
    found = lin.http.get("/api/conflicts", headers=lin.headers, params={"no_op": "false"}).json()["conflicts"]
    assert {(c["old_value"], c["new_value"]) for c in found if c.get("register") == "contract_price_fen"} == {(1250, 99900)}


SCALARS = st.none() | st.booleans() | st.integers(min_value=-10**4299, max_value=10**4299)  # what msgspec takes in a push | st.floats() | st.text()
REGISTERS = st.sampled_from(sorted({n for c in COLLECTIONS.values() for n in c.fields} | {"item.x", "deleted", ""}))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(collection=st.sampled_from([*COLLECTIONS, "nonsense"]), register=REGISTERS | st.text(max_size=20),
       value=SCALARS | st.dictionaries(st.text(max_size=20), SCALARS, max_size=6),
       tz=st.sampled_from([None, "Asia/Shanghai", "America/Los_Angeles", "Not/AZone", ""]),
       lang=st.sampled_from(["zh", "en", "xx"]))
def test_any_stored_value_renders_without_error_within_the_clip(collection, register, value, tz, lang):
    # What a phone sent is stored as sent when it is refused: any JSON scalar or object of them, for any
    # register, renders as text within the clip (`…` past it), never an exception (the page's 500).
    shown = value_words(lang, lambda name: label("field", name, lang), lambda user: f"{user}工")(
        collection, register, value, tz)
    assert isinstance(shown, str) and len(shown) <= MAX_SHOWN_VALUE + 1
    assert len(shown) <= MAX_SHOWN_VALUE or shown.endswith("…")

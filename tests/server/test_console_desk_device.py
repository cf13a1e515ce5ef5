"""The desk's new-request form: the device a caller names, by its code or by its place and name
(review of s29-desk29's fa16955, findings 1-3)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from tests.conftest import OTHER_SITE, SITE
from tests.server.test_console_desk import console, post_new, requests_of


def dev(n: int) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"desk-device-{n}"))


def reader(site_id: str, code: str, location: str, status: str = "active", name: str = "读卡器") -> dict[str, Any]:
    return {"site_id": site_id, "system": "access", "code": code, "name": name, "location": location,
            "status": status}


def devices(store: Any) -> None:
    """Card readers: CR-1 active at 2号门, then a retired CR-1 written after it (its newer row); another site's
    reader at 收发室; two at 监控中心."""
    store.write_server_changes([
        ("sites", OTHER_SITE, {"name": "Other", "customer": "X", "tz": "Asia/Shanghai"}, False),
        ("devices", dev(1), reader(SITE, "CR-1", "2号门"), False),
        ("devices", dev(3), reader(OTHER_SITE, "CR-9", "收发室"), False),
        ("devices", dev(5), reader(SITE, "CR-5", "监控中心 出门侧"), False),
        ("devices", dev(6), reader(SITE, "CR-6", "监控中心 进门侧"), False),
        ("devices", dev(7), reader(SITE, "CAM-010", "大门", name="摄像机"), False),
    ])
    store.write_server_changes([("devices", dev(2), reader(SITE, "CR-1", "2号门", "retired", "读卡器（旧）"), False)])


def choices(text: str) -> list[str]:
    """The option values of the form's device choice (none: no choice offered)."""
    if 'select name="device_id"' not in text:
        return []
    return re.findall(r'<option value="([^"]*)">', text.split('select name="device_id"')[1].split("</select>")[0])


def made_device(lin: Any, r: Any) -> str:
    assert r.status_code == 303, r.text
    request_id = r.headers["location"].rsplit("/", 1)[1]
    return str(lin.http.get(f"/api/service-requests/{request_id}", headers=lin.headers).json()["device_id"])


def test_a_code_typed_takes_the_active_device_never_a_retired_one_of_that_code_written_later(http, store, site, lin):
    # Finding 1: the form kept the code and looked it up again (by_device_code: the newest row of the code,
    # retired or not), so the request opened on the retired CR-1.
    devices(store)
    csrf = console(http, "chen")
    assert made_device(lin, post_new(http, csrf, device_code="CR-1", caller_phone="")) == dev(1)


def test_the_choice_is_a_device_id_checked_to_be_an_active_device_of_the_chosen_site(http, store, site, lin):
    devices(store)
    csrf = console(http, "chen")
    r = post_new(http, csrf, device_code="2号门 读卡器", caller_phone="")
    assert r.status_code == 409 and choices(r.text) == ["", dev(1)]  # blank first; the retired CR-1 not offered
    assert made_device(lin, post_new(http, csrf, device_code="2号门 读卡器", device_id=dev(1), caller_phone="")) == dev(1)
    # A choice the form never offered (a retired device, another site's, no such row) is refused, nothing written.
    for refused in (dev(2), dev(3), "no-such-device"):
        r = post_new(http, csrf, device_code="2号门 读卡器", device_id=refused, caller_phone="")
        assert r.status_code == 404 and "未能保存" in r.text
    assert len(requests_of(lin)) == 1


def test_words_always_give_the_choice_even_of_one_device_and_the_409_writes_nothing(http, store, site, lin):
    # Finding 2: any substring of location+name+code run together counted, and one match was taken without a
    # word: CAM-01 meant for CAM-001 silently took CAM-010; 门读 matched across 2号门 and 读卡器.
    devices(store)
    csrf = console(http, "chen")
    r = post_new(http, csrf, device_code="CAM-01", caller_phone="")
    assert r.status_code == 409 and choices(r.text) == ["", dev(7)]  # offered, not taken
    r = post_new(http, csrf, device_code="2号门的读卡器", caller_phone="")
    assert r.status_code == 409 and choices(r.text) == ["", dev(1)]  # one device: still the clerk's choice
    # The words stay in the device field, for the clerk to correct; the choice is said in the catalogue's words.
    assert 'name="device_code" value="2号门的读卡器"' in r.text
    assert "请确认“2号门的读卡器”所指的设备：从下列该站点的设备中选择，或修改后重新提交。" in r.text
    r = post_new(http, csrf, device_code="监控中心 读卡器", caller_phone="")
    assert r.status_code == 409 and choices(r.text) == ["", dev(5), dev(6)]  # by location: 出门侧, 进门侧
    assert post_new(http, csrf, device_code="门读", caller_phone="").status_code == 404  # across fields: nothing
    # Another site's reader is never offered; a retired device's code alone is refused as a code no device has.
    assert post_new(http, csrf, device_code="收发室的读卡器", caller_phone="").status_code == 404
    assert post_new(http, csrf, device_code="CR-9", caller_phone="").status_code == 404
    store.write_server_changes([("devices", dev(4), reader(SITE, "CR-4", "北门", "retired"), False)])
    assert post_new(http, csrf, device_code="CR-4", caller_phone="").status_code == 404
    assert requests_of(lin) == []


def test_more_than_fifty_devices_named_says_so(http, store, site, lin):
    store.write_server_changes([("devices", dev(100 + n), reader(SITE, f"PR-{n:03}", f"{n}号门"), False)
                                for n in range(51)])
    csrf = console(http, "chen")
    r = post_new(http, csrf, device_code="读卡器", caller_phone="")
    assert r.status_code == 409 and len(choices(r.text)) == 51  # the blank and 50
    assert "仅列出前 50 台，请输入更具体的位置或名称。" in r.text
    assert requests_of(lin) == []

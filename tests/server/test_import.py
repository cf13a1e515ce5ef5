"""The customer archive import (issue 14, item 2): a site's devices from the integrator's spreadsheet."""

from __future__ import annotations

import io
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import pytest

from server.domains.archive.service import device_id
from server.domains.archive.spreadsheet import MAX_IMPORT_ROWS
from server.services import Store
from tests.conftest import OTHER_SITE, SITE

ZH_HEADER = ["系统", "类型", "编号", "名称", "位置", "型号", "序列号", "安装日期"]
EN_HEADER = ["system", "kind", "code", "name", "location", "model", "serial number", "installed on"]
ROWS = [
    ["视频监控", "球机", "CAM-001", "球机 1", "A栋 大堂", "DS-2DC4220IW-D", "SN-0001", date(2019, 7, 6)],
    ["视频监控", "枪机", "CAM-003", "枪机 3", "B2 停车场", "DS-2CD3T25-I3", "SN-0003", "2019/7/5"],
    ["门禁", "读卡器", "ACC-001", "读卡器 1", "A栋 1楼", "DS-K1101M", "SN-0101", "2019年7月4日"],
]


def xlsx(header: list[str], rows: list[list[Any]]) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    assert sheet is not None
    for row in [header, *rows]:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def csv_text(header: list[str], rows: list[list[Any]]) -> str:
    return "\r\n".join(",".join(str(v) for v in row) for row in [header, *rows]) + "\r\n"


def devices(store: Store, site_id: str = SITE) -> dict[str, dict[str, Any]]:
    import msgspec

    with store.read() as db:
        rows = db.execute("SELECT id, fields FROM rows WHERE collection = 'devices' AND parent_id = ?",
                          [site_id]).fetchall()
    return {msgspec.json.decode(f)["code"]: {"id": i, **msgspec.json.decode(f)} for i, f in rows}


def versions(store: Store) -> int:
    with store.read() as db:
        return int(db.execute("SELECT coalesce(max(version), 0) FROM rows").fetchone()[0])


def upload(lin: Any, data: bytes, site_id: str = SITE, **params: str) -> Any:
    return lin.http.post(f"/api/sites/{site_id}/import", headers=lin.headers, params=params, content=data)


def test_an_xlsx_with_chinese_headers_creates_the_devices_with_the_schemas_values(site, lin, store):
    answer = upload(lin, xlsx(ZH_HEADER, ROWS))
    assert answer.status_code == 200, answer.text
    report = answer.json()
    # CAM-001 is the site's already (matched by code); CAM-002 is no longer in the file.
    assert report["created"] == ["CAM-003", "ACC-001"]
    assert [c["code"] for c in report["changed"]] == ["CAM-001"]
    assert report["retire"] == ["CAM-002"] and report["retired"] == []
    stored = devices(store)
    assert stored["CAM-001"]["id"] == site["cam1"]
    assert stored["CAM-003"]["id"] == device_id(SITE, "CAM-003")
    assert {k: stored["ACC-001"][k] for k in ("system", "kind", "installed_on", "status", "serial_no")} == {
        "system": "access", "kind": "card_reader", "installed_on": "2019-07-04", "status": "active",
        "serial_no": "SN-0101"}
    assert stored["CAM-001"]["kind"] == "dome_camera" and stored["CAM-001"]["installed_on"] == "2019-07-06"
    assert stored["CAM-003"]["installed_on"] == "2019-07-05"
    assert stored["CAM-002"]["status"] == "active"  # offered, not retired


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gb18030", "utf-8"])
def test_a_csv_in_utf8_with_a_bom_or_gb18030_reads_the_same(site, lin, store, encoding):
    data = csv_text(ZH_HEADER, ROWS).encode(encoding)
    assert (data[:3] == b"\xef\xbb\xbf") == (encoding == "utf-8-sig")
    answer = upload(lin, data)
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == ["CAM-003", "ACC-001"]
    assert devices(store)["ACC-001"]["name"] == "读卡器 1"
    assert devices(store)["CAM-003"]["location"] == "B2 停车场"


def test_importing_the_same_file_twice_changes_nothing(site, lin, store):
    data = xlsx(EN_HEADER, ROWS)
    assert upload(lin, data).status_code == 200
    before = versions(store)
    again = upload(lin, data).json()
    assert again["created"] == [] and again["changed"] == [] and again["unchanged"] == 3
    assert versions(store) == before


def test_a_dry_run_reports_and_writes_nothing(site, lin, store):
    before = versions(store)
    report = upload(lin, xlsx(ZH_HEADER, ROWS), dry_run="true").json()
    assert report["dry_run"] is True and report["created"] == ["CAM-003", "ACC-001"]
    assert versions(store) == before
    assert "CAM-003" not in devices(store)


def test_retirement_is_offered_and_done_only_when_asked_never_a_delete(site, lin, store):
    upload(lin, xlsx(ZH_HEADER, ROWS))
    report = upload(lin, xlsx(ZH_HEADER, ROWS), retire="true").json()
    assert report["retired"] == ["CAM-002"]
    stored = devices(store)
    assert stored["CAM-002"]["status"] == "retired"  # kept, with its history
    # The file lists it again: active again.
    back = upload(lin, xlsx(ZH_HEADER, [*ROWS, ["video", "bullet_camera", "CAM-002"]])).json()
    assert back["changed"] == [{"code": "CAM-002", "fields": ["status"]}] and back["retire"] == []
    assert devices(store)["CAM-002"]["status"] == "active"


def test_bad_rows_are_reported_by_row_number_and_nothing_is_written(site, lin, store):
    rows = [
        ROWS[0],
        ["电梯", "球机", "CAM-010"],  # row 3: no such system
        ROWS[1],
        ["视频监控", "球机", "CAM-011", "x" * 201],  # row 5: a name over the collection's 200 characters
        ["视频监控", "球机", "CAM-003"],  # row 6: CAM-003 is on row 4 too
        ["视频监控", "球机", "CAM-012", "", "", "", "", "2019-02-30"],  # row 7: no such date
        ["视频监控", "球机", ""],  # row 8: no code
    ]
    before = versions(store)
    answer = upload(lin, xlsx(ZH_HEADER, rows))
    assert answer.status_code == 422
    problem = answer.json()
    assert problem["code"] == "invalid_import" and problem["bad_rows"] == 5
    assert [(e["row"], e["reason"]) for e in problem["errors"]] == [
        (3, "invalid_field"), (5, "invalid_field"), (6, "invalid_field"), (7, "invalid_field"), (8, "invalid_field")]
    assert "system" in problem["errors"][0]["detail"] and "row 4" in problem["errors"][2]["detail"]
    assert versions(store) == before


@pytest.mark.parametrize(("data", "says"), [
    (b"", "empty"),
    ("名称,位置\r\nx,y\r\n".encode(), "code"),
    (b"code,code\r\nA,B\r\n", "two columns"),
    (b"PK\x03\x04 not a zip", "xlsx"),
    (b"\xef\xbb\xbfcode\r\n\xff\xfe\r\n", "UTF-8"),
    (("code\r\n" + "C\r\n" * (MAX_IMPORT_ROWS + 1)).encode(), "rows"),
])
def test_a_file_that_is_no_device_list_is_refused_whole(site, lin, store, data, says):
    before = versions(store)
    answer = upload(lin, data)
    assert answer.status_code == 422 and answer.json()["code"] == "invalid_import"
    assert says in answer.json()["detail"]
    assert versions(store) == before


def test_a_multipart_form_upload_as_the_console_sends_it(site, lin, store):
    answer = lin.http.post(f"/api/sites/{SITE}/import", headers=lin.headers, params={"dry_run": "true"},
                           files={"file": ("档案.xlsx", xlsx(ZH_HEADER, ROWS))})
    assert answer.status_code == 200, answer.text
    assert answer.json()["created"] == ["CAM-003", "ACC-001"]


def test_only_supervisors_import_and_another_site_is_404(site, lin, wang, zhao, chen, store):
    data = xlsx(ZH_HEADER, ROWS)
    assert upload(wang, data).status_code == 403  # wang's own site: the role
    assert upload(zhao, data).status_code == 404  # not zhao's site: nothing about it
    assert upload(chen, data).status_code == 403
    assert upload(lin, data, site_id=OTHER_SITE).status_code == 404  # no such site
    assert "CAM-003" not in devices(store)


def test_the_cli_imports_as_a_real_process_and_again_changes_nothing(tmp_path):
    data = tmp_path / "server"
    env_python = [sys.executable, "-m", "server.cli"]
    root = Path(__file__).resolve().parents[2]

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*env_python, *args], cwd=root, capture_output=True, text=True, timeout=120)

    assert run("init", "--data", str(data), "--demo").returncode == 0
    sheet = tmp_path / "明德.csv"
    sheet.write_bytes(csv_text(ZH_HEADER, [["广播", "音箱", "SPK-001", "操场音箱", "操场", "", "", "2020-01-02"]])
                      .encode("gb18030"))
    dry = run("import", "--data", str(data), str(sheet), "--site", "明德实验小学", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "1 devices would be created" in dry.stdout and "retire them with --retire" in dry.stdout
    done = run("import", "--data", str(data), str(sheet), "--site", "明德实验小学")
    assert "1 devices were created" in done.stdout
    again = run("import", "--data", str(data), str(sheet), "--site", "明德实验小学")
    assert "0 devices were created, 0 changed, 1 unchanged" in again.stdout
    bad = tmp_path / "bad.csv"
    bad.write_text("code,system\r\nX-1,video\r\nX-2,elevator\r\n", encoding="utf-8")
    refused = run("import", "--data", str(data), str(bad), "--site", "明德实验小学")
    assert refused.returncode == 2 and "row 3:" in refused.stderr
    assert run("import", "--data", str(data), str(sheet), "--site", "no such site").returncode == 2

"""The printable sheets (issue 14, item 3): PDFs read back with Debian's poppler-utils.

`make test` installs poppler-utils and fonts-noto-cjk when they are missing (Makefile, `pdf-tools`).
A page of each sheet is kept as a PNG under tests/artifacts/ (ignored by git) for a person to look at.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from server.cli import main
from server.domains.sheets import render
from server.services import Store
from sync.messages import label
from sync.schema import device_check_id
from tests.conftest import Session, server_args
from tests.helpers import problem
from tests.server import test_sealing as sealing
from tests.servers import serving

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"


def _poppler(tool: str, *args: str) -> str:
    return subprocess.run([tool, *args], check=True, capture_output=True, text=True, timeout=60).stdout


def _read(pdf: bytes, tmp_path: Path, name: str) -> tuple[str, str]:
    """The PDF's text (pdftotext) and its font table (pdffonts); page 1 kept as a PNG."""
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(pdf)
    ARTIFACTS.mkdir(exist_ok=True)
    _poppler("pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1", "-singlefile", str(path), str(ARTIFACTS / name))
    assert (ARTIFACTS / f"{name}.png").stat().st_size > 1000
    print(f"page 1 of the {name} sheet: {ARTIFACTS / name}.png")
    return _poppler("pdftotext", "-layout", str(path), "-"), _poppler("pdffonts", str(path))


def _all_embedded(fonts: str) -> list[str]:
    """The rows of pdffonts' table (after its two header lines), each asserted embedded (`emb` yes)."""
    rows = fonts.splitlines()[2:]
    assert rows, fonts
    for row in rows:
        # name, type words…, encoding, emb, sub, uni, object id, generation: emb is the 5th from the end.
        assert row.split()[-5] == "yes", row
    return rows


def test_the_inspection_sheet_prints_in_chinese_with_its_fonts_and_escapes_a_phones_html(
        site, store, http, wang, lin, zhao, tmp_path):
    items = [{"key": "lens_cleaned", "label": "Lens wiped clean", "label_zh": "镜头已擦拭", "type": "bool"}]
    store.write_server_changes([("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "dome")), {
        "kind": "dome_camera", "title": "Dome camera quarterly check", "items": json.dumps(items)}, False)])
    note = '镜头起雾 <img src="file:///etc/hostname"> <b>bold</b>'
    [result] = wang.push([wang.change("device_checks", device_check_id(site["inspection"], site["cam1"]), {
        "inspection_id": site["inspection"], "device_id": site["cam1"], "outcome": "fault", "note": note,
        "checked_by": "wang", "checked_at": "2026-11-20T02:15:00.000Z"})]).json()["results"]
    assert result["status"] == "applied", result
    sheet_no = http.get(f"/api/inspections/{site['inspection']}", headers=lin.headers).json()["inspection"]["sheet_no"]
    assert sheet_no.startswith("PM-2026Q4-")

    r = http.get(f"/api/inspections/{site['inspection']}/sheet.pdf", headers=wang.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    text, fonts = _read(r.content, tmp_path, "inspection")
    assert "定期维护单" in text and "Test park" in text and sheet_no in text
    assert "ACME" in text and "2026-Q4" in text and "视频监控系统" in text
    # Regression (session 25, office2, finding 1): 维护人员 is the technician's name (the fixture's
    # `wang` is called Wang), which the customer signs beside; it printed the username.
    [head] = [line for line in text.splitlines() if "维护人员" in line]
    assert "Wang" in head and "wang" not in head, head
    assert "故障" in text and "未检查" in text  # cam1's outcome, cam2 not checked yet
    # One line a device (not a table row): its code, outcome, kind, location, time and note together.
    [cam1] = [line for line in text.splitlines() if "CAM-001" in line]
    assert all(word in cam1 for word in ("故障", "球形摄像机", "2026-11-20 10:15", "备注：镜头起雾")), cam1
    [cam2] = [line for line in text.splitlines() if "CAM-002" in line]
    assert "未检查" in cam2 and "枪式摄像机" in cam2 and "故障" not in cam2, cam2
    assert "2026-11-20 10:15" in text  # checked_at in the site's time zone (UTC+8)
    assert "镜头已擦拭" in text  # the dome camera's quarterly tasks
    assert "球形摄像机" in text and "枪式摄像机" in text and "dome_camera" not in text  # device kinds in Chinese
    # The note's HTML prints as text; nothing was fetched for it.
    # (the narrow note column wraps it: read in reading order, compared without white space).
    plain = _poppler("pdftotext", str(tmp_path / "inspection.pdf"), "-")
    assert "".join(note.split()) in "".join(plain.split())
    # One face for every word, none in bold: each face WeasyPrint embeds is read and subset anew per
    # render, a tenth of a second each (docs/performance.md).
    [face] = _all_embedded(fonts)
    assert face.split()[0].endswith("+Noto-Sans-CJK-SC"), face

    # Another site's sheet is 404, as one that does not exist (and anonymous is 401).
    problem(http.get(f"/api/inspections/{site['inspection']}/sheet.pdf", headers=zhao.headers), 404, "not_found")
    problem(http.get(f"/api/inspections/{site['inspection']}/sheet.pdf"), 401, "unauthorized")
    problem(http.get("/api/inspections/not-an-id/sheet.pdf", headers=lin.headers), 404, "not_found")


def test_the_renderer_loads_only_the_sheets_own_images():
    # A template or a value naming a file or a URL gets nothing from the renderer.
    fetcher = render._OwnImages({"qr": render.qr_png("http://example.invalid/x")})
    assert fetcher.fetch("fieldsync:qr").read().startswith(b"\x89PNG")
    for url in ("file:///etc/hostname", "http://127.0.0.1:1/x", "fieldsync:missing", "data:text/plain,hi"):
        with pytest.raises(ValueError):
            fetcher.fetch(url)


def test_printing_waits_its_turn_and_answers_429_past_the_wait(site, http, lin, monkeypatch):
    # At most MAX_RENDERS sheets render at once; one that cannot start within the wait is 429.
    monkeypatch.setattr(render, "RENDER_WAIT_SECONDS", 0.0)
    held = [render._renders.acquire(timeout=5) for _ in range(render.MAX_RENDERS)]
    try:
        assert all(held)
        body = problem(http.get(f"/api/inspections/{site['inspection']}/sheet.pdf", headers=lin.headers),
                       429, "too_many_requests")
        assert body["limit"] == render.MAX_RENDERS
    finally:
        for _ in held:
            render._renders.release()
    assert http.get(f"/api/inspections/{site['inspection']}/sheet.pdf", headers=lin.headers).status_code == 200


@pytest.fixture
def demo(new_settings):
    settings = new_settings("demo")
    assert main(["init", *server_args(settings), "--demo"]) == 0
    store = Store(settings)
    with serving(settings, store) as client:
        yield client
    store.close()


def test_the_visit_sheet_prints_lines_in_yuan_milestones_and_a_seal_that_opens(demo, tmp_path):
    lin, zhao, wang = Session(demo, "lin"), Session(demo, "zhao"), Session(demo, "wang")
    sealed = None
    for summary in demo.get("/api/service-requests", headers=lin.headers, params={"limit": 200}).json()["requests"]:
        for v in demo.get(f"/api/service-requests/{summary['id']}", headers=lin.headers).json()["visits"]:
            visit = demo.get(f"/api/visits/{v['id']}", headers=lin.headers).json()
            if visit["lines"] and any(s["verification"] == "valid" and s["signer_role"] == "customer"
                                      for s in visit["signatures"]):
                sealed = (summary, visit)
    assert sealed is not None
    request, visit = sealed
    bill = demo.get(f"/api/visits/{visit['id']}/bill", headers=lin.headers).json()
    detail = demo.get(f"/api/service-requests/{request['id']}", headers=lin.headers).json()
    site = next(s for s in demo.get("/api/inspections", headers=lin.headers).json()["inspections"]
                if s["site_id"] == detail["site_id"])

    r = demo.get(f"/api/visits/{visit['id']}/sheet.pdf", headers=lin.headers)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    text, fonts = _read(r.content, tmp_path, "visit")
    flat = " ".join(text.split())
    assert "技术服务联络单" in text and detail["number"] in text and site["site_name"] in text
    assert visit["sheet_no"] in text
    total = bill["total_fen"]
    assert f"{total // 100:,}.{total % 100:02d}" in text  # the total in yuan, from integer fen
    assert "服务时限" in text and "达成" in text
    # Regression (session 25, office): each charge line's item in the catalogue's Chinese (人工费, 配件), as the
    # console's visit page shows it; the sheet printed the stored key (`labour：…`, `part：…`).
    assert {line["item"] for line in visit["lines"]} >= {"labour", "part"}
    assert "人工费：" in text and "配件：" in text and "labour" not in text and "part：" not in text
    # A labour line's quantity is minutes, and says so (it printed a bare 40 beside 200.00 元).
    minutes = next(line["quantity"] for line in visit["lines"] if line["item"] == "labour")
    assert f"{minutes} 分钟" in flat
    # Regression (session 25, office2, finding 1): 维护人员 is the person's name (王工), not `wang`; the sealed
    # sheet's stored bytes hold the username (the technician field), and its seal still verifies below.
    [head] = [line for line in text.splitlines() if "维护人员" in line]
    names = {"wang": "王工", "zhao": "赵工"}
    assert names[visit["technician"]] in head and visit["technician"] not in head, head
    # Each milestone's one line, in the sheet's Chinese (the API's detail explains it in English).
    assert "报修后" in flat and "时限" in flat and "allowed" not in flat
    # The customer's signature image is embedded (a 240 x 80 PNG the demo stored), beside the seal's QR code.
    images = _poppler("pdfimages", "-list", str(tmp_path / "visit.pdf")).splitlines()[2:]
    assert any(row.split()[3:5] == ["240", "80"] for row in images), images
    _all_embedded(fonts)
    # The seal: the signed sheet's hash as text, and the URL its QR code opens.
    seal = next(s for s in visit["signatures"] if s["signer_role"] == "customer" and s["verification"] == "valid")
    assert seal["sheet_sha256"] in flat
    assert f"/api/signatures/{seal['id']}" in flat
    opened = demo.get(f"/api/signatures/{seal['id']}", headers=lin.headers).json()
    assert opened["verification"] == "valid" and opened["retracted_at"] is None
    assert opened["visit_id"] == visit["id"] and opened["sheet_no"] == visit["sheet_no"]
    assert opened["sheet_sha256"] == seal["sheet_sha256"]
    # The technician of another site: the sheet and the seal are 404.
    outsider = wang if site["site_name"] != "科峰科技园" else zhao
    problem(demo.get(f"/api/visits/{visit['id']}/sheet.pdf", headers=outsider.headers), 404, "not_found")
    problem(demo.get(f"/api/signatures/{seal['id']}", headers=outsider.headers), 404, "not_found")


def test_render_time_of_the_reference_sites_sheet(demo, tmp_path):
    # Issue 14's speed figure: printed, never asserted (bench/console.py measures it beside the API call).
    lin = Session(demo, "lin")
    reference = max(demo.get("/api/inspections", headers=lin.headers).json()["inspections"], key=lambda i: i["total"])
    started = time.perf_counter()
    r = demo.get(f"/api/inspections/{reference['id']}/sheet.pdf", headers=lin.headers)
    took = time.perf_counter() - started
    assert r.status_code == 200
    text, _ = _read(r.content, tmp_path, "reference")
    assert reference["sheet_no"] in text and "科峰科技园" in text
    pages = _poppler("pdfinfo", str(tmp_path / "reference.pdf"))
    print(f"the reference site's sheet ({reference['total']} devices): {took:.2f} s, {len(r.content)} bytes;"
          f" {[line for line in pages.splitlines() if line.startswith('Pages')]}")


def test_every_device_kind_of_the_fixtures_has_words_in_both_languages():
    fixtures = Path(__file__).resolve().parents[2] / "fixtures"
    kinds = {t["kind"] for t in json.loads((fixtures / "checklist_templates.json").read_text())}
    for name in ("reference_site.json", "small_site.json"):
        kinds |= {d["kind"] for d in json.loads((fixtures / name).read_text())["devices"]}
    assert len(kinds) >= 16
    for lang in ("zh", "en"):
        missing = [k for k in sorted(kinds) if label("kind", k, lang) == k]
        assert not missing, (lang, missing)
    assert label("kind", "dome_camera") == "球形摄像机" and label("kind", "dome_camera", "en") == "Dome camera"


@pytest.mark.one_sqlite_server("counts the renders in one process's sheet cache")
def test_a_sheet_is_rendered_once_per_content_and_again_when_it_changes(site, http, wang, lin, tmp_path):
    url = f"/api/inspections/{site['inspection']}/sheet.pdf"
    rendered = http.app.state.sheets.rendered.pdfs._entries
    first = http.get(url, headers=lin.headers)
    assert first.status_code == 200
    key_count = len(rendered)
    assert key_count == 1  # this app's own cache: one sheet rendered
    # Nothing on the sheet changed: the same PDF, served again (no new render, no new entry), for
    # anyone allowed to read it.
    again = http.get(url, headers=wang.headers)
    assert again.content == first.content and len(rendered) == key_count
    # A check changes what the sheet prints: rendered anew, the new outcome on it.
    [result] = wang.push([wang.change("device_checks", device_check_id(site["inspection"], site["cam2"]), {
        "inspection_id": site["inspection"], "device_id": site["cam2"], "outcome": "serviced",
        "checked_by": "wang", "checked_at": "2026-11-21T02:15:00.000Z"})]).json()["results"]
    assert result["status"] == "applied", result
    changed = http.get(url, headers=lin.headers)
    assert changed.content != first.content and len(rendered) == key_count + 1
    text, _ = _read(changed.content, tmp_path, "inspection-changed")
    assert "服务正常" in text and "2026-11-21 10:15" in text


def test_the_pdf_cache_keeps_its_bound():
    cache = render.SizedCache[bytes](1000)
    for n in range(5):
        cache.put(f"k{n}", 400, b"x" * 400)
    assert [k for k in ("k0", "k1", "k2", "k3", "k4") if cache.get(k)[0]] == ["k3", "k4"]
    assert render.PDF_CACHE_BYTES == 32 * 1024 * 1024


def test_the_inspection_sheet_shows_the_customers_signature_image_and_the_seal(site, wang, lin, tmp_path):
    # The customer signs on the phone (its image uploaded first); the sheet embeds that image.
    insp = site["inspection"]
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    c2 = sealing._check(wang, insp, site["cam2"], "wang", "fault", "镜头起雾")
    _, sig = sealing._signature(wang, insp, sealing._sheet(insp, c1, c2))
    assert sealing._results(wang.push([c1, c2, sig])) == [("applied", None)] * 3
    [info] = sealing._signatures(lin, insp)
    r = lin.http.get(f"/api/inspections/{insp}/sheet.pdf", headers=lin.headers)
    assert r.status_code == 200
    text, fonts = _read(r.content, tmp_path, "inspection-signed")
    flat = "".join(text.split())
    assert len(_all_embedded(fonts)) == 1, fonts  # the seal's hash too, in the one face
    assert "陈女士" in text and info["sheet_sha256"] in flat
    images = [row.split()[3:5] for row in _poppler("pdfimages", "-list", str(tmp_path / "inspection-signed.pdf"))
              .splitlines()[2:]]
    assert ["60", "20"] in images, images  # the signature image as uploaded (60 x 20)
    assert len(images) == 2, images  # and the seal's QR code


def test_a_sheet_names_a_technician_no_longer_known_by_username(site, store, lin, tmp_path):
    # Session 25, office2, finding 1 (its fallback): the name is the user's; a username with no account
    # here (a site's history from before its accounts) prints as stored, not blank and not a 500.
    store.write_server_changes([("inspections", site["inspection"], {"assigned_to": "liu_retired"}, False)])
    r = lin.http.get(f"/api/inspections/{site['inspection']}/sheet.pdf", headers=lin.headers)
    assert r.status_code == 200
    text, _ = _read(r.content, tmp_path, "inspection-unknown-technician")
    [head] = [line for line in text.splitlines() if "维护人员" in line]
    assert "liu_retired" in head, head


def renamed_after_signing(site: dict[str, str], store: Store, wang: Session) -> str:
    """Both cameras checked and sealed by the customer with CAM-001 at 大堂东, then CAM-001 renamed
    CAM-101 and moved to 二楼; the signature's id."""
    insp = site["inspection"]
    store.write_server_changes([("devices", site["cam1"], {"location": "大堂东"}, False)])
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    c2 = sealing._check(wang, insp, site["cam2"], "wang")
    sig_id, sig = sealing._signature(wang, insp, sealing._sheet(insp, c1, c2))
    assert sealing._results(wang.push([c1, c2, sig])) == [("applied", None)] * 3
    store.write_server_changes([("devices", site["cam1"], {"code": "CAM-101", "location": "二楼"}, False)])
    return sig_id


def test_a_reprint_after_a_device_is_renamed_prints_what_the_customer_signed(site, store, wang, lin, tmp_path):
    # Regression (s26-office3, item 1): the signed sheet's bytes hold the checks by device id, so a sheet
    # reprinted after a supervisor renamed and moved a device printed the new code and location under
    # the old, still valid hash: the customer signed "CAM-001 大堂东" and the reprint said "CAM-101 二楼".
    # The server now keeps what named each device when the signature sealed it (verifications.devices),
    # prints that, and says after the line what the device is called now.
    insp = site["inspection"]
    sig_id = renamed_after_signing(site, store, wang)
    check = lin.http.get(f"/api/signatures/{sig_id}", headers=lin.headers).json()
    assert check["verification"] == "valid" and not check["retracted_at"]  # the hash still verifies
    r = lin.http.get(f"/api/inspections/{insp}/sheet.pdf", headers=lin.headers)
    assert r.status_code == 200
    text, _ = _read(r.content, tmp_path, "inspection-renamed")
    [cam1] = [line for line in text.splitlines() if "球形摄像机" in line]
    assert cam1.split()[0] == "CAM-001" and "大堂东" in cam1, cam1
    assert "（签字后已改为 CAM-101 二楼）" in cam1, cam1
    [cam2] = [line for line in text.splitlines() if "CAM-002" in line]
    assert "签字后" not in cam2, cam2  # not renamed: no mark
    # Moved later too: the next reprint (rendered anew) still prints what was signed, and says where it is.
    store.write_server_changes([("devices", site["cam2"], {"location": "门口"}, False)])
    text, _ = _read(lin.http.get(f"/api/inspections/{insp}/sheet.pdf", headers=lin.headers).content,
                    tmp_path, "inspection-renamed-2")
    [cam2] = [line for line in text.splitlines() if "CAM-002" in line]
    assert "（签字后已改为 CAM-002 门口）" in cam2 and cam2.count("门口") == 1, cam2

"""What the customer reads on the phone before signing (`sheet`, `visit-sheet`): the printed sheet's
words, every field the signature seals, and what the PDF of the same sheet prints."""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from client_sdk import Client
from client_sdk.cli import main
from sync import hlc
from sync.messages import label, words
from tests.client_sdk.test_charges_phone import cli_visit
from tests.client_sdk.test_service_phone import HOUR, desk_opens

SHEET = words("sheets")
ZONE = ZoneInfo("Asia/Shanghai")  # the test site's zone
STROKES = [[[10, 40], [30, 10]]]


def local(ts: str) -> str:
    return datetime.fromtimestamp(hlc.parse_ts(ts) / 1000, ZONE).strftime("%Y-%m-%d %H:%M")


def pdf_text(http: Any, path: str, headers: dict[str, str], tmp_path: Path) -> str:
    r = http.get(path, headers=headers)
    assert r.status_code == 200, r.text
    (tmp_path / "sheet.pdf").write_bytes(r.content)
    return subprocess.run(["pdftotext", "-layout", str(tmp_path / "sheet.pdf"), "-"], check=True,
                          capture_output=True, text=True, timeout=60).stdout


def on_phone(db: str, http: Any, read: Callable[[Client], Any]) -> Any:
    """What `read` finds on the phone's database (opened, read, closed)."""
    phone = Client(db, http)
    try:
        return read(phone)
    finally:
        phone.close()


def signed_sha(db: str, http: Any) -> str:
    [signature] = on_phone(db, http, lambda phone: phone.rows("signatures"))
    return str(signature["fields"]["sheet_sha256"])


def test_the_maintenance_sheet_before_signing_reads_as_printed_and_lists_what_the_signature_seals(
        http, store, site, lin, tmp_path, capsys):
    """Regression (s27 customer): `sheet` showed the customer `serviced`, `lens_cleaned=true` and no time,
    where the printed 定期维护单 says 服务正常, 镜头已擦拭 and the check's time in the site's zone."""
    items = [{"key": "lens_cleaned", "label": "Lens wiped clean", "label_zh": "镜头已擦拭", "type": "bool"}]
    store.write_server_changes([("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "dome")), {
        "kind": "dome_camera", "title": "Dome camera quarterly check", "items": json.dumps(items)}, False)])
    db, insp = str(tmp_path / "phone.db"), site["inspection"]
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert main(["--db", db, "check", insp, "CAM-001", "--outcome", "serviced", "--item", "lens_cleaned=true"],
                http=http) == 0
    assert main(["--db", db, "check", insp, "CAM-002", "--outcome", "fault", "--note", "红外灯不亮"], http=http) == 0
    capsys.readouterr()
    assert main(["--db", db, "sheet", insp], http=http) == 0
    screen = capsys.readouterr().out
    assert "serviced" not in screen and "fault" not in screen and "lens_cleaned" not in screen, screen
    shown, name = on_phone(db, http, lambda phone: (phone.sheet(insp), phone.db.meta("user_name")))
    rows = screen.splitlines()
    assert rows[0] == SHEET["inspection_title"] and label("system", "video") in rows
    # Every check the signature seals, every field of it, in the sheet's words.
    by_code = {d["code"]: d for d in shown["devices"]}
    for code, sealed in (("CAM-001", {"outcome": "serviced", "item.lens_cleaned": True}),
                         ("CAM-002", {"outcome": "fault", "note": "红外灯不亮"})):
        check = by_code[code]["check"]
        assert set(check) == {"checked_at", "checked_by", *sealed}, check
        [i] = [n for n, row in enumerate(rows) if row.startswith(f"  {code}{SHEET['screen_sep']}")]
        line, under = rows[i], rows[i + 1]
        assert label("outcome", sealed["outcome"]) in line and label("kind", by_code[code]["kind"]) in line
        assert local(check["checked_at"]) in line and f"{label('field', 'checked_by')}：{name}" in under
        if "note" in sealed:
            assert f"{SHEET['note']}：红外灯不亮" in line
        if "item.lens_cleaned" in sealed:
            assert f"镜头已擦拭：{SHEET['yes']}" in under
    assert rows[-1] == f"{SHEET['seal_hash']}：{shown['sheet_sha256']}"

    assert main(["--db", db, "sign", insp, "--name", "陈女士", "--strokes", str(_strokes(tmp_path))], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert signed_sha(db, http) == shown["sheet_sha256"]  # the screen's hash is the sealed sheet's
    printed = pdf_text(http, f"/api/inspections/{insp}/sheet.pdf", lin.headers, tmp_path)
    for code in ("CAM-001", "CAM-002"):
        [pdf_line] = [x for x in printed.splitlines() if x.strip().startswith(code)]
        [row] = [x for x in rows if x.startswith(f"  {code}{SHEET['screen_sep']}")]
        said = row.strip().split(SHEET["screen_sep"])
        # The code, outcome, kind, location and time the screen showed, printed on the device's line.
        for part in said[:-1] if said[-1].startswith(SHEET["note"]) else said:
            assert part in pdf_line, (part, pdf_line)
    assert f"{SHEET['customer']}" in printed and "ACME" in printed and name in printed


def _strokes(tmp_path: Path) -> Path:
    path = tmp_path / "strokes.json"
    path.write_text(json.dumps(STROKES))
    return path


def test_the_contact_sheet_before_signing_reads_as_printed_not_in_field_names(http, site, chen, lin, tmp_path,
                                                                               capsys):
    """Regression (s27 customer): `visit-sheet` showed the customer `fault_cause 雷击`, `outcome resolved`
    and `decision=declined, item=part`, where the printed 技术服务联络单 says 故障原因, 已解决, 客户拒绝, 配件."""
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    db = str(tmp_path / "phone.db")
    visit = cli_visit(db, http, request, capsys)
    assert main(["--db", db, "report", visit, "--outcome", "resolved", "--work-done", "更换红外板",
                 "--fault-cause", "雷击浪涌"], http=http) == 0
    assert main(["--db", db, "charge", visit, "part", "1", "--price", "350.50", "--agreed", "--by", "李先生",
                 "--description", "红外板"], http=http) == 0
    assert main(["--db", db, "charge", visit, "part", "1", "--price", "80", "--declined", "--by", "李先生",
                 "--description", "备用电源"], http=http) == 0
    capsys.readouterr()
    assert main(["--db", db, "visit-sheet", visit], http=http) == 0
    screen = capsys.readouterr().out
    for raw in ("fault_cause", "resolved", "declined", "agreed", "decision=", "item=", "_fen", "recorded_"):
        assert raw not in screen, (raw, screen)
    shown, name = on_phone(db, http, lambda phone: (phone.visit_sheet(visit), phone.db.meta("user_name")))
    rows = screen.splitlines()
    assert rows[0] == SHEET["visit_title"]
    f = shown["fields"]
    # Every field of the visit the signature seals, in the sheet's words.
    assert set(f) == {"technician", "outcome", "work_done", "fault_cause", "recorded_by", "recorded_at"}, f
    assert f"{SHEET['fault_cause']}：雷击浪涌{SHEET['screen_sep']}{SHEET['visit_outcome']}：" \
           f"{label('visit_outcome', 'resolved')}" in rows
    assert f"{SHEET['work_done']}：更换红外板" in rows and f"{SHEET['technician']}：{name}" in screen
    assert f"{label('field', 'recorded_by')}：{name}" in rows
    assert f"{label('field', 'recorded_at')}：{local(f['recorded_at'])}" in rows
    # Every line, each of its sealed fields.
    for line in shown["lines"].values():
        assert set(line) == {"item", "description", "quantity", "unit_price_fen", "decision", "decided_by",
                             "decided_at"}, line
        [row] = [x for x in rows if f"{label('item', 'part')}：{line['description']}" in x]
        assert f"{label('decision', line['decision'])}（李先生 {local(line['decided_at'])}）" in row
        assert f"{label('field', 'unit_price_fen')}：{line['unit_price_fen'] // 100}." in row
    assert rows[-1] == f"{SHEET['seal_hash']}：{shown['sheet_sha256']}"

    assert main(["--db", db, "sign-visit", visit, "--name", "李先生", "--strokes", str(_strokes(tmp_path))],
                http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert signed_sha(db, http) == shown["sheet_sha256"]
    printed = " ".join(pdf_text(http, f"/api/visits/{visit}/sheet.pdf", lin.headers, tmp_path).split())
    # What the PDF prints, the screen says in the same words: its head, the result and each line's money.
    for said in (SHEET["visit_title"], "雷击浪涌", "更换红外板", label("visit_outcome", "resolved"),
                 label("decision", "agreed"), label("decision", "declined"), f"{label('item', 'part')}：红外板",
                 "350.50", "80.00", name, "李先生 +86 21 5555 0101", label("channel", "hotline")):
        assert said in printed and said in screen, said
    totals = [x for x in rows if x.startswith((SHEET["subtotal"], SHEET["total"]))]
    assert len(totals) == 2
    for row in totals:
        assert row.split("：")[1] in printed, row
    capsys.readouterr()
    assert main(["--db", db, "visit-sheet", visit], http=http) == 0  # the sheet number came with the sync
    shown_sheet_no = capsys.readouterr().out.splitlines()[1].split(SHEET["screen_sep"])[0].split("：")[1]
    assert shown_sheet_no and shown_sheet_no in printed


def test_the_contact_sheet_on_the_phone_shows_the_service_time_commitments_the_printed_sheet_prints(
        http, site, chen, lin, tmp_path, capsys):
    """Regression (s28 repair, item b): `visit-sheet` showed the customer no 服务时限, where the printed
    技术服务联络单 lists each milestone with its due time; the phone holds the site's terms and counts the
    same clocks offline. A phone without the terms shows no commitments rather than made-up ones."""
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    db = str(tmp_path / "phone.db")
    visit = cli_visit(db, http, request, capsys)
    assert main(["--db", db, "report", visit, "--outcome", "resolved", "--work-done", "更换红外板"], http=http) == 0
    capsys.readouterr()
    assert main(["--db", db, "visit-sheet", visit], http=http) == 0
    rows = capsys.readouterr().out.splitlines()
    milestones = on_phone(db, http, lambda phone: phone.request(request).milestones)
    assert milestones and SHEET["milestones"] in rows, rows
    at = rows.index(SHEET["milestones"])
    for m in milestones:
        [row] = [x for x in rows[at:] if x.startswith(f"  {label('milestone', m.name)}{SHEET['screen_sep']}")]
        assert f"{SHEET['due_at']}：{m.due_local}" in row and label("milestone_status", m.status) in row, row
        assert m.explanation not in row, row  # the technician's English explanation is not the customer's
    assert rows[-1].startswith(SHEET["seal_hash"])
    # The printed sheet's own: the same milestones, the same due times in the site's zone.
    assert main(["--db", db, "sync"], http=http) == 0
    printed = " ".join(pdf_text(http, f"/api/visits/{visit}/sheet.pdf", lin.headers, tmp_path).split())
    for m in milestones:
        assert label("milestone", m.name) in printed and m.due_local in printed, m

    on_phone(db, http, lambda phone: phone.db.conn.execute("DELETE FROM service_terms"))
    capsys.readouterr()
    assert main(["--db", db, "visit-sheet", visit], http=http) == 0
    assert SHEET["milestones"] not in capsys.readouterr().out.splitlines()

"""Whom a sealed maintenance sheet names as its technician (维护人员, `verifications.technician`, m032):
who was there when the customer signed, not whom the server had assigned when the push arrived; and
the signatures recorded before m032, filled by the same rule when the database is upgraded, on SQLite
and PostgreSQL (each backend's migrations stopped before m032, rows written as that schema held them).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import msgspec

from tests.conftest import SITE
from tests.helpers import upgraded
from tests.server import test_sealing as sealing
from tests.server.test_console_desk import console
from tests.server.test_sheet_pdf import _read


def _technician(store: Any, signature_id: str) -> Any:
    with store.read() as db:
        found = db.execute("SELECT technician FROM verifications WHERE signature_id = ?", [signature_id]).fetchone()
    return json.loads(found[0]) if found and found[0] else None


def test_an_offline_signature_names_the_technician_who_was_there_not_the_one_assigned_when_it_syncs(
        http, store, site, wang, lin, tmp_path):
    # Regression (s27-fixsheet, item 1): Wang inspects offline and the customer signs on his phone; meanwhile
    # the supervisor reassigns the inspection to Zhao; Wang syncs. The seal recorded whoever was assigned when
    # the push arrived: the sheet printed 维护人员 Zhao beside the customer's signature, with no （签字后已改派）
    # note, though every check says checked_by wang. The signature's creator, a technician, is named now.
    insp = site["inspection"]
    store.add_member(SITE, "zhao")
    [moved] = lin.push([lin.change("inspections", insp, {"assigned_to": "zhao"})]).json()["results"]
    assert moved["status"] == "applied"
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    c2 = sealing._check(wang, insp, site["cam2"], "wang")
    sig_id, sig = sealing._signature(wang, insp, sealing._sheet(insp, c1, c2))
    assert sealing._results(wang.push([c1, c2, sig])) == [("applied", None)] * 3
    assert _technician(store, sig_id) == {"username": "wang", "name": "Wang"}
    text, _ = _read(lin.http.get(f"/api/inspections/{insp}/sheet.pdf", headers=lin.headers).content, tmp_path,
                    "inspection-signed-offline")
    assert "Wang" in text and "Zhao" not in text, text
    console(http, "lin")
    assignee = http.get(f"/console/inspections/{insp}").text.split('id="assignee"')[1].split("</td>")[0]
    assert assignee.startswith(">Wang") and "（签字后已改派 Zhao）" in assignee, assignee


def test_a_signature_on_a_supervisors_phone_names_the_technician_who_checked_the_sheet(
        http, store, site, wang, lin):
    # The same finding, signed on the supervisor's phone after the reassignment: Lin is no technician, so the
    # sheet names who checked its devices (wang, both checks), not the assignee (zhao).
    insp = site["inspection"]
    store.add_member(SITE, "zhao")
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    c2 = sealing._check(wang, insp, site["cam2"], "wang")
    assert sealing._results(wang.push([c1, c2])) == [("applied", None)] * 2
    [moved] = lin.push([lin.change("inspections", insp, {"assigned_to": "zhao"})]).json()["results"]
    assert moved["status"] == "applied"
    sig_id, sig = sealing._signature(lin, insp, sealing._sheet(insp, c1, c2))
    assert sealing._results(lin.push([sig])) == [("applied", None)]
    assert _technician(store, sig_id) == {"username": "wang", "name": "Wang"}


# -- m032 on a database signed before it ----------------------------------------------------------

M032 = "m032_signed_technician"
INSPECTION = "insp-1"
USERS = [("u-wang", "wang", "王工", "technician"), ("u-zhao", "zhao", "赵工", "technician"),
         ("u-lin", "lin", "林主管", "supervisor")]


def _checks(*by: str | None) -> str:
    return json.dumps({f"dev-{i}": {"outcome": "serviced", "checked_by": who} for i, who in enumerate(by)})


# (signature, its creator's user id or None, compared, the checks compared): what each should name after.
SIGNED = [
    ("s-tech", "u-wang", "sheet", _checks("zhao", "zhao")),  # a technician's phone: him
    ("s-most", "u-lin", "sheet", _checks("wang", "zhao", "wang")),  # a supervisor's: who checked most
    ("s-tie", "u-lin", "inspection", _checks("wang", "zhao")),  # a tie: the assignee among them
    ("s-tie-other", None, "sheet", _checks("wang", "lin")),  # a tie without him: the first by name
    ("s-stranger", None, "sheet", _checks("li")),  # a user not known here: his username as his name
    ("s-none", None, "sheet", _checks(None, "")),  # no one named: the assignee
    ("s-visit", "u-wang", "visit", "{}"),  # a contact sheet names no technician here
]
EXPECTED = {
    "s-tech": {"username": "wang", "name": "王工"}, "s-most": {"username": "wang", "name": "王工"},
    "s-tie": {"username": "zhao", "name": "赵工"}, "s-tie-other": {"username": "lin", "name": "林主管"},
    "s-stranger": {"username": "li", "name": "li"}, "s-none": {"username": "zhao", "name": "赵工"},
    "s-visit": None,
}


def _signed_before_m032(db: Any, mark: str) -> None:
    def insert(table: str, columns: str, values: list[Any]) -> None:
        db.execute(f"INSERT INTO {table}({columns}) VALUES ({', '.join([mark] * len(values))})", values)

    for user_id, username, name, role in USERS:
        insert("users", "id, username, name, role, password_hash, created_at",
               [user_id, username, name, role, "x", "2026-11-01T00:00:00.000Z"])
    insert("rows", "collection, id, site_id, fields, clocks, version, updated_ms",
           ["inspections", INSPECTION, SITE, json.dumps({"assigned_to": "zhao", "status": "signed"}), "{}", 1, 0])
    for signature_id, creator, compared, checks in SIGNED:
        insert("verifications", "signature_id, inspection_id, compared, checks",
               [signature_id, INSPECTION, compared, checks])
        if creator is not None:
            insert("row_creators", "collection, row_id, user_id, client_id", ["signatures", signature_id, creator, "c"])


def _named_after_upgrade(database: Any) -> dict[str, Any]:
    try:
        with database.read() as db:
            return {i: t if t is None else msgspec.json.decode(t)
                    for i, t in db.execute("SELECT signature_id, technician FROM verifications")}
    finally:
        database.close()


def test_m032_fills_the_technician_of_a_sqlite_databases_signed_sheets(tmp_path: Path) -> None:
    # Regression (s27-fixsheet, item 2): m032 added the column and filled nothing, so every sheet sealed
    # before the upgrade kept technician NULL and still printed whoever was assigned at the time of reprint.
    assert _named_after_upgrade(upgraded(tmp_path / "fieldsync.db", M032, _signed_before_m032)) == EXPECTED


def test_m032_fills_the_technician_of_a_postgresql_databases_signed_sheets(pg_url: str) -> None:
    assert _named_after_upgrade(upgraded(pg_url, M032, _signed_before_m032)) == EXPECTED

"""A new customer's site (issue 14): `POST /api/sites` and `fieldsync add-site`, on the real app."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest

from sync import errors as E
from tests.helpers import problem

ROOT = Path(__file__).resolve().parents[2]
EAST = {"name": "东区园区", "customer": "华东物业", "contract": "annual", "address": "上海市浦东新区 1 号",
        "zone": "urban", "tz": "Asia/Shanghai", "contract_price_fen": 1_200_000, "accepted_on": "2026-03-01",
        "warranty_months": 24, "members": ["wang"]}


def _audit(lin):
    return [(e["kind"], e["detail"]) for e in lin.http.get("/api/audit", headers=lin.headers).json()["entries"]]


def _new(lin, **fields):
    return lin.http.post("/api/sites", json={**EAST, **fields}, headers=lin.headers)


def test_a_supervisor_registers_a_site_and_the_member_technicians_phone_pulls_it(http, lin, new_client, row_of):
    r = _new(lin, service_terms={"on_site_hours": {"urban": 2, "suburban": 6}})
    assert r.status_code == 201, r.text
    site = r.json()
    assert site["members"] == ["wang"] and site["service_terms"] is True
    stored = row_of("sites", site["id"])
    assert stored["fields"] == {k: v for k, v in EAST.items() if k != "members"}
    assert stored["site_id"] == site["id"] and stored["version"] > 0
    assert http.get(f"/api/sites/{site['id']}/members", headers=lin.headers).json()["members"] == ["wang"]
    terms = http.get(f"/api/sites/{site['id']}/service-terms", headers=lin.headers).json()
    assert terms["terms"]["on_site_hours"] == {"urban": 2, "suburban": 6}
    audit = http.get("/api/audit", params={"kind": "site_registered"}, headers=lin.headers).json()["entries"]
    assert [(e["username"], e["detail"]["site_id"]) for e in audit] == [("lin", site["id"])]
    # The technician's phone, an SDK client with its own database, gets the site on its next sync.
    phone = new_client(http, "wang-phone", user="wang")
    phone.sync()
    fields, deleted, _ = phone.db.row("sites", site["id"])
    assert fields["name"] == "东区园区" and not deleted


def test_another_technicians_phone_does_not_get_the_site(http, lin, new_client):
    site = _new(lin).json()
    phone = new_client(http, "zhao-phone", user="zhao")
    phone.sync()
    assert phone.db.row("sites", site["id"]) is None


def test_the_same_name_for_the_same_customer_is_a_409_and_writes_nothing(lin, dump):
    first = _new(lin).json()
    before, audit = dump(), _audit(lin)
    body = problem(_new(lin, name=" 东区园区 ", service_terms={"restore_hours": 6}), 409, "site_exists")
    assert body["site_id"] == first["id"]
    assert dump() == before and _audit(lin) == audit  # no site, member, terms or audit entry of the twin
    # Another customer may have a site of that name.
    assert _new(lin, customer="华北物业").status_code == 201


@pytest.mark.parametrize("role", ["wang", "chen"])
def test_only_supervisors_register_sites(http, role, dump, request):
    # Regression (issue 14): a technician or the service desk cannot make themselves a site to sync.
    session = request.getfixturevalue(role)
    before = dump()
    problem(http.post("/api/sites", json=EAST, headers=session.headers), 403, "forbidden")
    assert dump() == before


def test_the_command_registers_a_site_for_the_import(tmp_path):
    data = tmp_path / "data"
    run = [sys.executable, "-m", "server.cli"]
    subprocess.run([*run, "init", "--data", str(data), "--demo"], cwd=ROOT, check=True, capture_output=True)
    args = [*run, "add-site", "--data", str(data), "东区园区", "--customer", "华东物业", "--contract", "annual",
            "--member", "wang", "--price-fen", "1200000"]
    done = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "东区园区" in done.stdout and "wang" in done.stdout
    again = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
    assert again.returncode == 2 and "already has a site named 东区园区" in again.stderr
    csv = tmp_path / "east.csv"
    csv.write_text("编号,系统,类型\nCAM-001,视频监控,球机\n", encoding="utf-8")
    imported = subprocess.run([*run, "import", "--data", str(data), str(csv), "--site", "东区园区"], cwd=ROOT,
                              capture_output=True, text=True)
    assert imported.returncode == 0 and "1 devices were created" in imported.stdout, imported.stderr


def test_two_registrations_of_one_name_at_once_make_one_site(store, lin, http):
    # A double-clicked form: the name check runs in the write transaction, so a racing twin sees the first.
    from server.domains.archive.schemas import NewSite
    from server.domains.archive.service import Archive

    archive, outcomes = Archive(store), []

    def register() -> None:
        try:
            outcomes.append(archive.register_site(None, NewSite(name="东区园区", customer="华东物业", contract="annual")).id)
        except E.SiteExists:
            outcomes.append("409")

    threads = [threading.Thread(target=register) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes).count("409") == 7
    with store.read() as db:
        assert db.execute("SELECT count(*) FROM rows WHERE collection = 'sites'").fetchone()[0] == 1

"""The phone's charges and duty (issue 13, item 7), with real SDK clients against the real app:
charge lines recorded offline and checked as the server checks them, the bill priced on the
phone by `sync.pricing` with the fee book cached at sync, the signed contact sheet that carries
the lines, and duty calls whose `on_duty` the phone names offline as the server derives it."""

from __future__ import annotations

import json
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest

from client_sdk import Client
from client_sdk.charges import MAX_FEE_SCHEDULES_BYTES
from client_sdk.cli import MESSAGES, main
from client_sdk.cli.charges import fen, yuan
from client_sdk.cli.common import _UserError
from sync import errors as E
from sync import hlc, sheet
from sync.duty import roster_id
from tests.client_sdk.support import supervisor_rows, switch_client
from tests.client_sdk.test_service_phone import HOUR, desk_opens
from tests.conftest import SITE, Session

STROKES = [[[0, 0], [10, 10]]]
SHANGHAI = ZoneInfo("Asia/Shanghai")


def annual_site(store: Any) -> None:
    store.write_server_changes([("sites", SITE, {"zone": "urban", "contract": "annual"}, False)])


def server_bill(lin: Any, visit: str) -> dict[str, Any]:
    resp = lin.http.get(f"/api/visits/{visit}/bill", headers=lin.headers)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def by_id(bill: dict[str, Any]) -> tuple[dict[str, Any], tuple[int, int, int, int]]:
    return ({li["id"]: li for li in bill["lines"]},
            (bill["subtotal_fen"], bill["tax_bps"], bill["tax_fen"], bill["total_fen"]))


def visit_on_phone(phone: Any, request: str) -> str:
    visit = phone.start_visit(request)
    phone.record_event(request, "arrived", visit_id=visit)
    phone.record_visit_report(visit, "resolved", work_done="IR board replaced", fault_cause="lightning")
    return visit


def test_the_bill_shown_offline_is_the_servers_bill_after_sync(server, store, site, new_client, chen, lin):
    annual_site(store)
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    link, switch = switch_client(server.http)
    phone = new_client(link)
    assert phone.sync().reference == 2  # the fee book and the duty rules

    switch.online = False  # on site, no signal
    visit = visit_on_phone(phone, request)
    labour = phone.add_charge(visit, "labour", 90)
    call = phone.add_charge(visit, "visit", 1)
    dear = phone.add_charge(visit, "part", 1, unit_price_fen=35_050, decision="agreed", decided_by="李先生",
                            description="IR board")
    cheap = phone.add_charge(visit, "part", 2, unit_price_fen=15_000, decision="agreed", decided_by="李先生")
    declined = phone.add_charge(visit, "part", 1, unit_price_fen=80_000, decision="declined", decided_by="李先生")
    offline = msgspec.to_builtins(phone.bill(visit))
    lines, totals = by_id(offline)
    # An annual contract: labour and the visit covered, a part up to 200 yuan covered, a dearer part
    # billed at its price, a declined part never billed.
    assert {i: (li["amount_fen"], li["covered"], li["billed"]) for i, li in lines.items()} == {
        labour: (30_000, True, False), call: (40_000, True, False), dear: (35_050, False, True),
        cheap: (30_000, True, False), declined: (80_000, False, False)}
    assert totals == (35_050, 600, 2_103, 37_153)
    assert switch.refused == 0  # the bill needed no network

    switch.online = True
    phone.sync()
    assert by_id(server_bill(lin, visit)) == (lines, totals)
    assert by_id(msgspec.to_builtins(phone.bill(visit))) == (lines, totals)  # the synced lines, priced again


def test_a_void_found_on_the_first_visit_bills_the_revisit_offline_as_the_server_does(
        server, store, site, new_client, chen, lin):
    # Regression (contract service.md "Warranty": a visit's `warranty_void` voids the request): the phone,
    # like the server, covered a revisit's lines under a warranty its first visit had found void.
    store.write_server_changes([("sites", SITE, {"zone": "urban", "contract": "per_visit",
                                                 "accepted_on": hlc.format_ts(hlc.wall_ms())[:10]}, False)])
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    phone = new_client(server.http)
    phone.sync()
    first = phone.start_visit(request)
    phone.record_visit_report(first, "revisit_needed", warranty_void="label_altered")
    revisit = phone.start_visit(request)
    call = phone.add_charge(revisit, "visit", 1)
    offline = by_id(msgspec.to_builtins(phone.bill(revisit)))
    assert (offline[0][call]["covered"], offline[1][0]) == (False, 40_000)
    phone.sync()
    assert by_id(server_bill(lin, revisit)) == offline


def test_the_bill_lists_lines_in_the_order_they_were_entered(server, store, site, new_client, chen, lin):
    # Regression (issue 13, lead's merge): unsynced lines were listed by their random ids, so the
    # bill the customer reads changed order from one showing to the next.
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    phone = new_client(server.http)
    phone.sync()
    visit = visit_on_phone(phone, request)
    entered = [phone.add_charge(visit, "part", 1, unit_price_fen=100 * (n + 1), decision="agreed",
                                decided_by="李先生", description=f"part {n}") for n in range(8)]
    assert [line.id for line in phone.bill(visit).lines] == entered  # 8! orders: chance cannot pass it
    phone.sync()
    assert [line["id"] for line in server_bill(lin, visit)["lines"]] == entered


def test_the_signed_sheet_carries_the_lines_and_seals_them(server, store, site, new_client, chen, lin):
    # Regression (issue 13, item 7): the customer consents to the bill by signing the sheet; the sheet
    # must hold the visit's live lines, and a line cannot change once signed.
    annual_site(store)
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    phone = new_client(server.http)
    second = new_client(server.http, "tablet")  # the same technician's tablet, synced before the signature
    phone.sync()
    visit = visit_on_phone(phone, request)
    part = phone.add_charge(visit, "part", 1, unit_price_fen=35_000, decision="agreed", decided_by="李先生")
    gone = phone.add_charge(visit, "transport", 1)
    phone.delete("charge_lines", gone)  # a deleted line is not on the sheet
    phone.add_charge(visit, "labour", 45)
    shown = phone.visit_sheet(visit)
    assert len(shown["lines"]) == 2 and gone not in shown["lines"]
    signature = phone.sign_visit(visit, "李先生", strokes=STROKES)
    # Signed, not yet synced: the phone already refuses to change the lines.
    for attempt in (lambda: phone.decide_charge(part, "declined", "李先生"),
                    lambda: phone.add_charge(visit, "diagnosis", 1)):
        with pytest.raises(E.Forbidden) as refused:
            attempt()
        assert refused.value.extra.get("reason") == "sealed"
    phone.sync()
    second.sync()

    rows = {(r["collection"], r["id"]): r["fields"] for r in supervisor_rows(server.http)}
    signed = rows[("signatures", signature)]
    lines = {i: f for (c, i), f in rows.items() if c == "charge_lines" and f["visit_id"] == visit and i != gone}
    assert signed["verification"] == "valid" and len(lines) == 2
    assert signed["sheet_sha256"] == sheet.visit_sheet_sha256(visit, rows[("service_visits", visit)], lines) \
        == shown["sheet_sha256"]
    assert {f.get("sealed_by") for f in lines.values()} == {signature}
    with pytest.raises(E.Forbidden):  # synced: sealed by the server, refused on the phone
        phone.decide_charge(part, "declined", "李先生")
    # A client that bypasses the phone's check (a raw push) is refused by the server.
    raw = next(iter(lines))
    wang = Session(server.http, "wang")
    resp = wang.push([wang.change("charge_lines", raw, {"quantity": 9})]).json()
    assert [(r["status"], r.get("reason")) for r in resp["results"]] == [("rejected", "sealed")]
    assert phone.bill(visit).total_fen == server_bill(lin, visit)["total_fen"] == 37_100


@pytest.mark.parametrize(("item", "quantity", "extra"), [
    ("part", 1, {}),  # a part without its price
    ("labour", 30, {"unit_price_fen": 100}),  # a price on a scheduled item
    ("labour", 0, {}),
    ("labour", 1_441, {}),  # past a day's minutes
    ("part", 1, {"unit_price_fen": 10_000_001}),  # past 100,000 yuan
    ("massage", 1, {}),
    ("part", 1, {"unit_price_fen": 100, "description": "x" * 501}),
])
def test_a_line_the_server_would_refuse_is_refused_on_the_phone(http, site, new_client, chen, item, quantity, extra):
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    phone = new_client(http)
    phone.sync()
    visit = phone.start_visit(request)
    before = len(phone.pending())
    with pytest.raises(E.InvalidRequest) as refused:
        phone.add_charge(visit, item, quantity, **extra)
    assert refused.value.extra.get("reason") == "invalid_field"
    assert len(phone.pending()) == before


ROSTER = {"month": "2026-M11", "technician": "wang"}


@pytest.mark.parametrize(("local", "expected"), [
    ("2026-11-07 21:00", "wang"),  # a Saturday evening: on call
    ("2026-11-09 10:00", None),  # a Monday morning: the office answers
    ("2026-11-07 22:31", None),  # after the on-call hours
    ("2026-11-09 08:00", "wang"),  # before the office opens
])
def test_a_duty_call_logged_offline_gets_the_on_duty_the_server_derives(
        server, site, new_client, lin, local, expected):
    resp = lin.push([lin.change("duty_roster", roster_id("2026-M11"), ROSTER)]).json()
    assert [r["status"] for r in resp["results"]] == ["applied"]
    at = int(datetime.strptime(local, "%Y-%m-%d %H:%M").replace(tzinfo=SHANGHAI).timestamp() * 1000)
    link, switch = switch_client(server.http)
    clock = [at]
    phone = new_client(link, wall=lambda: clock[0])  # the phone's clock says when the call came
    phone.sync()
    switch.online = False
    call = phone.log_duty_call("李先生", "13800000000", "gate reader offline", 300, "solved_by_phone", site_id=SITE)
    [shown] = phone.duty(now_ms=at).calls
    assert (shown.id, shown.on_duty, shown.pending, shown.received_local) == (call, expected, True, local)
    assert phone.duty(now_ms=at).technician == expected
    switch.online = True
    clock[0] = hlc.wall_ms()  # it syncs later, its clock right (one a month slow would be corrected: test_duty.py)
    phone.sync()
    rows = {r["id"]: r["fields"] for r in supervisor_rows(server.http) if r["collection"] == "duty_calls"}
    assert rows[call].get("on_duty") == expected
    assert phone.duty(now_ms=at).calls[0].on_duty == expected and not phone.duty(now_ms=at).calls[0].pending


class Reference(httpx.BaseTransport):
    """The real app, where the reference endpoints answer as an older server (404) or with `body`."""

    def __init__(self, inner: httpx.BaseTransport) -> None:
        self.inner, self.older, self.body = inner, False, None

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        ours = request.url.path in ("/api/fee-schedules", "/api/duty/rules")
        if ours and self.older:
            request = httpx.Request(request.method, request.url.copy_with(path="/api/no-such-route"),
                                    headers=request.headers)
        response = self.inner.handle_request(request)
        if ours and self.body is not None and request.url.path == "/api/fee-schedules":
            response.read()
            return httpx.Response(200, headers={"content-type": "application/json"}, content=self.body)
        return response


def _fees(http: Any, lin: Any, **change: Any) -> bytes:
    body = http.get("/api/fee-schedules", headers=lin.headers).json()
    return json.dumps({**body, **change}).encode()


def test_an_older_server_or_a_bad_answer_keeps_the_cached_reference_data(http, site, new_client, lin):
    transport = Reference(http._transport)
    phone = new_client(httpx.Client(transport=transport, base_url=http.base_url))
    assert phone.sync().reference == 2
    transport.older = True
    assert phone.sync().reference == 0
    assert phone.fee_schedules() is not None and phone.duty_rules() is not None
    transport.older = False
    for body in (_fees(http, lin, pad="x" * MAX_FEE_SCHEDULES_BYTES),  # over the bound
                 _fees(http, lin, tax_bps=10_001), _fees(http, lin, tax_bps=6.5),  # not basis points
                 _fees(http, lin, schedules=[]), b"{not json"):
        transport.body = body
        assert phone.sync().reference == 1  # the duty rules only
        assert phone.fee_schedules()[1] == 600
    transport.body = _fees(http, lin, tax_bps=900)  # the same answer within its rules is kept
    assert phone.sync().reference == 2 and phone.fee_schedules()[1] == 900


def test_a_phone_without_a_fee_book_says_so(http, site, new_client, chen, tmp_path, capsys):
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    transport = Reference(http._transport)
    transport.older = True
    link = httpx.Client(transport=transport, base_url=http.base_url)
    db = str(tmp_path / "old.db")
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=link) == 0
    assert main(["--db", db, "sync"], http=link) == 0
    assert main(["--db", db, "visit", request], http=link) == 0
    visit = re.search(r"visit ([0-9a-f-]{36})", capsys.readouterr().out).group(1)
    assert main(["--db", db, "bill", visit], http=link) == 2
    assert MESSAGES["no_fees"] in capsys.readouterr().err
    assert main(["--db", db, "duty"], http=link) == 0
    assert MESSAGES["no_duty_rules"] in capsys.readouterr().out


def test_a_month_without_a_roster_is_said_on_the_phone_not_nobody_on_duty(http, site, lin, tmp_path, capsys):
    # Regression (phone30, item 3): with no roster for the month, the phone's `duty` said "nobody (office hours,
    # or outside the on-call hours)", as on any quiet evening: the technician was not told that nobody is on
    # call all month, nor whom to ask. It now says the month has no roster and to ask the service desk.
    db = str(tmp_path / "duty.db")
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    capsys.readouterr()
    assert main(["--db", db, "duty"], http=http) == 0
    out = capsys.readouterr().out
    month = re.search(r"Calls of (\S+):", out).group(1)
    assert f"no duty roster for {month}" in out and "office hours" not in out
    assert MESSAGES["no_roster"].format(month=month) in out
    assert main(["--db", db, "duty-call", "--caller", "李先生", "--phone", "13800000000", "--summary", "gate",
                 "--duration", "60", "--outcome", "follow_up"], http=http) == 0
    assert f"on duty: {MESSAGES['no_roster'].format(month=month)}." in capsys.readouterr().out
    # Rostered, the month's quiet hours are said as before, and the technician on call by name.
    resp = lin.push([lin.change("duty_roster", roster_id(month), {"month": month, "technician": "wang",
                                                                  "from": "00:00", "until": "23:59"})]).json()
    assert [r["status"] for r in resp["results"]] == ["applied"]
    assert main(["--db", db, "sync"], http=http) == 0
    capsys.readouterr()
    assert main(["--db", db, "duty"], http=http) == 0
    out = capsys.readouterr().out
    assert "no duty roster" not in out and ("On duty now: wang." in out or MESSAGES["nobody_on_duty"] in out)


@pytest.mark.parametrize(("text", "expected"), [
    ("350", 35_000), ("350.5", 35_050), ("350.50", 35_050), ("0.01", 1), ("¥1200", 120_000),
    ("0.1", 10), ("999999999.99", 99_999_999_999)])
def test_yuan_typed_becomes_integer_fen_exactly(text, expected):
    assert fen(text) == expected and type(fen(text)) is int
    assert yuan(expected).replace(",", "") == f"{expected // 100}.{expected % 100:02d}"


@pytest.mark.parametrize("text", ["350.505", "-5", "1e3", "3,50", "", "abc", "1" * 10, "nan"])
def test_a_price_that_is_not_yuan_with_two_decimals_is_refused(text):
    with pytest.raises(_UserError):
        fen(text)


def cli_visit(db: str, http: Any, request: str, capsys: pytest.CaptureFixture[str]) -> str:
    """wang signed in on the CLI's phone, synced, and a visit of `request` started: its id."""
    assert main(["--db", db, "login", "wang", "--password", "demo"], http=http) == 0
    assert main(["--db", db, "sync"], http=http) == 0
    assert main(["--db", db, "visit", request], http=http) == 0
    return re.search(r"visit ([0-9a-f-]{36})", capsys.readouterr().out).group(1)


def test_the_cli_records_charges_shows_the_bill_and_logs_a_duty_call(server, store, site, chen, lin, tmp_path,
                                                                     capsys):
    annual_site(store)
    http = server.http
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    db = str(tmp_path / "cli.db")
    visit = cli_visit(db, http, request, capsys)
    assert main(["--db", db, "charge", visit[:8], "labour", "90"], http=http) == 0
    assert main(["--db", db, "charge", visit, "part", "1", "--price", "350.50", "--agreed", "--by", "李先生",
                 "--description", "IR board"], http=http) == 0
    assert main(["--db", db, "charge", visit, "part", "1", "--price", "80", "--declined"], http=http) == 0
    assert "Recorded part × 1" in capsys.readouterr().out
    assert main(["--db", db, "charge", visit, "part", "1", "--price", "80.001"], http=http) == 2
    assert "two decimals" in capsys.readouterr().err
    assert main(["--db", db, "charge", visit, "part", "1"], http=http) == 1  # no price: the collection's rule
    assert "unit_price_fen" in capsys.readouterr().err
    assert main(["--db", db, "bill", visit], http=http) == 0
    out = capsys.readouterr().out
    assert MESSAGES["bill_offline"] in out and "total 371.53 yuan" in out  # 350.50 + 6 %, to the fen
    assert re.search(r"part .* IR board .* 350\.50  billed", out) and "declined" in out
    assert re.search(r"labour .* 90 .* 300\.00  covered", out)

    assert main(["--db", db, "duty-call", "--caller", "李先生", "--phone", "13800000000", "--summary",
                 "gate reader offline", "--duration", "300", "--outcome", "follow_up", "--site", "Test park"],
                http=http) == 0
    first = re.search(r"duty call ([0-9a-f-]{36})", capsys.readouterr().out).group(1)
    assert main(["--db", db, "duty-call", "--caller", "李先生", "--phone", "13800000000", "--summary", "fixed",
                 "--duration", "60", "--outcome", "solved_by_phone", "--follows", first[:8], "--request", request],
                http=http) == 0
    assert main(["--db", db, "duty-call", "--caller", "x", "--phone", "1", "--summary", "long", "--duration",
                 str(5 * 3600), "--outcome", "not_ours"], http=http) == 1  # past four hours
    capsys.readouterr()
    assert main(["--db", db, "duty"], http=http) == 0
    out = capsys.readouterr().out
    assert out.startswith("On duty now:") and out.count("李先生") == 2 and MESSAGES["not_synced"].strip() in out
    assert main(["--db", db, "sync"], http=http) == 0
    rows = {r["id"]: r["fields"] for r in supervisor_rows(http) if r["collection"] in ("duty_calls", "charge_lines")}
    assert sorted(f["unit_price_fen"] for f in rows.values() if f.get("item") == "part") == [8_000, 35_050]
    assert [f["follows_id"] for f in rows.values() if f.get("follows_id")] == [first]
    assert server_bill(lin, visit)["total_fen"] == 37_153


def test_the_contact_sheet_shown_before_signing_gives_times_in_the_sites_zone_and_prices_in_yuan(
        http, site, chen, tmp_path, capsys):
    """Regression (s26-phone5 item 1): `visit-sheet`, the contact sheet the customer reads before signing,
    showed `recorded_at 2026-12-07T07:39:39.931Z` and `unit_price_fen=35050` where the printed sheet says
    15:39 and 350.50 yuan."""
    request = desk_opens(chen, site, hlc.wall_ms() - HOUR)
    db = str(tmp_path / "cli.db")
    visit = cli_visit(db, http, request, capsys)
    assert main(["--db", db, "report", visit, "--outcome", "resolved", "--work-done", "IR board replaced"],
                http=http) == 0
    assert main(["--db", db, "charge", visit, "part", "1", "--price", "350.50", "--agreed", "--by", "李先生",
                 "--description", "IR board"], http=http) == 0
    capsys.readouterr()
    assert main(["--db", db, "visit-sheet", visit], http=http) == 0
    out = capsys.readouterr().out
    phone = Client(db, http)
    try:
        recorded = phone.get("service_visits", visit)["fields"]["recorded_at"]
        [decided] = [f["decided_at"] for f in dict(phone.visit_charges(visit)).values()]
    finally:
        phone.close()
    local = {at: datetime.fromtimestamp(hlc.parse_ts(at) / 1000, ZoneInfo("Asia/Shanghai")).strftime(
        "%Y-%m-%d %H:%M") for at in (recorded, decided)}
    assert re.search(rf"^记录时间：{local[recorded]}$", out, re.M), out
    assert f"（李先生 {local[decided]}）" in out and "单价：350.50" in out
    assert not re.search(r"\dT\d\d:", out) and "35050" not in out

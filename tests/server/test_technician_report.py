"""The monthly technician report (issue 13, item 4): its shape, months in the site's time zone, late
rows, integers only, and the CSV Excel opens; through the real app."""

from __future__ import annotations

import csv
import io
import uuid
from typing import Any

from tests.conftest import Session
from tests.helpers import ok
from tests.server.test_callbacks import callback, sealed
from tests.server.test_service import open_request, results
from tests.server.test_visit_sealing import AT, handled, visit_fields

URL = "/api/reports/technicians"


def report(session: Session, month: str = "2026-M11") -> dict[str, Any]:
    return {t["username"]: t for t in ok(session.http.get(URL, headers=session.headers,
                                                          params={"month": month}))["technicians"]}


def _floats(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [f for v in value.values() for f in _floats(v)]
    if isinstance(value, list):
        return [f for v in value for f in _floats(v)]
    return [value] if isinstance(value, float) else []


def test_the_report_has_the_contracts_shape_in_integers(site, chen, wang, lin):
    # The visit is recorded and signed on 20 November 2026 (AT); three call-backs in November.
    _request, visit = sealed(chen, wang, AT)
    _other, unsigned, _ = handled(chen, wang)
    assert results(chen, [callback(chen, visit, "2026-11-20T11:00:00.000Z", reached=False),
                          callback(chen, visit, "2026-11-20T12:00:00.000Z", rating="very_satisfied"),
                          callback(chen, visit, "2026-11-21T02:00:00.000Z", rating="average"),
                          callback(chen, unsigned, "2026-11-21T03:00:00.000Z", rating="dissatisfied")]) == [
        ("applied", None)] * 4
    body = ok(lin.http.get(URL, headers=lin.headers, params={"month": "2026-M11"}))
    assert body["month"] == "2026-M11" and _floats(body) == []
    [wang_row] = body["technicians"]
    assert wang_row == {
        "username": "wang", "visits": 2, "sealed_sheets": 1, "callbacks_reached": 3, "points": 2,
        "mean_points": 67,  # (5 + 2 - 5) / 3 = 0.666…: 0.67 in hundredths
        "distribution": {"very_satisfied": 1, "satisfied": 0, "average": 1, "no_opinion": 0, "dissatisfied": 1},
        "callback_coverage": 1000,  # the one sealed sheet was called back
        # Arrived and fixed within their targets; the call-back came before midnight after the signature.
        "milestones_met": {"on_site": 1000, "fix": 1000, "callback": 1000}}
    # The desk reads it too; another month is empty.
    assert report(chen)["wang"] == wang_row
    assert report(lin, "2026-M10") == {}


def test_a_call_back_at_2330_local_on_the_last_day_counts_in_that_month(site, chen, wang, lin):
    # Regression (issue 13, item 4): months are the site's (Asia/Shanghai), not UTC's.
    _request, visit = sealed(chen, wang, AT)
    assert results(chen, [callback(chen, visit, "2026-11-30T15:30:00.000Z", rating="satisfied"),  # 23:30 local
                          callback(chen, visit, "2026-11-30T16:30:00.000Z", rating="average")]) == [  # 1 Dec 00:30
        ("applied", None)] * 2
    assert report(lin)["wang"]["distribution"]["satisfied"] == 1
    assert report(lin)["wang"]["distribution"]["average"] == 0
    december = report(lin, "2026-M12")["wang"]
    assert (december["callbacks_reached"], december["points"], december["visits"]) == (1, 2, 0)


def test_a_row_that_syncs_late_counts_when_the_report_is_read_again(site, chen, wang, lin):
    _request, visit = sealed(chen, wang, AT)
    assert report(lin)["wang"]["callbacks_reached"] == 0
    assert report(lin)["wang"]["callback_coverage"] == 0
    # A November call-back and a November visit of zhao's colleague pushed in December (or whenever).
    request = open_request(chen)
    late_visit = str(uuid.uuid4())
    assert results(lin, [lin.change("service_visits", late_visit, visit_fields(request, technician="王师傅",
                                                                                  recorded_by="lin"))]) == [
        ("applied", None)]
    assert results(chen, [callback(chen, visit, "2026-11-25T08:00:00.000Z", rating="very_satisfied")]) == [
        ("applied", None)]
    again = report(lin)
    assert (again["wang"]["callbacks_reached"], again["wang"]["points"], again["wang"]["callback_coverage"]) == (
        1, 5, 1000)
    assert again["王师傅"]["visits"] == 1


def test_the_csv_opens_in_excel_with_chinese_intact_and_integers_only(site, chen, wang, lin):
    _request, visit = sealed(chen, wang, AT)
    request = open_request(chen)
    assert results(lin, [lin.change("service_visits", str(uuid.uuid4()), visit_fields(
        request, technician="=王师傅", recorded_by="lin"))]) == [("applied", None)]
    assert results(chen, [callback(chen, visit, "2026-11-20T12:00:00.000Z", rating="satisfied")]) == [
        ("applied", None)]
    r = lin.http.get(URL, headers=lin.headers, params={"month": "2026-M11", "format": "csv"})
    assert r.status_code == 200 and r.headers["content-type"] == "text/csv; charset=utf-8"
    assert r.content.startswith(b"\xef\xbb\xbf")  # UTF-8 with a BOM
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    by_name = {row["username"]: row for row in rows}
    assert set(by_name) == {"wang", "'=王师傅"}  # a name is never a formula
    wang_row = by_name["wang"]
    assert (wang_row["month"], wang_row["visits"], wang_row["points"], wang_row["mean_points_hundredths"],
            wang_row["rating_satisfied"], wang_row["callback_coverage_per_mille"]) == (
        "2026-M11", "1", "3", "300", "1", "1000")
    cells = [v for row in rows for k, v in row.items() if k not in ("month", "username")]
    assert cells and all(v == "" or v.lstrip("-").isdigit() for v in cells)
    assert ok(lin.http.get(URL, headers=lin.headers, params={"month": "2026-M11"}))["technicians"][0][
        "username"] == "=王师傅"  # JSON keeps it as written


def test_the_callback_met_rate_counts_late_and_missing_call_backs(site, chen, wang, lin):
    # Three sheets signed on 20 November at 18:15 local: one called back that evening (met), one the
    # next morning (breached), one never (breached once its midnight passed): 1 of 3 met.
    visits = [sealed(chen, wang, AT)[1] for _ in range(3)]
    assert results(chen, [callback(chen, visits[0], "2026-11-20T12:00:00.000Z", rating="satisfied"),
                          callback(chen, visits[1], "2026-11-21T01:00:00.000Z", rating="satisfied")]) == [
        ("applied", None)] * 2
    wang_row = report(lin)["wang"]
    assert wang_row["milestones_met"]["callback"] == 333
    assert (wang_row["sealed_sheets"], wang_row["callback_coverage"]) == (3, 666)


def test_a_technician_cannot_credit_a_visit_to_a_colleague(site, chen, wang):
    # Regression (issue 13 note, "noticed and left"): the report credits a visit's `technician`, a
    # field the phone writes: wang could put zhao's name on his own visit (or an empty one on zhao's
    # report). A technician names only themselves there; the desk and supervisors name anyone.
    import uuid

    from tests.server.test_service import open_request, results

    request = open_request(chen, assigned_to="wang")
    mine, theirs = str(uuid.uuid4()), str(uuid.uuid4())
    assert results(wang, [wang.change("service_visits", mine, {"request_id": request, "technician": "wang"}),
                          wang.change("service_visits", theirs, {"request_id": request, "technician": "zhao"})]) == [
        ("applied", None), ("rejected", "forbidden")]
    assert results(wang, [wang.change("service_visits", mine, {"technician": "zhao"})]) == [("rejected", "forbidden")]

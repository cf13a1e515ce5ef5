"""The month's technician report and a visit's bill at company size, over HTTP against a real
server, beside the plain SQL aggregate of the same rows.

    python bench/billing.py [--scale 1000] [--data DIR] [--samples 50]

Builds (or reuses, with --data) a database of N sites (default 20; the issue's
figure is `--scale 1000`), one technician per five sites, and 30 repair visits
a site in the last local month: each a request with its events, the visit's
result, 1 to 4 charge lines priced by `sync.pricing` as the server prices them,
most sheets sealed by the customer's signature, most of those called back
(some after an unanswered attempt), and the requests' stored milestones.
Starts `fieldsync serve` on it, signs in as the supervisor lin, and measures:

- the monthly report (`GET /api/reports/technicians?month=`, JSON and CSV),
  beside one plain SQL aggregate of the same rows that computes the same
  numbers (checked equal once): target median < 500 ms;
- a visit's bill (`GET /api/visits/{id}/bill`), beside the plain SQL sum of
  its billed lines (checked equal on the visits measured): target < 10 ms.

Prints figures; never asserts a time. Issue 13, "Speed".
"""

from __future__ import annotations

import random
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import ServerProcess, signed_in
from bench.coverage import _ms, _timed
from bench.service import _REGS, print_timings, run_main
from server.domains.billing.service import fee_book
from server.domains.callbacks.service import month_bounds
from server.domains.service.service import refresh_clocks
from server.scale import _clocks, _Writer
from server.services import Store
from server.settings import Settings
from server.storage.sqlite.connection import connect
from sync import hlc, pricing, schema
from sync.collections.callbacks import RATINGS, points_for
from sync.collections.service import request_status
from sync.merge import RowState
from sync.periods import period_of, site_today

SITES_PER_TECHNICIAN = 5
VISITS_PER_SITE = 30
TZ = "Asia/Shanghai"  # every generated site's: the plain SQL counts one month's bounds for all
MINUTE, HOUR = 60_000, 3_600_000
_RATED = [r for r, share in zip(RATINGS, (50, 30, 10, 5, 5), strict=True) for _ in range(share)]


def last_month() -> str:
    """The local month before this one (`2026-M11`): every visit of the bench is in it."""
    first = site_today(TZ).replace(day=1)
    return period_of(first - timedelta(days=1), "monthly")


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


class _Maker:
    """One generated visit after another, written by `_Writer` (the same derived columns as any write)."""

    def __init__(self, out: _Writer, rng: random.Random, seed: int) -> None:
        self.out, self.rng = out, rng
        self.namespace = uuid.uuid5(schema.NS, f"billing-bench/{seed}")

    def id(self, *parts: object) -> str:
        return str(uuid.uuid5(self.namespace, "/".join(map(str, parts))))

    def add(self, collection: str, row_id: str, fields: dict[str, Any], site_id: str | None = None) -> None:
        """A row; with `site_id`, a parent its children find their site through."""
        self.out.add(collection, row_id, fields, _clocks(_REGS[collection], self.out.hlc()))
        if site_id is not None:
            self.out.parents[(collection, row_id)] = RowState(collection, row_id, fields, site_id=site_id)

    def site(self, index: int) -> tuple[str, dict[str, Any], dict[str, Any]]:
        rng = self.rng
        site_id = self.id("site", index)
        site = {"name": f"Site {index}", "tz": TZ, "zone": rng.choice(["urban", "urban", "suburban"]),
                "contract": rng.choice(["annual", "annual", "per_visit", "warranty"]),
                "accepted_on": (site_today(TZ) - timedelta(days=rng.randrange(60, 1500))).isoformat(),
                "warranty_months": rng.choice([12, 24, 36])}
        self.add("sites", site_id, site)
        device = {"site_id": site_id, "system": "video", "kind": "dome_camera", "code": "D-1", "status": "active"}
        self.add("devices", self.id("device", index), device)
        return site_id, site, {**device, "id": self.id("device", index)}

    def visit(self, site_id: str, site: dict[str, Any], device: dict[str, Any], tech: str, key: str,
              start: int, end: int) -> str:
        """A repair request handled in one visit, its lines, perhaps sealed and called back; its id."""
        rng = self.rng
        reported = rng.randrange(start, end - 8 * HOUR)
        kinds = ("accepted", "departed", "arrived", "fixed", "left")
        steps = (rng.randrange(5, 30) * MINUTE, rng.randrange(5, 60) * MINUTE, rng.randrange(20, 300) * MINUTE,
                 rng.randrange(20, 600) * MINUTE, rng.randrange(5, 30) * MINUTE)
        sealed = rng.random() < 0.85
        request_id, visit_id = self.id("request", key), self.id("visit", key)
        request = {"site_id": site_id, "device_id": device["id"], "reported_at": hlc.format_ts(reported),
                   "channel": "hotline", "kind": "repair", "complexity": rng.choice(["ordinary", "complex"]),
                   "caller_name": "Ms Chen", "assigned_to": tech, "number": f"SR-B-{key}",
                   "status": request_status(True, list(kinds), signed=sealed)[0]}
        self.add("service_requests", request_id, request, site_id)
        at = reported
        for n, (kind, step) in enumerate(zip(kinds, steps, strict=True)):
            at += step
            self.add("service_events", self.id("event", key, n),
                     {"request_id": request_id, "visit_id": visit_id, "kind": kind, "at": hlc.format_ts(at),
                      "effective_at": hlc.format_ts(at), "clock": "as_sent", "by": tech})
        signature_id = self.id("signature", key) if sealed else None
        visit = {"request_id": request_id, "technician": tech, "outcome": "resolved", "work_done": "Replaced the PSU",
                 "fault_cause": "power supply", "recorded_by": tech, "recorded_at": hlc.format_ts(at),
                 "visit_no": 1, "sheet_no": f"SR-B-{key}-1", "sealed_by": signature_id}
        self.add("service_visits", visit_id, visit, site_id)
        ctx = pricing.context(fee_book(), site=site, request=request, visit=visit, device=device)
        for n, line in enumerate(self._lines()):
            found = pricing.price(line, ctx)
            self.add("charge_lines", self.id("line", key, n),
                     {"visit_id": visit_id, **line, "amount_fen": found.amount_fen, "covered": found.covered,
                      "sealed_by": signature_id})
        if signature_id is not None:
            signed = at + rng.randrange(1, 10) * MINUTE
            self.add("signatures", signature_id, {
                "visit_id": visit_id, "signer_name": "Ms Chen", "signer_role": "customer",
                "signed_at": hlc.format_ts(signed), "image_sha256": _hex(rng), "sheet_sha256": _hex(rng),
                "verification": "valid"})
            self._callbacks(key, visit_id, signed)
        return request_id

    def _lines(self) -> list[dict[str, Any]]:
        rng = self.rng
        lines: list[dict[str, Any]] = [{"item": "visit", "quantity": 1}]
        if rng.random() < 0.5:
            lines.append({"item": "diagnosis", "quantity": 1})
        if rng.random() < 0.7:
            lines.append({"item": "labour", "quantity": rng.randrange(10, 240)})
        if rng.random() < 0.4:
            lines.append({"item": "part", "quantity": 1, "description": "PSU 12 V 2 A",
                          "unit_price_fen": rng.randrange(50, 600) * 100,
                          "decision": "agreed" if rng.random() < 0.8 else "declined", "decided_by": "Ms Chen"})
        return lines

    def _callbacks(self, key: str, visit_id: str, signed: int) -> None:
        """Most sealed sheets are called back the same day, some after an unanswered attempt."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.1:
            return
        called = signed + rng.randrange(30, 300) * MINUTE
        if roll < 0.25:
            self.add("callbacks", self.id("callback", key, 0),
                     {"visit_id": visit_id, "called_at": hlc.format_ts(called), "called_by": "chen", "reached": False})
            called += rng.randrange(10, 120) * MINUTE
        fields = {"visit_id": visit_id, "called_at": hlc.format_ts(called), "called_by": "chen", "reached": True,
                  "rating": rng.choice(_RATED)}
        self.add("callbacks", self.id("callback", key, 1), {**fields, "points": points_for(fields)})


def build(store: Store, scale: int, month: str, seed: int = 0) -> int:
    """`scale` sites with 30 visits each in `month`, bulk-loaded, and their requests' stored
    clocks and milestones; the number of visits."""
    start, end = (hlc.parse_ts(t) for t in month_bounds(month, TZ))
    ids = []
    with store.write() as db:
        now = store.now_ms()
        out = _Writer(store, db, now)
        maker = _Maker(out, random.Random(seed), seed)
        for index in range(scale):
            site_id, site, device = maker.site(index)
            tech = f"tech{index // SITES_PER_TECHNICIAN:03d}"
            ids += [maker.visit(site_id, site, device, tech, f"{index:04d}-{n:02d}", start, end)
                    for n in range(VISITS_PER_SITE)]
        out.close()
        db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [store.clock.last])
        refresh_clocks(db, ids, now)
    return len(ids)


# -- the plain SQL ------------------------------------------------------------------------------

_TECH = "json_extract(v.fields, '$.technician')"
_AT = "json_extract({0}.fields, '$.{1}') >= :lo AND json_extract({0}.fields, '$.{1}') < :hi"
_PER_MILLE = "CASE WHEN ({1}) > 0 THEN ({0}) * 1000 / ({1}) END"
_DECIDED = "sum(m.status = 'met') AS met, sum(m.status = 'breached' OR (m.status = 'open' AND m.breach_at <= :now)) AS bad"
_PLAIN = {
    "visits": f"SELECT {_TECH} AS t, count(*) AS n FROM rows v WHERE v.collection = 'service_visits' AND v.deleted = 0"
              f" AND {_AT.format('v', 'recorded_at')} GROUP BY 1",
    "sealed": f"SELECT {_TECH} AS t, count(*) AS n, sum(EXISTS (SELECT 1 FROM rows c WHERE c.collection = 'callbacks'"
              " AND c.parent_id = v.id AND c.deleted = 0 AND json_extract(c.fields, '$.reached') = 1)) AS covered"
              " FROM rows s JOIN rows v ON v.collection = 'service_visits' AND v.id = s.parent_id AND v.deleted = 0"
              " AND json_extract(v.fields, '$.sealed_by') = s.id"
              f" WHERE s.collection = 'signatures' AND s.deleted = 0 AND {_AT.format('s', 'signed_at')} GROUP BY 1",
    "ratings": f"SELECT {_TECH} AS t, json_extract(c.fields, '$.rating') AS rating, count(*) AS n,"
               " coalesce(sum(json_extract(c.fields, '$.points')), 0) AS p"
               " FROM rows c JOIN rows v ON v.collection = 'service_visits' AND v.id = c.parent_id AND v.deleted = 0"
               " WHERE c.collection = 'callbacks' AND c.deleted = 0 AND json_extract(c.fields, '$.reached') = 1"
               f" AND {_AT.format('c', 'called_at')} GROUP BY 1, 2",
    "milestones": f"SELECT t, name, {_PER_MILLE.format('met', 'met + bad')} FROM ("
                  f" SELECT mine.t, m.name, {_DECIDED} FROM (SELECT DISTINCT {_TECH} AS t, v.parent_id AS request_id"
                  "  FROM rows v WHERE v.collection = 'service_visits' AND v.deleted = 0"
                  f"  AND {_AT.format('v', 'recorded_at')}) AS mine"
                  " JOIN service_milestones m ON m.request_id = mine.request_id AND m.name <> 'callback' GROUP BY 1, 2"
                  f" UNION ALL SELECT {_TECH}, m.name, {_DECIDED}"
                  " FROM rows s JOIN rows v ON v.collection = 'service_visits' AND v.id = s.parent_id AND v.deleted = 0"
                  " AND json_extract(v.fields, '$.sealed_by') = s.id"
                  " JOIN service_milestones m ON m.visit_id = v.id AND m.name = 'callback'"
                  f" WHERE s.collection = 'signatures' AND s.deleted = 0 AND {_AT.format('s', 'signed_at')}"
                  " GROUP BY 1, 2)",
}


def plain_report(db: Any, month: str, now_ms: int) -> dict[str, dict[str, Any]]:
    """The month's report of every technician from plain SQL aggregates over the same rows (one
    month's bounds for every site: all of the bench's are in one zone), the rates and the mean
    in SQL too: {username: the report's row}."""
    lo, hi = month_bounds(month, TZ)
    args = {"lo": lo, "hi": hi, "now": now_ms}
    out: dict[str, dict[str, Any]] = {}

    def tech(name: str) -> dict[str, Any]:
        return out.setdefault(name, {"username": name, "visits": 0, "sealed_sheets": 0, "callbacks_reached": 0,
                                     "points": 0, "mean_points": None, "distribution": dict.fromkeys(RATINGS, 0),
                                     "callback_coverage": None, "milestones_met": {}})

    for name, n in db.execute(_PLAIN["visits"], args):
        tech(name)["visits"] = n
    for name, n, covered in db.execute(f"SELECT t, n, {_PER_MILLE.format('covered', 'n')} FROM ({_PLAIN['sealed']})",
                                       args):
        tech(name).update(sealed_sheets=n, callback_coverage=covered)
    mean = ("CASE WHEN rated > 0 THEN CASE WHEN points >= 0 THEN (points * 200 + rated) / (2 * rated)"
            " ELSE -((-points * 200 + rated) / (2 * rated)) END END")
    for name, reached, points, hundredths in db.execute(
            f"SELECT t, n, points, {mean} FROM (SELECT t, sum(n) AS n, sum(p) AS points,"
            f" coalesce(sum(n) FILTER (WHERE rating IS NOT NULL), 0) AS rated FROM ({_PLAIN['ratings']}) GROUP BY t)",
            args):
        tech(name).update(callbacks_reached=reached, points=points, mean_points=hundredths)
    for name, rating, n, _ in db.execute(_PLAIN["ratings"], args):
        if rating is not None:
            tech(name)["distribution"][rating] = n
    for name, milestone, rate in db.execute(_PLAIN["milestones"], args):
        tech(name)["milestones_met"][milestone] = rate
    return out


def plain_bill(db: Any, visit_id: str, tax_bps: int) -> tuple[int, int, int]:
    """(subtotal, tax, total) in fen of a visit's billed lines, summed by SQL."""
    return db.execute(
        "SELECT s, (s * :bps + 5000) / 10000, s + (s * :bps + 5000) / 10000 FROM (SELECT coalesce(sum("
        " json_extract(fields, '$.amount_fen')) FILTER (WHERE json_extract(fields, '$.covered') = 0"
        " AND (json_extract(fields, '$.item') <> 'part' OR json_extract(fields, '$.decision') = 'agreed')), 0) AS s"
        " FROM rows WHERE collection = 'charge_lines' AND parent_id = :visit AND deleted = 0)",
        {"bps": tax_bps, "visit": visit_id}).fetchone()


# -- the run ------------------------------------------------------------------------------------


def _prepare(data: Path, scale: int) -> tuple[str, list[str]]:
    store = Store(Settings(data_dir=data))
    try:
        marker = data / ".built-billing"
        if not marker.exists():
            store.create_user("lin", "Lin", "supervisor", "demo", demo=True)
            t0 = time.perf_counter()
            month = last_month()
            count = build(store, scale, month)
            print(f"built {scale} sites, {count} visits in {month} with their requests, events, lines,"
                  f" signatures, call-backs and stored milestones: {time.perf_counter() - t0:.1f} s")
            marker.write_text(month)
        else:
            print(f"reusing {data}")
        with store.read() as db:
            visits = [r[0] for r in db.execute(
                "SELECT id FROM rows WHERE collection = 'service_visits' ORDER BY id")]
        return marker.read_text(), visits
    finally:
        store.close()


def run(data: Path, scale: int, samples: int) -> dict[str, Any]:
    month, visits = _prepare(data, scale)
    rng = random.Random(1)
    tax_bps = Settings(data_dir=data).tax_bps
    results: dict[str, Any] = {"month": month, "visits": len(visits)}
    server = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as http:
            auth = signed_in(http)

            def report(fmt: str = "json") -> httpx.Response:
                r = http.get("/api/reports/technicians", params={"month": month, "format": fmt}, headers=auth)
                r.raise_for_status()
                return r

            def bill(visit_id: str) -> dict[str, Any]:
                r = http.get(f"/api/visits/{visit_id}/bill", headers=auth)
                r.raise_for_status()
                return dict(r.json())

            body = report().json()
            chosen = [rng.choice(visits) for _ in range(samples)]
            db = connect(data / "fieldsync.db")
            try:
                plain = plain_report(db, month, hlc.wall_ms())
                served = {t["username"]: t for t in body["technicians"]}
                results["same_numbers"] = served == plain
                if served != plain:
                    wrong = sorted(u for u in served.keys() | plain.keys() if served.get(u) != plain.get(u))
                    raise AssertionError(f"the report and the plain SQL differ for {wrong[:5]}:"
                                         f" {served.get(wrong[0])} != {plain.get(wrong[0])}")
                bills = {v: bill(v) for v in sorted(set(chosen))}
                results["same_bills"] = all(
                    (b["subtotal_fen"], b["tax_fen"], b["total_fen"]) == tuple(plain_bill(db, v, tax_bps))
                    for v, b in bills.items())
                if not results["same_bills"]:
                    raise AssertionError("a bill differs from the plain SQL sum of its billed lines")
                # Seconds each at company scale (it reads every row's JSON): fewer samples.
                results["plain_report_ms"] = _ms(_timed([lambda: plain_report(db, month, hlc.wall_ms())]
                                                        * max(3, samples // 5)))
                results["plain_bill_ms"] = _ms(_timed([lambda v=v: plain_bill(db, v, tax_bps) for v in chosen]))
            finally:
                db.close()
            results["report_ms"] = _ms(_timed([report] * samples))
            results["report_csv_ms"] = _ms(_timed([lambda: report("csv")] * samples))
            results["bill_ms"] = _ms(_timed([lambda v=v: bill(v) for v in chosen]))
            results["technicians"] = len(body["technicians"])
            results["counted"] = {k: sum(t[k] for t in body["technicians"])
                                  for k in ("visits", "sealed_sheets", "callbacks_reached")}
            results["bills_checked"] = len(bills)
    finally:
        server.stop()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, results = run_main(argv, __doc__, (20, "sites, 30 visits each (issue 13: 1000)"), 50, run)
    counted = results["counted"]
    print(f"{results['month']}: {results['visits']} visits at {args.scale} sites; the report counts"
          f" {counted['visits']} visits, {counted['sealed_sheets']} sealed sheets and {counted['callbacks_reached']}"
          f" reached call-backs for {results['technicians']} technicians (the same numbers as the plain SQL:"
          f" {results['same_numbers']}; the bills equal the SQL sums: {results['same_bills']})")
    print_timings(results, (("monthly report, HTTP JSON", "report_ms", " (target median < 500 ms)"),
                            ("monthly report, HTTP CSV ", "report_csv_ms", ""),
                            ("monthly report, plain SQL", "plain_report_ms", ""),
                            ("a visit's bill, HTTP     ", "bill_ms", " (target < 10 ms)"),
                            ("a visit's bill, plain SQL", "plain_bill_ms", "")))
    for name, http_key, sql_key in (("report", "report_ms", "plain_report_ms"), ("bill", "bill_ms", "plain_bill_ms")):
        print(f"{name}: HTTP / plain SQL = {results[http_key][0] / max(results[sql_key][0], 1e-6):.1f}")
    return results


if __name__ == "__main__":
    main()

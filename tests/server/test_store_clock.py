"""The store's clock (`Store.now_ms`, what a faked server clock and the tests move) is the one the office reads
its day by: `Store.today` (the sync window's periods) and the annual quote's fee schedule in force, each in the
site's time zone where a site is concerned."""

from __future__ import annotations

import copy
import json
from datetime import date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from server.domains.billing import service as billing
from sync import pricing
from tests.helpers import ok

ROOT = Path(__file__).resolve().parents[2]


def _ms(at: str, zone: str = "Asia/Shanghai") -> int:
    return int(datetime.fromisoformat(at).replace(tzinfo=ZoneInfo(zone)).timestamp() * 1000)


def test_store_today_and_its_window_follow_the_stores_clock_in_the_sites_zone(store, monkeypatch):
    # Regression (session 31, office31, item 2): Store.today() read the process's clock (`site_today(None)`),
    # so the sync window's periods stayed on the machine's day when the store's clock was moved.
    monkeypatch.setattr(store, "now_ms", lambda: _ms("2030-03-01 00:10"))  # 16:10 on 28 February UTC
    assert store.today() == date(2030, 3, 1)  # the users' default zone, Asia/Shanghai
    assert store.today("Asia/Shanghai") == date(2030, 3, 1)
    assert store.today("Asia/Urumqi") == date(2030, 2, 28)  # UTC+6: 22:10 on the evening before
    assert "2030-Q1" in store.window_periods()


def test_the_annual_quote_takes_the_schedule_in_force_on_the_sites_day_by_the_stores_clock(
        store, site, chen, monkeypatch):
    # Regression (session 31, office31, item 2): Billing.annual_quote chose the fee schedule by the process's day
    # (`site_today(tz)`, time.time()): with a 2031 revision of the annual prices, a server whose clock reads New
    # Year's morning in Shanghai still quoted last year's prices. 00:10 on 1 January in Shanghai is still
    # 31 December in Urumqi (UTC+6), whose site keeps the old schedule until its own midnight.
    data = json.loads((ROOT / "fixtures" / "fee_schedules.json").read_text(encoding="utf-8"))
    revised = {**copy.deepcopy(data["schedules"][-1]), "effective_from": "2031-01-01"}
    revised["annual"]["server"] = [{"from": 1, "to": None, "unit_price_fen": 90_000}]
    book = pricing.load({**data, "schedules": [*data["schedules"], revised]}, strict=True)
    monkeypatch.setattr(billing, "fee_book", lambda: book)
    store.write_server_changes([
        ("sites", site["site"], {"tz": "Asia/Shanghai"}, False),
        ("devices", "0b6f7d1e-1c55-4d2f-9c1a-6f0a3e9b2c11",
         {"site_id": site["site"], "system": "network", "kind": "server", "code": "SRV-01", "location": "机房"}, False)])

    def quote() -> tuple[str, int]:
        body = ok(chen.http.get(f"/api/sites/{site['site']}/annual-quote", headers=chen.headers))
        return body["effective_from"], next(li["unit_price_fen"] for li in body["lines"] if li["item"] == "server")

    old = (data["schedules"][-1]["effective_from"], 80_000)
    monkeypatch.setattr(store, "now_ms", lambda: _ms("2030-12-31 23:50"))
    assert quote() == old
    monkeypatch.setattr(store, "now_ms", lambda: _ms("2031-01-01 00:10"))
    assert quote() == ("2031-01-01", 90_000)
    store.write_server_changes([("sites", site["site"], {"tz": "Asia/Urumqi"}, False)])
    assert quote() == old

"""Load the demo data of `fixtures/`: the reference site, a small site, templates, accounts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sync.periods import period_of, site_today

from .inspections import Inspections, Plan
from .store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def load_demo(store: Store) -> dict[str, int]:
    """Write the demo through the store's own merge, as server writes; returns counts.

    Each site gets a quarterly plan (due on the 20th of the quarter's last
    month, for its technician) and the current quarter's inspection.
    """
    changes: list[tuple[str, str, dict[str, Any], bool | None]] = []
    for template in _load("checklist_templates.json"):
        fields = {"kind": template["kind"], "title": template["title"],
                  "items": json.dumps(template["items"], ensure_ascii=False, separators=(",", ":"))}
        changes.append(("checklist_templates", template["id"], fields, False))
    sites = [_load("reference_site.json"), _load("small_site.json")]
    site_ids: dict[str, str] = {}
    periods: dict[str, str] = {}
    for data in sites:
        site = dict(data["site"])
        key, site_id = site.pop("key"), site.pop("id")
        site_ids[key] = site_id
        periods[site_id] = period_of(site_today(site.get("tz")))
        changes.append(("sites", site_id, site, False))
        for device in data["devices"]:
            fields = {k: v for k, v in device.items() if k != "id"}
            changes.append(("devices", device["id"], {"site_id": site_id, **fields}, False))
    store.write_server_changes(changes)
    accounts = _load("accounts.json")
    inspections = Inspections(store)
    for account in accounts:
        store.create_user(account["username"], account["name"], account["role"], account["password"], demo=True)
        for key in account["sites"]:
            store.add_member(site_ids[key], account["username"])
            inspections.set_plan(site_ids[key], Plan(frequency="quarterly", due_day=20,
                                                     technician=account["username"]))
    for period in sorted(set(periods.values())):
        inspections.generate(period)
    return {
        "sites": len(sites),
        "devices": sum(len(s["devices"]) for s in sites),
        "templates": sum(1 for c in changes if c[0] == "checklist_templates"),
        "accounts": len(accounts),
    }

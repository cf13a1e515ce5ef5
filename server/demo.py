"""Load the demo data of `fixtures/`: the reference site, a small site, templates, accounts."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sync.schema import inspection_id

from .periods import period_bounds, period_of, sheet_no, site_today
from .store import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def _load(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def load_demo(store: Store) -> dict[str, int]:
    """Write the demo through the store's own merge, as server writes; returns counts."""
    changes: list[tuple[str, str, dict[str, Any], bool | None]] = []
    for template in _load("checklist_templates.json"):
        fields = {"kind": template["kind"], "title": template["title"],
                  "items": json.dumps(template["items"], ensure_ascii=False, separators=(",", ":"))}
        changes.append(("checklist_templates", template["id"], fields, False))
    sites = [_load("reference_site.json"), _load("small_site.json")]
    site_ids: dict[str, str] = {}
    for number, data in enumerate(sites, start=1):
        site = dict(data["site"])
        key, site_id = site.pop("key"), site.pop("id")
        site_ids[key] = site_id
        changes.append(("sites", site_id, site, False))
        for device in data["devices"]:
            fields = {k: v for k, v in device.items() if k != "id"}
            changes.append(("devices", device["id"], {"site_id": site_id, **fields}, False))
        period = period_of(site_today(site.get("tz")))
        changes.append((
            "inspections",
            inspection_id(site_id, period),
            {"site_id": site_id, "period": period, "status": "scheduled",
             "due_on": period_bounds(period)[1].isoformat(), "sheet_no": sheet_no(period, number)},
            False,
        ))
    accounts = _load("accounts.json")
    for account in accounts:
        store.create_user(account["username"], account["name"], account["role"], account["password"])
        for key in account["sites"]:
            store.add_member(site_ids[key], account["username"])
            # The site's inspection goes to its technician.
            for i, change in enumerate(changes):
                if change[0] == "inspections" and change[2]["site_id"] == site_ids[key]:
                    changes[i] = (change[0], change[1], {**change[2], "assigned_to": account["username"]}, False)
    store.write_server_changes(changes)
    return {
        "sites": len(sites),
        "devices": sum(len(s["devices"]) for s in sites),
        "templates": sum(1 for c in changes if c[0] == "checklist_templates"),
        "accounts": len(accounts),
    }

"""Load the demo data of `fixtures/`: the reference site, a small site, templates, accounts, and
service requests in every state with visits, charge lines and call-backs, and the duty roster
with a few calls (`service_demo.json`), timed relative to now so their clocks run."""

from __future__ import annotations

import io
import json
import tempfile
import uuid
from collections.abc import Callable
from datetime import datetime, time, timedelta
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw

from sync import hlc
from sync.canonical import sha256_hex
from sync.duty import roster_id
from sync.fields import NS
from sync.periods import period_of, site_today
from sync.sheet import visit_sheet_sha256

from .datafiles import about, read_json
from .domains.duty.service import duty_rules
from .domains.inspections.schemas import Plan
from .domains.inspections.service import Inspections
from .services import Store

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
Change = tuple[str, str, dict[str, Any], bool | None]
# What the demo reads, each read before anything is written (`check_demo_files`): a typo loads nothing.
DEMO_FILES = ("checklist_templates.json", "reference_site.json", "small_site.json", "accounts.json",
              "service_demo.json")


def check_demo_files() -> None:
    for name in DEMO_FILES:
        demo_accounts() if name == "accounts.json" else _load(name)


def _load(name: str) -> Any:
    return read_json(FIXTURES / name)


ACCOUNT_KEYS = ("username", "name", "role", "password", "sites")


def demo_accounts() -> list[dict[str, Any]]:
    """fixtures/accounts.json: a list of accounts, each an object with ACCOUNT_KEYS; DataFileError when it is
    not (an object `{}` would otherwise load, and show, no demo account without a word)."""
    accounts = _load("accounts.json")
    with about("accounts.json"):
        if not isinstance(accounts, list):
            raise ValueError(f"a list of accounts (each with {', '.join(ACCOUNT_KEYS)}), not {type(accounts).__name__}")
        for account in accounts:
            if not isinstance(account, dict):
                raise ValueError(f"each account is an object with {', '.join(ACCOUNT_KEYS)}")
            if missing := [key for key in ACCOUNT_KEYS if key not in account]:
                raise KeyError(missing[0])  # "'username' is missing"
    return accounts


def load_demo(store: Store) -> dict[str, int]:
    """Write the demo through the store's own merge, as server writes; returns counts.

    Each site gets a quarterly plan (due on the 20th of the quarter's last
    month, for its technician) and the current quarter's inspection.
    """
    changes: list[Change] = []
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
    accounts = demo_accounts()
    inspections = Inspections(store)
    for account in accounts:
        store.create_user(account["username"], account["name"], account["role"], account["password"], demo=True)
        for key in account["sites"]:
            store.add_member(site_ids[key], account["username"])
            inspections.set_plan(site_ids[key], Plan(frequency="quarterly", due_day=20,
                                                     technician=account["username"]))
    for period in sorted(set(periods.values())):
        inspections.generate(period)
    devices = {(key, device["code"]): device["id"] for key, data in zip(site_ids, sites, strict=True)
               for device in data["devices"]}
    service = _load("service_demo.json")
    requests = service_requests(service["requests"], site_ids, devices, store.now_ms())
    for change in requests:
        if change[0] == "signatures":
            _store_signature_image(store, change[2]["signer_name"], change[2]["image_sha256"])
    store.write_server_changes(requests)
    _dispatched_when_reported(store, requests)
    store.write_server_changes(duty(service["duty"], site_ids, store.now_ms()))
    return {
        "sites": len(sites),
        "devices": sum(len(s["devices"]) for s in sites),
        "templates": sum(1 for c in changes if c[0] == "checklist_templates"),
        "accounts": len(accounts),
        "service requests": sum(1 for c in requests if c[0] == "service_requests"),
        "charge lines": sum(1 for c in requests if c[0] == "charge_lines"),
    }


def _demo_id(*parts: str) -> str:
    return str(uuid.uuid5(NS, "/".join(("demo", *parts))))


def service_requests(scenarios: list[dict[str, Any]], site_ids: dict[str, str],
                     devices: dict[tuple[str, str], str], now_ms: int) -> list[Change]:
    """The demo's requests with their events, visits, charge lines, signatures and call-backs, as
    the desk and the technicians would have written them, at times `minutes_ago` before `now_ms`."""
    def ago(minutes: int) -> str:
        return hlc.format_ts(now_ms - minutes * 60_000)

    changes: list[Change] = []
    for s in scenarios:
        request = _demo_id("request", s["key"])
        fields = {"site_id": site_ids[s["site"]], "device_id": devices[(s["site"], s["device"])],
                  "reported_at": ago(s["minutes_ago"]), "complexity": "ordinary",
                  **{k: s[k] for k in ("channel", "kind", "caller_name", "caller_phone", "description")},
                  "assigned_to": s.get("assigned_to")}
        changes.append(("service_requests", request, fields, False))
        visit = _demo_id("visit", s["key"])
        if "visit" in s:
            v, technician = s["visit"], s["assigned_to"]
            visit_fields = {"request_id": request, "technician": technician, "planned_at": ago(v["arrived_minutes_ago"]),
                            "outcome": v["outcome"], "work_done": v["work_done"], "fault_cause": v["fault_cause"],
                            "recorded_by": technician, "recorded_at": ago(v["recorded_minutes_ago"])}
            changes.append(("service_visits", visit, visit_fields, False))
            lines = {_demo_id("line", s["key"], str(n)): _line(visit, line, ago) for n, line in enumerate(s.get("lines", []))}
            changes += [("charge_lines", line_id, line, False) for line_id, line in lines.items()]
        for n, (kind, minutes, by, *rest) in enumerate(s["events"]):
            reason, note = [*rest, None, None][:2]
            on_site = "visit" in s and kind in ("arrived", "fixed", "left")
            changes.append(("service_events", _demo_id("event", s["key"], str(n)), {
                "request_id": request, "visit_id": visit if on_site else None, "kind": kind, "at": ago(minutes),
                "by": by, "reason": reason, "note": note}, False))
        if "signature" in s:
            sig = s["signature"]
            changes.append(("signatures", _demo_id("signature", s["key"]), {
                "visit_id": visit, "signer_name": sig["signer_name"], "signer_role": "customer",
                "signed_at": ago(sig["minutes_ago"]),
                "image_sha256": sha256_hex(signature_png(sig["signer_name"])),
                "sheet_sha256": visit_sheet_sha256(visit, visit_fields, lines)}, False))
        for n, call in enumerate(s.get("callbacks", [])):
            changes.append(("callbacks", _demo_id("callback", s["key"], str(n)), {
                "visit_id": visit, "called_at": ago(call["minutes_ago"]), "called_by": "chen",
                "reached": call["reached"], "rating": call.get("rating"), "comment": call.get("comment")}, False))
    return changes


def signature_png(name: str) -> bytes:
    """A small PNG of a pen stroke, the same for the same name: the demo customer's signature image."""
    seed = int(sha256_hex(name.encode())[:8], 16)
    image = Image.new("L", (240, 80), 255)
    points = [(10 + 22 * n, 40 + (seed >> (2 * n) & 7) * 5 - 17) for n in range(11)]
    ImageDraw.Draw(image).line(points, fill=0, width=3)
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def _dispatched_when_reported(store: Store, requests: list[Change]) -> None:
    """The demo's requests are loaded at once, so the dispatch history their write recorded (the server's,
    `dispatch` audit entries) would say each was dispatched at load time, after its own events: as the desk
    would have, each is dispatched when its call came in (`changed_at` its `reported_at`)."""
    reported = {c[1]: c[2]["reported_at"] for c in requests if c[0] == "service_requests"}
    with store.write() as db:
        for entry_id, text in db.execute("SELECT id, detail FROM audit WHERE kind = 'dispatch'").fetchall():
            detail = json.loads(text)
            if detail.get("request_id") in reported:
                detail["changed_at"] = reported[detail["request_id"]]
                db.execute("UPDATE audit SET detail = ? WHERE id = ?", [json.dumps(detail), entry_id])


def _store_signature_image(store: Store, name: str, sha256: str) -> None:
    """Into the blob store, as the phone's upload would have put it."""
    with tempfile.NamedTemporaryFile(dir=store.settings.data_dir, delete=False) as f:
        f.write(signature_png(name))
    store.blobs.put(sha256, Path(f.name))


def _line(visit: str, line: dict[str, Any], ago: Callable[[int], str]) -> dict[str, Any]:
    """A charge line as the technician recorded it; a part with the customer's decision."""
    consent = line.get("consent") or {}
    return {"visit_id": visit, **{k: line.get(k) for k in ("item", "quantity", "unit_price_fen", "description")},
            "decision": consent.get("decision"), "decided_by": consent.get("decided_by"),
            "decided_at": ago(consent["minutes_ago"]) if consent else None}


def duty(data: dict[str, Any], site_ids: dict[str, str], now_ms: int) -> list[Change]:
    """The rosters of this month and the last (the calls are yesterday's, which on the 1st is last
    month), then the calls the rostered technician logged on the duty phone, at local times that
    are on call on any day."""
    rules = duty_rules()
    this_month = rules.month(now_ms)
    months = (rules.month(rules.month_bounds(this_month)[0] - 1), this_month)
    changes: list[Change] = [("duty_roster", roster_id(month), {"month": month, "technician": data["technician"]}, False)
                             for month in months]
    today = rules.local(now_ms).date()
    for n, call in enumerate(data["calls"]):
        hour, minute = map(int, call["local"].split(":"))
        day = today - timedelta(days=call["days_ago"])
        received = datetime.combine(day, time(hour, minute), rules.zone)
        changes.append(("duty_calls", _demo_id("duty_call", str(n)), {
            "received_at": hlc.format_ts(int(received.timestamp() * 1000)), "site_id": site_ids[call["site"]],
            "logged_by": data["technician"], **{k: call[k] for k in ("caller_name", "caller_phone", "summary", "duration_s", "outcome")}}, False))
    return changes

"""A technician taken off a site while his phone still holds its rows: what the engine answers
his pushes, and what the conflict log keeps of them (s26-desk, item 1)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from server.demo import FIXTURES
from sync.schema import COLLECTIONS, device_check_id
from tests.conftest import Session
from tests.helpers import ok, pull_all
from tests.server import test_inspections

demo_file, store = test_inspections.demo_file, test_inspections.store  # the demo, where wang is a member of REF

REF = json.loads((FIXTURES / "reference_site.json").read_text(encoding="utf-8"))["site"]
TS = "2026-11-20T10:15:00.000Z"
GONE = f"you are no longer a member of '{REF['name']}' (site {REF['id']})"


def _held(wang: Session) -> dict[str, dict[str, Any]]:
    """One row of each collection of the reference site that wang's phone holds, with a check and a photo
    of his own."""
    rows, _ = pull_all(wang, "0")
    inspection = next(r for r in rows if r["collection"] == "inspections" and r["fields"]["site_id"] == REF["id"])
    devices = [r["id"] for r in rows if r["collection"] == "devices" and r["fields"]["site_id"] == REF["id"]]
    check, photo = device_check_id(inspection["id"], devices[0]), str(uuid.uuid4())
    assert [r["status"] for r in ok(wang.push([
        wang.change("device_checks", check, {"inspection_id": inspection["id"], "device_id": devices[0],
                                             "outcome": "serviced", "checked_by": "wang", "checked_at": TS},
                    delete=False),
        wang.change("photos", photo, {"inspection_id": inspection["id"], "device_id": devices[0],
                                      "sha256": "ab" * 32, "content_type": "image/jpeg", "bytes": 10}, delete=False),
    ]))["results"]] == ["applied", "applied"]
    rows, _ = pull_all(wang, "0")
    held: dict[str, dict[str, Any]] = {}
    for row in rows:
        if COLLECTIONS[row["collection"]].scope.site not in ("global", None):
            held.setdefault(row["collection"], row)
    return held


def test_a_removed_technicians_change_to_a_row_he_holds_is_forbidden_naming_the_site(store, wang, lin):
    # Regression (s26-desk, item 1): an edit without its parent fields was answered `invalid_field`
    # "… site_id is required when creating a row", as for a row that does not exist, and logged without
    # its site, so the conflict log's entry had no label.
    held = _held(wang)
    assert {"inspections", "device_checks", "photos", "signatures", "service_requests", "service_events",
            "service_visits", "charge_lines", "callbacks", "devices", "duty_calls"} <= held.keys()
    store.remove_member(REF["id"], "wang")
    edits = [(c, row["id"]) for c, row in sorted(held.items())]
    results = ok(wang.push([wang.change(c, row_id, {"note": "still here"}) for c, row_id in edits]))["results"]
    assert [(r["status"], r["reason"], r["detail"]) for r in results] == [
        ("rejected", "forbidden", f"{c} {row_id}: {GONE}") for c, row_id in edits]
    logged = ok(lin.http.get("/api/conflicts", headers=lin.headers, params={"site_id": REF["id"]}))["conflicts"]
    mine = {e["row_id"]: e for e in logged if e["seq"] in {r["seq"] for r in results}}
    assert set(mine) == {row_id for _, row_id in edits}
    assert all(e["site_id"] == REF["id"] and e["reason"] == "forbidden" for e in mine.values())
    assert mine[held["device_checks"]["id"]]["label"]  # the device's code, as the log names a row
    assert mine[held["service_requests"]["id"]]["label"].startswith("SR-")
    # Nothing changed.
    assert ok(wang.push([]))["acked_seq"] == results[-1]["seq"]
    assert not any(r["fields"].get("note") == "still here" for r in pull_all(lin, "0")[0] if "fields" in r)


def test_a_removed_technicians_new_row_under_a_row_he_holds_is_forbidden_naming_the_site(store, wang):
    held = _held(wang)
    store.remove_member(REF["id"], "wang")
    inspection, request = held["inspections"]["id"], held["service_requests"]["id"]
    new = [
        ("device_checks", "inspection_id", inspection, {"outcome": "serviced"}),
        ("photos", "inspection_id", inspection, {"sha256": "cd" * 32, "content_type": "image/jpeg", "bytes": 5}),
        ("signatures", "inspection_id", inspection, {"signer_name": "陈女士", "signer_role": "customer"}),
        ("service_events", "request_id", request, {"type": "arrived", "at": TS}),
        ("service_visits", "request_id", request, {}),
        ("charge_lines", "visit_id", held["service_visits"]["id"], {}),
        ("service_requests", "site_id", REF["id"], {"description": "new"}),
        ("inspections", "site_id", REF["id"], {"period": "2026-Q3"}),
    ]
    results = ok(wang.push([wang.change(c, str(uuid.uuid4()), {name: parent, **fields}, delete=False)
                            for c, name, parent, fields in new]))["results"]
    parents = {"inspection_id": "inspections", "request_id": "service_requests", "visit_id": "service_visits",
               "site_id": "sites"}
    assert [(r["reason"], r["detail"]) for r in results] == [
        ("forbidden", f"{c}.{name}: {parents[name]} {parent}: {GONE}") for c, name, parent, _ in new]


def test_one_never_a_member_is_still_answered_as_for_a_row_that_does_not_exist(store, wang, zhao):
    held = _held(wang)
    row_id = held["service_requests"]["id"]
    [theirs, missing] = ok(zhao.push([zhao.change("service_requests", row_id, {"description": "x"}),
                                      zhao.change("service_requests", str(uuid.uuid4()), {"description": "x"})]
                                     ))["results"]
    assert {k: v for k, v in theirs.items() if k != "seq"} == {k: v for k, v in missing.items() if k != "seq"}
    assert REF["name"] not in str(theirs) and REF["id"] not in str(theirs)

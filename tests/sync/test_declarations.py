"""Each collection declares its id rule, row rules and blob fields, and the declarations are
checked when they are made (issue 11: the rules lived in `if collection == ...` branches)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

import sync
from sync.merge import Actor, RowState, Rules, apply_change, check_row
from sync.rules import Check
from sync.schema import (
    COLLECTIONS,
    Collection,
    IdRule,
    SchemaError,
    Scope,
    _f,
    device_check_id,
    inspection_id,
    photo_id,
)

SITE, DEVICE = "3f0e8a52-7c1b-4d2e-9a61-2b8c5d4e7f90", "8b7d2c1a-5e4f-4a3b-9c8d-7e6f5a4b3c2d"  # fixed: workers collect one set
INSPECTION = inspection_id(SITE, "2026-Q4")
ROWS = {
    ("sites", SITE): RowState("sites", SITE, {"name": "Park"}, site_id=SITE),
    ("devices", DEVICE): RowState("devices", DEVICE, {"site_id": SITE}, site_id=SITE),
    ("inspections", INSPECTION): RowState("inspections", INSPECTION, {"site_id": SITE, "period": "2026-Q4"},
                                          site_id=SITE),
}
WANG = Actor("phone-1", "wang", "technician", frozenset({SITE}))
ALL = ("technician", "supervisor")
RULES = Rules(template_items=lambda _: None, unchecked=lambda _: 0)


def _lookup(collection: str, row_id: str) -> RowState | None:
    return ROWS.get((collection, row_id))


def _tickets(**declared: object) -> Collection:
    return Collection("tickets", {"site_id": _f("uuid", parent="sites"), "title": _f("text"),
                                  "photo": _f("sha256")}, create_roles=("supervisor",),
                      scope=Scope(site="site_id"), **declared)  # type: ignore[arg-type]


def test_an_id_rule_naming_a_field_the_collection_lacks_is_refused():
    with pytest.raises(SchemaError, match=r"tickets.*'ticket_no'"):
        _tickets(id_rule=IdRule(("site_id", "ticket_no"), lambda *v: "x", "uuid5(site_id/ticket_no)"))


def test_blob_fields_must_be_fields_holding_a_sha256():
    with pytest.raises(SchemaError, match="'image'"):
        _tickets(blob_fields=("image",))
    with pytest.raises(SchemaError, match="blob field 'title'"):
        _tickets(blob_fields=("title",))
    assert _tickets(blob_fields=("photo",)).blob_fields == ("photo",)


@pytest.mark.parametrize(("collection", "row_id", "fields", "formula"), [
    ("inspections", inspection_id(SITE, "2026-Q3"), {"site_id": SITE, "period": "2026-Q4"},
     "uuid5(NS, inspection/site_id/period)"),
    ("device_checks", device_check_id(INSPECTION, "0d9c8b7a-6f5e-4d3c-8b2a-1f0e9d8c7b6a"), {"inspection_id": INSPECTION,
                                                                        "device_id": DEVICE},
     "uuid5(NS, inspection_id/device_id)"),
])
def test_a_checked_id_rule_refuses_another_id_and_takes_its_own(collection, row_id, fields, formula):
    out = apply_change(None, collection, row_id, fields, False, "1", WANG, _lookup)
    assert (out.status, out.reason, out.detail) == ("rejected", "invalid_field", f"{collection}.id must be {formula}")
    own = COLLECTIONS[collection].id_rule.expected(fields)  # type: ignore[union-attr]
    assert apply_change(None, collection, own, fields, False, "1", WANG, _lookup).status == "applied"


def test_the_photo_id_rule_names_the_clients_photos_but_the_server_takes_any_uuid():
    rule = COLLECTIONS["photos"].id_rule
    assert rule is not None and not rule.checked
    sha = "ab" * 32
    fields = {"inspection_id": INSPECTION, "device_id": DEVICE, "sha256": sha}
    assert rule.expected(fields) == photo_id(INSPECTION, DEVICE, sha)
    out = apply_change(None, "photos", str(uuid.uuid4()), fields, False, "1", WANG, _lookup)
    assert out.status == "applied"


def test_row_rules_run_on_the_row_as_it_stands():
    assert check_row("device_checks", {"outcome": "fault", "note": "  "}) == (
        "invalid_field", "device_checks.note is required when the outcome is fault")
    assert check_row("device_checks", {"outcome": "fault", "note": "fan failed"}) is None
    assert check_row("device_checks", {"outcome": "fault"}, deleted=True) is None
    assert check_row("photos", {"outcome": "fault"}) is None  # not a rule of photos


def test_validate_and_merge_name_no_collection():
    # The rules are the declarations': the generic engine never branches on a collection's name.
    for module in ("rules.py", "merge.py"):
        source = (Path(sync.__file__).parent / module).read_text(encoding="utf-8")
        assert [name for name in COLLECTIONS if f'"{name}"' in source or f"'{name}'" in source] == [], module


def test_a_new_collections_change_and_row_rules_run_without_touching_the_engine(monkeypatch):
    def no_reopening(c: Check) -> None:
        if c.row is not None and c.row.fields.get("status") == "closed" and c.fields.get("status") == "open":
            c.problem("invalid_field", "tickets.status cannot go back to open")

    def resolution_required(fields: Mapping[str, Any]) -> tuple[str, str] | None:
        return ("invalid_field", "tickets.resolution is required") if (
            fields.get("status") == "closed" and not fields.get("resolution")) else None

    tickets = Collection(
        "tickets", {"site_id": _f("uuid", parent="sites", writers=ALL), "status": _f("enum", "open", "closed",
                                                                                       writers=ALL),
                    "resolution": _f("text", writers=ALL)},
        create_roles=ALL, scope=Scope(site="site_id"), change_rules=(no_reopening,), row_rules=(resolution_required,))
    monkeypatch.setitem(COLLECTIONS, "tickets", tickets)
    ticket = str(uuid.uuid4())
    out = apply_change(None, "tickets", ticket, {"site_id": SITE, "status": "closed"}, False, "1", WANG, _lookup,
                       RULES)
    assert (out.status, out.detail) == ("rejected", "tickets.resolution is required")
    out = apply_change(None, "tickets", ticket, {"site_id": SITE, "status": "closed", "resolution": "fixed"}, False,
                       "1", WANG, _lookup, RULES)
    assert out.status == "applied" and out.row is not None and out.row.site_id == SITE
    out = apply_change(out.row, "tickets", ticket, {"status": "open"}, None, "2", WANG, _lookup, RULES)
    assert (out.status, out.detail) == ("rejected", "tickets.status cannot go back to open")

"""Every collection declares how its rows find their site and period (issue 11).

Regression (issue 11): site resolution was inferred from field names, so a
collection whose rows reach their site through a device was stored with no
site, and every technician everywhere pulled it.
"""

from __future__ import annotations

import pytest

from sync.merge import RowState, parent_of, period_of, site_of
from sync.schema import (
    COLLECTIONS,
    GLOBAL_COLLECTIONS,
    Collection,
    Ended,
    SchemaError,
    Scope,
    Via,
    _f,
    check_scopes,
)

SITE, DEVICE, INSPECTION, REQUEST, VISIT = "site-1", "device-1", "inspection-1", "request-1", "visit-1"
# 17:00 UTC on 30 June is 1 July in Shanghai (the default zone): the site's quarter counts.
CLOSED = {"site_id": SITE, "reported_at": "2026-06-30T17:00:00.000Z", "status": "closed"}
ROWS = {
    ("service_requests", "closed-1"): RowState("service_requests", "closed-1", CLOSED, site_id=SITE),
    ("service_requests", REQUEST): RowState("service_requests", REQUEST, {"site_id": SITE}, site_id=SITE),
    ("service_visits", VISIT): RowState("service_visits", VISIT, {"request_id": REQUEST}, site_id=SITE),
    ("sites", SITE): RowState("sites", SITE, {"name": "Park"}, site_id=SITE),
    ("devices", DEVICE): RowState("devices", DEVICE, {"site_id": SITE}, site_id=SITE),
    ("inspections", INSPECTION): RowState("inspections", INSPECTION, {"site_id": SITE, "period": "2026-Q4"},
                                          site_id=SITE),
}


def lookup(collection: str, row_id: str) -> RowState | None:
    return ROWS.get((collection, row_id))


def _with(*extra: Collection) -> dict[str, Collection]:
    return {**COLLECTIONS, **{c.name: c for c in extra}}


def _notes(scope: Scope, **fields: object) -> Collection:
    return Collection("device_notes", {"device_id": _f("uuid", parent="devices"), "text": _f("text"), **fields},
                      create_roles=("technician",), scope=scope)


def test_a_collection_that_declares_no_scope_is_refused_by_name():
    with pytest.raises(SchemaError, match="device_notes"):
        Collection("device_notes", {"device_id": _f("uuid", parent="devices")}, create_roles=("technician",))


def test_a_device_parented_collection_finds_its_site_through_the_device():
    check_scopes(_with(_notes(Scope(site=Via("device_id", "devices")))))  # accepted


@pytest.mark.parametrize(("scope", "fields", "why"), [
    (Scope(site="device_id"), {}, "not a site id"),  # a field, but not one pointing at sites
    (Scope(site="self"), {}, "only sites"),
    (Scope(site=Via("device_id", "inspections")), {}, "not a required parent"),  # wrong collection
    (Scope(site=Via("template_id", "checklist_templates")),
     {"template_id": _f("uuid", parent="checklist_templates")}, "has none"),  # through a global row
    (Scope(site=Via("other_id", "devices")),
     {"other_id": _f("uuid", parent="devices", optional_parent=True)}, "not a required parent"),
    (Scope(site=Via("device_id", "devices"), period="text"), {}, "not a period"),
    (Scope(site=Via("device_id", "devices"), period="global"), {}, "period is a field"),
    # Alternatives (issue 12: a signature names an inspection or a visit): each must resolve.
    (Scope(site=(Via("device_id", "devices"), Via("other_id", "checklist_templates"))),
     {"other_id": _f("uuid", parent="checklist_templates", optional_parent=True)}, "has none"),
    (Scope(site=()), {}, "no alternatives"),
    # Regression (issue 13): an optional site field (a duty call without a site) passed, and
    # such rows were nobody's: they need a server-written owner field.
    (Scope(site="site_id"), {"site_id": _f("uuid", parent="sites", optional_parent=True)}, "nobody's"),
    (Scope(site="site_id", owner="text"), {"site_id": _f("uuid", parent="sites", optional_parent=True)},
     "nobody's"),  # a client-written owner could be anyone's name
    (Scope(site="site_id", owner="missing"), {"site_id": _f("uuid", parent="sites", optional_parent=True)},
     "nobody's"),
    # A period once the row has ended (issue 12: service requests) names a timestamp and a status.
    (Scope(site=Via("device_id", "devices"), period=Ended("text", "text", ("done",))), {}, "period is not the"),
    (Scope(site="site_id", period=Ended("at", "status", ("done",), frequency="weekly")),
     {"site_id": _f("uuid", parent="sites"), "at": _f("timestamp"), "status": _f("enum", "open", "done")},
     "period is not the"),
    (Scope(site=Via("device_id", "devices"), period=Ended("at", "status", ("done",))),
     {"at": _f("timestamp"), "status": _f("enum", "open", "done")}, "site its own field names"),
    # A parent's period change reaches its children through the parent their site comes through.
    (Scope(site=Via("device_id", "devices"), period=Via("inspection_id", "inspections")),
     {"inspection_id": _f("uuid", parent="inspections")}, "another parent"),
])
def test_a_scope_that_does_not_resolve_is_refused(scope, fields, why):
    with pytest.raises(SchemaError, match=why):
        check_scopes(_with(_notes(scope, **fields)))


def test_every_collection_of_the_schema_resolves_and_only_templates_and_the_roster_are_global():
    check_scopes(COLLECTIONS)
    assert GLOBAL_COLLECTIONS == ("checklist_templates", "duty_roster")


def test_an_optional_site_with_a_server_written_owner_resolves():
    owned = Scope(site="site_id", owner="by")
    check_scopes(_with(_notes(owned, site_id=_f("uuid", parent="sites", optional_parent=True),
                              by=_f("text", writers=()))))  # accepted


@pytest.mark.parametrize(("collection", "row_id", "fields", "site", "parent", "period"), [
    ("sites", SITE, {"name": "Park"}, SITE, None, None),
    ("devices", DEVICE, {"site_id": SITE}, SITE, SITE, None),
    ("checklist_templates", "t", {"kind": "dome_camera"}, None, None, None),
    ("inspections", INSPECTION, {"site_id": SITE, "period": "2026-Q4"}, SITE, SITE, "2026-Q4"),
    ("device_checks", "c", {"inspection_id": INSPECTION, "device_id": DEVICE}, SITE, INSPECTION, "2026-Q4"),
    ("photos", "p", {"inspection_id": INSPECTION}, SITE, INSPECTION, "2026-Q4"),
    ("signatures", "s", {"inspection_id": INSPECTION}, SITE, INSPECTION, "2026-Q4"),
    ("signatures", "s", {"visit_id": VISIT}, SITE, VISIT, None),  # a visit's contact sheet
    ("signatures", "s", {}, None, None, None),  # names neither: no site (and the change is refused)
    ("service_events", "e", {"request_id": REQUEST}, SITE, REQUEST, None),
    # A request is in every window while open; once closed or cancelled, in its call's local quarter.
    ("service_requests", REQUEST, {**CLOSED, "status": "resolved"}, SITE, SITE, None),
    ("service_requests", REQUEST, CLOSED, SITE, SITE, "2026-Q3"),
    ("service_requests", REQUEST, {**CLOSED, "status": "cancelled"}, SITE, SITE, "2026-Q3"),
    ("service_visits", "v", {"request_id": "closed-1"}, SITE, "closed-1", "2026-Q3"),
    ("service_events", "e", {"request_id": "closed-1"}, SITE, "closed-1", "2026-Q3"),
    # A parent that does not exist gives no site; the pull filter then gives the row to nobody.
    ("device_checks", "c", {"inspection_id": "missing"}, None, "missing", None),
])
def test_site_parent_and_period_follow_the_declared_scope(collection, row_id, fields, site, parent, period):
    assert site_of(collection, row_id, fields, lookup) == site
    assert parent_of(collection, fields) == parent
    assert period_of(collection, fields, lookup) == period

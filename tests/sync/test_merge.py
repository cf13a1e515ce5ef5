"""The merge rules of sync.merge, driven directly: one protocol rule per test at least."""

from __future__ import annotations

import copy
import itertools
import uuid
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sync.errors import REJECT_ORDER
from sync.hlc import Hlc
from sync.merge import Actor, Outcome, RowState, Rules, apply_change, merge, site_of, validate
from sync.schema import device_check_id, inspection_id

SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "merge-site"))
OTHER_SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "merge-other-site"))
CAM1 = str(uuid.uuid5(uuid.NAMESPACE_URL, "merge-cam1"))
CAM2 = str(uuid.uuid5(uuid.NAMESPACE_URL, "merge-cam2"))
OTHER_CAM = str(uuid.uuid5(uuid.NAMESPACE_URL, "merge-other-cam"))
INSP = inspection_id(SITE, "2026-Q4")
OTHER_INSP = inspection_id(OTHER_SITE, "2026-Q4")
CHECK = device_check_id(INSP, CAM1)
SIG = str(uuid.uuid5(uuid.NAMESPACE_URL, "merge-signature"))
TS = "2026-11-20T10:15:00.000Z"
SHA = "ab" * 32

WANG = Actor("0a000000-0000-4000-8000-00000000000a", "wang", "technician", frozenset({SITE}))
ZHAO = Actor("0b000000-0000-4000-8000-00000000000b", "zhao", "technician", frozenset({OTHER_SITE}))
LIN = Actor("0c000000-0000-4000-8000-00000000000c", "lin", "supervisor", None)
SRV = Actor.server()


def h(ms: int, actor: Actor = WANG, counter: int = 0) -> str:
    return str(Hlc(1_764_201_600_000 + ms, counter, actor.client_id))


class World:
    """Rows as a store keeps them, with the server's own data already written."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str], RowState] = {}
        self.tick = 0
        for collection, row_id, fields in [
            ("sites", SITE, {"name": "Park", "customer": "ACME"}),
            ("sites", OTHER_SITE, {"name": "Plant", "customer": "ACME"}),
            ("devices", CAM1, {"site_id": SITE, "system": "video", "code": "CAM-001", "status": "active"}),
            ("devices", CAM2, {"site_id": SITE, "system": "video", "code": "CAM-002", "status": "active"}),
            ("devices", OTHER_CAM, {"site_id": OTHER_SITE, "system": "video", "code": "CAM-9", "status": "active"}),
            ("inspections", INSP, {"site_id": SITE, "period": "2026-Q4", "status": "scheduled"}),
            ("inspections", OTHER_INSP, {"site_id": OTHER_SITE, "period": "2026-Q4", "status": "scheduled"}),
        ]:
            self.tick += 1
            out = self.apply(SRV, collection, row_id, fields, False, str(Hlc(1_000 + self.tick, 0, "srv")))
            assert out.status == "applied", out

    def lookup(self, collection: str, row_id: str) -> RowState | None:
        return self.rows.get((collection, row_id))

    def apply(self, actor: Actor, collection: str, row_id: str, fields: dict[str, Any],
              delete: bool | None, hlc: str) -> Outcome:
        row = copy.deepcopy(self.lookup(collection, row_id))
        out = apply_change(row, collection, row_id, fields, delete, hlc, actor, self.lookup)
        if out.status != "rejected" and out.changed:
            assert out.row is not None
            self.rows[(collection, row_id)] = out.row
        return out

    def row(self, collection: str, row_id: str) -> RowState:
        row = self.lookup(collection, row_id)
        assert row is not None
        return row


@pytest.fixture
def world() -> World:
    return World()


def check_fields(**result: Any) -> dict[str, Any]:
    return {"inspection_id": INSP, "device_id": CAM1, **result}


def create_check(world: World, actor: Actor = WANG, at: int = 10, **result: Any) -> Outcome:
    out = world.apply(actor, "device_checks", CHECK, check_fields(**result), False, h(at, actor))
    assert out.status == "applied", out
    return out


# -- registers ------------------------------------------------------------------


def test_higher_hlc_wins_per_register(world):
    assert world.apply(LIN, "devices", CAM1, {"location": "gate"}, None, h(10, LIN)).status == "applied"
    assert world.apply(WANG, "devices", CAM1, {"location": "lobby"}, None, h(20)).status == "applied"
    assert world.row("devices", CAM1).fields["location"] == "lobby"
    late = world.apply(LIN, "devices", CAM1, {"location": "roof"}, None, h(15, LIN))
    assert late.status == "superseded"
    assert world.row("devices", CAM1).fields["location"] == "lobby"
    assert world.row("devices", CAM1).clocks["location"] == [h(20), WANG.client_id]


def test_equal_hlc_never_wins(world):
    stamp = h(10)
    world.apply(WANG, "devices", CAM1, {"location": "lobby"}, None, stamp)
    again = world.apply(WANG, "devices", CAM1, {"location": "hall"}, None, stamp)
    assert again.status == "superseded"
    assert not again.changed
    assert world.row("devices", CAM1).fields["location"] == "lobby"
    assert [(e.kind, e.new_value) for e in again.log] == [("lost", "hall")]


def test_writers_of_different_fields_both_survive(world):
    world.apply(WANG, "devices", CAM1, {"location": "lobby"}, None, h(20))
    out = world.apply(LIN, "devices", CAM1, {"serial_no": "SN-1"}, None, h(10, LIN))  # older, other field
    assert out.status == "applied"
    fields = world.row("devices", CAM1).fields
    assert (fields["location"], fields["serial_no"]) == ("lobby", "SN-1")
    assert out.log == []


def test_group_merges_as_one_register_and_missing_fields_become_null(world):
    create_check(world, at=10, outcome="fault", note="lens cracked", checked_by="wang", checked_at=TS)
    out = world.apply(LIN, "device_checks", CHECK, {"outcome": "serviced"}, None, h(20, LIN))
    assert out.status == "applied"
    row = world.row("device_checks", CHECK)
    assert row.fields.get("outcome") == "serviced"
    for name in ("note", "checked_by", "checked_at"):
        assert row.fields.get(name) is None
    assert row.clocks["result"] == [h(20, LIN), LIN.client_id]
    assert not {"outcome", "note", "checked_by", "checked_at"} & set(row.clocks)


def test_group_comes_whole_from_the_winning_change(world):
    create_check(world, at=10, outcome="fault", note="lens cracked", checked_by="wang", checked_at=TS)
    # An older change to one field of the group loses entirely: no mix of the two.
    out = world.apply(LIN, "device_checks", CHECK, {"note": "cleaned"}, None, h(5, LIN))
    assert out.status == "superseded"
    row = world.row("device_checks", CHECK)
    assert (row.fields["outcome"], row.fields["note"]) == ("fault", "lens cracked")
    [entry] = out.log
    assert entry.kind == "lost" and entry.register == "result"
    assert entry.new_value == {"outcome": None, "note": "cleaned", "checked_by": None, "checked_at": None}
    assert entry.old_value == {"outcome": "fault", "note": "lens cracked", "checked_by": "wang", "checked_at": TS}


def test_group_and_item_registers_are_separate(world):
    create_check(world, at=10, outcome="serviced", checked_by="wang", checked_at=TS, **{"item.lens_cleaned": True})
    out = world.apply(LIN, "device_checks", CHECK, {"item.focus_ok": False}, None, h(5, LIN))
    assert out.status == "applied"
    row = world.row("device_checks", CHECK)
    assert row.fields["outcome"] == "serviced" and row.fields["item.focus_ok"] is False


# -- the deleted register ---------------------------------------------------------


def test_delete_is_its_own_register_a_later_edit_does_not_revive(world):
    create_check(world, at=10, outcome="serviced", checked_by="wang", checked_at=TS)
    assert world.apply(LIN, "device_checks", CHECK, {}, True, h(20, LIN)).status == "applied"
    edit = world.apply(WANG, "device_checks", CHECK, {"item.lens_cleaned": True}, None, h(30))
    assert edit.status == "applied"
    row = world.row("device_checks", CHECK)
    assert row.deleted is True
    assert row.fields["item.lens_cleaned"] is True


def test_recreate_with_delete_false_after_delete(world):
    create_check(world, at=10, outcome="fault", checked_by="wang", checked_at=TS)
    world.apply(LIN, "device_checks", CHECK, {}, True, h(20, LIN))
    older = world.apply(WANG, "device_checks", CHECK, check_fields(outcome="serviced"), False, h(5))
    assert older.status == "superseded"
    assert world.row("device_checks", CHECK).deleted is True
    again = world.apply(WANG, "device_checks", CHECK,
                        check_fields(outcome="serviced", checked_by="wang", checked_at=TS), False, h(30))
    assert again.status == "applied"
    row = world.row("device_checks", CHECK)
    assert row.deleted is False and row.fields["outcome"] == "serviced"


def test_delete_absent_leaves_deleted_alone(world):
    create_check(world, at=10, outcome="fault", checked_by="wang", checked_at=TS)
    world.apply(WANG, "device_checks", CHECK, {}, True, h(20))
    clock = list(world.row("device_checks", CHECK).clocks["deleted"])
    world.apply(WANG, "device_checks", CHECK, {"outcome": "serviced", "checked_by": "wang", "checked_at": TS},
                None, h(30))
    assert world.row("device_checks", CHECK).clocks["deleted"] == clock


# -- parents ----------------------------------------------------------------------


def test_parent_fields_required_on_creation(world):
    out = world.apply(WANG, "device_checks", CHECK, {"inspection_id": INSP, "outcome": "serviced"}, False, h(10))
    assert (out.status, out.reason) == ("rejected", "invalid_field")
    assert "device_id" in (out.detail or "")
    assert world.lookup("device_checks", CHECK) is None


def test_parent_same_value_is_no_change(world):
    create_check(world, at=10, outcome="serviced", checked_by="wang", checked_at=TS)
    before = copy.deepcopy(world.row("device_checks", CHECK))
    out = world.apply(WANG, "device_checks", CHECK, {"inspection_id": INSP, "device_id": CAM1}, None, h(20))
    assert out.status == "applied"
    assert not out.changed
    assert world.row("device_checks", CHECK) == before


def test_parent_different_value_is_immutable(world):
    world.apply(LIN, "devices", CAM1, {"location": "lobby"}, None, h(5, LIN))
    out = world.apply(LIN, "devices", CAM1, {"site_id": OTHER_SITE, "location": "plant"}, None, h(10, LIN))
    assert (out.status, out.reason) == ("rejected", "immutable")
    row = world.row("devices", CAM1)
    assert (row.fields["site_id"], row.fields["location"]) == (SITE, "lobby")


def test_optional_parent_cannot_be_set_later(world):
    photo = str(uuid.uuid4())
    fields = {"inspection_id": INSP, "sha256": SHA, "content_type": "image/jpeg", "stage": "before"}
    assert world.apply(WANG, "photos", photo, fields, False, h(10)).status == "applied"
    out = world.apply(WANG, "photos", photo, {"device_id": CAM1}, None, h(20))
    assert (out.status, out.reason) == ("rejected", "immutable")
    out = world.apply(WANG, "photos", photo, {"sha256": "cd" * 32}, None, h(30))
    assert (out.status, out.reason) == ("rejected", "immutable")


def test_unknown_parent(world):
    ghost = str(uuid.uuid4())
    out = world.apply(WANG, "device_checks", device_check_id(INSP, ghost),
                      {"inspection_id": INSP, "device_id": ghost}, False, h(10))
    assert (out.status, out.reason) == ("rejected", "unknown_parent")
    out = world.apply(LIN, "devices", str(uuid.uuid4()), {"site_id": str(uuid.uuid4())}, False, h(10, LIN))
    assert (out.status, out.reason) == ("rejected", "unknown_parent")


def test_parent_outside_the_technicians_sites_is_forbidden(world):
    # Regression: only the row's own site (its inspection's) was checked, so a
    # technician could create a check of their inspection for a device of a
    # site they are not a member of.
    row_id = device_check_id(INSP, OTHER_CAM)
    out = world.apply(WANG, "device_checks", row_id, {"inspection_id": INSP, "device_id": OTHER_CAM}, False, h(10))
    assert (out.status, out.reason) == ("rejected", "forbidden")
    photo = str(uuid.uuid4())
    out = world.apply(WANG, "photos", photo, {"inspection_id": INSP, "device_id": OTHER_CAM, "sha256": SHA},
                      False, h(11))
    assert (out.status, out.reason) == ("rejected", "forbidden")


# -- who may write what -------------------------------------------------------------


@pytest.mark.parametrize("collection, row_id, fields", [
    ("device_checks", CHECK, {"sealed_by": SIG}),
    ("inspections", INSP, {"completed_at": TS}),
    ("inspections", INSP, {"sheet_no": "2026-001"}),
    ("signatures", SIG, {"inspection_id": INSP, "signer_name": "Li", "verification": "valid"}),
    ("photos", str(uuid.uuid5(uuid.NAMESPACE_URL, "p")), {"inspection_id": INSP, "sha256": SHA, "blob": "stored"}),
])
@pytest.mark.parametrize("actor", [WANG, LIN], ids=["technician", "supervisor"])
def test_server_only_fields_are_forbidden_to_clients(world, actor, collection, row_id, fields):
    if collection == "device_checks":
        create_check(world, at=1, outcome="serviced", checked_by="wang", checked_at=TS)
    before = copy.deepcopy(world.rows)
    out = world.apply(actor, collection, row_id, fields, False if collection in ("signatures", "photos") else None,
                      h(10, actor))
    assert (out.status, out.reason) == ("rejected", "forbidden")
    assert world.rows == before


def test_the_server_writes_server_only_fields(world):
    create_check(world, at=1, outcome="serviced", checked_by="wang", checked_at=TS)
    out = world.apply(SRV, "device_checks", CHECK, {"sealed_by": SIG}, None, str(Hlc(1_764_201_700_000, 0, "srv")))
    assert out.status == "applied"
    assert world.row("device_checks", CHECK).fields["sealed_by"] == SIG


def test_technician_may_not_write_sites(world):
    out = world.apply(WANG, "sites", SITE, {"name": "Renamed"}, None, h(10))
    assert (out.status, out.reason) == ("rejected", "forbidden")
    new_site = str(uuid.uuid4())
    out = world.apply(WANG, "sites", new_site, {}, False, h(11))
    assert (out.status, out.reason) == ("rejected", "forbidden")
    assert world.lookup("sites", new_site) is None
    assert world.apply(LIN, "sites", SITE, {"name": "Renamed"}, None, h(12, LIN)).status == "applied"


def test_technician_may_correct_device_location_only_on_own_sites(world):
    assert world.apply(WANG, "devices", CAM1, {"location": "B2", "serial_no": "X", "model": "M"}, None,
                       h(10)).status == "applied"
    assert world.apply(WANG, "devices", CAM1, {"code": "CAM-100"}, None, h(11)).reason == "forbidden"
    assert world.apply(WANG, "devices", OTHER_CAM, {"location": "B2"}, None, h(12)).reason == "forbidden"
    assert world.apply(WANG, "devices", CAM1, {}, True, h(13)).reason == "forbidden"


def test_technician_may_not_delete_inspections(world):
    out = world.apply(WANG, "inspections", INSP, {}, True, h(10))
    assert (out.status, out.reason) == ("rejected", "forbidden")
    assert world.apply(LIN, "inspections", INSP, {}, True, h(11, LIN)).status == "applied"


def test_technician_checked_by_someone_else_is_forbidden(world):
    out = world.apply(WANG, "device_checks", CHECK,
                      check_fields(outcome="serviced", checked_by="zhao", checked_at=TS), False, h(10))
    assert (out.status, out.reason) == ("rejected", "forbidden")
    # A supervisor may record a check under a technician's name.
    assert world.apply(LIN, "device_checks", CHECK, check_fields(outcome="serviced", checked_by="zhao"), False,
                       h(11, LIN)).status == "applied"


def test_technician_outside_their_sites_is_forbidden(world):
    row_id = device_check_id(OTHER_INSP, OTHER_CAM)
    out = world.apply(WANG, "device_checks", row_id, {"inspection_id": OTHER_INSP, "device_id": OTHER_CAM},
                      False, h(10))
    assert (out.status, out.reason) == ("rejected", "forbidden")
    assert world.apply(ZHAO, "device_checks", row_id, {"inspection_id": OTHER_INSP, "device_id": OTHER_CAM},
                       False, h(10, ZHAO)).status == "applied"


@pytest.mark.parametrize("status, ok", [("in_progress", True), ("completed", True), ("scheduled", False),
                                        ("signed", False)])
def test_technician_inspection_status(world, status, ok):
    out = world.apply(WANG, "inspections", INSP, {"status": status, "started_at": TS}, None, h(10))
    assert (out.status == "applied") is ok
    if not ok:
        assert out.reason == "forbidden"


# -- shapes --------------------------------------------------------------------------


@pytest.mark.parametrize("row_id", [
    device_check_id(INSP, CAM2),  # the id of another pair
    "57cf6e0a-d148-4bca-af98-a5bb223eb012",  # a random uuid4 (fixed: parallel workers collect the same ids)
    CHECK.upper(),
    CHECK.replace("-", ""),
    "{" + CHECK + "}",
    CHECK + "\n",
])
def test_device_check_id_must_be_the_uuid5_of_its_pair(world, row_id):
    out = world.apply(WANG, "device_checks", row_id, check_fields(outcome="serviced"), False, h(10))
    assert (out.status, out.reason) == ("rejected", "invalid_field")
    assert world.lookup("device_checks", row_id) is None


@pytest.mark.parametrize("fields", [
    {"checked_at": "2026-11-20T10:15:00Z"},
    {"checked_at": "2026-11-20T10:15:00.000+08:00"},
    {"checked_at": "2026-11-20 10:15:00.000Z"},
    {"checked_at": "2026-02-30T10:15:00.000Z"},
    {"checked_at": "2026-11-20T24:15:00.000Z"},
    {"checked_at": "2026-11-20T10:15:00.000Z\n"},
    {"checked_at": "\u0662\u0660\u0662\u0666-11-20T10:15:00.000Z"},  # Arabic-Indic digits
    {"checked_at": 1764201600000},
    {"outcome": "done"},
    {"outcome": "Serviced"},
    {"note": True},
    {"note": 5},
    {"checked_by": None, "note": "x" * 10_001},
])
def test_malformed_values_are_invalid_field(world, fields):
    out = world.apply(WANG, "device_checks", CHECK, check_fields(**fields), False, h(10))
    assert (out.status, out.reason) == ("rejected", "invalid_field")
    assert world.lookup("device_checks", CHECK) is None


@pytest.mark.parametrize("collection, row_id, fields", [
    ("sites", SITE, {"zone": "rural"}),
    ("sites", SITE, {"accepted_on": "2026-13-01"}),
    ("sites", SITE, {"accepted_on": "2026-11-20\n"}),
    ("sites", SITE, {"warranty_months": 2**53}),
    ("sites", SITE, {"warranty_months": True}),
    ("sites", SITE, {"contract": None, "customer": 1}),
    ("devices", CAM1, {"system": "cctv"}),
    ("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "t")), {"items": "not json"}),
    ("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "t")), {"items": '[{"key": "A", "label": "x", "type": "bool"}]'}),
    ("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "t")), {"items": '[{"key": "a\\n", "label": "x", "type": "bool"}]'}),
    # Regression: deeply nested text made json.loads raise RecursionError (a 500 at the server).
    ("checklist_templates", str(uuid.uuid5(uuid.NAMESPACE_URL, "t")), {"items": "[" * 100_000}),
    ("inspections", inspection_id(SITE, "2026-Q5"), {"site_id": SITE, "period": "2026-Q5"}),
    ("inspections", inspection_id(SITE, "2026-Q4\n"), {"site_id": SITE, "period": "2026-Q4\n"}),
])
def test_malformed_values_of_each_type_are_invalid_field(world, collection, row_id, fields):
    out = world.apply(LIN, collection, row_id, fields, False if world.lookup(collection, row_id) is None else None,
                      h(10, LIN))
    assert (out.status, out.reason) == ("rejected", "invalid_field")


def test_unknown_field_is_rejected_alone_and_the_rest_applies(world):
    out = world.apply(WANG, "device_checks", CHECK,
                      check_fields(outcome="serviced", checked_by="wang", checked_at=TS, colour="red",
                                   **{"item.Bad": True, "item.ok": True, "item.obj\n": 1}), False, h(10))
    assert out.status == "applied"
    assert out.rejected_fields == {"colour": "unknown_field", "item.Bad": "unknown_field",
                                   "item.obj\n": "unknown_field"}
    fields = world.row("device_checks", CHECK).fields
    assert fields["outcome"] == "serviced" and fields["item.ok"] is True
    assert "colour" not in fields
    logged = {(e.kind, e.register, e.new_value, e.reason) for e in out.log}
    assert ("rejected_field", "colour", "red", "unknown_field") in logged


def test_item_with_an_unsafe_integer_is_a_rejected_field(world):
    out = world.apply(WANG, "device_checks", CHECK,
                      check_fields(**{"item.count": 2**53, "item.ok": True}), False, h(10))
    assert out.status == "applied"
    assert out.rejected_fields == {"item.count": "invalid_value"}
    assert "item.count" not in world.row("device_checks", CHECK).fields


# -- precedence ------------------------------------------------------------------------


def test_reject_order_is_the_protocols():
    assert REJECT_ORDER == ("invalid_hlc", "unknown_collection", "unknown_parent", "forbidden", "immutable",
                            "sealed", "incomplete", "invalid_field")


def test_unknown_collection_comes_first(world):
    out = world.apply(WANG, "cameras", "not-a-uuid", {"x": 1}, False, h(10))
    assert (out.status, out.reason) == ("rejected", "unknown_collection")


def test_unknown_parent_before_forbidden_and_invalid_field(world):
    ghost = str(uuid.uuid4())
    out = world.apply(WANG, "device_checks", str(uuid.uuid4()),  # wrong id too: invalid_field
                      {"inspection_id": INSP, "device_id": ghost, "checked_by": "zhao", "sealed_by": SIG,
                       "outcome": "done"}, False, h(10))
    assert out.reason == "unknown_parent"


def test_forbidden_before_immutable_and_invalid_field(world):
    out = world.apply(WANG, "devices", CAM1, {"site_id": OTHER_SITE, "code": "X", "status": "gone"}, None, h(10))
    assert out.reason == "forbidden"


def test_immutable_before_sealed_and_invalid_field(world):
    create_check(world, at=1, outcome="serviced", checked_by="wang", checked_at=TS)
    world.apply(SRV, "device_checks", CHECK, {"sealed_by": SIG}, None, str(Hlc(1_764_201_700_000, 0, "srv")))
    out = world.apply(WANG, "device_checks", CHECK, {"device_id": CAM2, "outcome": "done"}, None, h(10))
    assert out.reason == "immutable"


def test_sealed_before_invalid_field(world):
    create_check(world, at=1, outcome="serviced", checked_by="wang", checked_at=TS)
    world.apply(SRV, "device_checks", CHECK, {"sealed_by": SIG}, None, str(Hlc(1_764_201_700_000, 0, "srv")))
    out = world.apply(WANG, "device_checks", CHECK, {"outcome": "done"}, None, h(10))
    assert out.reason == "sealed"


@pytest.mark.parametrize("combo", list(itertools.combinations(range(4), 2)))
def test_precedence_follows_reject_order_for_each_pair(world, combo):
    # Four independent faults a technician's change to a device can carry.
    faults = [
        ("unknown_parent", {"site_id": str(uuid.uuid4())}),  # on creation only
        ("forbidden", {"code": "X"}),
        ("invalid_field", {"location": 5}),
        ("invalid_field", {"serial_no": False}),
    ]
    fields: dict[str, Any] = {}
    for i in combo:
        fields.update(faults[i][1])
    creating = 0 in combo
    row_id = str(uuid.uuid4()) if creating else CAM1
    if creating:
        fields.setdefault("site_id", SITE)
    out = world.apply(WANG, "devices", row_id, fields, False if creating else None, h(10))
    expected = min((faults[i][0] for i in combo), key=REJECT_ORDER.index)
    assert out.reason == expected


# -- outcomes and the log --------------------------------------------------------------


def test_superseded_when_every_register_lost(world):
    world.apply(LIN, "devices", CAM1, {"location": "a", "model": "m1"}, None, h(20, LIN))
    out = world.apply(WANG, "devices", CAM1, {"location": "b", "model": "m2"}, None, h(10))
    assert out.status == "superseded"
    partly = world.apply(WANG, "devices", CAM1, {"location": "b", "serial_no": "s"}, None, h(11))
    assert partly.status == "applied"
    assert world.row("devices", CAM1).fields["location"] == "a"


def test_lost_value_is_logged_with_the_winning_hlc(world):
    world.apply(LIN, "devices", CAM1, {"location": "gate"}, None, h(20, LIN))
    out = world.apply(WANG, "devices", CAM1, {"location": "lobby"}, None, h(10))
    [entry] = out.log
    assert (entry.kind, entry.register, entry.old_value, entry.new_value) == ("lost", "location", "gate", "lobby")
    assert (entry.other_hlc, entry.other_writer) == (h(20, LIN), LIN.client_id)


def test_overwritten_value_of_another_writer_is_logged(world):
    world.apply(LIN, "devices", CAM1, {"location": "gate"}, None, h(10, LIN))
    out = world.apply(WANG, "devices", CAM1, {"location": "lobby"}, None, h(20))
    [entry] = out.log
    assert (entry.kind, entry.register, entry.old_value, entry.new_value) == (
        "overwritten", "location", "gate", "lobby")
    assert (entry.other_hlc, entry.other_writer) == (h(10, LIN), LIN.client_id)


def test_same_writer_overwrite_is_not_logged(world):
    world.apply(WANG, "devices", CAM1, {"location": "gate"}, None, h(10))
    out = world.apply(WANG, "devices", CAM1, {"location": "lobby"}, None, h(20))
    assert out.status == "applied" and out.log == []


def test_taking_over_an_equal_value_is_logged(world):
    """Bug: when WANG wrote LIN's value and later changed it, LIN's value went without a trace."""
    world.apply(LIN, "devices", CAM1, {"location": "gate"}, None, h(10, LIN))
    out = world.apply(WANG, "devices", CAM1, {"location": "gate"}, None, h(20))
    assert [(e.kind, e.old_value, e.new_value, e.other_writer) for e in out.log] == [
        ("overwritten", "gate", "gate", LIN.client_id)]
    # WANG's own later edit is no conflict; the log already holds LIN's "gate".
    assert world.apply(WANG, "devices", CAM1, {"location": "gate B"}, None, h(30)).log == []


def test_an_equal_value_that_arrives_late_is_logged_as_lost(world):
    """Bug: WANG's equal value lost silently, then LIN changed the register and it was gone."""
    world.apply(LIN, "devices", CAM1, {"location": "gate"}, None, h(10, LIN))
    out = world.apply(WANG, "devices", CAM1, {"location": "gate"}, None, h(5))
    assert [(e.kind, e.old_value, e.new_value, e.other_writer) for e in out.log] == [
        ("lost", "gate", "gate", LIN.client_id)]


def test_an_equal_value_of_the_same_writer_arriving_late_is_not_logged(world):
    world.apply(WANG, "devices", CAM1, {"location": "gate"}, None, h(10))
    assert world.apply(WANG, "devices", CAM1, {"location": "gate"}, None, h(5)).log == []


def test_rejected_change_is_logged_whole(world):
    out = world.apply(WANG, "sites", SITE, {"name": "X"}, True, h(10))
    [entry] = out.log
    assert (entry.kind, entry.reason) == ("rejected", "forbidden")
    assert entry.new_value == {"name": "X", "deleted": True}


# -- signatures and sealed checks -----------------------------------------------------------


def _signature(**extra: Any) -> dict[str, Any]:
    return {"inspection_id": INSP, "signer_name": "Li Na", "signer_role": "customer", "signed_at": TS,
            "image_sha256": SHA, "sheet_sha256": "cd" * 32, **extra}


def test_signature_rows_never_change(world):
    assert world.apply(WANG, "signatures", SIG, _signature(), False, h(10)).status == "applied"
    before = copy.deepcopy(world.row("signatures", SIG))
    for fields, delete in [({"signer_name": "Someone else"}, None), ({}, True), ({"signed_at": None}, None)]:
        out = world.apply(WANG, "signatures", SIG, fields, delete, h(20))
        assert (out.status, out.reason) == ("rejected", "immutable")
    assert world.apply(LIN, "signatures", SIG, {"signer_role": "technician"}, None, h(30, LIN)).reason == "immutable"
    # Equal values are no change, not a rejection (a resend after a restore).
    assert world.apply(WANG, "signatures", SIG, _signature(), False, h(40)).status != "rejected"
    assert world.row("signatures", SIG).fields == before.fields


def _sealed(world: World) -> None:
    create_check(world, at=1, outcome="serviced", note="ok", checked_by="wang", checked_at=TS,
                 **{"item.lens_cleaned": True})
    out = world.apply(SRV, "device_checks", CHECK, {"sealed_by": SIG}, None, str(Hlc(1_764_201_700_000, 0, "srv")))
    assert out.status == "applied"


@pytest.mark.parametrize("fields, delete", [
    ({"outcome": "fault", "checked_by": "wang", "checked_at": TS, "note": "ok"}, None),
    ({"item.lens_cleaned": False}, None),
    ({"item.new_item": True}, None),
    ({}, True),
])
def test_sealed_check_rejects_changes(world, fields, delete):
    _sealed(world)
    before = copy.deepcopy(world.row("device_checks", CHECK))
    for actor in (WANG, LIN):
        out = world.apply(actor, "device_checks", CHECK, fields, delete, h(10_000_000, actor))
        assert (out.status, out.reason) == ("rejected", "sealed")
    assert world.row("device_checks", CHECK) == before


def test_sealed_check_rejects_a_partial_group_that_would_null_the_rest(world):
    # Regression: the sealed test compared only the fields sent, but the group
    # rule writes the group's other fields as null, so this emptied the note,
    # checked_by and checked_at of a sealed check.
    _sealed(world)
    out = world.apply(WANG, "device_checks", CHECK, {"outcome": "serviced"}, None, h(10_000_000))
    assert (out.status, out.reason) == ("rejected", "sealed")
    assert world.row("device_checks", CHECK).fields["note"] == "ok"


def test_sealed_check_accepts_equal_values(world):
    _sealed(world)
    out = world.apply(WANG, "device_checks", CHECK,
                      check_fields(outcome="serviced", note="ok", checked_by="wang", checked_at=TS), False,
                      h(10_000_000))
    assert out.status != "rejected"
    assert world.row("device_checks", CHECK).fields["note"] == "ok"


# -- validate on its own -----------------------------------------------------------------------


def test_validate_returns_kept_fields_without_unknown_ones(world):
    rejection, rejected, kept, _ = validate("devices", CAM1, {"location": "x", "bogus": 1}, None,
                                         world.row("devices", CAM1), WANG, world.lookup)
    assert rejection is None
    assert rejected == {"bogus": "unknown_field"}
    assert kept == {"location": "x"}


def test_merge_creates_a_row_with_its_parents_and_site():
    out = merge(None, "devices", CAM1, {"site_id": SITE, "code": "C"}, False, h(1, LIN), LIN.client_id, SITE)
    assert out.status == "applied" and out.changed
    assert out.row is not None
    assert out.row.fields == {"site_id": SITE, "code": "C"}
    assert out.row.site_id == SITE
    assert set(out.row.clocks) == {"code", "deleted"}


# -- convergence ---------------------------------------------------------------------------------

_WRITERS = [LIN, Actor("0d000000-0000-4000-8000-00000000000d", "sun", "supervisor", None),
            Actor("0e000000-0000-4000-8000-00000000000e", "qian", "supervisor", None)]
_value = st.one_of(st.none(), st.sampled_from(["a", "b", "c"]))
_change = st.fixed_dictionaries(
    {},
    optional={
        "outcome": st.sampled_from(["serviced", "fault", None]),
        "note": _value,
        "checked_by": st.sampled_from(["wang", "zhao", None]),
        "item.a": st.one_of(st.none(), st.booleans()),
        "item.b": _value,
        "delete": st.booleans(),
    },
)


@settings(max_examples=150, deadline=None)
@given(
    changes=st.lists(st.tuples(_change, st.integers(0, 3), st.sampled_from(range(len(_WRITERS)))),
                     min_size=1, max_size=6),
    data=st.data(),
)
def test_merge_order_does_not_matter_and_nothing_is_lost(changes, data):
    stamped = []
    for i, (fields, ms, w) in enumerate(changes):
        actor = _WRITERS[w]
        # Distinct HLCs: the counter is the change's index.
        stamped.append((dict(fields), h(ms, actor, counter=i), actor))
    orders = [list(range(len(stamped))), list(reversed(range(len(stamped)))),
              data.draw(st.permutations(range(len(stamped))))]
    finals = []
    for order in orders:
        world = World()
        log = []
        for i in order:
            fields, stamp, actor = stamped[i]
            fields = dict(fields)
            delete = fields.pop("delete", None)
            out = world.apply(actor, "device_checks", CHECK, check_fields(**fields), delete, stamp)
            assert out.status != "rejected", out
            log += out.log
        row = world.row("device_checks", CHECK)
        finals.append((row.fields, row.clocks, row.deleted))
        # Every written value is current, or kept in the log, or overwritten by its own writer.
        for fields, stamp, actor in stamped:
            for reg, value in _written_registers(fields).items():
                current = _current(row, reg)
                if value == current:
                    continue
                logged = any(e.register == reg and value in (e.old_value, e.new_value) for e in log)
                # Replaced by its own writer, or carried on by a later write of the same value.
                later = any(s > stamp and reg in _written_registers(f)
                            and (a is actor or _written_registers(f)[reg] == value) for f, s, a in stamped)
                assert logged or later, (reg, value, stamp)
    assert finals[0] == finals[1] == finals[2]


def _written_registers(fields: dict[str, Any]) -> dict[str, Any]:
    group = ("outcome", "note", "checked_by", "checked_at")
    regs: dict[str, Any] = {}
    if any(name in fields for name in group):
        regs["result"] = {name: fields.get(name) for name in group}
    for name, value in fields.items():
        if name.startswith("item."):
            regs[name] = value
    if "delete" in fields:
        regs["deleted"] = fields["delete"]
    return regs


def _current(row: RowState, reg: str) -> Any:
    if reg == "deleted":
        return row.deleted
    if reg == "result":
        return {name: row.fields.get(name) for name in ("outcome", "note", "checked_by", "checked_at")}
    return row.fields.get(reg)



_UNKNOWN = str(uuid.UUID(int=7))


@st.composite
def _any_change(draw: st.DrawFn) -> tuple[str, str, dict[str, Any], Actor, bool]:
    """A change of a collection whose site comes from a field or a parent: parents among the world's
    rows of both sites (or unknown), to a new row or to the one the world holds, by any actor."""
    site = draw(st.sampled_from([SITE, OTHER_SITE, _UNKNOWN]))
    insp = draw(st.sampled_from([INSP, OTHER_INSP, _UNKNOWN]))
    cam = draw(st.sampled_from([CAM1, CAM2, OTHER_CAM, _UNKNOWN]))
    new = str(uuid.UUID(int=draw(st.integers(8, 2**64))))
    collection, row_id, fields = draw(st.sampled_from([
        ("devices", draw(st.sampled_from([new, CAM1])), {"site_id": site, "code": "CAM-7", "system": "video"}),
        ("inspections", draw(st.sampled_from([inspection_id(site, "2026-Q4"), INSP])),
         {"site_id": site, "period": "2026-Q4", "status": "in_progress"}),
        ("device_checks", draw(st.sampled_from([device_check_id(insp, cam), CHECK])),
         {"inspection_id": insp, "device_id": cam, "outcome": "serviced", "checked_by": "wang",
          "item.lens_cleaned": True, "item.unknown": draw(st.sampled_from([True, 3, "x"]))}),
        ("photos", new, {"inspection_id": insp, "device_id": cam, "sha256": SHA, "content_type": "image/jpeg",
                         "bytes": 1, "taken_at": TS, "stage": "after"}),
    ]))
    dropped = draw(st.lists(st.sampled_from(sorted(fields)), max_size=2, unique=True))
    fields = {k: v for k, v in fields.items() if k not in dropped}
    return collection, row_id, fields, draw(st.sampled_from([WANG, ZHAO, LIN, SRV])), draw(st.booleans())


@settings(max_examples=300, deadline=None)
@given(change=_any_change())
def test_the_site_validate_reports_is_the_one_the_merge_computed(change):
    # Regression (issue 15, the push path, third round): the merge takes a created row's site from
    # `validate` instead of computing it again after the change rules (which drop checklist
    # items); on any change that passes, it is what `site_of` gives on the fields that are merged.
    collection, row_id, fields, actor, stored = change
    world = World()
    create_check(world, LIN)
    row = copy.deepcopy(world.lookup(collection, row_id)) if stored else None
    rules = Rules(template_items=lambda device: {"lens_cleaned": "bool"}, unchecked=lambda inspection: 1)
    rejection, _, kept, site = validate(collection, row_id, fields, None, row, actor, world.lookup, rules)
    if rejection is None:
        assert site == (row.site_id if row is not None and row.exists else
                        site_of(collection, row_id, kept, world.lookup))

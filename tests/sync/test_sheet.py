"""The canonical sheet: exact bytes on a hand-written example, and what differs."""

from __future__ import annotations

import hashlib

import pytest

from sync import sheet

INSPECTION = "0b9e0c5e-3a1c-5d0e-9f4a-2c7b1d6e8f00"
CAM1 = "11111111-1111-4111-8111-111111111111"
CAM2 = "22222222-2222-4222-8222-222222222222"


def test_canonical_sheet_bytes_by_hand():
    checks = {
        CAM2: {
            "inspection_id": INSPECTION, "device_id": CAM2, "outcome": "fault", "note": "镜头起雾，已清洁",
            "checked_by": "wang", "checked_at": "2026-11-20T10:15:00.000Z", "item.screws": 4,
            "item.lens_cleaned": True, "item.label": None, "sealed_by": "33333333-3333-4333-8333-333333333333",
        },
        CAM1: {"outcome": "serviced", "checked_by": "wang", "note": None, "item.lens_cleaned": False},
    }
    expected = (
        '{"checks":{'
        '"11111111-1111-4111-8111-111111111111":{"checked_by":"wang","item.lens_cleaned":false,"outcome":"serviced"},'
        '"22222222-2222-4222-8222-222222222222":{"checked_at":"2026-11-20T10:15:00.000Z","checked_by":"wang",'
        '"item.lens_cleaned":true,"item.screws":4,"note":"镜头起雾，已清洁","outcome":"fault"}},'
        '"inspection":"0b9e0c5e-3a1c-5d0e-9f4a-2c7b1d6e8f00"}'
    ).encode()
    data = sheet.sheet_bytes(INSPECTION, checks)
    assert data == expected
    assert "镜头".encode() in data and b"\\u" not in data and b" " not in data
    assert sheet.sheet_sha256(INSPECTION, checks) == hashlib.sha256(expected).hexdigest()


def test_deleted_checks_are_not_on_the_sheet():
    rows = [(CAM1, {"outcome": "serviced"}, False), (CAM2, {"outcome": "skipped"}, True)]
    assert sheet.checks_of(rows) == {CAM1: {"outcome": "serviced"}}


def test_parse_takes_only_canonical_sheets():
    data = sheet.sheet_bytes(INSPECTION, {CAM1: {"outcome": "serviced", "item.screws": 4}})
    assert sheet.parse(data) == sheet.Sheet(INSPECTION, {CAM1: {"item.screws": 4, "outcome": "serviced"}})
    for bad in [
        b'{"checks": {}, "inspection": "x"}',  # whitespace
        b'{"inspection":"x","checks":{}}',  # keys not sorted
        b'{"checks":{},"inspection":"x","extra":1}',
        b'{"checks":{"d":{"note":null}},"inspection":"x"}',
        b'{"checks":{"d":{"n":1.5}},"inspection":"x"}',
        b"[1]",
        b"\xff",
        # Issue 9, findings 3 and 8: bounded like a push, so no sheet costs more than its bytes.
        b'{"checks":{"not-a-device":{"outcome":"serviced"}},"inspection":"x"}',
        b'{"checks":{"%s":{"n":9007199254740992}},"inspection":"x"}' % CAM1.encode(),
        b'{"checks":{"%s":{"n":{"nested":[[[1]]]}}},"inspection":"x"}' % CAM1.encode(),
        sheet.sheet_bytes(INSPECTION, {CAM1: {f"item.f{i}": 1 for i in range(257)}}),
        sheet.sheet_bytes(INSPECTION, {CAM1: {"note": "x" * sheet.MAX_SHEET_BYTES}}),
    ]:
        with pytest.raises(sheet.SheetError):
            sheet.parse(bad)


def test_differences_say_which_check_and_how():
    signed = {CAM1: {"outcome": "serviced", "item.screws": 4}, CAM2: {"outcome": "skipped"}}
    current = {CAM1: {"outcome": "fault", "note": "cracked", "item.screws": 4, "sealed_by": "x"}}
    found = sheet.differences(signed, current)
    assert [(d.device_id, d.field, d.signed, d.current, d.check) for d in found] == [
        (CAM1, "note", None, "cracked", "changed"),
        (CAM1, "outcome", "serviced", "fault", "changed"),
        (CAM2, "outcome", "skipped", None, "missing"),
    ]
    assert not sheet.matches(signed, current)
    assert sheet.matches({CAM1: {"item.screws": 4}}, {CAM1: {"item.screws": 4}, CAM2: {"outcome": "serviced"}})


def test_a_boolean_never_equals_a_number():
    assert not sheet.matches({CAM1: {"item.ok": True}}, {CAM1: {"item.ok": 1}})


def test_whole_sheet_comparison_also_lists_checks_the_sheet_lacks():
    found = sheet.differences({CAM1: {"outcome": "serviced"}},
                              {CAM1: {"outcome": "serviced"}, CAM2: {"outcome": "skipped"}}, whole=True)
    assert [(d.device_id, d.field, d.signed, d.current, d.check) for d in found] == [
        (CAM2, "outcome", None, "skipped", "not_on_sheet"),
    ]


# -- the contact sheet of a service visit (issue 12) ------------------------------------------

VISIT = "44444444-4444-4444-8444-444444444444"
LINE = "55555555-5555-4555-8555-555555555555"


def test_contact_sheet_bytes_by_hand():
    visit = {
        "request_id": "66666666-6666-4666-8666-666666666666", "technician": "wang", "outcome": "resolved",
        "work_done": "更换电源", "planned_at": None, "visit_no": 2, "sheet_no": "SR-2026-00042-2",
        "sealed_by": "33333333-3333-4333-8333-333333333333",
    }
    lines = {LINE: {"visit_id": VISIT, "item": "part", "quantity": 1, "unit_price_fen": 12000,
                    "description": None, "amount_fen": 12000, "covered": True}}
    expected = (
        '{"fields":{"outcome":"resolved","technician":"wang","work_done":"更换电源"},'
        '"lines":{"55555555-5555-4555-8555-555555555555":{"item":"part","quantity":1,"unit_price_fen":12000}},'
        '"visit":"44444444-4444-4444-8444-444444444444"}'
    ).encode()
    assert sheet.visit_sheet_bytes(VISIT, visit, lines) == expected
    assert sheet.visit_sheet_sha256(VISIT, visit, lines) == hashlib.sha256(expected).hexdigest()
    # No charge lines yet (issue 13): the sheet still has its `lines`, empty.
    assert sheet.visit_sheet_bytes(VISIT, {"technician": "wang"}) == (
        b'{"fields":{"technician":"wang"},"lines":{},"visit":"%s"}' % VISIT.encode())


def test_only_client_written_fields_are_on_a_contact_sheet():
    from sync.schema import COLLECTIONS

    spec = COLLECTIONS["service_visits"].fields
    assert {name for name in spec if name not in sheet.VISIT_LEFT_OUT} == {
        name for name, f in spec.items() if f.writers and name != "request_id"}
    assert {"visit_id", "amount_fen", "covered"} <= sheet.LINE_LEFT_OUT


def test_parse_takes_a_canonical_contact_sheet():
    data = sheet.visit_sheet_bytes(VISIT, {"outcome": "resolved"}, {LINE: {"item": "labour", "quantity": 90}})
    parsed = sheet.parse(data)
    assert parsed == sheet.Sheet(VISIT, {LINE: {"item": "labour", "quantity": 90}}, "visit", {"outcome": "resolved"})
    for bad in [
        b'{"fields": {},"lines":{},"visit":"x"}',  # whitespace
        b'{"fields":{},"visit":"x","lines":{}}',  # keys not sorted
        b'{"fields":{},"lines":{},"visit":"x","checks":{}}',
        b'{"fields":{"note":null},"lines":{},"visit":"x"}',
        b'{"fields":{"n":[1]},"lines":{},"visit":"x"}',
        b'{"fields":{},"lines":{"not-a-line":{"item":"part"}},"visit":"x"}',
        b'{"fields":{"n":9007199254740992},"lines":{},"visit":"x"}',
        sheet.visit_sheet_bytes(VISIT, {f"f{i}": 1 for i in range(257)}),
        sheet.visit_sheet_bytes(VISIT, {}, {LINE: {"description": "x" * 100_000}}),
    ]:
        with pytest.raises(sheet.SheetError):
            sheet.parse(bad)

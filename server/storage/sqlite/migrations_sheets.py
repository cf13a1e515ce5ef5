"""What named each device a maintenance sheet listed when the customer signed it (`verifications.devices`,
storage/signatures.py): a reprint after a device was renamed or moved prints what was signed; and
whom it named as its technician (`verifications.technician`, m032): a reprint after a reassignment
prints the technician the customer signed beside; the maintenance sheets' signatures recorded before get
theirs from the data at upgrade time (the signature's creator, the checks' `checked_by`, the assignee).
PostgreSQL's steps of the same names are the same.

Registered on the same `Migrations` when `migrations.py` imports this module (its last lines), after m030.
"""

from __future__ import annotations

import json

import msgspec
import sqlite_utils

from ..signatures import SIGNED_DEVICES, SIGNED_TECHNICIAN, chosen_technician, technician_label
from . import migrations_media  # noqa: F401 (m030 registers first)
from .migrations import migrations


@migrations()
def m031_signed_devices(db: sqlite_utils.Database) -> None:
    """A nullable JSON column: `{device_id: {"code", "kind", "location", "system"}}`."""
    db.executescript(SIGNED_DEVICES)


@migrations()
def m032_signed_technician(db: sqlite_utils.Database) -> None:
    """A nullable JSON column: `{"username", "name"}` of the technician the signed sheet named (s27-office5),
    filled for the maintenance sheets' signatures recorded before by the rule a push follows (s27-fixsheet)."""
    db.executescript(SIGNED_TECHNICIAN)
    signed = db.execute(
        "SELECT v.signature_id, v.checks, (SELECT u.username FROM row_creators c JOIN users u ON u.id = c.user_id"
        "  WHERE c.collection = 'signatures' AND c.row_id = v.signature_id AND u.role = 'technician'),"
        " (SELECT json_extract(r.fields, '$.assigned_to') FROM rows r"
        "  WHERE r.collection = 'inspections' AND r.id = v.inspection_id)"
        " FROM verifications v WHERE v.compared IN ('sheet', 'inspection')").fetchall()

    for signature_id, checks, creator, assigned in signed:
        technician = technician_label(db.conn, chosen_technician(creator, json.loads(checks).values(), assigned))
        if technician is not None:  # the label a push records (`signatures/service.py`), encoded as it is
            db.execute("UPDATE verifications SET technician = ? WHERE signature_id = ?",
                       [msgspec.json.encode(technician).decode(), signature_id])

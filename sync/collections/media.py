"""Photos and signatures: rows that point at blobs (image and sheet bytes) the server stores."""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from ..collection import Collection, IdRule, Scope, Via
from ..fields import NOTE_LIMIT, NS, SUPERVISOR, TECHNICIAN, is_uuid
from ..fields import field as _f
from .inspections import VIA_INSPECTION, device_at_inspection_site

if TYPE_CHECKING:
    from ..rules import Check

_ALL = (TECHNICIAN, SUPERVISOR)
SIGNED_SHEETS = ("inspection_id", "visit_id")  # what a signature may sign: one of them

# A push creates at most this many signatures, and an inspection holds at most this many that are
# not retracted (issue 9, finding 3); the server's settings default to them, the client SDK ends a
# push batch at the first.
MAX_SIGNATURES_PER_PUSH = 20
MAX_SIGNATURES_PER_INSPECTION = 20


def photo_id(inspection_id: str, device_id: str | None, sha256: str) -> str:
    """One row per photo and device: adding the same photo again changes that row, not a new one."""
    return str(uuid.uuid5(NS, f"photo/{inspection_id}/{device_id or ''}/{sha256}"))


PHOTOS = Collection(
    "photos",
    {
        "inspection_id": _f("uuid", parent="inspections", writers=_ALL),
        "device_id": _f("uuid", parent="devices", optional_parent=True, writers=_ALL),
        "sha256": _f("sha256", parent="blobs", writers=_ALL),
        "content_type": _f("enum", "image/jpeg", "image/png", writers=_ALL),
        "bytes": _f("int", writers=_ALL),
        "taken_at": _f("timestamp", writers=_ALL),
        "caption": _f("text", writers=_ALL, max_length=NOTE_LIMIT),
        "stage": _f("enum", "before", "after", "evidence", writers=_ALL),
        "blob": _f("enum", "stored", "missing", writers=()),
    },
    create_roles=_ALL,
    scope=VIA_INSPECTION,
    # Not checked: the server takes any UUID for a photo (the rule only keeps a client from adding one twice).
    id_rule=IdRule(("inspection_id", "device_id", "sha256"), photo_id,
                   "uuid5(NS, photo/inspection_id/device_id/sha256)", checked=False),
    change_rules=(device_at_inspection_site,),
    blob_fields=("sha256",),
)


def _one_sheet(c: Check) -> None:
    """A signature signs exactly one sheet: an inspection's or a service visit's (issue 12)."""
    if c.creating and not c.delete and sum(c.fields.get(n) is not None for n in SIGNED_SHEETS) != 1:
        c.problem("invalid_field", "signatures name exactly one of inspection_id or visit_id")


def _signature_accepted(c: Check) -> None:
    if not (c.creating and c.is_client):
        return
    # Issue 9, finding 17: what seals a customer's checks is the customer's own hand.
    if c.fields.get("signer_role") == "customer" and not c.fields.get("image_sha256"):
        c.problem("invalid_field", "signatures.image_sha256: a customer's signature needs its image")
    elif c.rules is not None and c.rules.signature_refusal is not None:
        signed = next((c.fields[n] for n in SIGNED_SHEETS if is_uuid(c.fields.get(n))), None)
        refusal = c.rules.signature_refusal(signed, c.fields) if signed is not None else None
        if refusal is not None:
            c.problem("invalid_field", refusal)


SIGNATURES = Collection(
    "signatures",
    {
        "inspection_id": _f("uuid", parent="inspections", optional_parent=True, writers=_ALL),
        "visit_id": _f("uuid", parent="service_visits", optional_parent=True, writers=_ALL),
        "signer_name": _f("text", writers=_ALL),
        "signer_role": _f("enum", "customer", "technician", writers=_ALL),
        "signed_at": _f("timestamp", writers=_ALL),
        "image_sha256": _f("sha256", writers=_ALL),
        "sheet_sha256": _f("sha256", writers=_ALL),
        "verification": _f("enum", "valid", "mismatch", writers=()),
        # A supervisor's retraction (POST /api/signatures/{id}/retract): kept, marked, sealing nothing.
        "retracted_at": _f("timestamp", writers=()),
        "retracted_by": _f("text", writers=()),
    },
    create_roles=_ALL,
    # An inspection's signature is of its site and period; a visit's of its request's site and period.
    scope=Scope(site=(Via("inspection_id", "inspections"), Via("visit_id", "service_visits")),
                period=(Via("inspection_id", "inspections"), Via("visit_id", "service_visits"))),
    immutable_rows=True,
    change_rules=(_one_sheet, _signature_accepted),
    blob_fields=("image_sha256", "sheet_sha256"),
)

"""The maintenance sheet as the phone shows it, and signing it: pen strokes rendered to a
PNG, the sheet checked as the server will, the canonical sheet and the image queued
for upload before the `signatures` row that names them."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageDraw, UnidentifiedImageError

from sync import errors as E
from sync import schema, sheet
from sync.merge import RowState, check_row, validate

from .photos import _unreadable

if TYPE_CHECKING:
    from ..client import Client

MAX_CANVAS = 4000  # a signature pad is never larger; bigger coordinates are a mistake

# -- the sheet and signatures ---------------------------------------------------------


def sheet_checks(client: Client, inspection_id: str, devices: Sequence[str] | None = None) -> sheet.Checks:
    """The checks on the sheet as this client shows them (pulled rows with the outbox laid over)."""
    wanted = set(devices) if devices is not None else None
    return {
        str(c["fields"]["device_id"]): sheet.check_fields(c["fields"])
        for c in client.rows("device_checks")
        if c["fields"].get("inspection_id") == inspection_id and c["fields"].get("device_id")
        and (wanted is None or c["fields"]["device_id"] in wanted)
    }


def show_sheet(client: Client, inspection_id: str) -> dict[str, Any]:
    """The sheet the technician and the customer look at: the inspection, its site, and every
    device with its check (None while unchecked), by code."""
    inspection = client.get("inspections", inspection_id)
    if inspection is None or inspection["deleted"]:
        raise E.NotFound(f"no inspection {inspection_id} on this client")
    site_id = inspection["fields"].get("site_id")
    site = client.get("sites", str(site_id))
    checks = sheet_checks(client, inspection_id)
    sealed = {
        str(c["fields"]["device_id"]): c["fields"].get("sealed_by") for c in client.rows("device_checks")
        if c["fields"].get("inspection_id") == inspection_id
    }
    devices = [
        d for d in client.rows("devices")
        if d["fields"].get("site_id") == site_id
        and (d["fields"].get("status", "active") == "active" or d["id"] in checks)
    ]
    devices.sort(key=lambda d: (str(d["fields"].get("code") or ""), d["id"]))
    return {
        "inspection": {"id": inspection_id, **inspection["fields"]},
        "site": {"id": site_id, **(site["fields"] if site else {})},
        "devices": [
            {"device_id": d["id"], "code": d["fields"].get("code"), "name": d["fields"].get("name"),
             "kind": d["fields"].get("kind"), "location": d["fields"].get("location"),
             "system": d["fields"].get("system"),
             "check": checks.get(d["id"]), "sealed_by": sealed.get(d["id"])}
            for d in devices
        ],
        "checks": len(checks),
        "sheet_sha256": sheet.sheet_sha256(inspection_id, checks),
    }


def render_strokes(strokes: Sequence[Sequence[Sequence[float]]], width: int = 3) -> bytes:
    """Pen strokes (each a list of (x, y) points on the pad) drawn black on white, as a PNG."""
    points = [(float(p[0]), float(p[1])) for stroke in strokes for p in stroke]
    if not points:
        raise E.InvalidRequest("a signature needs at least one stroke with a point")
    if any(len(p) != 2 for stroke in strokes for p in stroke):
        raise E.InvalidRequest("a point is (x, y)")
    if min(min(x, y) for x, y in points) < 0 or max(max(x, y) for x, y in points) > MAX_CANVAS:
        raise E.InvalidRequest(f"points lie on the pad: 0 to {MAX_CANVAS}")
    size = (int(max(x for x, _ in points)) + 2 * width + 1, int(max(y for _, y in points)) + 2 * width + 1)
    image = Image.new("L", size, 255)
    draw = ImageDraw.Draw(image)
    for stroke in strokes:
        line = [(float(p[0]), float(p[1])) for p in stroke]
        if len(line) == 1:
            x, y = line[0]
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=0)
        elif line:
            draw.line(line, fill=0, width=width, joint="curve")
    out = io.BytesIO()
    image.save(out, "PNG", optimize=True)
    return out.getvalue()


def _check_png(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError, SyntaxError) as exc:
        why = _unreadable(data, exc, ("PNG",))
        raise E.InvalidRequest(f"the signature image is not a PNG ({why})") from None


def _check_sheet(client: Client, inspection_id: str, checks: sheet.Checks) -> None:
    """Refuse to sign a sheet the server will not accept as it stands: a check without an
    outcome or without a required note, or a pending change the server will reject."""
    if not checks:
        raise E.InvalidRequest("there is no check on this sheet to sign")
    for device_id, fields in sorted(checks.items()):
        outcome = fields.get("outcome")
        if outcome is None:
            raise E.InvalidRequest(f"the check of device {device_id} has no outcome yet", reason="invalid_field")
        refused = check_row("device_checks", fields)
        if refused is not None:
            raise E.InvalidRequest(f"the check of device {device_id}: {refused[1]}", reason=refused[0])
    actor = client.actor()

    def lookup(collection: str, row_id: str) -> RowState:
        found = client.get(collection, row_id)
        return RowState(collection, row_id, dict(found["fields"]) if found else {})

    rules = client.write_rules(unchecked=lambda _insp, _site: 0)
    ids = {schema.device_check_id(inspection_id, d): d for d in checks}
    for entry in client.pending():
        if entry["collection"] != "device_checks" or entry["id"] not in ids:
            continue
        # Against the row as the server last said it was: a seal the client learnt of
        # after recording the change rejects it there.
        pulled = client.db.row("device_checks", entry["id"])
        row = None if pulled is None else RowState("device_checks", entry["id"], pulled[0], deleted=pulled[1])
        rejection, _, _, _ = validate("device_checks", entry["id"], entry["fields"], entry["delete"], row, actor,
                                   lookup, rules)
        if rejection is not None:
            reason, detail = rejection
            raise E.InvalidRequest(
                f"the pending change to the check of device {ids[entry['id']]} will be rejected: {detail}",
                reason=reason)


def mismatched_signatures(client: Client) -> list[dict[str, Any]]:
    """Signatures the server found not to match their sheet, not yet followed by a new one.

    A mismatch seals nothing and is never verified again: the signer has to
    sign again. It is settled by a later signature of the same inspection
    and signer role that is not a mismatch (valid, or still on its way).
    Rows as `get` shows them, oldest first.
    """
    signatures = client.rows("signatures")
    found = []
    for sig in signatures:
        f = sig["fields"]
        if f.get("verification") != "mismatch":
            continue
        settled = any(
            o["fields"].get("inspection_id") == f.get("inspection_id")
            and o["fields"].get("signer_role") == f.get("signer_role")
            and str(o["fields"].get("signed_at") or "") > str(f.get("signed_at") or "")
            and o["fields"].get("verification") != "mismatch"
            for o in signatures
        )
        if not settled:
            found.append(sig)
    return sorted(found, key=lambda s: (str(s["fields"].get("signed_at") or ""), s["id"]))


def sign(client: Client, inspection_id: str, signer_name: str, signer_role: str = "customer",
         strokes: Sequence[Sequence[Sequence[float]]] | None = None, png: bytes | None = None,
         devices: Sequence[str] | None = None) -> str:
    """Sign the sheet (all its checks, or those of `devices`); returns the signature's id.

    Queues the canonical sheet and the signature image for upload, then
    writes the `signatures` row, whole, in one change.
    """
    _check_signer(signer_name, signer_role, strokes, png)
    inspection = client.get("inspections", inspection_id)
    if inspection is None or inspection["deleted"]:
        raise E.NotFound(f"no inspection {inspection_id} on this client")
    checks = sheet_checks(client, inspection_id, devices)
    _check_sheet(client, inspection_id, checks)
    return _queue_signature(client, "inspection_id", inspection_id, sheet.sheet_bytes(inspection_id, checks),
                            signer_name, signer_role, strokes, png)


def _check_signer(signer_name: str, signer_role: str, strokes: Sequence[Sequence[Sequence[float]]] | None,
                  png: bytes | None) -> None:
    if signer_role not in ("customer", "technician"):
        raise E.InvalidRequest("signer_role is customer or technician")
    if not signer_name.strip():
        raise E.InvalidRequest("the signer's name is needed")
    if (strokes is None) == (png is None):
        raise E.InvalidRequest("a signature is either pen strokes or a PNG")


def _queue_signature(client: Client, parent: str, parent_id: str, sheet_data: bytes, signer_name: str,
                     signer_role: str, strokes: Sequence[Sequence[Sequence[float]]] | None,
                     png: bytes | None) -> str:
    """The signature of a sheet (`parent`: `inspection_id` or `visit_id`): the image rendered and
    checked, the sheet and the image queued for upload, then the `signatures` row written whole."""
    image = render_strokes(strokes) if strokes is not None else png
    assert image is not None
    _check_png(image)
    sig_id = str(uuid.uuid4())
    fields: dict[str, Any] = {
        parent: parent_id, "signer_name": signer_name.strip(), "signer_role": signer_role,
        "signed_at": client.record_time(), "image_sha256": hashlib.sha256(image).hexdigest(),
        "sheet_sha256": hashlib.sha256(sheet_data).hexdigest(),
    }
    client.check("signatures", sig_id, fields, False)
    with client.upload_queue.adding([(sheet_data, "application/json", "sheet"), (image, "image/png", "image")],
                                    client.wall()):
        client.create("signatures", sig_id, fields)
    return sig_id


# -- the contact sheet of a service visit (docs/service.md, "The contact sheet and its seal") --------


def _visit(client: Client, visit_id: str) -> dict[str, Any]:
    visit = client.get("service_visits", visit_id)
    if visit is None or visit["deleted"]:
        raise E.NotFound(f"no visit {visit_id} on this client")
    return visit


def visit_lines(client: Client, visit_id: str) -> dict[str, dict[str, Any]]:
    """The visit's charge lines as this client shows them, by id."""
    return {line["id"]: line["fields"] for line in client.rows("charge_lines")
            if line["fields"].get("visit_id") == visit_id}


def show_visit_sheet(client: Client, visit_id: str) -> dict[str, Any]:
    """The contact sheet the customer reads before signing: the request, its site, the visit's
    fields and lines as they stand on the sheet, and the sheet's sha256."""
    visit = _visit(client, visit_id)
    request = client.get("service_requests", str(visit["fields"].get("request_id")))
    request_fields = request["fields"] if request else {}
    site = client.get("sites", str(request_fields.get("site_id")))
    lines = visit_lines(client, visit_id)
    return {
        "visit": {"id": visit_id, **visit["fields"]},
        "request": {"id": visit["fields"].get("request_id"), **request_fields},
        "site": {"id": request_fields.get("site_id"), **(site["fields"] if site else {})},
        "fields": sheet.visit_fields(visit["fields"]),
        "lines": {line_id: sheet.line_fields(f) for line_id, f in lines.items()},
        "sealed": visit["fields"].get("sealed_by") is not None,
        "sheet_sha256": sheet.visit_sheet_sha256(visit_id, visit["fields"], lines),
    }


def sign_visit(client: Client, visit_id: str, signer_name: str, signer_role: str = "customer",
               strokes: Sequence[Sequence[Sequence[float]]] | None = None, png: bytes | None = None) -> str:
    """Sign the visit's whole contact sheet, as an inspection sheet is signed; returns the signature's id.

    Refused on the spot when the visit has no result yet (nothing to sign for) or is already sealed.
    """
    _check_signer(signer_name, signer_role, strokes, png)
    visit = _visit(client, visit_id)
    if visit["fields"].get("sealed_by") is not None:
        raise E.Forbidden(f"visit {visit_id} is already sealed by the customer's signature", reason="sealed")
    if visit["fields"].get("outcome") is None:
        raise E.InvalidRequest(f"visit {visit_id} has no result yet: record it before the customer signs",
                               reason="invalid_field")
    data = sheet.visit_sheet_bytes(visit_id, visit["fields"], visit_lines(client, visit_id))
    return _queue_signature(client, "visit_id", visit_id, data, signer_name, signer_role, strokes, png)

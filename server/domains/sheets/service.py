"""The printable sheets (issue 14, item 3): what the JSON sheets say, laid out for the customer.

Each sheet reads through the services its JSON endpoint uses (`Inspections.sheet`;
`Billing.visit` and `bill` with `ServiceRequests.detail`), so the PDF says what the API says
and is in scope the same way: another site's sheet is 404. Times are the site's local time,
money is yuan from integer fen, words come from the catalogue (`sync/messages/`).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from itertools import groupby
from typing import TYPE_CHECKING, Any

import msgspec

from sync.collections.sites import template_items
from sync.fields import is_timestamp
from sync.hlc import format_ts, parse_ts
from sync.messages import label, words
from sync.periods import site_zone
from sync.pricing import PER_HOUR, yuan
from sync.schema import SUPERVISOR
from sync.sheet import SYSTEM_ORDER

from ...storage.sheets import located, person, templates
from ...storage.signatures import SIGNED_LABELS, signed_devices, signed_technicians
from ..billing.service import Billing
from ..identity.service import Caller
from ..inspections.schemas import CoverageDevice, Sheet
from ..inspections.service import Inspections
from ..service.service import ServiceRequests
from ..signatures.schemas import SignatureInfo
from . import render

SHEET = words("sheets")
# A milestone's one line in the sheet's words (`sync.clocks.explain` takes them without `clock.`).
EXPLAINED = words("clocks", "zh")  # the printed sheet's milestone lines

if TYPE_CHECKING:
    from ...services import Store

# Who renders a sheet ahead (`Sheets.ahead`): the server itself, reading every site.
SERVER = Caller("srv", "srv", "server", SUPERVISOR, "srv", None)

MAX_SHOWN = 32  # characters of a stored time that is not one (`local`)


def local(ts: object, tz: object = None) -> str:
    """A protocol timestamp as the site's local `YYYY-MM-DD HH:MM`; empty when there is none. A time
    stored before times were bounded to the years 1970 to 2100 (`9999-12-31T23:59:59.999Z` has no
    local time east of UTC), or one not in the protocol's form, is shown as stored, clipped."""
    if not ts:
        return ""
    if not is_timestamp(ts):
        return str(ts)[:MAX_SHOWN]
    return datetime.fromtimestamp(parse_ts(str(ts)) / 1000, UTC).astimezone(site_zone(tz)).strftime("%Y-%m-%d %H:%M")


def sealing(signatures: Iterable[SignatureInfo]) -> list[SignatureInfo]:
    """The customer's signatures that seal checks now (valid, not retracted), in the order given: the
    order they sealed in, for a sheet's (the first seal stands)."""
    return [s for s in signatures if s.signer_role == "customer" and s.verification == "valid"
            and not s.retracted_at]


def seal_of(signatures: Iterable[SignatureInfo]) -> SignatureInfo | None:
    """The customer's signature that seals the sheet now: the latest valid one not retracted."""
    return max(sealing(signatures), key=lambda s: (s.signed_at or "", s.id), default=None)


def as_signed(device: CoverageDevice, signed: dict[str, Any] | None) -> tuple[CoverageDevice, str]:
    """A device as the sheet its customer signed named it (code, kind, location, system), and what it is
    called now when that differs since (empty otherwise): a reprint is true to what was signed."""
    if signed is None:
        return device, ""
    now = " ".join(x for x in (device.code, device.location) if x)
    device = msgspec.structs.replace(device, **{k: signed.get(k) for k in SIGNED_LABELS})
    then = " ".join(x for x in (device.code, device.location) if x)
    return device, SHEET["renamed_since"].format(now=now) if now != then else ""


class Sheets:
    def __init__(self, store: Store, inspections: Inspections, billing: Billing, requests: ServiceRequests) -> None:
        self.store = store
        self.inspections = inspections
        self.billing = billing
        self.requests = requests
        self.rendered = render.Rendered()

    def _signatures(self, signed: list[SignatureInfo], tz: object) -> tuple[dict[str, Any], dict[str, bytes]]:
        """The signatures block and the images it shows: each customer's signature, the seal's QR code
        (of the server's `public_url`, never a request's Host: a sheet rendered ahead prints the same)."""
        images: dict[str, bytes] = {}
        rows = []
        for n, s in enumerate(signed):
            image = None
            if s.image_sha256 and self.store.blobs.exists(s.image_sha256):
                with self.store.blobs.open(s.image_sha256) as f:
                    data = f.read()
                if render.image_type(data):
                    image = images[f"signature-{n}"] = data
            rows.append({"name": s.signer_name or "", "role": label("signer_role", s.signer_role),
                         "at": local(s.signed_at, tz), "verification": label("verification", s.verification),
                         "retracted": bool(s.retracted_at), "image": f"signature-{n}" if image else None})
        seal = seal_of(signed)
        sealed = None
        if seal is not None:
            url = f"{self.store.settings.public_url.rstrip('/')}/api/signatures/{seal.id}"
            images["seal-qr"] = render.qr_png(url)
            sealed = {"hash": seal.sheet_sha256 or "", "url": url, "by": seal.signer_name or "",
                      "at": local(seal.signed_at, tz)}
        return {"signatures": rows, "seal": sealed}, images

    def person(self, username: str | None) -> str:
        """Who a sheet names as its technician (维护人员): the user's name, which the customer signs
        beside; the username for a user not known here; empty for none."""
        if not username:
            return ""
        with self.store.read() as db:
            return person(db, username)

    def checklists(self, kinds: Iterable[str] | None) -> dict[str, list[dict[str, Any]]]:
        """The checklist items (`key`, `label`, `label_zh`, `type`) of these device kinds (None: every
        kind's), by kind."""
        with self.store.read() as db:
            found = templates(db, None if kinds is None else sorted(kinds))
        return {str(t.get("kind")): items for t in found if (items := template_items(t.get("items")))}

    def devices_as_signed(self, sheet: Sheet) -> list[tuple[CoverageDevice, str]]:
        """The sheet's devices, each as the customer's seal signed it (the first seal stands) with what it is
        called now when that differs (`as_signed`); a device no seal names, as it stands."""
        signed: dict[str, dict[str, Any]] = {}
        seals = [s.id for s in sealing(sheet.signatures)]
        with self.store.read() as db:
            found = signed_devices(db, seals)
        for signature_id in seals:
            for device_id, labels in found.get(signature_id, {}).items():
                signed.setdefault(device_id, labels)
        return [as_signed(d, signed.get(d.device_id)) for d in sheet.coverage.devices]

    def technician_as_signed(self, sheet: Sheet) -> tuple[str, str]:
        """(the name the sheet prints as its technician, the one it is assigned to now when that differs since):
        with the seal, whom the sheet named when the customer signed beside it (a supervisor may still
        reassign the inspection); without one, or sealed before this was kept (m032), its technician now."""
        now = self.person(sheet.inspection.get("assigned_to"))
        seal = seal_of(sheet.signatures)
        if seal is None:
            return now, ""
        with self.store.read() as db:
            signed = signed_technicians(db, [seal.id]).get(seal.id)
        if signed is None or signed.get("username") == sheet.inspection.get("assigned_to"):
            return (now if signed is None else str(signed.get("name") or "")), ""
        return str(signed.get("name") or ""), now

    def inspection_sheet(self, caller: Caller, inspection_id: str) -> tuple[dict[str, Any], dict[str, bytes]]:
        """What the 定期维护单 prints (the template's values) and the images it shows."""
        sheet = self.inspections.sheet(caller, inspection_id)
        site, insp, tz = sheet.site, sheet.inspection, sheet.site.get("tz")
        devices = sorted(self.devices_as_signed(sheet), key=lambda x: (
            SYSTEM_ORDER.index(x[0].system) if x[0].system in SYSTEM_ORDER else len(SYSTEM_ORDER), x[0].code or ""))
        systems = [{"name": label("system", system), "devices": [
            {"code": d.code or "", "kind": label("kind", d.kind) if d.kind else "", "location": d.location or "",
             "outcome": label("outcome", d.outcome), "fault": d.outcome in ("fault", "not_accessible"),
             "note": d.note or "", "at": local(d.checked_at, tz), "since": since} for d, since in group]}
            for system, group in groupby(devices, key=lambda x: x[0].system)]
        checklists = self.checklists({d.kind for d, _ in devices if d.kind})
        c = sheet.coverage
        block, images = self._signatures(sheet.signatures, tz)
        page = dict(
            sheet_no=insp.get("sheet_no") or "", customer=site.get("customer") or "",
            site=site.get("name") or "", address=site.get("address") or "", period=insp.get("period") or "",
            technician=self.technician_as_signed(sheet)[0], status=insp.get("status") or "", systems=systems,
            counts=SHEET["counts"].format(total=c.total, serviced=c.serviced, fault=c.fault,
                                       not_accessible=c.not_accessible, skipped=c.skipped,
                                       not_checked=c.not_checked),
            tasks=[{"kind": label("kind", kind), "items": [i["label_zh"] or i["label"] or i["key"] for i in items]}
                   for kind, items in checklists.items()],
            zone=str(site_zone(tz)), tz=tz, **block)
        return page, images

    def visit_sheet(self, caller: Caller, visit_id: str) -> tuple[dict[str, Any], dict[str, bytes]]:
        """What the 技术服务联络单 prints (the template's values) and the images it shows."""
        visit = self.billing.visit(caller, visit_id)
        bill = self.billing.bill(caller, visit_id)
        request = self.requests.detail(caller, visit.request_id or "", EXPLAINED)
        with self.store.read() as db:
            found = located(db, "sites", request.site_id or "")
        site = found[1] if found else {}
        tz = site.get("tz")
        billed = {line.id: line for line in bill.lines}
        lines = [{"item": label("item", line.item) if line.item else "", "description": line.description or "",
                  "quantity": SHEET["minutes"].format(n=line.quantity or 0) if line.item == PER_HOUR
                  else line.quantity or 0,
                  "amount": yuan(line.amount_fen or 0), "covered": SHEET["yes" if line.covered else "no"],
                  "billed": line.billed, "consent": label("decision", line.decision)}
                 for line in visit.lines if line.id in billed]
        milestones = [{"name": label("milestone", m.name), "due": local(m.due_at, tz), "done": local(m.done_at, tz),
                       "status": label("milestone_status", m.status), "missed": m.status == "breached",
                       "explanation": m.explanation}
                      for m in request.milestones]
        block, images = self._signatures(visit.signatures, tz)
        page = dict(
            sheet_no=visit.sheet_no or "", request_no=request.number or "",
            customer=site.get("customer") or "", site=site.get("name") or "", address=site.get("address") or "",
            call_time=local(request.reported_at, tz), caller=" ".join(
                x for x in (request.caller_name, request.caller_phone) if x),
            channel=label("channel", request.channel), fault=request.description or "",
            technician=self.person(visit.technician), work_done=visit.work_done or "", fault_cause=visit.fault_cause or "",
            outcome=label("visit_outcome", visit.outcome) if visit.outcome else "", lines=lines,
            subtotal=yuan(bill.subtotal_fen), tax=yuan(bill.tax_fen), total=yuan(bill.total_fen),
            tax_rate=f"{bill.tax_bps / 100:g}", milestones=milestones, zone=str(site_zone(tz)), tz=tz, **block)
        return page, images

    def _pdf(self, template: str, sheet: tuple[dict[str, Any], dict[str, bytes]]) -> bytes:
        """The sheet's PDF, rendered once per content (`render.Rendered`); generated at now, in the
        site's time zone."""
        page, images = sheet
        return self.rendered.pdf(template, images, local(format_ts(self.store.now_ms()), page.pop("tz")), **page)

    def inspection_pdf(self, caller: Caller, inspection_id: str) -> bytes:
        return self._pdf("inspection.html", self.inspection_sheet(caller, inspection_id))

    def visit_pdf(self, caller: Caller, visit_id: str) -> bytes:
        return self._pdf("visit.html", self.visit_sheet(caller, visit_id))

    def ahead(self, signed: str, signed_id: str) -> None:
        """Render a sheet a customer's signature just sealed, so that the customer's copy is served from
        `rendered` (`hooks.py`, after the push commits): `signed` is `inspection` or `visit`. Read as the
        server (every site); what a sheet prints does not depend on who asks, so the digest is a request's."""
        (self.inspection_pdf if signed == "inspection" else self.visit_pdf)(SERVER, signed_id)

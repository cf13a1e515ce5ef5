"""The supervisor's site pages (issue 14): the customer archive, a device's history, an inspection's sheet.

Read through the services the API answers with (`Inspections`, `ServiceOffice.terms`,
`Billing.annual_quote`, `Sheets.checklists`), with the caller, so scope is the API's: a
device or an inspection of another site is the service's own 404. No SQL here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from itertools import groupby
from typing import Any

from sync import errors as E
from sync.fields import TEXT_LIMITS
from sync.pricing import yuan
from sync.schema import SERVICE_DESK, SUPERVISOR
from sync.sheet import SYSTEM_ORDER
from sync.warranty import DEFAULT_MONTHS, phase

from ..identity.service import Caller
from ..inspections.schemas import SiteSummary
from ..inspections.service import CLOSED
from ..media.schemas import PhotoInfo
from ..sheets.service import seal_of
from .pages import NOT_CHECKED, local_time
from .web import item_words

MAX_CODE_QUERY = TEXT_LIMITS["text"]  # a device code is a text field: a longer search cannot match
THUMBNAIL = 160  # the pages' photo size (one of Settings.thumbnail_sizes)


def code_query(value: str | None) -> str:
    """The `?code=` search, bounded before it is used; empty when absent."""
    value = (value or "").strip()
    if len(value) > MAX_CODE_QUERY:
        raise E.InvalidRequest(f"code is at most {MAX_CODE_QUERY} characters", limit=MAX_CODE_QUERY)
    return value


def _warranty(device: Mapping[str, Any] | None, site: Mapping[str, Any], today: date) -> dict[str, Any]:
    """The warranty state on `today` (the site's day by the store's clock, `Inspections.today`): `phase` and its
    end; a device's own dates win over the site's."""
    found = phase(device or {}, site, today)
    return {"phase": found.phase, "ends_on": found.ends_on or ""}


def _site_fields(site: SiteSummary) -> dict[str, Any]:
    return {"accepted_on": site.accepted_on, "warranty_months": site.warranty_months}


def _terms_rows(terms: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each milestone's target in hours (`fix` per complexity, `on_site` per zone); None: no target."""
    rows = []
    for key, value in terms.items():
        if not key.endswith("_hours"):
            continue
        name = key.removesuffix("_hours")
        parts = value.items() if isinstance(value, dict) else [(None, value)]
        rows += [{"milestone": name, "case": case, "hours": hours} for case, hours in parts]
    return rows


def archive(state: Any, caller: Caller, site: SiteSummary) -> dict[str, Any]:
    """The customer archive: contract, price, acceptance and warranty, the response-time terms in force.
    The annual quote is the desk's and supervisors' (as `GET /api/sites/{id}/annual-quote`)."""
    terms = state.office.terms(site.id)
    quote = state.billing.annual_quote(site.id) if caller.role in (SERVICE_DESK, SUPERVISOR) else None
    return {"contract": terms.contract,
            "price": yuan(site.contract_price_fen) if isinstance(site.contract_price_fen, int) else "",
            "quote": yuan(quote.total_fen) if quote is not None else "",
            "warranty": _warranty(None, _site_fields(site), state.inspections.today(site.tz)),
            "warranty_months": site.warranty_months or DEFAULT_MONTHS,
            "terms": _terms_rows(terms.terms), "round_the_clock": not terms.terms.get("calendar"),
            "callback": bool(terms.terms.get("callback")),
            "override": {"by": terms.set_by or "", "at": local_time(terms.set_at, site.tz)}
            if terms.override else None}


def _photos(photos: Iterable[PhotoInfo], tz: object) -> list[dict[str, Any]]:
    """Photos whose bytes the server holds, as the pages show them (their thumbnail, caption, time)."""
    return [{"sha256": p.sha256, "caption": p.caption or "", "stage": p.stage or "",
             "at": local_time(p.taken_at, tz)} for p in photos if p.blob == "stored" and p.sha256]


def device_page(state: Any, caller: Caller, site: SiteSummary, device_id: str, lang: str) -> dict[str, Any]:
    """A device's identity, warranty, every check across periods and its requests with their visits."""
    history = state.inspections.device_history(caller, device_id)  # 404 outside the caller's scope
    if history.site_id != site.id:
        raise E.NotFound(f"no device {device_id} at site {site.id}")
    tz, kind = site.tz, history.kind or ""
    labels = _labels(state.sheets.checklists([kind] if kind else []), lang)
    device = {"warranty_from": history.warranty_from, "warranty_months": history.warranty_months,
              "installed_on": history.installed_on}
    checks = [{"inspection_id": c.inspection_id, "period": c.period or "", "sheet_no": c.sheet_no or "",
               "outcome": c.outcome or NOT_CHECKED, "note": c.note or "", "by": c.checked_by or "",
               "at": local_time(c.checked_at, tz), "items": _answers(labels, kind, c.items),
               "photos": _photos(c.photos, tz)}
              for c in history.checks]
    requests = [{"id": r.id, "number": r.number or "", "status": r.status or "", "description": r.description or "",
                 "reported": local_time(r.reported_at, tz),
                 "visits": [{"id": v.id, "sheet_no": v.sheet_no or "", "technician": v.technician or "",
                             "outcome": v.outcome, "fault_cause": v.fault_cause or "",
                             "at": local_time(v.recorded_at, tz)} for v in r.visits]}
                for r in history.requests]
    return {"device": history, "warranty": _warranty(device, _site_fields(site), state.inspections.today(tz)),
            "checks": checks, "requests": requests}


def _labels(checklists: Mapping[str, list[dict[str, Any]]], lang: str) -> dict[tuple[str, str], str]:
    """(kind, key) -> the checklist item's words in `lang` (Chinese first, its key as a last resort)."""
    return {(kind, i["key"]): item_words(i, lang) for kind, items in checklists.items() for i in items}


def _answers(labels: Mapping[tuple[str, str], str], kind: str, items: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """A check's checklist answers as (the item's words, the answer)."""
    return [(labels.get((kind, key), key), value) for key, value in items.items()]


def inspection_page(state: Any, caller: Caller, inspection_id: str, lang: str) -> dict[str, Any]:
    """The periodic maintenance sheet as `GET /api/inspections/{id}` says it, grouped by system and location."""
    sheet = state.inspections.sheet(caller, inspection_id)  # 404 outside the caller's scope
    tz, c = sheet.site.get("tz"), sheet.coverage
    labels = _labels(state.sheets.checklists({d.kind for d in c.devices if d.kind}), lang)
    # A sealed check's device as the customer signed it, as the reprinted sheet shows it (with its mark).
    ordered = sorted(state.sheets.devices_as_signed(sheet), key=lambda x: (
        SYSTEM_ORDER.index(x[0].system) if x[0].system in SYSTEM_ORDER else len(SYSTEM_ORDER), x[0].system or "",
        x[0].location or "", x[0].code or ""))
    systems = [(system, [(location, [
        {"id": d.device_id, "code": d.code or "", "kind": d.kind or "", "outcome": d.outcome or NOT_CHECKED,
         "note": d.note or "", "by": d.checked_by or "", "at": local_time(d.checked_at, tz),
         "photos": _photos(d.photos, tz), "since": since,
         "items": _answers(labels, d.kind or "", sheet.items.get(d.device_id, {}))}
        for d, since in by_location]) for location, by_location in groupby(in_system, key=lambda x: x[0].location or "")])
        for system, in_system in groupby(ordered, key=lambda x: x[0].system)]
    seal = seal_of(sheet.signatures)
    signatures = [{"name": s.signer_name or "", "role": s.signer_role, "at": local_time(s.signed_at, tz),
                   "verification": s.verification, "retracted": local_time(s.retracted_at, tz),
                   "retracted_by": s.retracted_by or "", "image": s.image_sha256, "sealing": s is seal}
                  for s in sheet.signatures]
    checked = c.total - c.not_checked
    site_id = sheet.site.get("id")
    # Whom a supervisor may reassign it to: as the desk's dispatch, the site's members with an enabled account.
    members = state.service_requests.assignees([site_id]) if caller.role == SUPERVISOR and site_id else ()
    technician, reassigned = state.sheets.technician_as_signed(sheet)  # as the reprint names him
    return {"inspection": sheet.inspection, "site": sheet.site, "coverage": c, "systems": systems,
            "technician": technician, "reassigned": reassigned,
            "members": members, "supervisor": caller.role == SUPERVISOR,
            "open": sheet.inspection.get("status") not in CLOSED,
            "checked": checked, "signatures": signatures, "photos": _photos(sheet.photos, tz),
            "seal": {"hash": seal.sheet_sha256 or "", "by": seal.signer_name or "",
                     "at": local_time(seal.signed_at, tz)} if seal else None,
            "retracted": any(s.retracted_at for s in sheet.signatures)}

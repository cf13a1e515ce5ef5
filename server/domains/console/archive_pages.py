"""What the customer archive's console pages need besides the services (issue 14): the uploaded file
kept between a dry run and its apply, the new-site form read into the API's body, and the look-up.

The file is kept on the server, not uploaded again: a browser cannot re-post a file without script
(a file input is never pre-filled), and choosing it again could apply another file than the one
previewed. It is kept in the database (`pending_imports`, `storage/imports.py`), where the apply finds
it on whichever server process it reaches (issue 16), under a random token bound to the session's
client and the site (another session or site gets nothing), for `PENDING_SECONDS`: one per session
and site, at most `MAX_PENDING_PER_USER` per user and `MAX_PENDING_IMPORTS` in all (the oldest goes
first), each within the import's own 5 MiB.
"""

from __future__ import annotations

import json
import re
import secrets
import unicodedata
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import msgspec

from sync import errors as E
from sync import hlc
from sync.collections.service import PHONE_LIMIT
from sync.pricing import fen_of

from ...storage import imports as q
from ...storage.base import Connections
from ...storage.service import EXTENSION, split_extension
from ..archive.schemas import Found, ImportReport, NewSite
from ..archive.service import MAX_LOOKUP_CHARS, Archive
from ..identity.service import Caller
from ..inspections.service import Inspections
from ..service.listing import TAIL_DIGITS
from ..service.service import phone_key

MAX_PENDING_IMPORTS = 8  # files kept at once, everyone's: 8 x 5 MiB in the database at most
MAX_PENDING_PER_USER = 3  # files one user keeps at once (over all their sessions and sites)
PENDING_SECONDS = 15 * 60  # from the upload to the apply
SITE_FIELDS = ("name", "customer", "contract", "address", "zone", "tz", "contract_price", "accepted_on",
               "warranty_months", "members", "service_terms")
_SEPARATOR = re.compile(r"[\s/:：-]+")
_PHONE = re.compile(r"[0-9\s()+-]+")  # a number as typed, once NFKC made full-width digits ASCII
LOCAL_DIGITS = 7  # a mainland local number's (a landline's 7-8, 8888 9999)


@dataclass
class Kept:
    data: bytes | None  # the file, until it is applied
    report: ImportReport | None = None  # what the apply did


class PendingImports:
    """Uploaded files between a dry run and its apply, then what the apply did (see the module)."""

    def __init__(self, db: Connections, clock: Callable[[], int] = hlc.wall_ms) -> None:
        self._db = db
        self._clock = clock  # wall-clock ms: every process on the database reads the same expiry

    def keep(self, owner: str, user_id: str, site_id: str, data: bytes) -> str:
        token = secrets.token_urlsafe(24)
        now = self._clock()
        with self._db.write() as db:
            q.keep(db, token, owner, user_id, site_id, data, now, now + PENDING_SECONDS * 1000,
                   MAX_PENDING_PER_USER, MAX_PENDING_IMPORTS)
        return token

    def get(self, token: str, owner: str, site_id: str) -> Kept | None:
        with self._db.read() as db:
            found = q.find(db, token, owner, site_id, self._clock())
        if found is None:
            return None
        return Kept(found[0], None if found[1] is None else msgspec.json.decode(found[1], type=ImportReport))

    def take(self, token: str, owner: str, site_id: str) -> bytes | None:
        """The file, once: a second apply of the same upload, on any process, finds nothing."""
        with self._db.write() as db:
            return q.take(db, token, owner, site_id, self._clock())

    def done(self, token: str, report: ImportReport) -> None:
        with self._db.write() as db:
            q.done(db, token, msgspec.json.encode(report).decode())


def pending_imports(state: Any) -> PendingImports:
    """The kept uploads, in the app's database."""
    return PendingImports(state.store.database)


def new_site(values: Mapping[str, str], t: Mapping[str, str]) -> NewSite:
    """The form's values as `POST /api/sites` takes them; money typed in yuan, read as fen from the text."""
    required = ("name", "customer", "contract")  # left in when empty: the service names what is missing
    body: dict[str, Any] = {k: v.strip() for k, v in values.items() if k in SITE_FIELDS and (v.strip() or k in required)}
    if "contract_price" in body:
        price = fen_of(body.pop("contract_price"))
        if price is None:
            raise E.InvalidField(t["bad_price"].format(price=values["contract_price"][:40]),
                                 parameter="contract_price_fen")
        body["contract_price_fen"] = price
    if "warranty_months" in body:
        months = body["warranty_months"]
        body["warranty_months"] = int(months) if months.isascii() and months.isdigit() else months
    body["members"] = body.get("members", "").replace(",", " ").replace("，", " ").split()
    if "service_terms" in body:
        try:
            body["service_terms"] = json.loads(body["service_terms"])
        except ValueError:
            raise E.InvalidRequest("service_terms is a JSON object", parameter="service_terms") from None
    try:
        return msgspec.convert(body, NewSite)
    except msgspec.ValidationError as exc:
        field = re.search(r"\$\.(\w+)", str(exc))
        raise E.InvalidRequest(str(exc)[:200], **({"parameter": field.group(1)} if field else {})) from None


# The form's field a refused value was typed in, as the service names it: the catalogue's words for it.
_REFUSED_FIELD = {"name": "site_refused_name", "customer": "site_refused_customer", "contract": "site_refused_pick",
                  "zone": "site_refused_pick", "tz": "site_refused_tz", "contract_price_fen": "bad_price",
                  "accepted_on": "site_refused_accepted_on", "warranty_months": "site_refused_warranty_months",
                  "members": "site_refused_members", "service_terms": "site_refused_terms"}
_FIELD = re.compile(r"^sites\.(\w+)")


def refusal(exc: E.SyncError, values: Mapping[str, str], t: Mapping[str, str]) -> str:
    """Why the new-site form was refused, in the catalogue's words: the service's detail is the API's English
    (`members: 'lin' is no technician`, `sites.tz is at most 64 characters`). The value typed is quoted back."""
    if isinstance(exc, E.UserDisabled):
        return t["member_user_disabled"]
    if isinstance(exc, E.SiteExists):
        return t["site_exists"].format(customer=values.get("customer", "")[:60], name=values.get("name", "")[:60])
    named = exc.extra.get("parameter") or ((m := _FIELD.match(exc.detail)) and m.group(1)) or ""
    key = _REFUSED_FIELD.get(str(named), "site_refused")
    field = "contract_price" if named == "contract_price_fen" else str(named)
    return t[key].format(price=values.get(field, "")[:40], value=values.get(field, "")[:60])


def console_href(found: Found) -> str:
    """Where the console shows what a look-up found."""
    if found.collection == "devices":
        return f"/console/sites/{found.site_id}/devices/{found.id}"
    kind = {"inspections": "inspections", "service_visits": "visits", "service_requests": "service-requests"}
    return f"/console/{kind[found.collection]}/{found.id}"


def _phone_like(text: str) -> bool:
    """Whether the search box's text reads as a caller's number (or its tail): digits with spaces, dashes,
    brackets or a `+` only, full width too, then perhaps an extension (`split_extension`: 转 801, ext. 801), at
    least the `caller_phone` filter's digits before it and at most its length (a longer one was offered as the
    list filtered by it, which refuses it); with an extension, a whole local number's digits (`LOCAL_DIGITS`)
    before it, so that a device coded 1001#2 or 3001-X1 opens, not a list with a phone number's entry."""
    number, extension = split_extension(unicodedata.normalize("NFKC", text))
    digits = len(phone_key(text).partition(EXTENSION)[0])
    return (len(text) <= PHONE_LIMIT and _PHONE.fullmatch(number) is not None
            and digits >= (LOCAL_DIGITS if extension else TAIL_DIGITS))


def lookup(archive: Archive, inspections: Inspections, caller: Caller, text: str) -> list[dict[str, str]]:
    """What `text` names in the caller's sites: a sheet number, a request number, a device code, or a
    site's name and a device code (`科峰科技园 CAM-001`); each as {"href", "site"}. Text that reads as a
    phone number also names the requests from it (the list filtered by `caller_phone`, "phone" set)."""
    text = text.strip()
    if not text or len(text) > MAX_LOOKUP_CHARS:
        return []
    for by in ("sheet_no", "number"):
        try:
            found = archive.lookup(caller, **{by: text})
        except E.NotFound:
            continue
        return [{"href": console_href(found), "site": ""}]
    sites = {s.id: s.name or s.id for s in inspections.sites(caller)}
    devices = archive.devices_coded(caller, text)
    for site_id, name in sites.items():
        prefixed = _SEPARATOR.match(text, len(name)) if name and text.startswith(name) else None
        if prefixed is not None and text[prefixed.end():]:
            with suppress(E.NotFound):
                devices.append(archive.lookup(caller, site_id=site_id, code=text[prefixed.end():]))
    unique = {d.id: d for d in devices}
    listed = [{"href": console_href(d), "site": sites.get(d.site_id or "", "")}
              for d in sorted(unique.values(), key=lambda d: (sites.get(d.site_id or "", ""), d.id))]
    if _phone_like(text):
        listed.append({"href": f"/console/service-requests?caller_phone={quote(text)}", "site": "", "phone": "1"})
    return listed

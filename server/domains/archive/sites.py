"""A new customer's site (issue 14): a `sites` row written by the server on the supervisor's behalf.

The row goes through the store's own merge (`write_server_changes` with the caller), so the
collection's rules check it as they would a supervisor's push, it gets its version and HLC, and
the phones pull it like any synced row. Its members (whose phones pull it), its terms override,
the check that the customer has no site of that name and the audit entries are in the same
transaction: a refused site leaves nothing behind. Everything a client sends is checked before that transaction.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sync import errors as E
from sync.periods import DEFAULT_TZ
from sync.schema import TECHNICIAN
from sync.warranty import MAX_MONTHS

from ...storage import archive as q
from ...storage import identity as users
from ..identity import audit
from ..identity.service import set_member
from ..service.office import store_terms
from .schemas import NewSite, NewSiteAnswer

if TYPE_CHECKING:
    from ...services import Caller, Store
    from ...storage.base import Connection
    from ..service.office import ServiceOffice

MAX_TZ_CHARS = 64  # the longest IANA zone name is 32
MAX_CONTRACT_PRICE_FEN = 10_000_000_000  # 100 million yuan a year: more is a typo
_SHOWN = 60  # characters of a refused value quoted back


def register_site(store: Store, office: ServiceOffice, caller: Caller | None, new: NewSite) -> NewSiteAnswer:
    """Register a site (`caller` None: from the shell). `SiteExists` (409) when the customer has a
    site of that name; `InvalidField` (400) naming the field for a bad value; nothing written then."""
    fields = _fields(new)
    try:
        office.check_terms(new.contract, new.service_terms)
    except E.InvalidRequest as exc:
        exc.extra.setdefault("parameter", "service_terms")  # the problem names the field, as `_fields`' do
        raise
    members = sorted(set(new.members))
    with store.read() as db:
        for username in members:
            if users.role_of(db, username) != TECHNICIAN:
                raise E.InvalidField(f"members: {username[:_SHOWN]!r} is no technician", parameter="members")
    site_id = str(uuid.uuid4())
    now = store.now_ms()

    def then(db: Connection) -> None:
        other = q.site_named(db, fields["customer"], fields["name"], site_id)
        if other is not None:
            raise E.SiteExists(f"{fields['customer'][:_SHOWN]} already has a site named {fields['name'][:_SHOWN]}",
                               site_id=other)
        for username in members:
            set_member(db, site_id, username, True, now, caller)
        if new.service_terms:
            store_terms(db, caller, site_id, new.service_terms, now)
        audit.audit(db, audit.SITE_REGISTERED, username=caller.username if caller else None,
                    client_id=caller.client_id if caller else None, address=caller.address if caller else None,
                    now_ms=now, site_id=site_id, customer=fields["customer"], name=fields["name"])

    store.write_server_changes([("sites", site_id, fields, False)], caller=caller, then=then)
    return NewSiteAnswer(id=site_id, fields=fields, members=members, service_terms=bool(new.service_terms))


def _fields(new: NewSite) -> dict[str, Any]:
    """The row's fields; the collection's own rules check their types and lengths when it merges."""
    name, customer = new.name.strip(), new.customer.strip()
    for field, value in (("name", name), ("customer", customer)):
        if not value:
            raise E.InvalidField(f"sites.{field} is required", parameter=field)
    if new.contract_price_fen is not None and not 0 <= new.contract_price_fen <= MAX_CONTRACT_PRICE_FEN:
        raise E.InvalidField(f"sites.contract_price_fen is 0 to {MAX_CONTRACT_PRICE_FEN} fen",
                             parameter="contract_price_fen", limit=MAX_CONTRACT_PRICE_FEN)
    if new.warranty_months is not None and not 1 <= new.warranty_months <= MAX_MONTHS:
        raise E.InvalidField(f"sites.warranty_months is 1 to {MAX_MONTHS}", parameter="warranty_months",
                             limit=MAX_MONTHS)
    fields = {"name": name, "customer": customer, "contract": new.contract, "address": new.address,
              "zone": new.zone, "tz": _zone(new.tz), "contract_price_fen": new.contract_price_fen,
              "accepted_on": new.accepted_on, "warranty_months": new.warranty_months}
    return {k: v for k, v in fields.items() if v is not None}


def _zone(tz: str | None) -> str:
    """An IANA time zone name the server knows (`Asia/Shanghai`); the users' default when none."""
    if tz is None or not tz.strip():
        return DEFAULT_TZ
    tz = tz.strip()
    if len(tz) > MAX_TZ_CHARS:
        raise E.InvalidField(f"sites.tz is at most {MAX_TZ_CHARS} characters", parameter="tz", limit=MAX_TZ_CHARS)
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise E.InvalidField(f"sites.tz: {tz[:_SHOWN]!r} is no time zone (like Asia/Shanghai)", parameter="tz") from None
    return tz

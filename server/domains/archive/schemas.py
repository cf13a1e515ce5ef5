"""What the archive routes answer (issue 14)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec

from sync.wire import MAX_USERNAME_CHARS


class BadRow(msgspec.Struct, kw_only=True):
    """A row the import refused: its number as the spreadsheet shows it, the collection's reason."""

    row: int
    reason: str
    detail: str


class ChangedDevice(msgspec.Struct, kw_only=True):
    code: str
    fields: list[str]  # the fields the file changes


class ImportReport(msgspec.Struct, kw_only=True):
    """What an import did, or with `dry_run` would do. Devices are named by their codes.

    `retire`: the site's active devices the file no longer lists, offered for retirement (never
    deleted); `retired`: those retired by this import (`retire=true`).
    """

    site_id: str
    dry_run: bool
    rows: int
    created: list[str]
    changed: list[ChangedDevice]
    unchanged: int
    retire: list[str]
    retired: list[str]
    ignored_columns: list[str]


class Found(msgspec.Struct, kw_only=True):
    """What a look-up found: the collection, the row's id and site, and where the API shows it."""

    collection: str
    id: str
    site_id: str | None
    href: str


MAX_MEMBERS = 50  # technicians named at a site's registration; more are added one by one


class NewSite(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """`POST /api/sites`: a customer's site, its contract, and the technicians who serve it.

    The fields are the `sites` collection's, checked by its own rules; `service_terms` is an
    override of the contract's response-time terms, as `PUT /api/sites/{id}/service-terms` takes it.
    """

    name: str
    customer: str
    contract: str
    address: str | None = None
    zone: str | None = None
    tz: str | None = None  # the users' default (Asia/Shanghai) when not given
    contract_price_fen: int | None = None
    accepted_on: str | None = None
    warranty_months: int | None = None
    service_terms: dict[str, Any] | None = None
    members: Annotated[list[Annotated[str, msgspec.Meta(max_length=MAX_USERNAME_CHARS)]],
                       msgspec.Meta(max_length=MAX_MEMBERS)] = msgspec.field(default_factory=list)


class NewSiteAnswer(msgspec.Struct, kw_only=True):
    """A registered site: its id, its fields as stored, its members, and whether it has its own terms."""

    id: str
    fields: dict[str, Any]
    members: list[str]
    service_terms: bool

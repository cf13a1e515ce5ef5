"""What the archive routes answer (issue 14)."""

from __future__ import annotations

import msgspec


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

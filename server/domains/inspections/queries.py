"""What the inspections service asks of storage: read models, no SQL.

A backend implements `InspectionQueries` (SQLite: `server/storage/inspections.py`).
`reading()` holds one snapshot for a whole answer, so a coverage or a sheet is
never half from before and half from after a push; `writing()` is the one writer.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Any, Protocol

from ..media.schemas import PhotoInfo
from ..signatures.schemas import SignatureInfo
from .schemas import Plan

Fields = dict[str, Any]


class InspectionReads(Protocol):
    def row(self, collection: str, row_id: str) -> tuple[str | None, Fields] | None:
        """A live row's site and fields."""

    def active_devices(self, site_id: str) -> list[tuple[str, Fields]]:
        """A site's devices whose status is active (or unset)."""

    def checks(self, inspection_id: str) -> dict[str, Fields]:
        """An inspection's live checks by device id."""

    def kinds(self, site_id: str) -> set[str]:
        """The device kinds there are: the checklists', and any other of this site's devices."""

    def plan(self, site_id: str) -> Plan | None: ...

    def planned(self, frequency: str) -> list[tuple[str, int, str | None]]:
        """(site, due day, technician) of each live site planned at `frequency`, oldest site first;
        the technician only while still a member of the site."""

    def existing(self, collection: str, ids: list[str]) -> set[str]:
        """Which of `ids` have a row (deleted ones too)."""

    def is_technician(self, username: str) -> bool: ...

    def is_member(self, site_id: str, username: str) -> bool: ...

    def history(self, device_id: str) -> list[tuple[str, Fields, Fields]]:
        """A device's live checks: (inspection id, check fields, inspection fields or {})."""

    def repairs(self, device_id: str) -> list[tuple[str, Fields, list[Fields]]]:
        """The live service requests about a device: (id, fields, its live visits' fields)."""

    def inspections(
        self, period: str | None, site_id: str | None, status: str | None
    ) -> list[tuple[str, str, Fields, Fields]]:
        """Live inspections, filtered: (id, site id, fields, site fields or {}). A row without a
        status reads as scheduled."""

    def checked_counts(self, inspection_ids: list[str]) -> dict[str, int]:
        """Checks with an outcome, of active devices, by inspection."""

    def device_totals(self, site_ids: list[str]) -> dict[str, int]:
        """Active devices by site."""

    def sites(self, site_ids: list[str] | None) -> list[tuple[str, Fields]]:
        """Live sites, all of them (None) or those named: (id, fields)."""

    def photos_of_inspection(self, inspection_id: str, site_id: str | None) -> dict[str | None, list[PhotoInfo]]:
        """An inspection's photos by device (None: of the inspection as a whole)."""

    def photos_of_device(self, device_id: str, site_id: str | None) -> dict[str, list[PhotoInfo]]:
        """A device's photos by inspection."""

    def signatures(self, inspection_id: str) -> list[SignatureInfo]:
        """The inspection's signatures, oldest first, with what each sealed."""


class InspectionWrites(InspectionReads, Protocol):
    def save_plan(self, site_id: str, plan: Plan) -> None: ...


class InspectionQueries(Protocol):
    def reading(self) -> AbstractContextManager[InspectionReads]: ...

    def writing(self) -> AbstractContextManager[InspectionWrites]: ...

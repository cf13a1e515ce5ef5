"""The inspections domain's queries on both backends (`server.domains.inspections.queries`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from ..domains.inspections.schemas import Plan
from ..domains.media.schemas import PhotoInfo
from ..domains.signatures.schemas import SignatureInfo
from ..domains.signatures.service import signatures
from .base import Sql
from .duty import is_technician
from .media import photos_of_device, photos_of_inspection, site_tz
from .queries import Transactions, checks
from .service import device_requests
from .settle import is_member
from .writes import dialect, select_in

if TYPE_CHECKING:
    from ..services import Store

_decode = msgspec.json.decode
Fields = dict[str, Any]

# m038 (both backends, `{period}` each one's spelling of `Dialect.field('fields', 'period')`): the inspections of
# a period, `inspections(period, …)`'s read, one range of an index. Without it each period asked read the period
# of every inspection the database holds out of its JSON (the dashboard asks six). Idempotent.
PERIOD_INDEX = "CREATE INDEX IF NOT EXISTS rows_inspection_period ON rows({period}) WHERE collection = 'inspections';"


class SqliteInspections(Transactions["_Queries"]):
    """`InspectionQueries` over the store's connections."""

    def __init__(self, store: Store) -> None:
        super().__init__(store)
        self.store = store

    def on(self, db: Sql) -> _Queries:
        return _Queries(db, self.store)


class _Queries:
    def __init__(self, db: Sql, store: Store) -> None:
        self.db = db
        self.store = store
        self.field = dialect(db).field

    def row(self, collection: str, row_id: str) -> tuple[str | None, Fields] | None:
        found = self.db.execute(
            "SELECT site_id, fields FROM rows WHERE collection = ? AND id = ? AND deleted = 0", [collection, row_id]
        ).fetchone()
        return None if found is None else (found[0], _decode(found[1]))

    def active_devices(self, site_id: str) -> list[tuple[str, Fields]]:
        devices = [
            (i, _decode(f))
            for i, f in self.db.execute(
                "SELECT id, fields FROM rows WHERE collection = 'devices' AND parent_id = ? AND deleted = 0",
                [site_id],
            )
        ]
        return [(i, f) for i, f in devices if f.get("status", "active") == "active"]

    def checks(self, inspection_id: str) -> dict[str, Fields]:
        return checks(self.db, inspection_id)

    def kinds(self, site_id: str) -> set[str]:
        return {k for (k,) in self.db.execute(
            f"SELECT DISTINCT {self.field('fields', 'kind')} FROM rows WHERE deleted = 0"
            " AND (collection = 'checklist_templates' OR (collection = 'devices' AND parent_id = ?))",
            [site_id]) if isinstance(k, str)}

    def plan(self, site_id: str) -> Plan | None:
        found = self.db.execute(
            "SELECT frequency, due_day, technician FROM plans WHERE site_id = ?", [site_id]
        ).fetchone()
        return None if found is None else Plan(frequency=found[0], due_day=found[1], technician=found[2])

    def planned(self, frequency: str) -> list[tuple[str, int, str | None]]:
        # A plan's technician who has since left the site is not assigned (assignment needs membership).
        return [(s, d, t) for s, d, t in self.db.execute(
            "SELECT p.site_id, p.due_day, CASE WHEN EXISTS (SELECT 1 FROM memberships m JOIN users u"
            " ON u.id = m.user_id WHERE m.site_id = p.site_id AND u.username = p.technician)"
            " THEN p.technician END FROM plans p JOIN rows s"
            " ON s.collection = 'sites' AND s.id = p.site_id AND s.deleted = 0"
            " WHERE p.frequency = ? ORDER BY s.version",
            [frequency],
        )]

    def existing(self, collection: str, ids: list[str]) -> set[str]:
        return {i for (i,) in select_in(
            self.db, "SELECT id FROM rows WHERE collection = ? AND id IN ({marks})", ids, [collection])}

    def is_technician(self, username: str) -> bool:
        return is_technician(self.db, username)  # one rule: an account not disabled (storage/duty.py)

    def is_member(self, site_id: str, username: str) -> bool:
        return is_member(self.db, site_id, username)  # the desk's rule too (storage/settle.py)

    def save_plan(self, site_id: str, plan: Plan) -> None:
        self.db.execute(
            "INSERT INTO plans(site_id, frequency, due_day, technician) VALUES (?, ?, ?, ?)"
            " ON CONFLICT(site_id) DO UPDATE SET frequency = excluded.frequency,"
            " due_day = excluded.due_day, technician = excluded.technician",
            [site_id, plan.frequency, plan.due_day, plan.technician],
        )

    def history(self, device_id: str) -> list[tuple[str, Fields, Fields]]:
        return [
            (insp, _decode(check), _decode(inspection) if inspection else {})
            for insp, check, inspection in self.db.execute(
                "SELECT c.parent_id, c.fields, i.fields FROM rows c LEFT JOIN rows i"
                " ON i.collection = 'inspections' AND i.id = c.parent_id"
                " WHERE c.device_id = ? AND c.collection = 'device_checks' AND c.deleted = 0",
                [device_id],
            )
        ]

    def repairs(self, device_id: str) -> list[tuple[str, Fields, list[Fields]]]:
        return device_requests(self.db, device_id)

    def inspections(
        self, period: str | None, site_id: str | None, status: str | None
    ) -> list[tuple[str, str, Fields, Fields]]:
        where, args = ["i.collection = 'inspections'", "i.deleted = 0"], []
        if period:
            where.append(f"{self.field('i.fields', 'period')} = ?")
            args.append(period)
        if site_id:
            where.append("i.parent_id = ?")
            args.append(site_id)
        if status:
            where.append(f"coalesce({self.field('i.fields', 'status')}, 'scheduled') = ?")
            args.append(status)
        return [
            (insp, site, _decode(fields), _decode(site_fields) if site_fields else {})
            for insp, site, fields, site_fields in self.db.execute(
                f"SELECT i.id, i.parent_id, i.fields, s.fields FROM rows i LEFT JOIN rows s"
                f" ON s.collection = 'sites' AND s.id = i.parent_id WHERE {' AND '.join(where)}",
                args,
            )
        ]

    def checked_counts(self, inspection_ids: list[str]) -> dict[str, int]:
        return {i: n for i, n in select_in(
            self.db,
            "SELECT c.parent_id, count(*) FROM rows c JOIN rows d ON d.collection = 'devices' AND d.id = c.device_id"
            " WHERE c.collection = 'device_checks' AND c.parent_id IN ({marks})"
            f" AND c.deleted = 0 AND d.deleted = 0 AND {self.field('c.fields', 'outcome')} IS NOT NULL"
            f" AND coalesce({self.field('d.fields', 'status')}, 'active') = 'active' GROUP BY c.parent_id",
            inspection_ids,
        )}

    def device_totals(self, site_ids: list[str]) -> dict[str, int]:
        return {s: n for s, n in select_in(
            self.db,
            "SELECT parent_id, count(*) FROM rows WHERE collection = 'devices' AND parent_id IN ({marks})"
            f" AND deleted = 0 AND coalesce({self.field('fields', 'status')}, 'active') = 'active' GROUP BY parent_id",
            site_ids,
        )}

    def sites(self, site_ids: list[str] | None) -> list[tuple[str, Fields]]:
        sql = "SELECT id, fields FROM rows WHERE collection = 'sites' AND deleted = 0"
        found = (self.db.execute(sql) if site_ids is None
                 else select_in(self.db, sql + " AND id IN ({marks})", site_ids))
        return [(i, _decode(f)) for i, f in found]

    def photos_of_inspection(self, inspection_id: str, site_id: str | None) -> dict[str | None, list[PhotoInfo]]:
        return photos_of_inspection(self.db, inspection_id, site_tz(self.db, site_id))

    def photos_of_device(self, device_id: str, site_id: str | None) -> dict[str, list[PhotoInfo]]:
        return photos_of_device(self.db, device_id, site_tz(self.db, site_id))

    def signatures(self, inspection_id: str) -> list[SignatureInfo]:
        return signatures(self.store, self.db, inspection_id)

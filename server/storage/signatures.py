"""The signatures domain's SQL (both backends): verifications, seals, and what a sheet may list.

Every function runs on a connection the caller holds: verifying and sealing
happen inside the push's transaction, retraction in its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, NamedTuple

import msgspec

from sync.schema import SUPERVISOR

from .base import Sql
from .scope import memberships
from .sheets import person
from .writes import Dialect, dialect, per_dialect, replace_into, select_in

if TYPE_CHECKING:
    from ..services import Store

_decode = msgspec.json.decode
Connection = Sql  # what the signatures service hands back here, unopened
# (id, fields, compared, the checks compared, how many checks it sealed) of a signature
SignatureRow = tuple[str, dict[str, Any], str | None, dict[str, dict[str, Any]], int]


class _Sql(NamedTuple):
    seal_counts: str
    sealed_by: str


@per_dialect
def _sql(sql: Dialect) -> _Sql:
    """The statements the push's seal runs (`domains/signatures/hooks.py`)."""
    sealed = sql.field("fields", "sealed_by")
    return _Sql(
        seal_counts=(f"SELECT count(*), count(*) FILTER (WHERE {sealed} IS NULL) FROM rows"
                     " WHERE collection = 'device_checks' AND parent_id = ? AND deleted = 0"),
        sealed_by=("SELECT collection, id FROM rows WHERE (parent_id = ? OR (collection = 'service_visits' AND id = ?))"
                   f" AND collection IN ('device_checks', 'service_visits', 'charge_lines') AND {sealed} = ?"),
    )


def device_sites(db: Sql, device_ids: list[str]) -> dict[str, str | None]:
    """The site of each live device among `device_ids`."""
    return {i: s for i, s in select_in(
        db, "SELECT id, site_id FROM rows WHERE collection = 'devices' AND deleted = 0 AND id IN ({marks})",
        device_ids,
    )}


def may_seal_at(db: Sql, store: Store, user_id: str, site_id: str | None) -> bool:
    """Whether a user may have a sheet of this site sealed: a supervisor, or a member of the site."""
    role = db.execute("SELECT role FROM users WHERE id = ?", [user_id]).fetchone()
    return role is not None and (role[0] == SUPERVISOR or site_id in memberships(db, user_id))


def record_verification(db: Sql, signature_id: str, inspection_id: str, compared: str,
                        checks: bytes, devices: bytes | None = None, technician: bytes | None = None) -> None:
    """What a signature was compared with; `devices`, for a maintenance sheet, what named each
    device it lists when it was signed (`device_labels`), and `technician` whom it named as its
    technician then (`technician_label`)."""
    db.execute(
        replace_into("verifications", ("signature_id", "inspection_id", "compared", "checks", "devices", "technician"),
                     ("signature_id",)),
        [signature_id, inspection_id, compared, checks.decode(), devices.decode() if devices is not None else None,
         technician.decode() if technician is not None else None],
    )


SIGNED_LABELS = ("code", "kind", "location", "system")  # what a maintenance sheet prints of a device
# m031 (both backends): what named each device a sheet listed when it was signed, as JSON, so that a
# reprint prints what the customer signed (CAM-001, 大堂东), not what the device was renamed since.
SIGNED_DEVICES = "ALTER TABLE verifications ADD COLUMN devices TEXT;"


# m032 (both backends): whom a maintenance sheet named as its technician when it was signed, as JSON
# (`{"username", "name"}`), so that a reassignment after the seal never changes the name the customer's
# signature sits beside on a reprint (a supervisor's push of `assigned_to` is still taken: sync-protocol.md
# seals the checks, not the inspection's registers).
SIGNED_TECHNICIAN = "ALTER TABLE verifications ADD COLUMN technician TEXT;"
# m032's backfill of the maintenance sheets' signatures recorded before it, by `chosen_technician`'s rule
# (SQLite's step runs that function, storage/sqlite/migrations_sheets.py); `name` is the user's name as
# `sheets.person` gives it. A tie's "first by name" is in code points, as Python's min and COLLATE "C" order.
TECHNICIAN_BACKFILL_POSTGRES = """
UPDATE verifications AS v SET technician = json_build_object(
        'username', t.who, 'name', COALESCE((SELECT NULLIF(u.name, '') FROM users u WHERE u.username = t.who), t.who))
    FROM (SELECT v2.signature_id, COALESCE(
        (SELECT u.username FROM row_creators c JOIN users u ON u.id = c.user_id
          WHERE c.collection = 'signatures' AND c.row_id = v2.signature_id AND u.role = 'technician'),
        (SELECT e.value ->> 'checked_by' FROM jsonb_each(CAST(v2.checks AS jsonb)) AS e
          WHERE jsonb_typeof(e.value -> 'checked_by') = 'string' AND e.value ->> 'checked_by' <> ''
          GROUP BY e.value ->> 'checked_by'
          ORDER BY count(*) DESC, (e.value ->> 'checked_by') IS NOT DISTINCT FROM a.assigned DESC,
                   (e.value ->> 'checked_by') COLLATE "C" LIMIT 1),
        a.assigned) AS who
        FROM verifications AS v2
        LEFT JOIN LATERAL (SELECT CASE WHEN json_typeof(r.fields -> 'assigned_to') = 'string'
                                       THEN r.fields ->> 'assigned_to' END AS assigned
                             FROM rows r WHERE r.collection = 'inspections' AND r.id = v2.inspection_id) AS a ON true
        WHERE v2.compared IN ('sheet', 'inspection')) AS t
    WHERE t.signature_id = v.signature_id AND t.who <> '';
"""


def chosen_technician(creator: str | None, checks: Iterable[Mapping[str, Any]], assigned: Any) -> str | None:
    """Whom a maintenance sheet names as its technician (维护人员) beside the customer's signature: who was there.

    `creator`: the signature's creator's username when a technician (the customer signs on his phone, offline
    perhaps, while a supervisor reassigns the inspection before it syncs): him. Else (signed on a supervisor's
    phone, or its creator not known) whoever checked most of the checks compared, as each check's `checked_by`
    says: the one who did the work, which a colleague's odd check or a supervisor's correction does not change;
    on a tie the assignee among them, else the first by name, so the same sheet always names the same person.
    Else the inspection's `assigned_to`."""
    if creator:
        return creator
    counts = Counter(w for f in checks if isinstance(w := f.get("checked_by"), str) and w)
    if counts:
        return min(counts, key=lambda w: (-counts[w], w != assigned, w))
    return assigned if isinstance(assigned, str) and assigned else None


def technician_label(db: Sql, username: str | None) -> dict[str, str] | None:
    """The technician a sheet names (`chosen_technician`) and the name it prints, or None."""
    return None if not username else {"username": username, "name": person(db, username)}


def signed_technicians(db: Sql, signature_ids: list[str]) -> dict[str, dict[str, str]]:
    """By signature, whom its sheet named as the technician when it was signed; a signature recorded
    before these were kept (m032), or of a sheet that named nobody, has none."""
    return {i: _decode(t) for i, t in select_in(
        db, "SELECT signature_id, technician FROM verifications WHERE technician IS NOT NULL"
            " AND signature_id IN ({marks})", signature_ids)}


def device_labels(db: Sql, device_ids: list[str]) -> dict[str, dict[str, Any]]:
    """What names each of these devices (deleted ones too) as it stands: its `SIGNED_LABELS`."""
    return {i: {k: v for k in SIGNED_LABELS if (v := _decode(f).get(k)) is not None} for i, f in select_in(
        db, "SELECT id, fields FROM rows WHERE collection = 'devices' AND id IN ({marks})", device_ids)}


def signed_devices(db: Sql, signature_ids: list[str]) -> dict[str, dict[str, dict[str, Any]]]:
    """By signature, what named each device its sheet listed when it was signed; a signature
    recorded before these were kept (m031) has none."""
    return {i: _decode(d) for i, d in select_in(
        db, "SELECT signature_id, devices FROM verifications WHERE devices IS NOT NULL AND signature_id IN ({marks})",
        signature_ids)}


def seal_counts(db: Sql, inspection_id: str) -> tuple[int, int]:
    """(live checks, of them not sealed) of an inspection."""
    total, unsealed = db.execute(_sql(db).seal_counts, [inspection_id]).fetchone()
    return int(total), int(unsealed)


def sealed_by(db: Sql, signed_id: str, signature_id: str) -> list[tuple[str, str]]:
    """`(collection, id)` of the rows (deleted ones too) this signature sealed: the inspection's
    checks, or the visit itself and its lines."""
    return [(c, i) for c, i in db.execute(_sql(db).sealed_by, [signed_id, signed_id, signature_id]).fetchall()]


def live_children(db: Sql, collection: str, parent_id: str) -> dict[str, dict[str, Any]]:
    """The fields of a row's live children of one collection, by id (a visit's charge lines)."""
    return {i: _decode(f) for i, f in db.execute(
        "SELECT id, fields FROM rows WHERE collection = ? AND parent_id = ? AND deleted = 0", [collection, parent_id])}


def signature_rows(db: Sql, inspection_id: str) -> list[SignatureRow]:
    """The live signatures of an inspection (or a service visit), oldest first, with their
    verification and how many rows each sealed."""
    field = dialect(db).field
    return [
        (sig_id, _decode(fields), compared, _decode(state) if state else {}, sealed)
        for sig_id, fields, compared, state, sealed in db.execute(
            "SELECT s.id, s.fields, v.compared, v.checks,"
            " (SELECT count(*) FROM rows c WHERE c.collection IN ('device_checks', 'charge_lines')"
            f"  AND c.parent_id = s.parent_id AND {field('c.fields', 'sealed_by')} = s.id)"
            " + (SELECT count(*) FROM rows v WHERE v.collection = 'service_visits' AND v.id = s.parent_id"
            f"  AND {field('v.fields', 'sealed_by')} = s.id)"
            " FROM rows s LEFT JOIN verifications v ON v.signature_id = s.id"
            " WHERE s.collection = 'signatures' AND s.parent_id = ? AND s.deleted = 0 ORDER BY s.version",
            [inspection_id],
        ).fetchall()
    ]


def device_codes(db: Sql, inspection_id: str) -> dict[str, str | None]:
    """The code of every device (deleted ones too) of the inspection's site."""
    return {
        i: _decode(f).get("code")
        for i, f in db.execute(
            "SELECT d.id, d.fields FROM rows d WHERE d.collection = 'devices' AND d.parent_id ="
            " (SELECT parent_id FROM rows WHERE collection = 'inspections' AND id = ?)",
            [inspection_id],
        )
    }


def visit_codes(db: Sql, visit_id: str) -> dict[str, str | None]:
    """What names each row of a contact sheet: the visit's `sheet_no`, each charge line's `item`
    (deleted lines too)."""
    return {
        i: _decode(f).get("sheet_no" if collection == "service_visits" else "item")
        for collection, i, f in db.execute(
            "SELECT collection, id, fields FROM rows WHERE (collection = 'service_visits' AND id = ?)"
            " OR (collection = 'charge_lines' AND parent_id = ?)",
            [visit_id, visit_id],
        )
    }


def keep_clock(db: Sql, last: str) -> None:
    """The server's clock, kept with what it stamped (as every server write keeps it)."""
    db.execute("UPDATE meta SET value = ? WHERE key = 'hlc'", [last])

"""The media domain's SQL (both backends): blobs and their owners, uploads, row creators, photo listings.

Functions taking a connection serve callers already inside a transaction (the
push's, the inspections queries'); `SqliteMedia` opens its own for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

import msgspec

from sync import errors as E
from sync import hlc

from ..domains.identity.quotas import check_upload_bytes
from ..domains.media import images
from ..domains.media.schemas import PhotoInfo
from ..settings import Settings
from .base import Sql
from .queries import Transactions
from .writes import Dialect, dialect, per_dialect, select_in

_decode = msgspec.json.decode
DOOMED_RETRY_S = 5  # what an upload of a hash garbage collection is removing is told to wait
# (collection, row id, fields, creator's user id, whether a creator is recorded, creator's username)
BlobRow = tuple[str, str, dict[str, Any], str | None, bool, str | None]
# (user id, sha256, content type, length, received, status, error) of an upload
UploadRecord = tuple[str, str, str, int, int, str, str | None]

# An upload's pieces when its bytes go to a bucket (`domains/media/uploads.py`): one row per PATCH
# that moved the offset, naming its object, inserted with the move (SQLite's m028, PostgreSQL's step
# of that name; `{integer}`: INTEGER or bigint). A migration: never edited once released.
PIECES = """
    CREATE TABLE upload_pieces (
        upload_id TEXT NOT NULL,
        start {integer} NOT NULL,
        name TEXT NOT NULL,
        PRIMARY KEY (upload_id, start)
    );
"""

# Blobs whose record garbage collection forgot and whose bytes it may not have deleted yet
# (`domains/media/gc.py`): no upload records such a hash until the row goes (SQLite's m030,
# PostgreSQL's step of that name). A migration: never edited once released.
DOOMED = """
    CREATE TABLE blobs_doomed (
        sha256 TEXT PRIMARY KEY,
        since_ms {integer} NOT NULL
    );
"""


# -- with a connection the caller holds ------------------------------------------------


def uploaded_among(db: Sql, user_id: str | None, shas: list[str]) -> set[str]:
    """Which of `shas` this user uploaded (user None, the server's own rows: which are stored at all)."""
    if user_id is None:
        query, before = "SELECT sha256 FROM blobs WHERE sha256 IN ({marks})", []
    else:
        query, before = "SELECT sha256 FROM blob_owners WHERE user_id = ? AND sha256 IN ({marks})", [user_id]
    return {h for (h,) in select_in(db, query, shas, before)}


def has_uploaded(db: Sql, sha: Any, user_id: str | None, recorded: bool = True) -> bool:
    """Whether the row's creator uploaded these bytes. `recorded`: the row has a creator at all
    (a row without one, made before creators were kept, waits for nobody's upload)."""
    if not isinstance(sha, str) or not recorded:
        return False
    return bool(uploaded_among(db, user_id, [sha]))


def _photos(db: Sql) -> str:
    return ("SELECT r.id, r.parent_id, r.fields, b.content_type, b.width, b.height, b.taken_at, b.taken_local,"
            f" b.orientation, b.lat, b.lon FROM rows r LEFT JOIN blobs b ON b.sha256 = {dialect(db).field('r.fields', 'sha256')}")


def _photo(found: tuple[Any, ...], tz: str | None) -> PhotoInfo:
    row_id, _, fields_json, content_type, width, height, taken_at, taken_local, orientation, lat, lon = found
    f = _decode(fields_json)
    photo = PhotoInfo(
        id=row_id, sha256=f.get("sha256"), device_id=f.get("device_id"), stage=f.get("stage"),
        caption=f.get("caption"), taken_at=f.get("taken_at"), blob=f.get("blob") or "missing",
        content_type=f.get("content_type"), bytes=f.get("bytes"),
    )
    # What the bytes say is shown only when this row's own creator sent them: a row that
    # merely names a hash learns nothing (not even where the photo was taken) from it.
    if photo.blob == "stored" and content_type is not None:
        photo.content_type, photo.width, photo.height = content_type, width, height
        photo.orientation, photo.lat, photo.lon = orientation, lat, lon
        photo.exif_taken_at = taken_at or (images.local_to_protocol(taken_local, tz) if taken_local else None)
    return photo


def _order(photos: list[PhotoInfo]) -> list[PhotoInfo]:
    return sorted(photos, key=lambda p: (p.taken_at or p.exif_taken_at or "", p.id))


def photos_of_inspection(db: Sql, inspection_id: str, tz: str | None) -> dict[str | None, list[PhotoInfo]]:
    """An inspection's photos by device (None: photos of the inspection as a whole)."""
    out: dict[str | None, list[PhotoInfo]] = {}
    for found in db.execute(
        _photos(db) + " WHERE r.collection = 'photos' AND r.parent_id = ? AND r.deleted = 0", [inspection_id]
    ):
        photo = _photo(found, tz)
        out.setdefault(photo.device_id, []).append(photo)
    return {k: _order(v) for k, v in out.items()}


def photos_of_device(db: Sql, device_id: str, tz: str | None) -> dict[str, list[PhotoInfo]]:
    """A device's photos by inspection."""
    out: dict[str, list[PhotoInfo]] = {}
    for found in db.execute(
        _photos(db) + " WHERE r.device_id = ? AND r.collection = 'photos' AND r.deleted = 0", [device_id]
    ):
        out.setdefault(found[1], []).append(_photo(found, tz))
    return {k: _order(v) for k, v in out.items()}


def site_tz(db: Sql, site_id: str | None) -> str | None:
    found = db.execute(
        f"SELECT {dialect(db).field('fields', 'tz')} FROM rows WHERE collection = 'sites' AND id = ?", [site_id]
    ).fetchone()
    return found[0] if found else None


# -- in transactions of its own ------------------------------------------------------------


class SqliteMedia(Transactions["MediaQueries"]):
    """The media queries over the store's connections."""

    def on(self, db: Sql) -> MediaQueries:
        return MediaQueries(db)


class _Sql(NamedTuple):
    awaiting: str
    referenced: str


@per_dialect
def _sql(sql: Dialect) -> _Sql:
    field = sql.field
    return _Sql(
        # Deleted rows too: a photo deleted now and restored later is then already `stored`. A row
        # without a recorded creator is never anyone's (the "ghost" of issue 9, finding 6).
        awaiting=(
            "SELECT r.id FROM rows r JOIN row_creators c ON c.collection = 'photos' AND c.row_id = r.id"
            f" WHERE r.collection = 'photos' AND {field('r.fields', 'sha256')} = ?"
            f" AND coalesce({field('r.fields', 'blob')}, 'missing') = 'missing'"
            " AND (c.user_id = ? OR (c.user_id IS NULL AND c.client_id IS NULL))"),
        # Every place a hash is referenced (one `?` each): rows of both blob collections (deleted or not), and uploads.
        referenced=(
            f"SELECT 1 FROM rows WHERE collection = 'photos' AND {field('fields', 'sha256')} = ?"
            " UNION ALL SELECT 1 FROM rows WHERE collection = 'signatures'"
            f" AND {field('fields', 'image_sha256')} = ?"
            " UNION ALL SELECT 1 FROM rows WHERE collection = 'signatures'"
            f" AND {field('fields', 'sheet_sha256')} = ?"
            " UNION ALL SELECT 1 FROM uploads WHERE sha256 = ? LIMIT 1"),
    )


class MediaQueries:
    def __init__(self, db: Sql) -> None:
        self.db = db
        self.field = dialect(db).field

    # -- rows and their blobs

    def awaiting(self, sha: str, user_id: str) -> list[str]:
        """The photos this user's clients created with these bytes that are still `missing`."""
        return [i for (i,) in self.db.execute(_sql(self.db).awaiting, [sha, user_id])]

    def reconcilable(self) -> list[str]:
        """Photos still `missing` whose creator's upload completed (a crash between the two writes)."""
        return [i for (i,) in self.db.execute(
            "SELECT r.id FROM rows r JOIN row_creators c ON c.collection = 'photos' AND c.row_id = r.id"
            f" JOIN blob_owners o ON o.sha256 = {self.field('r.fields', 'sha256')} AND o.user_id = c.user_id"
            f" WHERE r.collection = 'photos' AND {self.field('r.fields', 'blob')} = 'missing'"
        )]

    def content_type(self, sha: str) -> str | None:
        found = self.db.execute("SELECT content_type FROM blobs WHERE sha256 = ?", [sha]).fetchone()
        return None if found is None else str(found[0])

    def stored_photo_sites(self, sha: str) -> Iterator[str | None]:
        """The sites of live photos whose blob under `sha` is stored."""
        for (site,) in self.db.execute(
            f"SELECT site_id FROM rows WHERE collection = 'photos' AND {self.field('fields', 'sha256')} = ?"
            f" AND deleted = 0 AND {self.field('fields', 'blob')} = 'stored'",
            [sha],
        ):
            yield site

    def uploaded_signature_sites(self, sha: str) -> Iterator[str | None]:
        """The sites of live signatures naming `sha` whose creator uploaded it."""
        # One probe of each hash's index (`rows_signature_image`, `rows_signature_sheet`): an `OR` of
        # the two reads every signature. UNION keeps a signature naming `sha` twice once (its id).
        probe = ("SELECT r.id, r.site_id, c.user_id, c.row_id IS NOT NULL FROM rows r"
                 " LEFT JOIN row_creators c ON c.collection = 'signatures' AND c.row_id = r.id"
                 " WHERE r.collection = 'signatures' AND r.deleted = 0 AND {} = ?")
        for _, site, creator, recorded in self.db.execute(
            f"{probe.format(self.field('r.fields', 'image_sha256'))}"
            f" UNION {probe.format(self.field('r.fields', 'sheet_sha256'))}",
            [sha, sha],
        ):
            if has_uploaded(self.db, sha, creator, bool(recorded)):
                yield site

    def live_site(self, collection: str, row_id: str) -> tuple[bool, str | None]:
        """Whether a live row exists, and its site."""
        found = self.db.execute(
            "SELECT site_id FROM rows WHERE collection = ? AND id = ? AND deleted = 0", [collection, row_id]
        ).fetchone()
        return (False, None) if found is None else (True, found[0])

    def blob_rows(self, inspection_id: str) -> list[BlobRow]:
        """An inspection's live photos and signatures with their creators, by collection and id."""
        return [
            (collection, row_id, _decode(fields), creator, bool(recorded), username)
            for collection, row_id, fields, creator, recorded, username in self.db.execute(
                "SELECT r.collection, r.id, r.fields, c.user_id, c.row_id IS NOT NULL, u.username FROM rows r"
                " LEFT JOIN row_creators c ON c.collection = r.collection AND c.row_id = r.id"
                " LEFT JOIN users u ON u.id = c.user_id"
                " WHERE r.collection IN ('photos', 'signatures') AND r.parent_id = ? AND r.deleted = 0"
                " ORDER BY r.collection, r.id",
                [inspection_id],
            )
        ]

    def has_uploaded(self, sha: Any, user_id: str | None, recorded: bool = True) -> bool:
        return has_uploaded(self.db, sha, user_id, recorded)

    # -- uploads

    def open_uploads(self, client_id: str) -> int:
        return int(self.db.execute(
            "SELECT count(*) FROM uploads WHERE client_id = ? AND status = 'open'", [client_id]
        ).fetchone()[0])

    def owned(self, sha: str, user_id: str) -> tuple[int, str] | None:
        """(bytes, content type) of a blob this user uploaded."""
        found = self.db.execute(
            "SELECT b.bytes, b.content_type FROM blob_owners o JOIN blobs b ON b.sha256 = o.sha256"
            " WHERE o.sha256 = ? AND o.user_id = ?",
            [sha, user_id],
        ).fetchone()
        return None if found is None else (found[0], found[1])

    def check_upload_bytes(self, user_id: str, length: int, settings: Settings) -> None:
        check_upload_bytes(self.db, user_id, length, settings)

    def add_upload(self, upload_id: str, user_id: str, client_id: str, sha: str, content_type: str,
                   filename: str | None, length: int, received: int, status: str, now_ms: int) -> None:
        self.db.execute(
            "INSERT INTO uploads(id, user_id, client_id, sha256, content_type, filename, length, received,"
            " status, created_ms, updated_ms) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [upload_id, user_id, client_id, sha, content_type, filename, length, received, status, now_ms, now_ms],
        )

    def upload(self, upload_id: str) -> UploadRecord | None:
        found = self.db.execute(
            "SELECT user_id, sha256, content_type, length, received, status, error FROM uploads WHERE id = ?",
            [upload_id],
        ).fetchone()
        return None if found is None else (found[0], found[1], found[2], found[3], found[4], found[5], found[6])

    def advance(self, upload_id: str, start: int, end: int, piece: str, now_ms: int) -> bool:
        """Move an open upload's offset from `start` to `end`, whose bytes are the object `piece`; false
        (nothing written) when the offset is no longer `start`: another PATCH moved it first."""
        moved = self.db.execute("UPDATE uploads SET received = ?, updated_ms = ? WHERE id = ? AND received = ?"
                                " AND status = 'open'", [end, now_ms, upload_id, start]).rowcount
        if moved == 1:
            self.db.execute("INSERT INTO upload_pieces(upload_id, start, name) VALUES (?, ?, ?)",
                            [upload_id, start, piece])
        return moved == 1

    def retreat(self, upload_id: str, start: int, end: int) -> None:
        """Move an open upload's offset back from `end` to `start`, forgetting the piece that began there."""
        if self.db.execute("UPDATE uploads SET received = ? WHERE id = ? AND received = ? AND status = 'open'",
                           [start, upload_id, end]).rowcount == 1:
            self.db.execute("DELETE FROM upload_pieces WHERE upload_id = ? AND start = ?", [upload_id, start])

    def pieces(self, upload_id: str) -> list[str]:
        """The upload's pieces' names, in the order of their bytes."""
        return [n for (n,) in self.db.execute("SELECT name FROM upload_pieces WHERE upload_id = ? ORDER BY start",
                                              [upload_id])]

    def last_piece_start(self, upload_id: str) -> int:
        """Where the upload's last piece begins (0 without one)."""
        return int(self.db.execute("SELECT coalesce(max(start), 0) FROM upload_pieces WHERE upload_id = ?",
                                   [upload_id]).fetchone()[0])

    def all_pieces(self) -> set[tuple[str, str]]:
        """(upload id, name) of every piece on record."""
        return {(u, n) for u, n in self.db.execute("SELECT upload_id, name FROM upload_pieces")}

    def fail_upload(self, upload_id: str, error: str, now_ms: int) -> None:
        self.db.execute("UPDATE uploads SET status = 'failed', error = ?, updated_ms = ? WHERE id = ?",
                        [error, now_ms, upload_id])
        self.db.execute("DELETE FROM upload_pieces WHERE upload_id = ?", [upload_id])

    def store_blob(self, upload_id: str, user_id: str, sha: str, content_type: str, length: int,
                   info: images.ImageInfo | None, now_ms: int) -> None:
        """The upload is complete: its blob, what its bytes say, and that this user has them."""
        if self.doomed(sha):
            # Garbage collection may delete these bytes still: the client sends its last PATCH again.
            raise E.StorageUnavailable("these bytes are being removed from the store; send them again shortly",
                                       retry_after=DOOMED_RETRY_S)
        self.db.execute(
            "INSERT INTO blobs(sha256, content_type, bytes, width, height, taken_at, taken_local,"
            " orientation, lat, lon, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(sha256) DO NOTHING",
            [sha, content_type, length,
             *((info.width, info.height, info.taken_at, info.taken_local, info.orientation, info.lat, info.lon)
               if info else (None,) * 7),
             hlc.format_ts(now_ms)],
        )
        self.db.execute("INSERT INTO blob_owners(sha256, user_id, uploaded_at) VALUES (?, ?, ?)"
                        " ON CONFLICT(sha256, user_id) DO NOTHING",
                        [sha, user_id, hlc.format_ts(now_ms)])
        self.db.execute("UPDATE uploads SET status = 'complete', received = length, updated_ms = ? WHERE id = ?",
                        [now_ms, upload_id])
        self.db.execute("DELETE FROM upload_pieces WHERE upload_id = ?", [upload_id])

    def uploads_untouched_since(self, cutoff_ms: int) -> list[tuple[str, str]]:
        """(id, status) of uploads whose record last changed before `cutoff_ms`."""
        return [(i, s) for i, s in self.db.execute("SELECT id, status FROM uploads WHERE updated_ms < ?", [cutoff_ms])]

    def forget_uploads(self, upload_ids: Iterable[str]) -> None:
        ids = [(i,) for i in upload_ids]
        self.db.executemany("DELETE FROM upload_pieces WHERE upload_id = ?", ids)
        self.db.executemany("DELETE FROM uploads WHERE id = ?", ids)

    def open_upload_ids(self) -> set[str]:
        return {i for (i,) in self.db.execute("SELECT id FROM uploads WHERE status = 'open'")}

    # -- collection

    def blobs_created_before(self, cutoff: str) -> list[tuple[str, int]]:
        """(sha256, bytes) of blobs created before the protocol timestamp `cutoff`, by hash."""
        return [(s, int(n)) for s, n in self.db.execute(
            "SELECT sha256, bytes FROM blobs WHERE created_at < ? ORDER BY sha256", [cutoff])]

    def referenced(self, sha: str) -> bool:
        return self.db.execute(_sql(self.db).referenced, [sha] * 4).fetchone() is not None

    def forget_blob(self, sha: str, now_ms: int) -> None:
        """Forget the blob's record; its bytes are doomed until `spared` (after they are deleted)."""
        self.db.execute("DELETE FROM blob_owners WHERE sha256 = ?", [sha])
        self.db.execute("DELETE FROM blobs WHERE sha256 = ?", [sha])
        self.db.execute("INSERT INTO blobs_doomed(sha256, since_ms) VALUES (?, ?) ON CONFLICT(sha256) DO NOTHING",
                        [sha, now_ms])

    def doomed(self, sha: str) -> bool:
        return self.db.execute("SELECT 1 FROM blobs_doomed WHERE sha256 = ?", [sha]).fetchone() is not None

    def doomed_before(self, cutoff_ms: int) -> list[str]:
        return [s for (s,) in self.db.execute("SELECT sha256 FROM blobs_doomed WHERE since_ms < ? ORDER BY sha256",
                                              [cutoff_ms])]

    def spared(self, sha: str) -> None:
        """The blob's bytes are deleted: its hash may be uploaded and recorded again."""
        self.db.execute("DELETE FROM blobs_doomed WHERE sha256 = ?", [sha])

"""The server's services over one database, composed once: what `server/store.py` was.

`Store` holds what lives as long as the process: the database (`Settings.database` picks its
backend: the SQLite file under `--data`, or PostgreSQL that several processes share), the
server's HLC clock and epoch, the cursor key, the hooks each domain registers, the sync
window, identity and the blobs. It knows no SQL and no protocol rule: push, pull and the
conflict log are `engine/`'s functions, mounted here as methods, and the identity
service's methods are handed out as they are. The name stays `Store` so that the many
callers (services, the CLI, benchmarks, tests) only change an import; `create_app` can
later build the pieces itself.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sync import hlc
from sync.periods import site_zone
from sync.workhours import local_date

from .domains.billing.hooks import BillingHooks
from .domains.callbacks.hooks import CallbackHooks
from .domains.duty.hooks import DutyHooks
from .domains.identity.service import Caller, Identity
from .domains.inspections.hooks import InspectionHooks
from .domains.media.blobs import BlobStore, open_blob_store
from .domains.media.hooks import MediaHooks
from .domains.service.hooks import ServiceHooks
from .domains.service.service import backfill_milestones
from .domains.signatures.hooks import SignatureHooks
from .domains.signatures.service import SheetCache
from .engine import conflicts as _conflicts
from .engine import pull as _pull
from .engine import push as _push
from .engine.after_commit import AfterCommit
from .engine.hooks import Hooks
from .engine.window import Window, window_periods
from .settings import Settings
from .storage import protocol, receipts
from .storage.base import Backend, Connection, Database

__all__ = ["Caller", "Store"]


class Store:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.backend = backend_of(settings)
        self.database: Database[Connection] = self.backend.open(settings.database or settings.db_path,
                                                                settings.read_connections)
        self.read = self.database.read
        self.write = self.database.write
        with self.read() as db:
            meta = protocol.meta(db)
        self.server_epoch = meta["server_epoch"]
        # Signs pull cursors; in the database, so it survives restarts, is shared by every
        # process on this database and travels with its backups (m011 in storage/sqlite/migrations.py).
        self.cursor_secret = bytes.fromhex(meta["cursor_secret"])
        # Each process has its own clock; a transaction that stamps with it catches up with what the
        # others saved first (`engine/batch.py`), so no two hand out the same HLC.
        self.clock = hlc.Clock(hlc.SERVER_NODE, meta["hlc"] or None)
        self.clock.now()
        self.window = Window(self.database)
        identity = self.identity = Identity(self.database, settings, self.server_epoch, self.now_ms)
        self.throttle = identity.throttle
        self._touched = identity.touched
        self.create_user = identity.create_user
        self.add_member = identity.add_member
        self.remove_member = identity.remove_member
        self.members = identity.members
        self.login = identity.login
        self.refresh = identity.refresh
        self.update_user = identity.update_user
        self.authenticate = identity.authenticate
        self.revoke_client = identity.revoke_client
        # Photos, signature images and sheet snapshots (domains/media/uploads.py puts them in).
        self.blobs: BlobStore = open_blob_store(settings)
        # Sheets parsed once per hash, before a push takes the writer lock (domains/signatures/service.py).
        self.sheets = SheetCache()
        # What each domain derives from a write, in its transaction; signatures verify before
        # media records their creator.
        self.hooks = Hooks([InspectionHooks(), SignatureHooks(), MediaHooks(), ServiceHooks(),
                            CallbackHooks(), DutyHooks(), BillingHooks()])
        # Work the hooks register for after a write commits, done by one background thread.
        self.after_commit = AfterCommit()
        backfill_milestones(self)  # once, for a database from before m018

    _meta = staticmethod(protocol.meta)
    push = _push.push
    write_server_changes = _push.write_server_changes
    pull = _pull.pull
    conflicts = _conflicts.conflicts

    def close(self) -> None:
        self.after_commit.close()  # its work reads the database
        self.database.close()

    def now_ms(self) -> int:
        return hlc.wall_ms()

    def window_periods(self) -> list[str]:
        """The periods clients receive (`engine/window.py`).

        Computed in the users' default time zone (Asia/Shanghai); sites in other
        zones differ at most by hours around a period's start.
        """
        return window_periods(self.today())

    def today(self, tz: object = None) -> date:
        """Today by the store's clock (`now_ms`, the one tests and a faked server clock move), in the site's
        time zone `tz` (the users' default without one)."""
        return local_date(self.now_ms(), site_zone(tz))

    def _ensure_window(self) -> None:
        """Record the window when it moves (a new period began), at a place in the version sequence."""
        self.window.ensure(self.window_periods(), hlc.format_ts(self.now_ms()))

    def purge_tombstones(self, now_ms: int | None = None) -> int:
        """Forget rows deleted longer ago than the horizon (older cursors then get 410), and the
        receipts revoked clients left (`storage/receipts.py`)."""
        now = self.now_ms() if now_ms is None else now_ms
        with self.write() as db:
            receipts.forget_revoked(db)
            return self.backend.purge_tombstones(db, now - int(self.settings.tombstone_horizon_days * 86_400_000))


def backend_of(settings: Settings) -> Backend[Any]:
    """The backend `Settings.database` names: PostgreSQL for a URL (psycopg imported only then), else SQLite."""
    if settings.database is None:
        from .storage.sqlite.backend import SQLITE

        return SQLITE
    from .storage.postgres.backend import POSTGRES

    return POSTGRES

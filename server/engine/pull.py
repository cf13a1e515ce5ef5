"""Pull: one page of the caller's scope, by version, after any scope catch-up.

The scope is the caller's sites (every site for a supervisor) and the sync window's
periods. When it changed since the cursor's, rows that left it arrive once as
`removed` and older rows that entered it come whole, in pages of their own, before the
version stream goes on. The SQL is in `storage/pages.py` and `scope.py`.

A page goes out as `Page`, the wire's `PullResponse` with each row's stored JSON spliced in
as it is (`msgspec.Raw`) rather than decoded and encoded again (issue 15): the stored text
is what a push's merge encoded, so the bytes are the ones `Row` would give.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import msgspec

from sync import errors as E
from sync import hlc
from sync.wire import PullResponse

from ..domains.identity.service import Caller
from ..storage import pages
from ..storage.base import Connection
from ..storage.protocol import acked_seq
from ..storage.scope import memberships, sites_at, window_at
from .cursor import Cursor, decode_cursor, encode_cursor

if TYPE_CHECKING:
    from ..services import Store

_NO_FIELDS = msgspec.Raw(b"{}")


class PulledRow(msgspec.Struct, kw_only=True):
    """`sync.wire.Row` as the server sends it: `fields` the stored JSON object, spliced in."""

    collection: str
    id: str
    fields: msgspec.Raw  # no default: Litestar's schema generation hashes defaults, and Raw has no hash
    deleted: bool = False
    version: int = 0
    removed: bool = False


class Page(PullResponse, kw_only=True):
    """`sync.wire.PullResponse` as the server sends it, its rows `PulledRow`s."""

    rows: list[PulledRow]  # type: ignore[assignment]  # encoded only, never read as `Row`s


def _row(collection: str, row_id: str, fields: str | None, deleted: int, version: int) -> PulledRow:
    """A stored row as it goes out; fields None: `removed` from the caller's scope."""
    if fields is None:
        return PulledRow(collection=collection, id=row_id, fields=_NO_FIELDS, removed=True)
    return PulledRow(collection=collection, id=row_id, fields=msgspec.Raw(fields.encode()), deleted=bool(deleted),
                     version=version)


def pull(store: Store, caller: Caller, cursor: str | None, limit: int | None) -> Page:
    """One page: first any scope catch-up (sites gained or lost since the cursor), then rows by version."""
    at = decode_cursor(cursor, store.cursor_secret, caller.user_id)
    size = min(max(limit or store.settings.default_pull_limit, 1), store.settings.max_pull_limit)
    store._ensure_window()
    with store.read() as db:
        meta = store._meta(db)
        top = int(meta["version"])
        # A snapshot's own pages never expire: it brings every live row, and the
        # client drops what it did not bring when the snapshot completes.
        if not at.snapshot and at.version < int(meta["horizon_version"]):
            raise E.CursorExpired(
                "rows were deleted and forgotten since this cursor; push, then pull from cursor 0"
            )
        user = None if caller.sites is None else caller.user_id  # every site: supervisors, service desk
        rows, has_more, after = _scoped_page(db, user, caller.username, at, size, top)
        acked = acked_seq(db, caller.client_id)
    return Page(
        rows=rows,
        cursor=encode_cursor(after, store.cursor_secret, caller.user_id),
        has_more=has_more,
        acked_seq=acked,
        server_time=hlc.format_ts(store.now_ms()),
        # The server's HLC, not only this process's: another process may have absorbed the HLCs of
        # rows on this page since this one last stamped (a read catches no clock up, it stamps nothing).
        server_hlc=max(store.clock.last, meta["hlc"]),
        server_epoch=store.server_epoch,
        version=after.version,
    )


def _stream(
    db: Connection, sites: set[str] | None, window: set[str] | None, at: Cursor, size: int, top: int,
    owner: str | None = None,
) -> tuple[list[PulledRow], bool, Cursor]:
    # A row whose period changed after it was stored (a request that closed) and is now outside
    # the window leaves as `removed` (fields None), since the client may hold it; a client that
    # holds nothing yet (cursor 0) is not told of it.
    found = pages.page(db, at.version, sites, window, size + 1, moved=at.version > 0, owner=owner)
    has_more = len(found) > size
    found = found[:size]
    reached = found[-1][4] if has_more else max(top, at.version)
    scope = at.scope if at.scope is not None and at.scope > reached else None
    rows = [_row(*r) for r in found]
    return rows, has_more, Cursor(reached, at.snapshot and has_more, scope)


def _scoped_page(db: Connection, user_id: str | None, owner: str, at: Cursor, size: int,
                 top: int) -> tuple[list[PulledRow], bool, Cursor]:
    """One page of the caller's scope (see the module docstring); `owner`: the caller's username
    (their own site-less rows are theirs whatever their sites)."""
    target = at.target or top
    then = at.scope_version
    sites_then = sites_at(db, user_id, then)
    # The cursor's tags only say what the client holds and what to catch up with; the
    # memberships as they stand now bound what may come whole, whatever the tags say
    # (issue 9: a cursor from before a removal brought the site back). A site of
    # `sites_then` outside them only ever leaves as `removed` rows.
    sites_now = sites_at(db, user_id, target)
    if sites_now is not None:
        sites_now &= memberships(db, user_id)
    window_then, window_now = window_at(db, then), window_at(db, target)
    if not at.target and sites_then == sites_now and window_then == window_now:
        return _stream(db, sites_now, window_now, at, size, top, owner)
    if at.version == 0:
        # Nothing delivered yet: the stream from 0 brings exactly the scope at `target`.
        return _stream(db, sites_now, window_now, Cursor(0, at.snapshot, target), size, top, owner)
    entries = pages.scope_changes(db, at.version, sites_then, sites_now, window_then, window_now)
    if at.offset >= len(entries):
        # Nothing to catch up with (a snapshot from 0 brings what entered the scope anyway).
        return _stream(db, sites_now, window_now, Cursor(at.version, at.snapshot, target), size, top, owner)
    page = entries[at.offset:at.offset + size]
    full = pages.whole(db, [(c, i) for removed, c, i, _ in page if not removed])
    rows = [_row(c, i, None, 0, 0) if removed else _row(c, i, *full[(c, i)]) for removed, c, i, _ in page]
    if at.offset + size < len(entries):
        return rows, True, Cursor(at.version, at.snapshot, at.scope, target, at.offset + size)
    # Caught up: the client's rows now reflect the scope at `target`.
    return rows, True, Cursor(at.version, at.snapshot, target if target > at.version else None)

"""The conflict log as clients and supervisors page through it (GET /api/conflicts).

A page stops at `limit` entries or `max_conflict_page_bytes` of them; each entry says
whether both sides wrote the same value (`no_op`) and names its row as a person knows it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, get_args, get_type_hints

import msgspec

from sync.errors import clip
from sync.schema import COLLECTIONS
from sync.wire import Conflict, ConflictPage

from ..domains.identity.service import Caller
from ..filters import one_of
from ..storage import conflicts as q
from ..storage.base import Connection

if TYPE_CHECKING:
    from ..services import Store

_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.decode
_sorted_json = msgspec.json.Encoder(order="sorted").encode
KINDS: tuple[str, ...] = get_args(get_type_hints(Conflict)["kind"])  # lost, overwritten, rejected, rejected_field
_LABEL_ROOM = 220  # bytes a page keeps for each entry's label (a text field is at most 200 characters)


def conflicts(
    store: Store,
    caller: Caller,
    collection: str | None = None,
    row_id: str | None = None,
    site_id: str | None = None,
    after: int = 0,
    limit: int = 200,
    no_op: bool | None = None,
    *,
    kind: str | None = None,
    before: int | None = None,
) -> ConflictPage:
    """A page of the conflict log; `no_op=False` leaves out the entries where both sides
    wrote the same value (`no_op=True` lists only those). With `before`, the entries below
    that id, newest first (`next_after` is then the next page's `before`)."""
    collection = one_of("collection", collection, COLLECTIONS)
    kind = one_of("kind", kind, KINDS)
    # A technician sees what concerns them, of the sites they are a member of now (issue 9: an
    # ex-member kept reading the new values of registers he once wrote); an entry of no site
    # is shown only to its own pusher.
    viewer = None if caller.sites is None else (caller.user_id, caller.sites)
    size = min(max(limit, 1), 1000)
    budget = store.settings.max_conflict_page_bytes
    items: list[Conflict] = []
    more = False
    used = 0
    with store.read() as db:
        # Read row by row: with the no_op filter, entries left out do not count.
        found = q.entries(db, after, {"collection": collection, "row_id": row_id, "site_id": site_id, "kind": kind},
                          viewer, size + 1 if no_op is None else -1, before)
        for r in found:  # row by row: a page stops at `size` entries or `budget` bytes of them
            if len(items) == size:
                more = True
                break
            item = Conflict(
                id=r[0], at=r[1], kind=r[2], collection=r[3], row_id=r[4], register=r[5], reason=r[6],
                detail=r[7], site_id=r[8], client_id=r[9], user=r[10], hlc=r[11], seq=r[12],
                old_value=_json_decode(r[13]) if r[13] is not None else None,
                new_value=_json_decode(r[14]) if r[14] is not None else None,
                other_client_id=r[15], other_user=r[16], other_hlc=r[17],
            )
            item.no_op = item.kind in ("lost", "overwritten") and _same(item.old_value, item.new_value)
            if no_op is not None and item.no_op != no_op:
                continue
            used += len(_json_encode(item)) + 1 + _LABEL_ROOM
            if items and used > budget:
                more = True
                break
            items.append(item)
        _label(db, items)
    return ConflictPage(
        conflicts=items,
        next_after=items[-1].id if more else None,
        server_epoch=store.server_epoch,
    )


def _same(a: Any, b: Any) -> bool:
    """The same JSON value: `false` is not `0`, and a group's fields may come in any order."""
    return _sorted_json(a) == _sorted_json(b)


# What a person calls a row of these collections: a site's name, a device's code, a sheet or request number.
_OWN_LABEL = {"sites": "name", "devices": "code", "inspections": "sheet_no", "checklist_templates": "kind",
              "service_requests": "number", "service_visits": "sheet_no"}
# Where a row with no label of its own finds one: the first of these rows it names (a check, a photo:
# its device; an event: its request; a charge line, a call-back: its visit's sheet).
_PARENTS = (("device_id", "devices"), ("inspection_id", "inspections"), ("request_id", "service_requests"),
            ("visit_id", "service_visits"))


def _label(db: Connection, items: list[Conflict]) -> None:
    """Name each entry's row as a person knows it (`_OWN_LABEL`, else through `_PARENTS`), never by
    its UUID.

    Only from rows of the entry's own site: an entry logged for a row outside its pusher's scope
    has no site, and its label must not name what is there.
    """
    found: dict[str, tuple[str, str | None, dict[str, Any]]] = {}
    wanted = {c.row_id for c in items} | {str(v) for c in items for v in _parents_sent(c).values()}
    for _ in range(3):  # the entry's row, its parent, and the parent's (a line's visit's request)
        found.update({i: (c, site, _json_decode(f)) for i, c, site, f in q.rows_by_id(db, wanted - found.keys())})
        wanted = {str(f.get(key)) for _, _, f in found.values() for key, _ in _PARENTS if f.get(key)}

    def name(row_id: object, collection: str, site: str | None, depth: int = 0) -> str | None:
        row = found.get(str(row_id))
        if row is None or row[0] != collection or row[1] != site or depth > 2:
            return None
        fields = row[2]
        own = fields.get(_OWN_LABEL.get(collection, ""))
        if own:
            return clip(str(own), 200)
        parent = next(((key, of) for key, of in _PARENTS if fields.get(key)), None)
        return None if parent is None else name(fields[parent[0]], parent[1], site, depth + 1)

    def sent(item: Conflict) -> str | None:
        """A refused creation has no row: named from the values it sent (which the entry shows anyway),
        its parents still only from its own site."""
        own = item.new_value.get(_OWN_LABEL.get(item.collection, "")) if item.kind == "rejected" and isinstance(
            item.new_value, dict) else None
        if isinstance(own, str) and own:
            return clip(own, 200)
        return next((label for key, of in _PARENTS if (ref := _parents_sent(item).get(key))
                     and (label := name(ref, of, item.site_id, 1))), None)

    for item in items:
        item.label = name(item.row_id, item.collection, item.site_id) or sent(item)


def _parents_sent(item: Conflict) -> dict[str, str]:
    """The parents a rejected change's sent values name (`_PARENTS`' keys), as text."""
    if item.kind != "rejected" or not isinstance(item.new_value, dict):
        return {}
    return {key: v for key, _ in _PARENTS if isinstance(v := item.new_value.get(key), str) and v}

"""The service request list's parameters: the caller's number's tail, the flags, the page's position
(`ServiceRequests.list`)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from sync import errors as E
from sync.collections.service import PHONE_LIMIT
from sync.fields import is_uuid

from ...filters import one_of
from ...storage import service as q
from ...storage.base import Connection
from ..scope import in_scope

if TYPE_CHECKING:
    from ...services import Caller

MAX_FILTER_CHARS = 64  # an `assigned_to` filter (usernames are shorter)
TAIL_DIGITS = 4  # a `caller_phone` filter names at least the number's last four digits (尾号)


def phone_tail(phone: str) -> str:
    """A `caller_phone` filter's digits, last first (and its extension's, `q.phone_reversed`); `invalid_filter`
    past a number's length or short of `TAIL_DIGITS` digits before any extension."""
    tail = q.phone_reversed(phone[:PHONE_LIMIT + 1]) or ""
    if len(phone) > PHONE_LIMIT or len(tail.partition(q.EXTENSION)[0]) < TAIL_DIGITS:
        raise E.InvalidFilter(f"caller_phone is a number of at most {PHONE_LIMIT} characters, at least"
                              f" {TAIL_DIGITS} of them digits (its tail will do)", parameter="caller_phone",
                              limit=PHONE_LIMIT)
    return tail


_POSITION = re.compile(r"^(-?[0-9]{1,16})\.([0-9a-f-]{36})\Z")


def keyset(after: str) -> tuple[int, str] | None:
    """A page's `next` as the list's keyset position: its last request's order key (`reported_at` in ms, or the
    call-back's due) and id, as listed then, so the next page follows whatever that request became since (its
    call-back made, its pause resumed). Any position tells nothing: the page is still the caller's requests."""
    found = _POSITION.match(after)
    return None if found is None or not is_uuid(found[2]) else (int(found[1]), found[2])


def flag(name: str, value: str | None) -> bool | None:
    chosen = one_of(name, value, ("true", "false"))
    return None if chosen is None else chosen == "true"


def id_position(db: Connection, caller: Caller, after: str, callback_due: bool) -> tuple[int, str]:
    """The position of a bare request id (the `next` of before s29): a request the caller can see, so a
    cursor tells nothing of other sites; one whose call-back was made since has no place left in its list."""
    row = q.stored_clocks(db, after) if is_uuid(after) else None
    key = None if row is None else q.callback_due_of(db, after) if callback_due else row["reported_ms"]
    if row is None or key is None or not in_scope(caller, row["site_id"]):
        raise E.InvalidCursor("after is the `next` of a page of this list")
    return key, after

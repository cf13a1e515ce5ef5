"""Pull cursors: `v1.<version>` plus optional tags, then a MAC, opaque to clients.

A cursor is signed for one user with the server's key (kept in the database), so it
cannot be edited, made up, or replayed by another user; whatever it says, the
caller's current memberships still bound every page (`engine/pull.py`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Any

from sync import errors as E


@dataclass(frozen=True)
class Cursor:
    """Where a client's pull stands. Opaque to clients: `v1.<version>` plus optional tags,
    then a MAC (`encode_cursor`).

    `version`: rows up to here were delivered. `snapshot`: a snapshot from 0 is
    still being taken (its pages never expire). `scope`: the version whose
    memberships the client's rows reflect (default: `version`). `target` and
    `offset`: a scope catch-up in progress, towards the memberships at `target`,
    `offset` entries in. None of these ever widens what a page may hold: the
    caller's current memberships bound every page (`engine/pull.py`).
    """

    version: int = 0
    snapshot: bool = False
    scope: int | None = None
    target: int = 0
    offset: int = 0

    @property
    def scope_version(self) -> int:
        return self.version if self.scope is None else self.scope

    def payload(self) -> str:
        tags = ["s"] if self.snapshot else []
        if self.scope is not None and self.scope != self.version:
            tags.append(f"t{self.scope}")
        if self.target:
            tags += [f"u{self.target}", f"o{self.offset}"]
        return ".".join(["v1", str(self.version), *tags])


MAX_CURSOR_CHARS = 200  # a cursor the server issues is under 100 characters
_NOT_ISSUED = "this cursor was not issued by this server to this user; pull from cursor 0"


def _cursor_mac(secret: bytes, user_id: str, payload: str) -> str:
    """HMAC-SHA256 over the user and the payload, truncated to 16 bytes: a cursor cannot be
    edited, made up, or replayed by another user."""
    digest = hmac.new(secret, f"{user_id}\n{payload}".encode(), hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def encode_cursor(cursor: Cursor, secret: bytes, user_id: str) -> str:
    payload = cursor.payload()
    return f"{payload}.{_cursor_mac(secret, user_id, payload)}"


def _number(text: str) -> int:
    # isascii(): isdigit() also accepts digits such as "²" and "٣" that int() rejects or reads.
    if not (text.isascii() and text.isdigit()) or len(text) > 16:
        raise ValueError(text)
    return int(text)


def decode_cursor(cursor: str | None, secret: bytes, user_id: str) -> Cursor:
    """The cursor `encode_cursor` gave this user; anything else is `invalid_cursor`
    (None, "" and "0" ask for a snapshot)."""
    if cursor in (None, "", "0"):
        return Cursor(0, snapshot=True)
    assert cursor is not None
    payload, _, mac = cursor.rpartition(".")
    if len(cursor) > MAX_CURSOR_CHARS or not hmac.compare_digest(
        mac.encode("utf-8", "replace"), _cursor_mac(secret, user_id, payload).encode()
    ):
        raise E.InvalidCursor(_NOT_ISSUED)
    parts = payload.split(".")
    try:
        if len(parts) < 2 or parts[0] != "v1":
            raise ValueError(payload)
        fields: dict[str, Any] = {"version": _number(parts[1])}
        for tag in parts[2:]:
            if tag == "s":
                fields["snapshot"] = True
            elif tag[:1] in ("t", "u", "o"):
                fields[{"t": "scope", "u": "target", "o": "offset"}[tag[0]]] = _number(tag[1:])
            else:
                raise ValueError(tag)
    except ValueError:
        # Signed by this server, yet not readable: a server bug, never a client's doing.
        raise E.InvalidCursor(_NOT_ISSUED) from None
    return Cursor(**fields)

"""Hybrid logical clock, as text that orders correctly when compared as strings.

Format: ``<ms>-<counter>-<node>``: 13 decimal digits of Unix milliseconds,
4 lower-case hex digits of counter, and the node (a ``client_id``, or ``srv``
for the server's own writes).
"""

from __future__ import annotations

import re
import time
from datetime import datetime, timedelta
from typing import NamedTuple

from .fields import _TIMESTAMP

SERVER_NODE = "srv"
MAX_COUNTER = 0xFFFF
# [0-9] and \Z, not \d and $: \d matches any Unicode digit and $ matches before a final newline.
_HLC = re.compile(r"^([0-9]{13})-([0-9a-f]{4})-([0-9a-z-]{1,64})\Z")


class Hlc(NamedTuple):
    ms: int
    counter: int
    node: str

    def __str__(self) -> str:
        return f"{self.ms:013d}-{self.counter:04x}-{self.node}"


def node_of(text: str) -> str:
    """The node of an HLC in the protocol's form (one `parse` accepted, or a `Clock` wrote): a slice,
    for the stored clocks of every row a push reads and writes."""
    return text[19:]  # 13 digits, "-", 4 hex digits, "-"


def parse(text: str) -> Hlc:
    """Parse an HLC; raise ValueError when it is not in the protocol's form."""
    match = _HLC.match(text)
    if match is None:
        raise ValueError(f"not an HLC: {text!r}")
    return Hlc(int(match[1]), int(match[2], 16), match[3])


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Clock:
    """A hybrid logical clock for one node.

    ``now()`` stamps a local event; ``observe()`` takes in a remote HLC. Both
    take the wall clock as an argument so tests can drive time.
    """

    def __init__(self, node: str, last: str | None = None) -> None:
        self.node = node
        self.ms = 0
        self.counter = 0
        if last:
            parsed = parse(last)
            self.ms, self.counter = parsed.ms, parsed.counter

    @property
    def last(self) -> str:
        return f"{self.ms:013d}-{self.counter:04x}-{self.node}"  # str(Hlc(...)), without building one

    def _set(self, ms: int, counter: int) -> None:
        if counter > MAX_COUNTER:
            ms, counter = ms + 1, 0
        self.ms, self.counter = ms, counter

    def now(self, wall: int | None = None) -> str:
        wall = wall_ms() if wall is None else wall
        if wall > self.ms:
            self._set(wall, 0)
        else:
            self._set(self.ms, self.counter + 1)
        return self.last

    def observe(self, remote: str | Hlc, wall: int | None = None) -> str:
        self.see(remote, wall)
        return self.last

    def see(self, remote: str | Hlc, wall: int | None = None) -> None:
        """`observe`, without formatting the new HLC: the server sees every change of a push."""
        other = parse(remote) if isinstance(remote, str) else remote
        wall = wall_ms() if wall is None else wall
        top = max(self.ms, other.ms, wall)
        if top == self.ms and top == other.ms:
            counter = max(self.counter, other.counter) + 1
        elif top == self.ms:
            counter = self.counter + 1
        elif top == other.ms:
            counter = other.counter + 1
        else:
            counter = 0
        self._set(top, counter)


_EPOCH = datetime(1970, 1, 1)  # naive UTC: arithmetic on it is exact and avoids strftime/strptime
_MS = timedelta(milliseconds=1)


def format_ts(ms: int) -> str:
    """RFC 3339 UTC with milliseconds and Z, the protocol's only timestamp form."""
    return (_EPOCH + _MS * ms).isoformat(timespec="milliseconds") + "Z"


def parse_ts(text: str) -> int:
    """Milliseconds of a protocol timestamp; ValueError for any other form."""
    if not isinstance(text, str) or not _TIMESTAMP.match(text):
        raise ValueError(f"not a protocol timestamp: {text!r}")
    return (datetime.fromisoformat(text[:23]) - _EPOCH) // _MS  # ValueError for a day or hour that does not exist

"""Sign-in throttling (issue 5, issue 9 #14, issue 10 #7; docs/security.md), in memory."""

from __future__ import annotations

import threading
import time
from collections import deque
from typing import NamedTuple

from ...settings import Settings


class Attempt(NamedTuple):
    """A counted sign-in attempt: `wait` seconds when throttled (0: go on), whether this
    refusal is the first of its window for one of the keys (`report`: audit it), and when
    it was counted (`at`, to take it back when the password was right)."""

    wait: int
    report: bool
    at: int
    limit: int = 0  # the limit of the key that throttled it
    keys: tuple[str, ...] = ()  # the kinds of key that throttled it: pair, user, addr


class LoginThrottle:
    """Failed sign-ins per (username, address), per username and per address, in memory.

    Past a key's limit within `login_window_seconds`, every sign-in under that key
    answers 429 (even with the right password, or the answer would confirm a guess)
    until its oldest failure ages out. The keys (issue 10 #7): a (username, address)
    pair is throttled first (5), so one person's wrong passwords never lock out the
    others behind the same office NAT; a username from anywhere stops guessing on one
    account from many addresses (20); an address across every username stops guessing
    many usernames (100, well above what an office produces).

    An attempt is counted, under one lock, *before* its password is checked (issue 9
    #14): concurrent guesses cannot all pass a check made before any of them counted.
    A right password takes its own attempt back and clears its pair.

    In memory: a restart forgets the counts, and each server process counts on its
    own (fieldsync runs one).
    """

    MAX_KEYS = 100_000  # beyond this, the stalest keys are dropped: memory stays bounded

    def __init__(self, settings: Settings) -> None:
        self.limits = {"pair": settings.login_max_failures, "user": settings.login_max_failures_per_user,
                       "addr": settings.login_max_failures_per_address}
        self.window_ms = settings.login_window_seconds * 1000
        self._failures: dict[str, deque[int]] = {}
        self._reported: dict[str, int] = {}  # key -> when its last login_throttled entry was written
        self._lock = threading.Lock()

    def _keys(self, username: str, address: str | None) -> list[tuple[str, int]]:
        user = username.lower()
        keys = [(f"user:{user}", self.limits["user"])]
        if address:
            keys += [(f"pair:{address}:{user}", self.limits["pair"]), (f"addr:{address}", self.limits["addr"])]
        return keys

    def attempt(self, username: str, address: str | None, now_ms: int | None = None) -> Attempt:
        """Count a sign-in attempt as a failure until `succeeded` takes it back."""
        now = _now_ms() if now_ms is None else now_ms
        keys = self._keys(username, address)
        with self._lock:
            self._bound(now)
            wait, hit, blocked = 0, 0, []
            for key, limit in keys:
                times = self._prune(key, now)
                if times is not None and len(times) >= limit:
                    until = max(-(-(times[0] + self.window_ms - now) // 1000), 1)
                    if until > wait:
                        wait, hit = until, limit
                    blocked.append(key)
            if wait:
                report = [k for k in blocked if self._reported.get(k, now - self.window_ms) <= now - self.window_ms]
                self._reported.update(dict.fromkeys(report, now))
                return Attempt(wait, bool(report), now, hit, tuple(k.split(":", 1)[0] for k in blocked))
            for key, _ in keys:
                self._failures.setdefault(key, deque()).append(now)
            return Attempt(0, False, now)

    def succeeded(self, username: str, address: str | None, attempt: Attempt) -> None:
        """The password was right: the attempt was no failure, and its pair starts afresh."""
        with self._lock:
            for key, _ in self._keys(username, address):
                times = self._failures.get(key)
                if times is None:
                    continue
                if key.startswith("pair:"):
                    times.clear()
                elif attempt.at in times:
                    times.remove(attempt.at)
                if not times:
                    del self._failures[key]

    def _bound(self, now: int) -> None:
        if len(self._failures) >= self.MAX_KEYS:
            for key in sorted(self._failures, key=lambda k: self._failures[k][-1])[: self.MAX_KEYS // 10]:
                del self._failures[key]
        if len(self._reported) >= self.MAX_KEYS:
            self._reported = {k: at for k, at in self._reported.items() if at > now - self.window_ms}

    def _prune(self, key: str, now: int) -> deque[int] | None:
        times = self._failures.get(key)
        if times is None:
            return None
        while times and times[0] <= now - self.window_ms:
            times.popleft()
        if not times:
            del self._failures[key]
            return None
        return times


def _now_ms() -> int:
    return int(time.time() * 1000)

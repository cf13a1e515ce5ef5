"""Sign-in throttling (issue 5, issue 9 #14, issue 10 #7, issue 16; docs/security.md), in the database."""

from __future__ import annotations

import time
import uuid
from typing import NamedTuple

from ...settings import Settings
from ...storage import throttle as q
from ...storage.base import Connections


class Attempt(NamedTuple):
    """A counted sign-in attempt: `wait` seconds when throttled (0: go on), whether this
    refusal is the first of its window for one of the keys (`report`: audit it), and when
    it was counted (`at`) and its id (`id`), to take it back when the password was right."""

    wait: int
    report: bool
    at: int
    limit: int = 0  # the limit of the key that throttled it
    keys: tuple[str, ...] = ()  # the kinds of key that throttled it: pair, user, addr
    id: str = ""


class LoginThrottle:
    """Failed sign-ins per (username, address), per username and per address.

    Past a key's limit within `login_window_seconds`, every sign-in under that key
    answers 429 (even with the right password, or the answer would confirm a guess)
    until its oldest failure ages out. The keys (issue 10 #7): a (username, address)
    pair is throttled first (5), so one person's wrong passwords never lock out the
    others behind the same office NAT; a username from anywhere stops guessing on one
    account from many addresses (20); an address across every username stops guessing
    many usernames (100, well above what an office produces).

    An attempt is counted, in one write transaction with the check, *before* its password
    is checked (issue 9 #14): concurrent guesses cannot all pass a check made before any of
    them counted. A right password takes its own attempt back and clears its pair.

    In the database (issue 16, `storage/throttle.py`): every server process on it counts the
    same failures, and a restart forgets nothing. Rows older than two windows are deleted, by
    each process at most every tenth of a window.
    """

    def __init__(self, db: Connections, settings: Settings) -> None:
        self._db = db
        self.limits = {"pair": settings.login_max_failures, "user": settings.login_max_failures_per_user,
                       "addr": settings.login_max_failures_per_address}
        self.window_ms = settings.login_window_seconds * 1000
        self._pruned_at: int | None = None

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
        names = [key for key, _ in keys]
        since = now - self.window_ms
        self._prune(now)
        with self._db.write() as db:
            q.lock(db, names)
            counts = q.counts(db, names, since)
            wait, hit, blocked = 0, 0, []
            for key, limit in keys:
                count, oldest = counts.get(key, (0, now))
                if count >= limit:
                    until = max(-(-(oldest + self.window_ms - now) // 1000), 1)
                    if until > wait:
                        wait, hit = until, limit
                    blocked.append(key)
            if wait:
                done = q.reported(db, blocked, since)
                report = [key for key in blocked if key not in done]
                q.report(db, report, now)
                return Attempt(wait, bool(report), now, hit, tuple(k.split(":", 1)[0] for k in blocked))
            attempt = uuid.uuid4().hex
            q.add(db, names, now, attempt)
        return Attempt(0, False, now, id=attempt)

    def succeeded(self, username: str, address: str | None, attempt: Attempt) -> None:
        """The password was right: the attempt was no failure, and its pair starts afresh."""
        names = [key for key, _ in self._keys(username, address)]
        with self._db.write() as db:
            q.lock(db, names)
            q.take_back(db, names, attempt.at, attempt.id)
            for key in names:
                if key.startswith("pair:"):
                    q.clear(db, key, attempt.at - self.window_ms)

    def _prune(self, now: int) -> None:
        """Forget rows older than two windows: they no longer count, even on a process whose
        clock is up to a window behind this one's."""
        if self._pruned_at is not None and 0 <= now - self._pruned_at < self.window_ms // 10:
            return
        self._pruned_at = now
        with self._db.write() as db:
            q.prune(db, now - 2 * self.window_ms)


def _now_ms() -> int:
    return int(time.time() * 1000)

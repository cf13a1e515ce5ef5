"""Sign-in throttling, the password rule, and the audit trail (issue 5; docs/security.md).

Nothing here touches HTTP: the store calls these inside its own transactions.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import deque
from typing import Any

import msgspec

from sync import errors as E
from sync import hlc

from .settings import Settings

_encode = msgspec.json.Encoder().encode

# Kinds of audit entries, as stored in `audit.kind`.
LOGIN = "login"
LOGIN_FAILED = "login_failed"
LOGIN_THROTTLED = "login_throttled"
CLIENT_REVOKED = "client_revoked"
MEMBER_ADDED = "member_added"
MEMBER_REMOVED = "member_removed"
PUSH_FORBIDDEN = "push_forbidden"
SIGNATURE_RETRACTED = "signature_retracted"
KINDS = (LOGIN, LOGIN_FAILED, LOGIN_THROTTLED, CLIENT_REVOKED, MEMBER_ADDED, MEMBER_REMOVED, PUSH_FORBIDDEN,
         SIGNATURE_RETRACTED)


def audit(
    db: sqlite3.Connection,
    kind: str,
    *,
    username: str | None = None,
    client_id: str | None = None,
    address: str | None = None,
    now_ms: int | None = None,
    **detail: Any,
) -> None:
    """One audit row, written on the caller's connection: in the same transaction as what it records."""
    db.execute(
        "INSERT INTO audit(at, kind, username, client_id, address, detail) VALUES (?, ?, ?, ?, ?, ?)",
        [hlc.format_ts(hlc.wall_ms() if now_ms is None else now_ms), kind, username, client_id, address,
         _encode(detail).decode()],
    )


# -- passwords -------------------------------------------------------------------

# The passwords every credential-stuffing list starts with; a longer list would be
# a file, but length already rules out most of any such list.
_COMMON = {
    "password", "password1", "password123", "passw0rd", "123456789012", "1234567890", "qwertyuiop",
    "qwerty123456", "iloveyou", "admin", "administrator", "welcome", "letmein", "changeme", "fieldsync",
    "111111111111", "000000000000", "abc123456789", "p@ssw0rd", "p@ssword", "supervisor", "technician",
}


def check_password_strength(password: str, username: str, settings: Settings) -> None:
    """The password rule outside demo mode: long enough, not built from the username, not a common one.

    No composition rules (NIST SP 800-63B): length is what makes a password hard to guess.
    """
    minimum = settings.min_password_length
    lowered = password.lower()
    if len(password) < minimum:
        raise E.WeakPassword(f"a password has at least {minimum} characters", min_length=minimum)
    if len(set(password)) < 5:
        raise E.WeakPassword("a password uses at least 5 different characters", min_length=minimum)
    if username and username.lower() in lowered:
        raise E.WeakPassword("a password does not contain the username", min_length=minimum)
    if lowered in _COMMON or lowered.rstrip("0123456789!") in _COMMON:
        raise E.WeakPassword("this password is on every list of common passwords", min_length=minimum)


# -- sign-in throttling ------------------------------------------------------------


class LoginThrottle:
    """Failed sign-ins per username and per client address, in memory.

    After `login_max_failures` failures within `login_window_seconds` for a
    username or for an address, every sign-in for it answers 429 (even with
    the right password, or the answer would confirm a guess) until the oldest
    failure ages out. In memory: a restart forgets the counts, and each server
    process counts on its own (fieldsync runs one). A successful sign-in
    clears its username's failures, not its address's.
    """

    MAX_KEYS = 100_000  # beyond this, the stalest keys are dropped: memory stays bounded

    def __init__(self, settings: Settings) -> None:
        self.limit = settings.login_max_failures
        self.window_ms = settings.login_window_seconds * 1000
        self._failures: dict[str, deque[int]] = {}
        self._lock = threading.Lock()

    @staticmethod
    def _keys(username: str, address: str | None) -> list[str]:
        keys = [f"user:{username.lower()}"]
        if address:
            keys.append(f"addr:{address}")
        return keys

    def retry_after(self, username: str, address: str | None, now_ms: int | None = None) -> int:
        """Seconds until this sign-in may be tried; 0 when it may be tried now."""
        now = _now_ms() if now_ms is None else now_ms
        wait = 0
        with self._lock:
            for key in self._keys(username, address):
                times = self._prune(key, now)
                if times is not None and len(times) >= self.limit:
                    wait = max(wait, -(-(times[0] + self.window_ms - now) // 1000))
        return max(wait, 1) if wait else 0

    def failed(self, username: str, address: str | None, now_ms: int | None = None) -> None:
        now = _now_ms() if now_ms is None else now_ms
        with self._lock:
            if len(self._failures) >= self.MAX_KEYS:
                for key in sorted(self._failures, key=lambda k: self._failures[k][-1])[: self.MAX_KEYS // 10]:
                    del self._failures[key]
            for key in self._keys(username, address):
                self._failures.setdefault(key, deque()).append(now)

    def succeeded(self, username: str) -> None:
        with self._lock:
            self._failures.pop(f"user:{username.lower()}", None)

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

"""An upload's lock within one process: the PATCHes and HEADs of one upload take turns (`uploads.py`).

It counts the requests holding it or waiting for it (`users`), so that a PATCH that may have to wait
authenticates first: a bad token is 401 before any wait, never 423 after one. (Of two PATCHes that
found the lock free in one turn of the event loop, the second waited unauthenticated behind the first
and, the first taking over 5 s, got 423 UploadLocked: s27-fixsheet.) A request finding nobody holding
or waiting takes it at once, without a wait, so a lone PATCH makes no extra trip to a thread.

`UploadLocks` keeps an upload's lock only while some request holds or waits for it: a completed upload
left its lock for the life of the process, and every later HEAD of it made one more (s27-fixperiod).
Everything here runs on the event loop's one thread, and nothing between the last user's leaving and
the entry's removal awaits: a request after that makes a new lock, never a second holder of the old one.
"""

from __future__ import annotations

import asyncio


class UploadLock(asyncio.Lock):
    def __init__(self) -> None:
        super().__init__()
        self.users = 0  # requests holding or waiting for the lock; every one goes through `take`

    async def take(self, wait_s: float) -> bool:
        """Hold the lock (then `give` it), or False when another held it over `wait_s`; with no other
        user it is taken at once (asyncio.Lock's acquire does not suspend on a lock nobody holds or
        waits for), so no one can take it first."""
        self.users += 1
        try:
            await (self.acquire() if self.users == 1 else asyncio.wait_for(self.acquire(), wait_s))
        except BaseException as exc:
            self.users -= 1
            if isinstance(exc, TimeoutError):
                return False
            raise
        return True

    def give(self) -> None:
        self.release()
        self.users -= 1


class UploadLocks:
    """The locks of the uploads some request of this process holds or waits for, by upload id."""

    def __init__(self) -> None:
        self._locks: dict[str, UploadLock] = {}

    def __len__(self) -> int:
        return len(self._locks)

    def busy(self, upload_id: str) -> bool:
        """Whether a request holds or waits for the upload's lock (one more may have to wait)."""
        lock = self._locks.get(upload_id)
        return lock is not None and lock.users > 0

    async def take(self, upload_id: str, wait_s: float) -> UploadLock | None:
        """The upload's lock, held (then `give` it), or None when another held it over `wait_s`. The entry
        is found or made and counted in one step (no await before `users` grows), so a `give` removing
        the entry meanwhile cannot leave this request with a lock nobody else would find."""
        lock = self._locks.setdefault(upload_id, UploadLock())
        try:
            if await lock.take(wait_s):
                return lock
        finally:
            self._forget(upload_id, lock)  # a waiter that gave up (or was cancelled) may have been the last
        return None

    def give(self, upload_id: str, lock: UploadLock) -> None:
        lock.give()
        self._forget(upload_id, lock)

    def _forget(self, upload_id: str, lock: UploadLock) -> None:
        if lock.users == 0 and self._locks.get(upload_id) is lock:
            del self._locks[upload_id]

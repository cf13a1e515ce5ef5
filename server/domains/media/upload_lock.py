"""An upload's lock within one process: the PATCHes and HEADs of one upload take turns (`uploads.py`).

It counts the requests holding it or waiting for it (`users`), so that a PATCH that may have to wait
authenticates first: a bad token is 401 before any wait, never 423 after one. (Of two PATCHes that
found the lock free in one turn of the event loop, the second waited unauthenticated behind the first
and, the first taking over 5 s, got 423 UploadLocked: s27-fixsheet.) A request finding nobody holding
or waiting takes it at once, without a wait, so a lone PATCH makes no extra trip to a thread.
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

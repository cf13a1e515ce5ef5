"""Work done after a write transaction commits, off the request's path: one worker thread.

A hook registers work during the transaction (`_Batch.after_commit`, by key); the engine
hands it here only once the transaction has committed, so a rolled-back push leaves nothing
behind, and handing it over is all the push pays. The queue is bounded and keyed: work for a
key already waiting replaces it (the newer wins: it reads the state as it is when it runs),
and past `max_pending` keys the oldest waiting is dropped. Work is something that can be
redone later on demand (a sheet rendered ahead of its first request): dropped or failed, the
request does it. A failure is logged, never raised into anyone's push.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping

log = logging.getLogger(__name__)

# Keys waiting at most; a burst of seals past this drops the oldest waiting (docs/security.md).
MAX_PENDING = 64


class AfterCommit:
    """A bounded, keyed queue of work run by one daemon thread, started on first use."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self.dropped = 0  # waiting work dropped for newer (past `max_pending`)
        self.failed = 0
        self._waiting: OrderedDict[str, Callable[[], None]] = OrderedDict()
        self._running: str | None = None
        self._closed = False
        self._thread: threading.Thread | None = None
        self._cond = threading.Condition()

    def submit(self, work: Mapping[str, Callable[[], None]]) -> None:
        """Queue a committed transaction's work (key → callable); returns at once."""
        if not work:
            return
        with self._cond:
            if self._closed:
                return
            for key, job in work.items():
                self._waiting.pop(key, None)
                self._waiting[key] = job
            while len(self._waiting) > self.max_pending:
                self._waiting.popitem(last=False)
                self.dropped += 1
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="after-commit", daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._waiting and not self._closed:
                    self._cond.wait()
                if self._closed:
                    return
                key, job = self._waiting.popitem(last=False)
                self._running = key
            try:
                job()
            except Exception:
                self.failed += 1
                log.exception("after-commit work %s failed; it is done on demand instead", key[:120])
            finally:
                with self._cond:
                    self._running = None
                    self._cond.notify_all()

    def idle(self, timeout: float) -> bool:
        """Wait until nothing is waiting or running (tests, benchmarks); False if `timeout` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._waiting and self._running is None, timeout)

    def close(self, timeout: float = 60.0) -> None:
        """Drop what waits and let the work running finish (up to `timeout`), before the database closes."""
        with self._cond:
            self._closed = True
            self._waiting.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

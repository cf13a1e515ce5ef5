"""Real processes on a faked wall clock (Debian's libfaketime), for what depends on a process's own clock:
New Year's Eve is a moment of the calendar, not a mock (`make test` installs the package: `make faketime`).

`Clock(path)` keeps the offset in a file every process started with `clock.env()` reads at each call
(`FAKETIME_TIMESTAMP_FILE`, `FAKETIME_NO_CACHE`), so all of them share one timeline, and `set()` moves it
forward while they run. Only the wall clock is faked: the monotonic and boot clocks keep the machine's
(a phone's anchored time then holds only until the first jump: record before it, or sign in after it).
`fixed(moment, env)` is the same for processes that need no jump (the README's walk, mid-month).
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

LIBRARY = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1")


def _library() -> str:
    if not LIBRARY.exists():
        raise AssertionError(f"{LIBRARY} is missing: `make test` installs it (apt-get install faketime)")
    return str(LIBRARY)


def fixed(moment: datetime, env: Mapping[str, str]) -> dict[str, str]:
    """`env` for processes whose clock reads `moment` now and runs on from it, without a file to move it."""
    return {**env, "LD_PRELOAD": _library(), "FAKETIME": f"+{round(moment.timestamp() - time.time())}s",
            "FAKETIME_DONT_FAKE_MONOTONIC": "1"}


class Clock:
    def __init__(self, path: Path) -> None:
        _library()
        self.path = path

    def set(self, moment: datetime) -> None:
        """From now on the processes read `moment` (an aware datetime), and the time after it."""
        self.path.write_text(f"+{round(moment.timestamp() - time.time())}s\n")

    def now(self) -> float:
        """The processes' time now, in seconds since the epoch."""
        return time.time() + float(self.path.read_text().strip()[1:-1])

    def env(self, **more: str) -> dict[str, str]:
        return {**os.environ, "LD_PRELOAD": _library(), "FAKETIME_TIMESTAMP_FILE": str(self.path),
                "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1", **more}

"""Real processes on a faked wall clock (Debian's libfaketime), for what depends on a process's own clock:
New Year's Eve is a moment of the calendar, not a mock (`make test` installs the package: `make faketime`).

`Clock(path)` keeps the offset in a file every process started with `clock.env()` reads at each call
(`FAKETIME_TIMESTAMP_FILE`, `FAKETIME_NO_CACHE`), so all of them share one timeline, and `set()` moves it
while they run. Only the wall clock is faked: the monotonic and boot clocks keep the machine's
(a phone's anchored time then holds only until the first jump: record before it, or sign in after it).
`fixed(moment, env)` is the same for processes that need no jump (the README's walk, mid-month).

The offset is signed, `+86400s` or `-562508s`: libfaketime ignores `+-562508s` without a word and the
child then runs on the real clock (session 29, fixyearend). `set()` and `fixed()` therefore ask a child's
`date +%s` and fail loudly when it does not read the faked time.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path

# Debian's multiarch directory (x86_64-linux-gnu, aarch64-linux-gnu, ...): looked up, not assumed.
PATTERN = "/usr/lib/*/faketime/libfaketimeMT.so.1"
SLACK = 5  # seconds a child's `date` may lag the parent's reading (a loaded machine)


def _library() -> str:
    found = sorted(Path("/").glob(PATTERN.lstrip("/")))
    if not found:
        raise AssertionError(f"no {PATTERN}: `make test` installs it (apt-get install faketime)")
    return str(found[0])


def offset(moment: datetime) -> str:
    """libfaketime's relative offset from now to `moment` (an aware datetime), signed either way."""
    return f"{round(moment.timestamp() - time.time()):+d}s"


def seconds(text: str) -> int:
    """`offset`'s text back as seconds (`-562508s` → -562508)."""
    return int(text.strip().removesuffix("s"))


def check(env: Mapping[str, str], expected: float) -> None:
    """A child started with `env` reads `expected` (seconds since the epoch) on its wall clock, or this fails:
    a clock not faked would let the test walk the real date while it believes it walks another."""
    read = int(subprocess.run(["date", "+%s"], env=dict(env), capture_output=True, text=True, check=True).stdout)
    if not -SLACK <= read - expected <= SLACK:
        raise AssertionError(f"a child's clock reads {read}, not the faked {round(expected)}: libfaketime "
                             f"ignored {env.get('FAKETIME') or env.get('FAKETIME_TIMESTAMP_FILE')}")


def fixed(moment: datetime, env: Mapping[str, str]) -> dict[str, str]:
    """`env` for processes whose clock reads `moment` now and runs on from it, without a file to move it."""
    faked = {**env, "LD_PRELOAD": _library(), "FAKETIME": offset(moment), "FAKETIME_DONT_FAKE_MONOTONIC": "1"}
    check(faked, moment.timestamp())
    return faked


class Clock:
    def __init__(self, path: Path) -> None:
        _library()
        self.path = path

    def set(self, moment: datetime) -> None:
        """From now on the processes read `moment` (an aware datetime), and the time after it."""
        self.path.write_text(offset(moment) + "\n")
        check(self.env(), moment.timestamp())

    def now(self) -> float:
        """The processes' time now, in seconds since the epoch."""
        return time.time() + seconds(self.path.read_text())

    def env(self, **more: str) -> dict[str, str]:
        return {**os.environ, "LD_PRELOAD": _library(), "FAKETIME_TIMESTAMP_FILE": str(self.path),
                "FAKETIME_NO_CACHE": "1", "FAKETIME_DONT_FAKE_MONOTONIC": "1", **more}

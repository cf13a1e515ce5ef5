"""The server's time on a phone whose own clock is wrong, as trusted-time libraries on phones
keep it (Instacart's TrueTime for Android): each sync anchors the server's time to the clock
since boot, and a later time is the anchor plus the time since boot elapsed since then.

Why not the phone's clock plus the offset the last sync measured: that offset goes stale.
A technician who sets his clock right after the sync (or whose phone gets network time back)
would have every later time shifted by the old offset, a year or more, with nothing to show
it. The clock since boot cannot be set, and it counts while the phone sleeps
(`CLOCK_BOOTTIME`); a reboot starts it again, so the anchor holds only within the boot it was
taken in (Linux's `boot_id` names the boot).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

# (which boot, milliseconds since it): `boot_id` is None where the platform cannot say.
Boot = Callable[[], tuple[str | None, int]]

CLOCK_SKEW_MS = 5 * 60 * 1000  # the server's default `max_clock_skew`: past it, a push's times are corrected
_BOOT_ID = Path("/proc/sys/kernel/random/boot_id")


def boot_clock() -> tuple[str | None, int]:
    """This machine's boot and the milliseconds since it, sleep included; no boot id off Linux."""
    try:
        boot_id: str | None = _BOOT_ID.read_text().strip() or None
        since = time.clock_gettime(time.CLOCK_BOOTTIME)
    except (OSError, AttributeError):  # not Linux: no boot id, and perhaps no CLOCK_BOOTTIME
        return None, int(time.monotonic() * 1000)
    return boot_id, int(since * 1000)


def anchor(server_ms: int, boot: tuple[str | None, int]) -> str | None:
    """What a sync keeps: the server's time and the boot clock read at the same moment (meta text);
    None when the boot cannot be named (nothing is anchored)."""
    boot_id, since = boot
    return None if boot_id is None or " " in boot_id else f"{boot_id} {since} {server_ms}"


def anchored_now(kept: str | None, boot: tuple[str | None, int]) -> int | None:
    """The server's time now by the anchor `kept`, in Unix ms; None without one, after a reboot,
    or when the boot clock reads earlier than at the anchor (it never goes back within a boot)."""
    parts = (kept or "").split(" ")
    if len(parts) != 3 or boot[0] is None or boot[0] != parts[0] or not all(p.isdigit() for p in parts[1:]):
        return None
    since, server_ms = int(parts[1]), int(parts[2])
    return None if boot[1] < since else server_ms + boot[1] - since

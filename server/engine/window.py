"""The sync window: the periods clients receive, recorded when it moves.

A window change takes a place in the version sequence, as a membership change
does, so that a cursor knows which periods its rows reflect (`engine/pull.py`).
"""

from __future__ import annotations

from datetime import date

from sync.periods import FREQUENCIES, period_of, previous_period

from ..storage.base import Connections
from ..storage.scope import record_window


def window_periods(today: date) -> list[str]:
    """The current and the previous quarter, half and month, as of `today`."""
    periods = set()
    for frequency in FREQUENCIES:
        current = period_of(today, frequency)
        periods.add(current)
        periods.add(previous_period(current))
    return sorted(periods)


class Window:
    """Records the window when a new period begins; cheap when it has not moved."""

    def __init__(self, connections: Connections) -> None:
        self._connections = connections
        self._last: list[str] | None = None

    def ensure(self, periods: list[str], at: str) -> None:
        if periods == self._last:
            return
        with self._connections.write(versions=True) as db:
            record_window(db, periods, at)
        self._last = periods

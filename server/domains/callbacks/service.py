"""The monthly technician report (issue 13): computed on read from SQL aggregates, so a row that
syncs after the month was read counts when it is read again.

Months are each site's local month. Rates are integer per mille, rounded down; the mean is in
hundredths of a point, rounded half away from zero. Nothing is a float: JSON and CSV alike.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sync import errors as E
from sync.clocks import ENGLISH
from sync.collections.callbacks import RATINGS
from sync.fields import is_month
from sync.hlc import format_ts
from sync.periods import period_bounds, site_zone

from ...filters import one_of
from ...http.excel import excel_csv
from ...storage import callbacks as q
from .schemas import TechnicianReport, TechnicianScores

if TYPE_CHECKING:
    from ...services import Caller, Store

FORMATS = ("json", "csv")
# Every milestone name, in the contract's order (the CSV's columns).
MILESTONES = tuple(key.split(".", 1)[1] for key in ENGLISH if key.startswith("done."))


def month_bounds(month: str, tz: object) -> tuple[str, str]:
    """[first instant, first instant of the next month) of a local month, as protocol timestamps."""
    first, last = period_bounds(month)
    zone = site_zone(tz)
    after = date.fromordinal(last.toordinal() + 1)
    return tuple(  # type: ignore[return-value]
        format_ts(int(datetime.combine(day, time(), zone).astimezone(UTC).timestamp() * 1000))
        for day in (first, after))


def per_mille(part: int, whole: int) -> int | None:
    return None if whole == 0 else part * 1000 // whole


def hundredths(total: int, count: int) -> int | None:
    """total / count in hundredths, rounded half away from zero."""
    if count == 0:
        return None
    magnitude = (abs(total) * 200 + count) // (2 * count)
    return magnitude if total >= 0 else -magnitude


def _scores(username: str, found: dict[str, Any]) -> TechnicianScores:
    ratings = found["ratings"]
    rated = [(n, points) for rating, (n, points) in ratings.items() if rating is not None]
    total = sum(points for _, points in ratings.values())
    return TechnicianScores(
        username=username, visits=found["visits"], sealed_sheets=found["sealed"],
        callbacks_reached=sum(n for n, _ in ratings.values()), points=total,
        mean_points=hundredths(total, sum(n for n, _ in rated)),
        distribution={r: ratings.get(r, (0, 0))[0] for r in RATINGS},
        callback_coverage=per_mille(found["covered"], found["sealed"]),
        milestones_met={name: per_mille(met, met + breached)
                        for name in MILESTONES if name in found["milestones"]
                        for met, breached in [found["milestones"][name]]})


class TechnicianReports:
    def __init__(self, store: Store) -> None:
        self.store = store

    def month(self, caller: Caller, month: str, fmt: str | None = None) -> tuple[str, TechnicianReport]:
        """The month's report and the format asked for (`json` or `csv`)."""
        chosen = one_of("format", fmt, FORMATS) or "json"
        if not is_month(month):
            raise E.InvalidFilter(f"month {month[:16]!r} is a month such as 2026-M11", parameter="month")
        with self.store.read() as db:
            bounds = {site: month_bounds(month, tz) for site, tz in q.site_zones(db).items()}
            found = q.technician_month(db, bounds, self.store.now_ms())
        return chosen, TechnicianReport(month=month, technicians=[_scores(u, found[u]) for u in sorted(found)])


def as_csv(report: TechnicianReport) -> bytes:
    """One row per technician, integers only (an empty cell: no value), UTF-8 with a BOM so that
    Excel opens Chinese names intact."""
    header = ["month", "username", "visits", "sealed_sheets", "callbacks_reached", "points",
              "mean_points_hundredths", *(f"rating_{r}" for r in RATINGS), "callback_coverage_per_mille",
              *(f"{m}_met_per_mille" for m in MILESTONES)]
    return excel_csv(header, ([report.month, t.username, t.visits, t.sealed_sheets, t.callbacks_reached, t.points,
                               t.mean_points, *(t.distribution[r] for r in RATINGS), t.callback_coverage,
                               *(t.milestones_met.get(m) for m in MILESTONES)] for t in report.technicians))


"""What the technician report answers (issue 13): integers only, never a float."""

from __future__ import annotations

import msgspec


class TechnicianScores(msgspec.Struct, kw_only=True):
    username: str
    visits: int  # visits whose result was recorded in the month
    sealed_sheets: int  # sheets whose customer signature was signed in the month
    callbacks_reached: int  # call-backs that reached the customer in the month
    points: int  # their points, summed
    mean_points: int | None  # in hundredths of a point (425 is 4.25), over rated call-backs; null: none
    distribution: dict[str, int]  # reached call-backs per rating, every rating listed
    callback_coverage: int | None  # per mille of the month's sealed sheets with a reached call-back
    milestones_met: dict[str, int | None]  # per mille of the decided milestones that were met


class TechnicianReport(msgspec.Struct, kw_only=True):
    month: str
    technicians: list[TechnicianScores]

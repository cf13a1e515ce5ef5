"""The same-day satisfaction call-back (issue 13, /work/shared/design/service.md "Call-backs, scores, duty").

The service desk rings the customer after a visit and records what they said.
An unanswered attempt is a row too (`reached` false, no rating), so the desk's
effort shows. The server derives `points` from the rating; the phone can show
the same number offline with `points_for`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..collection import Collection, Scope, Via
from ..fields import NOTE_LIMIT, SERVICE_DESK, SUPERVISOR
from ..fields import field as _f

if TYPE_CHECKING:
    from ..rules import Check

_DESK = (SERVICE_DESK, SUPERVISOR)
RATINGS = ("very_satisfied", "satisfied", "average", "no_opinion", "dissatisfied")
DEFAULT_POINTS = (5, 3, 2, 1, -5)  # per rating, in the order of RATINGS (server Settings.callback_points)


def points_for(fields: Mapping[str, Any], table: Sequence[int] = DEFAULT_POINTS) -> int | None:
    """A call-back's points: its rating's, when the customer was reached and rated; else None."""
    rating = fields.get("rating")
    if fields.get("reached") is not True or rating not in RATINGS:
        return None
    return table[RATINGS.index(rating)]


def _required(c: Check) -> None:
    if c.creating and not c.delete:
        for name in ("called_at", "reached"):
            if c.fields.get(name) is None:
                c.problem("invalid_field", f"callbacks.{name} is required when creating a row")


def rated_only_when_reached(fields: Mapping[str, Any]) -> tuple[str, str] | None:
    """A customer who was not reached gave no rating."""
    if fields.get("rating") is not None and fields.get("reached") is not True:
        return "invalid_field", "callbacks.rating is given only when the customer was reached"
    return None


CALLBACKS = Collection(
    "callbacks",
    {
        "visit_id": _f("uuid", parent="service_visits", writers=_DESK),
        "called_at": _f("timestamp", writers=_DESK),
        "called_by": _f("text", writers=_DESK),
        "reached": _f("bool", writers=_DESK),
        "rating": _f("enum", *RATINGS, writers=_DESK),
        "comment": _f("text", writers=_DESK, max_length=NOTE_LIMIT),
        "points": _f("int", writers=()),
    },
    create_roles=_DESK,
    delete_roles=(SUPERVISOR,),
    # A call-back belongs to its visit's site and follows its period (the request's).
    scope=Scope(site=Via("visit_id", "service_visits"), period=Via("visit_id", "service_visits")),
    change_rules=(_required,),
    row_rules=(rated_only_when_reached,),
)

"""Charge lines (issue 13, docs/service.md "Charges"): what a visit costs, line by line.

A technician records the lines on site, a part with its actual price and the customer's decision;
the server prices each (`amount_fen`◆, `covered`◆, `sync.pricing`) in the write transaction. The
lines are on the visit's contact sheet: the customer's valid signature seals the visit and its
lines, and from then on a changed line, a deleted one or a new one is `sealed`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ..collection import Collection, Scope, Via
from ..fields import SUPERVISOR, TECHNICIAN, is_uuid
from ..fields import field as _f
from ..pricing import ITEMS, MAX_QUANTITY, MAX_UNIT_PRICE_FEN, PART
from .inspections import not_sealed
from .service import _required_on_creation

if TYPE_CHECKING:
    from ..rules import Check

_FIELD = (TECHNICIAN, SUPERVISOR)
DESCRIPTION_LIMIT = 500
# A line belongs to its visit's site, and leaves phones with its visit's request.
VIA_VISIT = Scope(site=Via("visit_id", "service_visits"), period=Via("visit_id", "service_visits"))
_BOUNDS = {"quantity": (1, MAX_QUANTITY), "unit_price_fen": (0, MAX_UNIT_PRICE_FEN)}


def _bounded(c: Check) -> None:
    for name, (low, high) in _BOUNDS.items():
        value = c.fields.get(name)
        if isinstance(value, int) and not low <= value <= high:
            c.problem("invalid_field", f"charge_lines.{name}: {value} is not in {low}..{high}")


def _visit_not_sealed(c: Check) -> None:
    """A sealed visit takes no new line, and none of its lines changes (the line's own seal says
    the same for the lines it covered: `not_sealed`)."""
    row = c.row
    visit_id = row.fields.get("visit_id") if row is not None and row.exists else c.fields.get("visit_id")
    visit = c.lookup("service_visits", visit_id) if isinstance(visit_id, str) and is_uuid(visit_id) else None
    if visit is not None and visit.fields.get("sealed_by") and c.is_client and c.differs():
        c.problem("sealed", f"visit {visit_id} is sealed by signature {visit.fields['sealed_by']}")


def part_price(fields: Mapping[str, Any]) -> tuple[str, str] | None:
    """A part carries its actual price; no other line does (the schedule prices them)."""
    if (fields.get("item") == PART) != (fields.get("unit_price_fen") is not None):
        return "invalid_field", "charge_lines.unit_price_fen is given for a `part` line, and only for one"
    return None


CHARGE_LINES = Collection(
    "charge_lines",
    {
        "visit_id": _f("uuid", parent="service_visits", writers=_FIELD),
        "item": _f("enum", *ITEMS, writers=_FIELD),
        "description": _f("text", writers=_FIELD, max_length=DESCRIPTION_LIMIT),
        "quantity": _f("int", writers=_FIELD),
        "unit_price_fen": _f("int", writers=_FIELD),
        "decision": _f("enum", "agreed", "declined", group="consent", writers=_FIELD),
        "decided_by": _f("text", group="consent", writers=_FIELD),
        "decided_at": _f("timestamp", group="consent", writers=_FIELD),
        "amount_fen": _f("int", writers=()),
        "covered": _f("bool", writers=()),
        "sealed_by": _f("uuid", writers=()),
    },
    create_roles=_FIELD,
    scope=VIA_VISIT,
    change_rules=(_required_on_creation("item", "quantity"), _bounded, not_sealed, _visit_not_sealed),
    row_rules=(part_price,),
)

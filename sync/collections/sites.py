"""Sites, their devices, and the checklist templates of device kinds (shared by every site)."""

from __future__ import annotations

import json
from typing import Any

from ..collection import Collection, Scope
from ..fields import ADDRESS_LIMIT, SUPERVISOR
from ..fields import field as _f

S = SUPERVISOR
_ALL = ("technician", SUPERVISOR)

SITES = Collection(
    "sites",
    {
        "customer": _f("text"),
        "name": _f("text"),
        "address": _f("text", max_length=ADDRESS_LIMIT),
        "zone": _f("enum", "urban", "suburban"),
        "tz": _f("text"),
        "contract": _f("enum", "annual", "per_visit", "warranty"),
        "accepted_on": _f("date"),
        "warranty_months": _f("int"),
        "contract_price_fen": _f("int"),  # the maintenance contract's price per year (issue 13)
    },
    create_roles=(S,),
    scope=Scope(site="self"),
)

DEVICES = Collection(
    "devices",
    {
        "site_id": _f("uuid", parent="sites"),
        "system": _f("enum", "video", "access", "network", "broadcast", "telephone", "alarm"),
        "kind": _f("text"),
        "code": _f("text"),
        "name": _f("text"),
        "location": _f("text", writers=_ALL),
        "serial_no": _f("text", writers=_ALL),
        "model": _f("text", writers=_ALL),
        "installed_on": _f("date"),
        "status": _f("enum", "active", "retired"),
        # The device's own warranty, where the manufacturer's differs from the site's (issue 12).
        "warranty_from": _f("date"),
        "warranty_months": _f("int"),
    },
    create_roles=(S,),
    scope=Scope(site="site_id"),
)

CHECKLIST_TEMPLATES = Collection(
    "checklist_templates",
    {"kind": _f("text"), "title": _f("text"), "items": _f("items")},
    create_roles=(S,),
    scope=Scope(site="global"),
)


def template_items(items: object) -> list[dict[str, Any]] | None:
    """A template's checklist items as `[{"key", "label", "label_zh", "type"}]`, from its `items`
    field (JSON text) or the list it holds; None when they cannot be read (the template is left out).

    `label_zh` is None when the template has none.
    """
    try:
        parsed: Any = json.loads(items or "[]") if isinstance(items, (str, type(None))) else items
        return [
            {"key": item["key"], "label": item.get("label"), "label_zh": item.get("label_zh"), "type": item["type"]}
            for item in parsed
        ]
    except (ValueError, KeyError, TypeError, AttributeError, RecursionError):
        return None


def item_types(items: object) -> dict[str, str] | None:
    """{key: type} of a template's items (what a check of a device of its kind may record); None as above."""
    parsed = template_items(items)
    return None if parsed is None else {item["key"]: item["type"] for item in parsed}

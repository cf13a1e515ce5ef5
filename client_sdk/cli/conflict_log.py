"""The server's conflict log as the technician reads it (`conflicts`): rows named as people know them, a
field and a value in the CLI's language (the console's words in Chinese), times on the site's clock."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from functools import partial
from typing import Any, TextIO

from sync.messages.values import GROUPS
from sync.periods import site_zone
from sync.schema import COLLECTIONS

from ..client import Client
from ..labels import zones
from .messages import MESSAGES, _say, _text, field_name, value


def local_value(collection: str, name: str, value: Any, zone: Any) -> Any:
    """A field's value as the technician reads it: a time on the site's clock, not the wire's UTC."""
    spec = COLLECTIONS.get(collection)
    kind = spec.field(name) if spec is not None else None
    if kind is not None and kind.type == "timestamp" and isinstance(value, str):
        try:
            return datetime.fromisoformat(value).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S")
        except ValueError:
            return value
    return value


def _value(stored: Any, collection: str, name: str, zone: Any, items: Mapping[str, str]) -> str:
    """A logged value of `collection`'s field or register `name` as a person reads it: yes/no, one of the field's
    listed choices by its words (`value`: 故障 in Chinese), quoted text, a time on the site's clock (`zone`), a
    group's fields one after another, each after its name (`field_name`, a checklist item's from `items`)."""
    if stored is None:
        return MESSAGES["value_empty"]
    if isinstance(stored, bool):
        return MESSAGES["value_yes" if stored else "value_no"]
    if isinstance(stored, dict):
        return MESSAGES["value_sep"].join(
            _text("value_field", field=field_name(str(k), items), value=_value(v, collection, str(k), zone, items))
            for k, v in stored.items() if v is not None)
    group = GROUPS.get(f"{collection}.{name}")
    spec = COLLECTIONS[collection].field(name) if group and collection in COLLECTIONS else None
    if spec is not None and isinstance(stored, str) and stored in spec.choices:
        return value(group or "", stored)
    stored = local_value(collection, name, stored, zone)
    return _text("value_text", text=stored) if isinstance(stored, str) else str(stored)


def _item_words(client: Client) -> dict[str, str]:
    """Each checklist item's words by its key, as the console names an item's register (its Chinese label first)."""
    return {i["key"]: str(i["label_zh"] or i["label"] or i["key"])
            for found in client.checklists().values() for i in found}


def print_conflicts(client: Client, out: TextIO) -> None:
    """The server's entries that concern this user, rows named as people know them, times in the site's zone;
    entries where both sides wrote the same value are only counted."""
    found = client.conflicts()
    shown = [c for c in found if not c.no_op]
    _say(out, "conflicts_count" if shown else "no_conflicts", count=len(shown))
    held, items = zones(client.db), _item_words(client)
    for c in shown:
        other = c.other_user or c.other_client_id or MESSAGES["unknown"]
        old, new = c.old_value, c.new_value
        if isinstance(old, dict) and isinstance(new, dict):  # a group: only the fields that differ, both sides
            # in the schema's order (outcome, note, … as the console and the sheet list them)
            order = list(COLLECTIONS[c.collection].fields) if c.collection in COLLECTIONS else []
            ranked = sorted({*old, *new}, key=lambda k: (order.index(k) if k in order else len(order), k))
            old, new = ({k: side[k] for k in ranked if k in side and json.dumps(old.get(k)) != json.dumps(new.get(k))}
                        for side in (old, new))
        zone = held.get(c.site_id or "", site_zone(None))
        said = partial(_value, collection=c.collection, name=str(c.register or ""), zone=zone, items=items)
        if c.kind in ("lost", "overwritten"):
            text = _text(f"conflict_{c.kind}", new=said(new), old=said(old), other=other)
        else:
            text = _text("conflict_rejected", reason=value("conflict_reason", c.reason), text=c.detail or said(new))
        at = datetime.fromisoformat(c.at).astimezone(zone)
        _say(out, "conflict_line", at=at.strftime("%Y-%m-%d %H:%M"), kind=MESSAGES[f"conflict_kind_{c.kind}"],
             row=c.label or f"{c.collection} {c.row_id[:8]}", register=field_name(c.register, items) if c.register else "",
             detail=text)
    if len(found) > len(shown):
        _say(out, "conflict_same", count=len(found) - len(shown))

"""`check --item`: a checklist item named as the technician reads it on the sheet and the console, by its key
(`lens_cleaned`) or its label in either language (`镜头已擦拭`, `Lens wiped clean`), and its value typed by the
item's type in his device's checklist: a yes/no item takes 是/否, yes/no or true/false and goes out a boolean, a
number item a whole number, a text item text within the contract's bound (`DEVICE_CHECKS`' item values).

Only the checklist says what an item is, so a device whose kind has no checklist on the phone takes no item:
nothing is guessed (before session 32 `key=是` was sent as the text 是 there), and the refusal says to sync.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from sync import schema
from sync.wire import Scalar

from .common import _shown, _UserError
from .messages import MESSAGES, _text, value

_INT = re.compile(r"-?[0-9]+\Z")
_ITEM = schema.COLLECTIONS["device_checks"].open_field  # an `item.<key>` field
TEXT_LIMIT = _ITEM.limit if _ITEM is not None else None


def _same(text: str) -> str:
    """A name as compared: full-width forms as their narrow ones (NFKC: `，` is `,`), caseless, spaces as one."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def item_label(item: Mapping[str, Any]) -> str:
    """An item's label in the CLI's language (the English one where the template has no Chinese)."""
    return str((item.get("label_zh") if MESSAGES.lang == "zh" else None) or item.get("label") or item["key"])


def listed_item(item: Mapping[str, Any]) -> str:
    """`lens_cleaned (Lens wiped clean, yes/no)`: an item as a refusal lists it."""
    return _text("item_listed", key=item["key"], label=item_label(item), type=MESSAGES[f"item_type_{item['type']}"])


def _found(name: str, template: Sequence[Mapping[str, Any]], kind: str) -> Mapping[str, Any] | None:
    """The item of `template` that `name` names: by key (`item.` before it or not, caseless: keys are lower
    case), else by a label in either language. None: none does. Two items of one label: refused, with both keys."""
    key = _same(name).removeprefix("item.")
    for item in template:
        if item["key"] == key:
            return item
    wanted = _same(name)
    named = [item for item in template if wanted in {_same(str(item.get(k) or "")) for k in ("label", "label_zh")}]
    if len(named) > 1:
        raise _UserError(_text("ambiguous_item", name=name, kind=value("kind", kind),
                               keys=MESSAGES["value_sep"].join(str(item["key"]) for item in named)))
    return named[0] if named else None


def _typed(name: str, text: str, item_type: str) -> Scalar:
    """`text` as a value of `item_type`, or the refusal naming the item as typed."""
    if item_type == "bool":
        answer = schema.yes_no(text)
        if answer is None:
            raise _UserError(_text("bad_yes_no", key=name, value=text))
        return answer
    if item_type == "int":
        if not _INT.match(text):
            raise _UserError(_text("bad_int", key=name, value=text))
        return int(text)
    if TEXT_LIMIT is not None and len(text) > TEXT_LIMIT:
        raise _UserError(_text("item_too_long", key=name, limit=TEXT_LIMIT, length=len(text)))
    return text


def _pairs(pairs: Sequence[str], names: set[str]) -> list[tuple[str, str]]:
    """(name, value) of each `name=value`: split at the first `=` unless a later one ends a name of `names` (a
    label holding `=`)."""
    parsed = []
    for pair in pairs:
        cuts = [i for i, c in enumerate(pair) if c == "="]
        if not cuts or not pair[:cuts[0]].strip():
            raise _UserError(_text("bad_item", item=pair))
        cut = next((i for i in cuts if _same(pair[:i]) in names), cuts[0])
        parsed.append((pair[:cut].strip(), pair[cut + 1:].strip()))
    return parsed


def items(pairs: Sequence[str], devices: Sequence[dict[str, Any]],
          checklists: Mapping[str, list[dict[str, Any]]]) -> dict[str, dict[str, Scalar]]:
    """`name=value` pairs for each device (by id), the item found and its value typed in the checklist of the
    device's kind: two kinds may give one key different types (`screws` a count for one, text for another). An
    unknown name is refused with the checklist's items, a device whose kind has no checklist with what to do."""
    if not pairs:
        return {}
    kinds: dict[str, list[dict[str, Any]]] = {}
    for device in devices:
        kinds.setdefault(str(device["fields"].get("kind")), []).append(device)
    names = {_same(str(item.get(k) or "")) for kind in kinds for item in checklists.get(kind, ())
             for k in ("key", "label", "label_zh")}
    parsed = _pairs(pairs, names)
    found: dict[str, dict[str, Scalar]] = {}
    for kind, of_kind in kinds.items():
        codes = _shown([str(d["fields"].get("code") or d["id"]) for d in of_kind], 3)
        template = checklists.get(kind)
        if template is None:
            raise _UserError(_text("no_checklist_items", devices=codes, kind=value("kind", kind)))
        typed: dict[str, Scalar] = {}
        for name, text in parsed:
            item = _found(name, template, kind)
            if item is None:
                raise _UserError(_text("unknown_item", key=name, kind=value("kind", kind), devices=codes,
                                       valid=MESSAGES["value_sep"].join(map(listed_item, template)) or "-"))
            typed[str(item["key"])] = _typed(name, text, str(item["type"]))
        found.update(dict.fromkeys((d["id"] for d in of_kind), typed))
    return found

"""`check --item`: a checklist item named as the technician reads it on the sheet and the console, by its key
(`lens_cleaned`) or its label in either language (`镜头已擦拭`, `Lens wiped clean`), and its value typed by the
item's type in his device's checklist: a yes/no item takes 是/否, yes/no or true/false and goes out a boolean, a
number item a whole number, a text item text within the contract's bound (`DEVICE_CHECKS`' item values).

A device whose kind has no checklist on the phone (the office may have none: `kind` is free text, a UPS, an
intercom) takes any item by its key, as the contract's "a device whose kind has no template accepts any scalar
item" (docs/sync-protocol.md): a yes/no word (是/否, yes/no, true/false) goes out a boolean, a whole number an
integer, anything else text within the same bound.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from typing import Any

from sync import schema
from sync.fields import ITEM_KEY
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


def _typed(name: str, text: str, item_type: str | None) -> Scalar:
    """`text` as a value of `item_type` (None: no checklist says; a yes/no word or a whole number is taken
    for one, anything else is text), or the refusal naming the item as typed. A yes/no or a number is read
    after NFKC (a Chinese input method's full-width `ｙｅｓ`, `１２０００`); text is kept as typed."""
    narrow = unicodedata.normalize("NFKC", text)
    if item_type in ("bool", None) and (answer := schema.yes_no(narrow)) is not None:
        return answer
    if item_type == "bool":
        raise _UserError(_text("bad_yes_no", key=name, value=text))
    if item_type in ("int", None) and _INT.match(narrow.strip()):
        return int(narrow)  # past the wire's safe integers: refused by the record-time check, naming the device
    if item_type == "int":
        raise _UserError(_text("bad_int", key=name, value=text))
    if TEXT_LIMIT is not None and len(text) > TEXT_LIMIT:
        raise _UserError(_text("item_too_long", key=name, limit=TEXT_LIMIT, length=len(text)))
    return text


def _pairs(pairs: Sequence[str], names: set[str]) -> list[tuple[str, str]]:
    """(name, value) of each `name=value`: split at the first `=` unless a later one ends a name of `names` (a
    label holding `=`); only cuts within twice the longest name (and an `item.` before it: room for spaces typed
    twice) are tried, so an argument full of `=` costs one pass, not a comparison a cut (review of phone32)."""
    parsed = []
    reach = 2 * (max(map(len, names), default=0) + len("item."))
    for pair in pairs:
        first = pair.find("=")
        if first < 0 or not pair[:first].strip():
            raise _UserError(_text("bad_item", item=pair))
        cuts = (i for i in range(first, min(len(pair), reach + 1)) if pair[i] == "=")
        cut = next((i for i in cuts if _same(pair[:i]) in names), first)
        parsed.append((pair[:cut].strip(), pair[cut + 1:].strip()))
    return parsed


def items(pairs: Sequence[str], devices: Sequence[dict[str, Any]],
          checklists: Mapping[str, list[dict[str, Any]]]) -> dict[str, dict[str, Scalar]]:
    """`name=value` pairs for each device (by id), the item found and its value typed in the checklist of the
    device's kind: two kinds may give one key different types (`screws` a count for one, text for another). An
    unknown name is refused with the checklist's items; a device whose kind has no checklist takes any key."""
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
        typed: dict[str, Scalar] = {}
        for name, text in parsed:
            if template is None:  # no checklist says what an item is: any key, its value taken as typed
                key, item_type = _same(name).removeprefix("item."), None
                if not ITEM_KEY.match("item." + key):
                    raise _UserError(_text("free_item_key", kind=value("kind", kind), key=name))
            elif (item := _found(name, template, kind)) is None:
                raise _UserError(_text("unknown_item", key=name, kind=value("kind", kind), devices=codes,
                                       valid=MESSAGES["value_sep"].join(map(listed_item, template)) or "-"))
            else:
                key, item_type = str(item["key"]), str(item["type"])
            typed[key] = _typed(name, text, item_type)
        found.update(dict.fromkeys((d["id"] for d in of_kind), typed))
    return found

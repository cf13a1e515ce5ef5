"""Every text fieldsync shows a person, in one catalogue: the console, the printed sheets, the phone's CLI.

The catalogue is in sections, one module each, because the same word can
differ by where it is read (the sheet's 客户单位 is the console's 客户):

- `values`: the words for the schema's stored values (`outcome.fault` is 故障
  everywhere it is shown), Chinese and English;
- `clocks`: a milestone's one-line explanation (the API's English, the sheet's
  Chinese, the console's in the page's language);
- `sheets`: the printed sheets, Chinese only (the customer's copy);
- `console`: the office console, Chinese first, English beside it;
- `cli`: `fieldsync-client`, Chinese (`cli_zh.py`) and English, the language the phone
  chooses (`client_sdk/cli/messages.py`; but for the sheets the customer reads on the
  phone before signing, which are `sheets`' words);
- `problems`: a problem's detail a person acts on as the API answers it (curl, the
  phone's CLI printing it), English.

A section's table in a language falls back to its Chinese table key by key,
so a missing translation shows Chinese rather than nothing;
`tests/sync/test_messages.py` keeps the tables complete.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import ModuleType

from . import cli, clocks, console, problems, sheets, values

LANGS = ("zh", "en")
DEFAULT_LANG = "zh"
SECTIONS: dict[str, ModuleType] = {"values": values, "clocks": clocks, "sheets": sheets, "console": console,
                                   "cli": cli, "problems": problems}


def _table(section: str, lang: str) -> dict[str, str]:
    found: dict[str, str] = getattr(SECTIONS[section], lang.upper(), {})
    return found


def words(section: str, lang: str = DEFAULT_LANG) -> Mapping[str, str]:
    """A section's words in `lang`, each missing one in Chinese (then English, for a section without Chinese)."""
    lang = lang if lang in LANGS else DEFAULT_LANG
    merged = {**_table(section, "en"), **_table(section, "zh")}
    return {**merged, **_table(section, lang)}


_VALUES = {lang: words("values", lang) for lang in LANGS}


def label(group: str, value: object, lang: str = DEFAULT_LANG) -> str:
    """The words for a stored value (`label("outcome", "fault")` is 故障), else the value as stored."""
    return _VALUES.get(lang, _VALUES[DEFAULT_LANG]).get(f"{group}.{value}", str(value))


def language(*wanted: str | None) -> str:
    """The first of `wanted` that is a language the catalogue has (`?lang=`, then a cookie), else Chinese."""
    for one in wanted:
        if one in LANGS:
            return one
    return DEFAULT_LANG

"""What `fieldsync-client` prints comes from the one catalogue (`sync/messages/cli.py`, in Chinese and
English); here is which language it speaks, and the formatting that lines up columns of CJK text by
display width.

The language, as command-line tools choose theirs: `--lang`, else `FIELDSYNC_LANG` (`zh` or `en`), else
the locale (the first of `LC_ALL`, `LC_MESSAGES`, `LANG` that is set: `zh…` is Chinese), else English.
`MESSAGES` is one table that `use(lang)` switches, so every module that imported it speaks the chosen
language. The server's problem details (`problems`, English) and the customer's screens (`sheet`,
`visit-sheet`, the printed sheet's Chinese) keep their own rules.
"""

from __future__ import annotations

import argparse
import re
import string
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TextIO

from sync.messages import label, words

LANGS = ("zh", "en")
FALLBACK = "en"  # no option, no FIELDSYNC_LANG, no Chinese locale: the C locale of a server or a test


def _named(text: str | None) -> str | None:
    """`zh`, `zh_CN.UTF-8`, `zh-Hans` are Chinese; `en…` English; anything else names no language here."""
    lowered = (text or "").strip().lower()
    return next((lang for lang in LANGS if lowered.startswith(lang)), None)


def choose(option: str | None, environ: Mapping[str, str]) -> str:
    """The CLI's language: the option, else `FIELDSYNC_LANG`, else the locale's, else English."""
    for wanted in (option, environ.get("FIELDSYNC_LANG")):
        found = _named(wanted)
        if found is not None:
            return found
    locale = next((environ[name] for name in ("LC_ALL", "LC_MESSAGES", "LANG") if environ.get(name)), "")
    return "zh" if _named(locale) == "zh" else FALLBACK


class _Messages(Mapping[str, str]):
    """The `cli` section in the language in use; `use` switches it for the whole process."""

    def __init__(self, lang: str) -> None:
        self.lang = lang
        self._tables = {one: words("cli", one) for one in LANGS}

    def use(self, lang: str) -> str:
        """Speak `lang` from now on; returns the language spoken before (to restore it)."""
        before, self.lang = self.lang, lang if lang in LANGS else FALLBACK
        return before

    def __getitem__(self, key: str) -> str:
        return self._tables[self.lang][key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables[self.lang])

    def __len__(self) -> int:
        return len(self._tables[self.lang])


MESSAGES = _Messages(FALLBACK)


def value(group: str, stored: object) -> str:
    """A stored value as the technician reads it: its Chinese words (`outcome.fault` is 故障) in Chinese;
    in English the value as stored, which is also what the commands take (`--outcome fault`)."""
    return label(group, stored, "zh") if MESSAGES.lang == "zh" else str(stored)


def listed_choices(group: str, choices: Sequence[str]) -> str:
    """Each choice beside its words (`fault 故障`), as the help and a refused choice list them."""
    return MESSAGES["help_choice_sep"].join(MESSAGES["help_choice"].format(value=c, words=value(group, c))
                                            for c in choices)


class Choice:
    """An option's `type=` that takes one of its `choices` as stored or by its Chinese words (故障 for
    `fault`, the words `value` shows and the Chinese help lists), in either language, trimmed and caseless as
    a yes/no item's answer (`schema.yes_no`), and gives the stored value: argparse converts before it checks
    the choices, so nothing after the parser (the database, the wire) meets a Chinese choice. Anything else
    is refused in the CLI's language, each choice with its words in Chinese; in English as argparse says it."""

    def __init__(self, group: str, choices: Sequence[str]) -> None:
        self.group, self.choices = group, tuple(choices)
        self._taken = {typed.casefold(): choice for choice in self.choices
                       for typed in (choice, label(group, choice, "zh"))}

    def __call__(self, text: str) -> str:
        found = self._taken.get(text.strip().casefold())
        if found is None:
            listed = (listed_choices(self.group, self.choices) if MESSAGES.lang == "zh"
                      else ", ".join(map(repr, self.choices)))
            raise argparse.ArgumentTypeError(_text("bad_choice", value=text, choices=listed))
        return found


# argparse's own lines a command line can cause, by the catalogue's key: the English is argparse's message as
# Python 3.11 spells it (its gettext msgid, `%` placeholders that argparse fills), the Chinese the catalogue's.
ARGPARSE = ("argparse_error", "argparse_argument", "argparse_required", "argparse_one_required",
            "argparse_unrecognized", "argparse_not_allowed", "argparse_ignored", "argparse_ambiguous",
            "argparse_one", "argparse_at_most_one", "argparse_at_least_one", "argparse_n", "argparse_n_plural",
            "argparse_invalid_type", "argparse_invalid_choice")


_ARGPARSE_KEYS = {words("cli", "en")[key]: key for key in ARGPARSE}


def _argparse_gettext(message: str) -> str:
    key = _ARGPARSE_KEYS.get(message)
    return message if key is None or MESSAGES.lang != "zh" else MESSAGES[key]


def _argparse_ngettext(singular: str, plural: str, n: int) -> str:
    return _argparse_gettext(singular if n == 1 else plural)


@contextmanager
def argparse_words() -> Iterator[None]:
    """argparse's own error lines (a missing argument, an unknown option, `invalid int value`) in the CLI's
    language while a command line is parsed. argparse writes them through its module's gettext hooks, `_` and
    `ngettext`, looked up at each call: they are swapped here for the parse only (and put back however it
    ends, `SystemExit` included), giving the catalogue's Chinese for a message it knows and the message
    unchanged otherwise (English, or a message a later Python words differently). Not `ArgumentParser.error`,
    which is handed the line already joined in English; not `gettext.textdomain`, which is the process's."""
    saved = argparse._, argparse.ngettext  # type: ignore[attr-defined]
    argparse._, argparse.ngettext = _argparse_gettext, _argparse_ngettext  # type: ignore[attr-defined]
    try:
        yield
    finally:
        argparse._, argparse.ngettext = saved  # type: ignore[attr-defined]


def field_name(name: str, items: Mapping[str, str] | None = None) -> str:
    """A field's (a conflict-log register's) name as the technician reads it: in Chinese the catalogue's words,
    as the console names it (`result` is 检查结果, `note` 备注), a checklist item (`item.lens_cleaned`) by its
    template's words in `items` (key: words); in English as stored, the name the wire and `outbox` use."""
    if MESSAGES.lang != "zh":
        return name
    if name.startswith("item."):
        return (items or {}).get(name[5:], name[5:])
    return label("field", name, "zh")


def collection_name(collection: str) -> str:
    """A collection as the technician reads it: in Chinese as the console names its rows (`device_checks` is
    检查记录), in English as stored."""
    return MESSAGES.get(f"collection_{collection}", collection)


_CLOCKS = {lang: words("clocks", lang) for lang in LANGS}


def clock_words() -> Mapping[str, str]:
    """The service clocks' words (a duration, a milestone's explanation) in the language in use."""
    return _CLOCKS[MESSAGES.lang]


def display_width(text: str) -> int:
    """Terminal columns of a text: wide and full-width characters (CJK) take two, combining marks none."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
        for c in text
    )


def pad(text: str, width: int, align: str = "<") -> str:
    """`text` padded with spaces to `width` terminal columns (never cut)."""
    room = max(width - display_width(text), 0)
    if align == ">":
        return " " * room + text
    if align == "^":
        return " " * (room // 2) + text + " " * (room - room // 2)
    return text + " " * room



_NOT_FIRST = frozenset("，。；：、！？）」』”’》")  # closing punctuation: never at the start of a line
_NOT_LAST = frozenset("（「『“‘《")  # opening punctuation: never at the end of one


def _units(text: str) -> list[str]:
    """What a line may break between: a space, a word of narrow characters, a wide character (with the
    punctuation that must stay beside it)."""
    units: list[str] = []
    for c in text:
        wide = unicodedata.east_asian_width(c) in ("W", "F")
        last = units[-1] if units else ""
        glue = (c in _NOT_FIRST or (last and last[-1] in _NOT_LAST)
                or (not wide and not c.isspace() and last and not last[-1].isspace()
                    and unicodedata.east_asian_width(last[-1]) not in ("W", "F")))
        if units and glue and not c.isspace():
            units[-1] += c
        else:
            units.append(c)
    return units


def wrap(text: str, width: int) -> list[str]:
    """`text` in lines of at most `width` terminal columns (a longer word stands alone): `textwrap`
    counts characters, so Chinese help wrapped by it ran twice as wide as the terminal."""
    lines: list[str] = []
    line = ""
    for unit in _units(" ".join(text.split())):
        if unit == " ":
            line += unit if line else ""
            continue
        if line.strip() and display_width(line + unit) > width:
            lines.append(line.rstrip())
            line = unit
        else:
            line += unit
    if line.strip():
        lines.append(line.rstrip())
    return lines

_WIDTH_SPEC = re.compile(r"([<>^]?)([0-9]+)\Z")


class _Formatter(string.Formatter):
    """`str.format`, but `{name:<24}` pads text by display width, so CJK columns line up."""

    def format_field(self, value: Any, format_spec: str) -> str:
        spec = _WIDTH_SPEC.match(format_spec)
        if isinstance(value, str) and spec is not None:
            return pad(value, int(spec.group(2)), spec.group(1) or "<")
        return str(super().format_field(value, format_spec))


_FORMAT = _Formatter()


def _text(message: str, /, **values: Any) -> str:
    return _FORMAT.format(MESSAGES[message], **values)


def _say(out: TextIO, message: str, /, **values: Any) -> None:
    print(_text(message, **values), file=out)

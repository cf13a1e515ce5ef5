"""What `fieldsync-client` prints comes from the one catalogue (`sync/messages/cli.py`); here is the
formatting that lines up columns of CJK text by display width."""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Mapping
from typing import Any, TextIO

from sync.messages import words

MESSAGES: Mapping[str, str] = words("cli", "en")


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

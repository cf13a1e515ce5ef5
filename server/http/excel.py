"""CSV for the office's spreadsheets (reports and logs with `format=csv`): UTF-8 with a BOM, so
Excel opens Chinese intact, and client text never read as a formula. One copy for every domain."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # what starts a formula in Excel (OWASP, CSV injection)


def cell(value: object) -> object:
    """A value as a CSV cell: text a spreadsheet would run as a formula (`=HYPERLINK(...)` as a
    caller's name) starts with an apostrophe, so Excel shows it as text; None is an empty cell."""
    return f"'{value}" if isinstance(value, str) and value[:1] in _FORMULA else value


def excel_csv(header: Sequence[str], rows: Iterable[Iterable[object]]) -> bytes:
    """The rows under their header, each value through `cell`, as UTF-8 with a BOM."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([cell(value) for value in row] for row in rows)
    return out.getvalue().encode("utf-8-sig")

"""The customer archive's spreadsheet read into rows of device fields (issue 14).

An .xlsx (its first sheet) or a CSV in UTF-8, with or without a BOM, or GB18030 (what Excel
saves on a Chinese Windows). The first non-empty row names the columns, in English or Chinese
(`fixtures/archive_columns.json`); Chinese names of systems and kinds become the schema's values.
Everything is bounded before it is read further: the file's bytes, an .xlsx's unzipped bytes, the
rows and the columns. What a cell may hold is the collection's own rule, checked later.
"""

from __future__ import annotations

import csv
import io
import re
import warnings
import zipfile
from datetime import date, datetime
from functools import cache
from typing import Any, NamedTuple

from sync import errors as E
from sync.errors import InvalidImport

from ...datafiles import fixture

MAX_IMPORT_BYTES = 5 * 1024 * 1024  # the file; the reference site's 300 devices are about 40 KB
MAX_UNZIPPED_BYTES = 50 * 1024 * 1024  # an .xlsx's parts, unzipped (a zip bomb stops here)
MAX_IMPORT_ROWS = 5_000  # devices in one file
MAX_COLUMNS = 50  # read of each row; columns beyond are ignored
_SHOWN = 60  # characters of a header quoted back
_DATE = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


class Sheet(NamedTuple):
    rows: list[tuple[int, dict[str, str]]]  # (row number as the spreadsheet shows it, {field: value})
    ignored: list[str]  # headers that name no column of the archive


@cache
def columns() -> dict[str, Any]:
    """`fixtures/archive_columns.json`, with each header in the form it is compared in."""
    data = fixture("archive_columns.json")
    data["by_header"] = {_key(h): name for name, headers in data["headers"].items() for h in headers}
    return dict(data)


def _key(header: str) -> str:
    return re.sub(r"[\s_\-]", "", header.lower())


def read_sheet(data: bytes) -> Sheet:
    """The rows of an .xlsx or CSV file; `InvalidImport` when it cannot be read as one."""
    if len(data) > MAX_IMPORT_BYTES:
        raise E.BodyTooLarge(f"the file is over {MAX_IMPORT_BYTES} bytes", limit=MAX_IMPORT_BYTES)
    table = _xlsx(data) if data.startswith(b"PK\x03\x04") else _csv(data)
    return _fields(table)


def _xlsx(data: bytes) -> list[list[Any]]:
    import openpyxl

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unzipped = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError) as exc:
        raise InvalidImport(f"not an .xlsx file: {exc}"[:200]) from None
    if unzipped > MAX_UNZIPPED_BYTES:
        raise InvalidImport(f"the workbook unzips to over {MAX_UNZIPPED_BYTES} bytes")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # openpyxl warns of styles and extensions it skips
            book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
            try:
                return _bounded(book.worksheets[0].iter_rows(max_col=MAX_COLUMNS, values_only=True))
            finally:
                book.close()
    except InvalidImport:
        raise
    except Exception as exc:  # a broken workbook raises whatever its parser meets; never a 500
        raise InvalidImport(f"the workbook cannot be read: {type(exc).__name__}") from None


def _csv(data: bytes) -> list[list[Any]]:
    if data.startswith(b"\xef\xbb\xbf"):
        text = _decoded(data[3:], "utf-8")
    else:
        text = _decoded(data, "utf-8") or _decoded(data, "gb18030")
    if text is None:
        raise InvalidImport("a CSV file is read as UTF-8 (with or without a BOM) or GB18030; this one is neither")
    try:
        return _bounded(row[:MAX_COLUMNS] for row in csv.reader(io.StringIO(text, newline="")))
    except csv.Error as exc:
        raise InvalidImport(f"not a CSV file: {exc}"[:200]) from None


def _decoded(data: bytes, encoding: str) -> str | None:
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        return None


def _bounded(rows: Any) -> list[list[Any]]:
    table: list[list[Any]] = []
    for row in rows:
        table.append(list(row))
        if len(table) > MAX_IMPORT_ROWS + 1:  # the header row besides
            raise InvalidImport(f"the file has over {MAX_IMPORT_ROWS} rows; split it by system")
    return table


def _fields(table: list[list[Any]]) -> Sheet:
    """Rows as {field: text}, numbered as the spreadsheet shows them; blank rows and cells left out."""
    known = columns()
    numbered = [(n, [_text(v) for v in row]) for n, row in enumerate(table, start=1)]
    numbered = [(n, row) for n, row in numbered if any(row)]
    if not numbered:
        raise InvalidImport("the file is empty")
    (_, header), body = numbered[0], numbered[1:]
    names: dict[int, str] = {}
    ignored: list[str] = []
    for i, title in enumerate(header):
        name = known["by_header"].get(_key(title))
        if name is None:
            if title:
                ignored.append(title[:_SHOWN])
        elif name in names.values():
            raise InvalidImport(f"two columns are {name}: {title[:_SHOWN]!r} and another")
        else:
            names[i] = name
    if "code" not in names.values():
        raise InvalidImport("the first row names no code column (code, 编号): it must, to know each device again")
    rows = []
    for n, row in body:
        fields = {name: _value(name, row[i]) for i, name in names.items() if i < len(row) and row[i]}
        rows.append((n, fields))
    return Sheet(rows, ignored)


def _text(value: object) -> str:
    """A cell as text: dates as ISO dates, whole numbers without `.0`, blanks as ''."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _value(name: str, text: str) -> str:
    """The schema's value for a cell: Chinese systems and kinds mapped, dates as YYYY-MM-DD."""
    if name in ("system", "kind"):
        return str(columns()[name].get(text, text))
    if name == "installed_on" and (found := _DATE.fullmatch(text)):
        year, month, day = found.groups()
        return f"{year}-{int(month):02d}-{int(day):02d}"
    return text

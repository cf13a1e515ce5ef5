"""The JSON files under `fixtures/` the server reads and an operator edits (service terms and their holiday
calendars, the duty rules, the fee schedules, the import's column names, the demo's data): read through one
helper, so a missing comma, a wrong type or a file that is not there is one line naming the file and where.

`fieldsync serve` reads them all before it binds its port (`check`): a mistake stops it there, not as a 500 at
the first request that prices a line or imports a spreadsheet."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sync.errors import SyncError

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


class DataFileError(Exception):
    """A file under fixtures/ that cannot be used: its name, where, and why (exit status 2)."""


def shown(path: Path) -> str:
    """The file as the operator knows it: `fixtures/duty.json`."""
    return f"fixtures/{path.name}" if path.parent.name == "fixtures" else str(path)


def read_json(path: Path) -> Any:
    """The file's JSON; DataFileError naming it, and the line and column of a typo."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise DataFileError(f"{shown(path)}: no such file") from None
    except IsADirectoryError:
        raise DataFileError(f"{shown(path)}: a directory, not a file") from None
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{shown(path)}: not UTF-8 at byte {exc.start}") from None
    except OSError as exc:
        raise DataFileError(f"{shown(path)}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise DataFileError(f"{shown(path)}: not JSON at line {exc.lineno} column {exc.colno}: {exc.msg}") from None


def fixture(name: str) -> Any:
    """`fixtures/NAME`'s JSON, from where FIXTURES points when called."""
    return read_json(FIXTURES / name)


@contextmanager
def about(name: str) -> Iterator[None]:
    """What a file's reader refuses (a wrong type, an unknown key, a missing one) as one line naming the file."""
    try:
        yield
    except DataFileError:
        raise
    except SyncError as exc:
        raise DataFileError(f"fixtures/{name}: {exc.detail}") from None
    except KeyError as exc:
        raise DataFileError(f"fixtures/{name}: {exc.args[0]!r} is missing") from None
    except ValueError as exc:
        raise DataFileError(f"fixtures/{name}: {str(exc)[:300]}") from None
    except (TypeError, AttributeError) as exc:  # a list where an object goes, a number where text does
        raise DataFileError(f"fixtures/{name}: a value of the wrong type ({str(exc)[:200]})") from None


def check() -> None:
    """Read and check every file the server serves from, as it will use them; DataFileError at the first wrong."""
    from sync.clocks import merge_terms

    from .domains.archive.spreadsheet import columns
    from .domains.billing.service import fee_book
    from .domains.duty import service as duty
    from .domains.service.service import terms_book

    def contracts() -> None:
        for name, raw in terms_book().data["contracts"].items():
            with about(f"service_terms.json: contracts.{name}"):
                merge_terms({}, raw)  # an unknown key (restore_hour) would otherwise be a term not promised
                terms_book().terms(name)

    readers: list[tuple[str, Callable[[], object]]] = [
        ("service_terms.json", contracts),
        ("service_terms.json", duty.calendars),
        ("duty.json", duty.duty_rules),
        ("fee_schedules.json", fee_book),
        ("archive_columns.json", columns),
    ]
    for name, reader in readers:
        with about(name):
            reader()

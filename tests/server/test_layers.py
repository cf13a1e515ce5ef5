"""Where code may live (issue 11): the HTTP layer and the domains speak no SQL and import no sqlite3.

A PostgreSQL backend then means adding `server/storage/postgresql/`, not
editing a service or a controller.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SERVER = Path(__file__).parents[2] / "server"
NO_SQL = sorted([*SERVER.joinpath("http").rglob("*.py"), *SERVER.joinpath("domains").rglob("*.py"),
                 SERVER / "app.py"])
# A statement as the storage modules write them; prose in docstrings ("select a photo") does not match.
SQL = re.compile(r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM)\b")


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add("." * node.level + (node.module or ""))
    return found


@pytest.mark.parametrize("path", NO_SQL, ids=lambda p: str(p.relative_to(SERVER)))
def test_no_sql_above_storage(path):
    assert "sqlite3" not in _imports(path)
    assert not SQL.search(path.read_text()), SQL.search(path.read_text())


def test_the_checks_find_sql_where_there_is_some():
    # The two checks above can fail: the storage modules they keep SQL in trip both.
    storage = SERVER / "storage" / "sqlite" / "backup.py"  # SQLite's own: the query modules take `Sql`
    assert "sqlite3" in _imports(storage) and SQL.search(storage.read_text())


def test_uploads_service_takes_plain_values():
    # The tus wire format (headers, Litestar's "client went away") is the controller's.
    imports = _imports(SERVER / "domains" / "media" / "uploads.py")
    assert not [name for name in imports if name.startswith("litestar")], imports


@pytest.mark.parametrize("path", sorted(SERVER.joinpath("domains").rglob("controller.py")),
                         ids=lambda p: str(p.relative_to(SERVER)))
def test_controllers_do_not_reach_into_storage(path):
    assert not [name for name in _imports(path) if "storage" in name]


STORAGE_SHARED = sorted(SERVER.joinpath("storage").glob("*.py"))


def _type_tests(path: Path) -> list[str]:
    """The `isinstance(…, sqlite3.X)` / `psycopg.X` tests of a module."""
    return [ast.unparse(node) for node in ast.walk(ast.parse(path.read_text()))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
            and any(isinstance(n, ast.Name) and n.id in ("sqlite3", "psycopg") for n in ast.walk(node.args[1]))]


@pytest.mark.parametrize("path", STORAGE_SHARED, ids=lambda p: str(p.relative_to(SERVER)))
def test_shared_query_modules_ask_the_dialect_not_the_connection_type(path: Path) -> None:
    # Regression (closing note, throttle): storage/throttle.py told PostgreSQL by `not isinstance(db,
    # sqlite3.Connection)` beside `writes.dialect(db)`, so any other connection passed for PostgreSQL.
    assert not _type_tests(path)


def test_the_type_test_check_finds_one(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    probe.write_text("import sqlite3\n\ndef f(db):\n    return not isinstance(db, (int, sqlite3.Connection))\n")
    assert _type_tests(probe) == ["isinstance(db, (int, sqlite3.Connection))"]

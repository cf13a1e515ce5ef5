"""The client's parts keep to their jobs (issue 11, item 4): checked on the source, so a
later change that breaks a rule fails here and not in a review."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "client_sdk"
MODULES = sorted(PACKAGE.rglob("*.py"))


def _imports(tree: ast.AST) -> set[str]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def _private_uses(tree: ast.AST, name: str) -> list[str]:
    """`name._x` attribute reads: another part's private API."""
    return [
        f"{name}.{node.attr}" for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == name
        and node.attr.startswith("_") and not node.attr.startswith("__")
    ]


def test_the_scan_sees_what_it_looks_for():
    tree = ast.parse("import sqlite3\nfrom os import path\nclient._wall()\nclient.wall()\n")
    assert _imports(tree) == {"sqlite3", "os"}
    assert _private_uses(tree, "client") == ["client._wall"]


def test_only_the_replica_imports_sqlite3():
    users = [m.relative_to(PACKAGE).as_posix() for m in MODULES if "sqlite3" in _imports(ast.parse(m.read_text()))]
    assert users == ["replica.py"]


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.relative_to(PACKAGE).as_posix())
def test_no_module_is_over_500_lines(module):
    assert len(module.read_text().splitlines()) <= 500


def test_media_uses_the_client_through_its_public_methods():
    found = {
        m.name: _private_uses(ast.parse(m.read_text()), "client") for m in sorted((PACKAGE / "media").glob("*.py"))
    }
    assert found == {m: [] for m in found} and len(found) == 4


def test_the_client_never_imports_the_server():
    # The two ends meet only through the protocol and `sync/` (docs/architecture.md).
    users = [m.relative_to(PACKAGE).as_posix() for m in MODULES if "server" in _imports(ast.parse(m.read_text()))]
    assert users == []
    assert "server" in _imports(ast.parse("from server.app import create_app\n"))  # the scan would see one

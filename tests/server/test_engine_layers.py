"""The server's layers (issue 11): SQL stays in `server/storage/`, the engine knows no domain,
and no module grows past 500 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import server

SERVER = Path(server.__file__).parent


def _imported(path: Path) -> set[str]:
    """Every module a source imports, relative imports resolved against the `server` package."""
    package = ["server", *path.parent.relative_to(SERVER).parts]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[:len(package) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            names |= {module, *(f"{module}.{alias.name}" for alias in node.names)}
    return names


def _sources(under: Path = SERVER) -> dict[str, set[str]]:
    return {str(p.relative_to(SERVER)): _imported(p) for p in sorted(under.rglob("*.py"))}


def test_only_storage_imports_sqlite3():
    offenders = {name for name, imported in _sources().items() if "sqlite3" in imported
                 and not name.startswith("storage/")}
    assert offenders == set()
    assert any("sqlite3" in imported for name, imported in _sources().items() if name.startswith("storage/"))


def test_the_engine_imports_no_domain_but_identity():
    imported = set().union(*_sources(SERVER / "engine").values())
    domains = {name for name in imported if name.startswith("server.domains.")
               and not name.startswith("server.domains.identity")}
    assert domains == set()
    assert "server.storage.writes.Transaction" in imported  # the scan resolves relative imports


def test_no_module_is_over_500_lines():
    lengths = {str(p.relative_to(SERVER.parent)): len(p.read_text(encoding="utf-8").splitlines())
               for root in ("server", "sync") for p in (SERVER.parent / root).rglob("*.py")}
    assert {name: n for name, n in lengths.items() if n > 500} == {}
    assert len(lengths) > 40

"""`sync` is pure: importing it loads no I/O library, and its sources import none."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import sync

IO_MODULES = ("sqlite3", "socket", "litestar", "httpx", "aiosqlite", "PIL", "asyncio", "ssl",
              "http.client", "urllib.request")
SYNC_DIR = Path(sync.__file__).parent


def _is_io(name: str) -> bool:
    return any(name == io or name.startswith(io + ".") for io in IO_MODULES)


def test_importing_sync_loads_no_io_module():
    code = ("import sys, json, sync, sync.merge, sync.wire, sync.hlc, sync.schema, sync.errors, sync.canonical,"
            " sync.periods, sync.fields, sync.collection, sync.collections.sites, sync.collections.inspections,"
            " sync.collections.media, sync.rules, sync.clocks, sync.workhours, sync.warranty;"
            " print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=SYNC_DIR.parent)
    loaded = json.loads(out.stdout)
    assert {"sync.merge", "sync.clocks", "sync.warranty"} <= set(loaded)  # the probe really imported them
    assert sorted(name for name in loaded if _is_io(name)) == []


def _imports(tree: ast.AST) -> list[str]:
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.append(node.module)
            names += [f"{node.module}.{alias.name}" for alias in node.names]
        elif (isinstance(node, ast.Call) and isinstance(node.func, (ast.Name, ast.Attribute))
              and getattr(node.func, "id", getattr(node.func, "attr", "")) in ("__import__", "import_module")
              and node.args and isinstance(node.args[0], ast.Constant)):
            names.append(str(node.args[0].value))
    return names


def test_sync_sources_import_no_io_module():
    sources = sorted(SYNC_DIR.rglob("*.py"))
    assert len(sources) >= 7
    offenders = {
        str(path.relative_to(SYNC_DIR)): bad
        for path in sources
        if (bad := [name for name in _imports(ast.parse(path.read_text(encoding="utf-8"))) if _is_io(name)])
    }
    assert offenders == {}


def test_the_import_scan_sees_io_imports():
    # The scanner must be able to fail: it finds each form of import it checks for.
    tree = ast.parse("import sqlite3\nfrom http.client import HTTPConnection\nimport os.path\n"
                     "__import__('socket')\nfrom urllib import request\n")
    found = sorted(name for name in _imports(tree) if _is_io(name))
    assert found == ["http.client", "http.client.HTTPConnection", "socket", "sqlite3", "urllib.request"]

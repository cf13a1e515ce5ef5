"""Every endpoint and every command is documented (a new one without docs fails here)."""

import contextlib
import re
from pathlib import Path

from server.app import create_app
from server.cli import main as server_main
from server.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
DOCS = "\n".join(p.read_text(encoding="utf-8") for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))])


def _documented_path(path: str) -> str:
    return re.sub(r"\{(\w+):\w+\}", r"{\1}", path)


def test_every_route_is_documented(tmp_path):
    app = create_app(Settings(data_dir=tmp_path))
    missing = []
    for route in app.routes:
        if route.path.startswith("/schema"):
            continue
        for method in sorted(getattr(route, "methods", set()) - {"HEAD", "OPTIONS"}):
            if f"{method} {_documented_path(route.path)}" not in DOCS:
                missing.append(f"{method} {route.path}")
    assert missing == []


def _subcommands(parser_main) -> set[str]:
    import argparse

    found: set[str] = set()
    original = argparse.ArgumentParser.parse_args

    def capture(self, args=None, namespace=None):
        for action in self._actions:
            if isinstance(action, argparse._SubParsersAction):
                found.update(action.choices)
        raise SystemExit(0)

    argparse.ArgumentParser.parse_args = capture  # type: ignore[method-assign]
    try:
        with contextlib.suppress(SystemExit):
            parser_main(["--help"])
    finally:
        argparse.ArgumentParser.parse_args = original  # type: ignore[method-assign]
    return found


def test_every_command_is_in_the_readme():
    from client_sdk.cli import main as client_main

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [f"fieldsync {c}" for c in _subcommands(server_main) if f"fieldsync {c}" not in readme]
    missing += [f"fieldsync-client {c}" for c in _subcommands(client_main) if f"fieldsync-client {c}" not in readme]
    assert missing == []


def _collections_table() -> dict[str, str]:
    """The rows of docs/sync-protocol.md's collections table: collection -> its fields cell."""
    text = (ROOT / "docs" / "sync-protocol.md").read_text(encoding="utf-8")
    return {m[1]: m[2] for m in re.finditer(r"^\| `(\w+)` \| [^|]+ \| (.+) \|$", text, re.MULTILINE)}


def test_the_collections_table_says_what_the_schema_says():
    """Each collection of sync/schema.py is in the table with every field, its choices, ⬆ on its
    parents and ◆ on the fields only the server writes; the table names no other collection."""
    from sync.schema import COLLECTIONS

    table = _collections_table()
    assert sorted(table) == sorted(COLLECTIONS)
    wrong = []
    for name, spec in COLLECTIONS.items():
        cell = table[name]
        for field, f in spec.fields.items():
            mark = "⬆" if f.parent else "◆" if not f.writers else ""
            if not re.search(rf"`{field}`{mark}", cell):
                wrong.append(f"{name}.{field}{mark}")
            wrong += [f"{name}.{field} = {c}" for c in f.choices if f"`{c}`" not in cell]
        if spec.open_prefix and f"`{spec.open_prefix}" not in cell:
            wrong.append(f"{name}.{spec.open_prefix}*")
    assert wrong == []


def _unclosed_fences(text: str) -> list[str]:
    """Fences that do not pair up: a block left open at the end, or a fence line met inside a block
    that is not a bare closing fence (```sh, ``` followed by prose): Markdown reads that line as code
    and the block as still open, so the prose and commands after it render as one code block."""
    wrong, opened = [], 0
    for n, line in enumerate(text.splitlines(), 1):
        fence = line.strip()
        if not fence.startswith("```"):
            continue
        if not opened:
            opened = n
        elif fence == "```":
            opened = 0
        else:
            wrong.append(f"line {n}: {fence[:40]!r} inside the block opened at line {opened}")
    return wrong + ([f"the block opened at line {opened} never closes"] if opened else [])


def test_every_code_block_of_the_docs_closes_where_it_should():
    """README.md had a stray ``` after the repair call's last example, and docs/operations.md a closing
    fence followed by a sentence: each turned the section after it, prose and commands, into one code block."""
    assert _unclosed_fences("```sh\na\n``` prose\n```\n") == ["line 3: '``` prose' inside the block opened at line 1"]
    assert _unclosed_fences("```sh\na\n```\n\n```\n```json\n{}\n```\n")[0].startswith("line 6")
    wrong = {p.name: _unclosed_fences(p.read_text(encoding="utf-8"))
             for p in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]}
    assert {name: found for name, found in wrong.items() if found} == {}

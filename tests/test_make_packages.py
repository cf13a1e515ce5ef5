"""What `make run` and `make test` install on a fresh Debian machine (Makefile, `pdf-tools`).

WeasyPrint loads its libraries by name at import. Debian's pango brings most of them, but not
libharfbuzz-subset0 (font subsetting): on this machine only chromium pulled it in, so `make run`,
which installs no chromium, printed WeasyPrint's "HarfBuzz-Subset will be required" warning, and
every test importing WeasyPrint would fail under `filterwarnings = error` had chromium not been
installed first (found by office5 on a fresh checkout).
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The shared objects weasyprint/text/ffi.py opens on Linux, harfbuzz-subset included (optional there).
WEASYPRINT_LIBRARIES = ["libgobject-2.0.so.0", "libpango-1.0.so.0", "libharfbuzz.so.0",
                        "libharfbuzz-subset.so.0", "libfontconfig.so.1", "libpangoft2-1.0.so.0"]


def _pdf_tools_packages() -> list[str]:
    makefile = (ROOT / "Makefile").read_text()
    target = makefile.split("\npdf-tools:", 1)[1].split("\n\n", 1)[0]
    return re.search(r"apt-get install -y -qq ([^']+)'", target).group(1).split()  # type: ignore[union-attr]


def _with_dependencies(packages: list[str]) -> set[str]:
    out = subprocess.run(["apt-cache", "depends", "--recurse", "--no-recommends", "--no-suggests",
                          "--no-conflicts", "--no-breaks", "--no-replaces", "--no-enhances", *packages],
                         capture_output=True, text=True, check=True).stdout
    return {line.split(":")[0] for line in out.splitlines() if line and not line.startswith(" ")}


def _package_of(library: str) -> str:
    out = subprocess.run(["dpkg", "-S", library], capture_output=True, text=True, check=True).stdout
    return out.split(":")[0]


def test_pdf_tools_installs_every_library_weasyprint_opens_harfbuzz_subset_included():
    installed = _with_dependencies(_pdf_tools_packages())
    missing = {library: _package_of(library) for library in WEASYPRINT_LIBRARIES
               if _package_of(library) not in installed}
    assert not missing, f"make's pdf-tools would leave out {missing}"

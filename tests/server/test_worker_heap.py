"""The serving worker's heap (issue 15): what `server.asgi.app_factory` builds once (the modules, the
app, its routes) is frozen out of the garbage collector's generations, so that a full collection no
longer walks it with the GIL held while pushes wait. A real worker's start, in its own process: a
freeze in this one would stay for every later test."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from bench._server import ROOT

_WORKER = """
import gc
from server.asgi import app_factory
app = app_factory()
print(gc.get_freeze_count(), sum(gc.get_count()))
"""


def test_the_worker_freezes_what_it_built_at_start_so_full_collections_skip_it(tmp_path: Path) -> None:
    env = {**os.environ, "FIELDSYNC_DATA": str(tmp_path), "FIELDSYNC_SETTINGS": "{}"}
    done = subprocess.run([sys.executable, "-c", _WORKER], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    frozen, young = (int(n) for n in done.stdout.split())
    # Before: nothing frozen, the app's objects in the generations a full collection walks.
    assert frozen > 50_000, done.stdout
    assert young < 1_000, done.stdout  # collected first: the garbage of the start is not kept frozen

"""ASGI entry for the production server: builds the app from the environment.

`fieldsync serve` sets the variables; nothing else reads them.
"""

from __future__ import annotations

import gc
import json
import os
from pathlib import Path

from litestar import Litestar

from .app import create_app
from .settings import Settings


def app_factory() -> Litestar:
    overrides = json.loads(os.environ.get("FIELDSYNC_SETTINGS") or "{}")  # the limits `serve` was given
    if "trusted_proxies" in overrides:
        overrides["trusted_proxies"] = tuple(overrides["trusted_proxies"])
    app = create_app(Settings(data_dir=Path(os.environ["FIELDSYNC_DATA"]),
                              demo=os.environ.get("FIELDSYNC_DEMO") == "1", **overrides))
    # What the worker holds for as long as it runs (the modules, the app, its routes: about 120,000
    # objects) leaves the garbage collector's generations: each full collection walked all of it,
    # 100-190 ms with the GIL held, a fifth of a push's CPU in a run of photo pushes (issue 15,
    # docs/performance.md "the push path, fourth round"). Garbage made later is collected as before.
    gc.collect()
    gc.freeze()
    return app

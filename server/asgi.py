"""ASGI entry for the production server: builds the app from the environment.

`fieldsync serve` sets the variables; nothing else reads them.
"""

from __future__ import annotations

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
    return create_app(Settings(data_dir=Path(os.environ["FIELDSYNC_DATA"]),
                               demo=os.environ.get("FIELDSYNC_DEMO") == "1", **overrides))

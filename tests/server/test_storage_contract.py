"""The backend contract (server/storage/testing.py) against every storage backend.

PostgreSQL joins the list in a later issue; every property must then hold for it too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from server.storage.base import Backend
from server.storage.sqlite.backend import SQLITE
from server.storage.testing import CONTRACT

BACKENDS: list[Backend] = [SQLITE]


@pytest.mark.parametrize("check", CONTRACT, ids=lambda check: check.__name__.removeprefix("check_"))
@pytest.mark.parametrize("backend", BACKENDS, ids=lambda backend: backend.name)
def test_backend_contract(backend: Backend, check: Callable[[Backend, Path], None], tmp_path: Path) -> None:
    check(backend, tmp_path)


def test_the_contract_is_not_empty() -> None:
    assert len(CONTRACT) >= 5 and len({check.__name__ for check in CONTRACT}) == len(CONTRACT)

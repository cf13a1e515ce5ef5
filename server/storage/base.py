"""What the server relies on from its storage, as Protocols (Kinto's StorageBase analogue).

Services and query classes take a `Connections`: an object with `read()` and `write()`.
"""

from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager
from typing import Protocol

# A connection inside a transaction, as `read()` and `write()` yield it. Code outside
# `server/storage/` only passes it on to storage functions.
Connection = sqlite3.Connection


class Connections(Protocol):
    """A reader holding one snapshot (`read`), and the one writer in a transaction (`write`)."""

    def read(self) -> AbstractContextManager[Connection]: ...

    def write(self) -> AbstractContextManager[Connection]: ...

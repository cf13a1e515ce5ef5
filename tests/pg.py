"""The tests' PostgreSQL: the starter lives in bench/_postgres.py, which the throughput bench's
`--database auto` shares (issue 16); `Copies` hands each test a fresh database."""

from __future__ import annotations

from bench._postgres import PostgresServer, bin_dir, drop_database, new_database

__all__ = ["Copies", "PostgresServer", "bin_dir", "drop_database", "new_database"]


class Copies:
    """Fresh databases, each a copy of one migrated once (`new_database`'s template), made one
    ahead and dropped behind on a thread of their own: a test waits for none of it."""

    def __init__(self, url: str) -> None:
        from concurrent.futures import ThreadPoolExecutor

        from server.storage.postgres.backend import POSTGRES

        self.url, self.template = url, new_database(url)
        POSTGRES.open(self.template).close()  # opening migrates
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="pg-copies")
        self._next = self._thread.submit(new_database, url, self.template)

    def take(self) -> str:
        made, self._next = self._next.result(), self._thread.submit(new_database, self.url, self.template)
        return made

    def drop(self, url: str) -> None:
        self._thread.submit(drop_database, url)

    def close(self) -> None:
        self.drop(self._next.result())
        self._thread.shutdown()

"""The tests' PostgreSQL: the starter lives in bench/_postgres.py, which the throughput bench's
`--database auto` shares (issue 16)."""

from bench._postgres import PostgresServer, bin_dir, drop_database, new_database

__all__ = ["PostgresServer", "bin_dir", "drop_database", "new_database"]

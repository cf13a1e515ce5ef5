"""Storage: the only package that speaks SQL (and imports `sqlite3`, `psycopg`).

`base.py` states what the rest of the server relies on; `sqlite/` implements it, and
`postgres/` so far its `Backend` (the contract of `testing.py`).
"""

# SQLite's dialect is registered for every `sqlite3.Connection` (`writes.dialect`); PostgreSQL's
# when its package is imported, as it is wherever one of its connections is made.
from .sqlite import rows as _sqlite_rows  # noqa: F401

"""The PostgreSQL backend (psycopg 3): the `Backend` of `storage/base.py` over one database that
several server processes share. `backend.py` is the object; `connection.py` the connections,
`migrations.py` the schema, `rows.py` the `rows` writes in PostgreSQL's words."""

from . import rows as _rows  # noqa: F401  (registers PostgreSQL's dialect for its connections)

"""Storage: the only package that speaks SQL (and imports `sqlite3`, `psycopg`).

`base.py` states what the rest of the server relies on; `sqlite/` implements it, and
`postgres/` so far its `Backend` (the contract of `testing.py`).
"""

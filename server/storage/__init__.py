"""Storage: the only package that speaks SQL (and imports `sqlite3`).

`base.py` states what the rest of the server relies on; `sqlite/` implements it.
"""

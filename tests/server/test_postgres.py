"""The PostgreSQL the tests start (tests/pg.py) is a real server: the ground the PostgreSQL backend
(issue 16) will stand on. No backend uses it yet."""

from __future__ import annotations

import psycopg


def test_two_connections_see_each_others_committed_rows(postgres: str) -> None:
    with psycopg.connect(postgres, autocommit=True) as admin:
        admin.execute("DROP TABLE IF EXISTS harness")
        admin.execute("CREATE TABLE harness (id integer PRIMARY KEY, note text NOT NULL)")
    with psycopg.connect(postgres) as a, psycopg.connect(postgres) as b:
        a.execute("INSERT INTO harness VALUES (1, '东区园区')")
        # Not yet committed: the other connection does not see it (a server, not a file per connection).
        assert b.execute("SELECT count(*) FROM harness").fetchone() == (0,)
        b.rollback()
        a.commit()
        assert b.execute("SELECT note FROM harness WHERE id = 1").fetchone() == ("东区园区",)
        b.execute("INSERT INTO harness VALUES (2, 'from b')")
        b.commit()
        assert a.execute("SELECT id FROM harness ORDER BY id").fetchall() == [(1,), (2,)]
        # A primary key is enforced across connections.
        try:
            a.execute("INSERT INTO harness VALUES (2, 'again')")
        except psycopg.errors.UniqueViolation:
            a.rollback()
        else:
            raise AssertionError("a duplicate key was accepted")
    with psycopg.connect(postgres) as c:
        version = c.execute("SHOW server_version_num").fetchone()
    assert version is not None and int(version[0]) >= 130000

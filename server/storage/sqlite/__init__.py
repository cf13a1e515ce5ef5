"""The SQLite backend: one writer connection, a pool of readers, sqlite-utils migrations."""

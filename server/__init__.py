"""The fieldsync server: HTTP layer, SQLite store, migrations and settings."""

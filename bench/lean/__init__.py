"""A lean push server for the morning rush (issue 15, session 32): bench-only, never imported by `server/`."""

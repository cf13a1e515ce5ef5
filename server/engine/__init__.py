"""The sync protocol: push, pull, cursors, the sync window and the per-collection hooks."""

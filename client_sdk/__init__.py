"""The client SDK: a technician's phone or tablet with its own SQLite database.

`Client` records changes offline into an outbox and syncs with the server
(`docs/sync-protocol.md`, "Client side"); `fieldsync-client` is its CLI.
"""

from .client import Client, SyncReport
from .session import APP

__all__ = ["APP", "Client", "SyncReport"]

"""Pure sync logic shared by the server and the client SDK.

Nothing in this package performs I/O: no sockets, no files, no databases.
`tests/sync/test_purity.py` proves it.
"""

PROTOCOL_VERSION = 1
MIN_PROTOCOL = 1

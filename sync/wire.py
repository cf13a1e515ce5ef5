"""Wire messages of protocol v1, declared once for the server and the client.

New fields always get defaults so old clients still decode new messages.
Unknown fields are ignored on decode (forward compatibility); the *values* a
client writes are checked against `sync.schema`, which rejects unknown names.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Literal

import msgspec

Scalar = str | int | bool | None

# HTTP headers of the protocol, named once for both ends.
PROTOCOL_HEADER = "Fieldsync-Protocol"  # the protocol version a client speaks
APP_HEADER = "Fieldsync-App"  # the client app and its version, kept with the client
EPOCH_HEADER = "Fieldsync-Server-Epoch"  # changes when the server is restored from a backup
TUS_VERSION = "1.0.0"  # the tus resumable-upload protocol both ends speak for blobs

# Bounds on what a client sends (issue 9: unbounded strings were stored). Over one, the
# whole request is a 400 before anything is read from it; docs/security.md lists them.
MAX_COLLECTION_CHARS = 64
MAX_ID_CHARS = 128  # row and client ids (a UUID is 36)
MAX_HLC_CHARS = 64  # an HLC is about 60
MAX_FIELD_NAME_CHARS = 128  # `item.` and an item key of up to 64
MAX_FIELDS_PER_CHANGE = 256
MAX_VALUE_CHARS = 65_536  # the longest field (template `items`); each field has its own, lower, limit
MAX_TIMESTAMP_CHARS = 64
# Sign-in (issue 9 #4): bounded before anything else, so no oversized name reaches the audit trail.
MAX_USERNAME_CHARS = 64
MAX_PASSWORD_CHARS = 256
MAX_CLIENT_NAME_CHARS = 128
MAX_SECRET_CHARS = 128  # a refresh credential (43 characters)

Name = Annotated[str, msgspec.Meta(max_length=MAX_COLLECTION_CHARS)]
Id = Annotated[str, msgspec.Meta(max_length=MAX_ID_CHARS)]
FieldValue = Annotated[str, msgspec.Meta(max_length=MAX_VALUE_CHARS)] | int | bool | None
Fields = Annotated[
    dict[Annotated[str, msgspec.Meta(max_length=MAX_FIELD_NAME_CHARS)], FieldValue],
    msgspec.Meta(max_length=MAX_FIELDS_PER_CHANGE),
]


_sorted_json = msgspec.json.Encoder(order="sorted").encode


class Base(msgspec.Struct, kw_only=True, omit_defaults=True):
    pass


Username = Annotated[str, msgspec.Meta(max_length=MAX_USERNAME_CHARS)]
Password = Annotated[str, msgspec.Meta(max_length=MAX_PASSWORD_CHARS)]


class TokenRequest(Base, kw_only=True):
    username: Username
    password: Password
    client_name: Annotated[str, msgspec.Meta(max_length=MAX_CLIENT_NAME_CHARS)] = ""
    client_id: Id | None = None


class RefreshRequest(Base, kw_only=True):
    """Sign a client in again without a password, with the refresh credential it was given.

    `enrol`: enrol a new client of the same user in its place (the old one is
    revoked), for a client that must start a new seq (seq_reused, a restored server).
    """

    client_id: Id
    refresh_token: Annotated[str, msgspec.Meta(max_length=MAX_SECRET_CHARS)]
    enrol: bool = False


class UserInfo(Base, kw_only=True):
    id: str
    name: str
    role: str
    username: str = ""


class TokenResponse(Base, kw_only=True):
    token: str
    client_id: str
    user: UserInfo
    server_epoch: str = ""
    # A new refresh credential for this client (POST /auth/refresh); empty: keep the one you hold.
    refresh_token: str = ""


class Change(Base, kw_only=True):
    seq: int
    collection: Name
    id: Id
    hlc: Annotated[str, msgspec.Meta(max_length=MAX_HLC_CHARS)]
    fields: Fields = {}
    delete: bool | None = None

    def digest(self) -> str:
        """What the change says (collection, id, fields, delete) as 32 hex digits of SHA-256.

        A receipt keeps it beside the HLC: a phone restored from a backup gets its
        clock back with the database, so the change it makes next can carry the very
        seq and HLC of one it sent after the backup, and only this tells them apart.
        """
        said = _sorted_json([self.collection, self.id, self.fields, self.delete])
        return hashlib.sha256(said).hexdigest()[:32]


class PushRequest(Base, kw_only=True):
    protocol: int = 1
    client_id: Id
    client_time: Annotated[str, msgspec.Meta(max_length=MAX_TIMESTAMP_CHARS)]
    changes: list[Change]


class ChangeResult(Base, kw_only=True):
    seq: int
    status: Literal["applied", "superseded", "rejected"]
    reason: str | None = None
    detail: str | None = None
    rejected_fields: dict[str, str] | None = None
    clock: Literal["corrected", "clamped"] | None = None


class PushResponse(Base, kw_only=True):
    acked_seq: int
    version: int
    results: list[ChangeResult]
    server_time: str
    server_hlc: str
    server_epoch: str
    clock_offset_ms: int


class Row(msgspec.Struct, kw_only=True):
    """A row as pulled: whole and merged, or `removed` from the caller's scope."""

    collection: str
    id: str
    fields: dict[str, Scalar] = {}
    deleted: bool = False
    version: int = 0
    removed: bool = False


class PullResponse(Base, kw_only=True):
    rows: list[Row]
    cursor: str
    has_more: bool
    acked_seq: int
    server_time: str
    server_hlc: str
    server_epoch: str
    # Addition to the shared contract: the highest row version this page
    # covers, so a client knows when its applied pushes have come back.
    version: int = 0


class Conflict(Base, kw_only=True):
    id: int
    at: str
    kind: Literal["lost", "overwritten", "rejected", "rejected_field"]
    collection: str
    row_id: str
    register: str | None = None
    reason: str | None = None
    detail: str | None = None
    site_id: str | None = None
    client_id: str | None = None
    user: str | None = None
    hlc: str | None = None
    seq: int | None = None
    old_value: Scalar | dict[str, Scalar] = None
    new_value: Scalar | dict[str, Scalar] = None
    other_client_id: str | None = None
    other_user: str | None = None
    other_hlc: str | None = None
    # Both sides wrote the same value: on record, but nothing was lost.
    no_op: bool = False
    # What a person calls the row: a device's code, a sheet number, a site's name.
    label: str | None = None


class ConflictPage(Base, kw_only=True):
    conflicts: list[Conflict]
    next_after: int | None = None
    server_epoch: str = ""

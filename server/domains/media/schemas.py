"""What the media endpoints answer, and how photos are listed on sheets, coverage and histories."""

from __future__ import annotations

import msgspec


class PhotoInfo(msgspec.Struct, kw_only=True):
    """A photo as listed on a sheet, a coverage row or a device's history."""

    id: str
    sha256: str | None = None
    device_id: str | None = None
    stage: str | None = None
    caption: str | None = None
    taken_at: str | None = None  # as the technician's client recorded it
    blob: str = "missing"  # stored / missing
    content_type: str | None = None
    bytes: int | None = None
    # From the uploaded bytes, only once this row's blob is stored:
    width: int | None = None
    height: int | None = None
    exif_taken_at: str | None = None
    orientation: int | None = None
    lat: float | None = None
    lon: float | None = None


class MissingBlob(msgspec.Struct, kw_only=True):
    sha256: str
    collection: str
    row_id: str
    field: str
    uploader: str | None  # the username whose upload the server waits for


class MissingBlobs(msgspec.Struct, kw_only=True):
    inspection_id: str
    missing: list[MissingBlob]

"""A minimal tus 1.0.0 client over httpx, for the upload tests and benchmark.

It takes any httpx client (a real connection or Litestar's test client).
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

import httpx

TUS = {"Tus-Resumable": "1.0.0"}
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}


def metadata(sha256: str, content_type: str, filename: str | None = None) -> str:
    pairs = {"sha256": sha256, "content_type": content_type}
    if filename is not None:
        pairs["filename"] = filename
    return ",".join(f"{k} {base64.b64encode(v.encode()).decode()}" for k, v in pairs.items())


def create(client: httpx.Client, auth: dict[str, str], data: bytes, content_type: str,
           sha256: str | None = None, **extra: Any) -> httpx.Response:
    """POST /files for these bytes (or for a declared hash that is not theirs)."""
    sha = sha256 or hashlib.sha256(data).hexdigest()
    return client.post("/files", headers={
        **auth, **TUS, "Upload-Length": str(len(data)), "Upload-Metadata": metadata(sha, content_type, **extra),
    })


def patch(client: httpx.Client, auth: dict[str, str], location: str, offset: int, body: bytes) -> httpx.Response:
    return client.patch(location, headers={**auth, **PATCH, "Upload-Offset": str(offset)}, content=body)


def head(client: httpx.Client, auth: dict[str, str], location: str) -> httpx.Response:
    return client.head(location, headers={**auth, **TUS})


def upload(client: httpx.Client, auth: dict[str, str], data: bytes, content_type: str = "image/jpeg",
           chunk: int = 1 << 20) -> httpx.Response:
    """Create and send all of it; the last PATCH's response (or the creation's, if born complete)."""
    created = create(client, auth, data, content_type)
    if created.status_code != 201:
        return created
    location, offset = created.headers["location"], int(created.headers["upload-offset"])
    response = created
    while offset < len(data):
        response = patch(client, auth, location, offset, data[offset:offset + chunk])
        if response.status_code != 204:
            return response
        offset = int(response.headers["upload-offset"])
    return response

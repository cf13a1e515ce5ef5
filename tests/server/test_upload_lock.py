"""An upload's lock in one process (`server/domains/media/upload_lock.py`): a PATCH that may wait for it
authenticates first. The server's own `Uploads` on a real SQLite file and parts directory, driven on one
event loop as the server's worker drives two PATCHes that arrive together."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio

from bench import _tus as tus
from server.domains.media.uploads import Uploads
from sync import errors as E


def test_a_bad_token_is_401_not_423_behind_a_slow_patch_that_found_the_upload_free_in_the_same_turn(
        http, store, wang):
    # Regression (s27-fixsheet, item 3): the caller was checked before the wait for the upload's lock only
    # when the lock was already held. Two PATCHes to one upload in the same turn of the loop both found it
    # free; the second, with a bad token, waited unauthenticated behind the first and, the first taking
    # over 5 s, got 423 UploadLocked instead of 401.
    data = os.urandom(64)
    location = tus.create(http, wang.headers, data, "image/png").headers["location"]
    upload_id = location.rstrip("/").rsplit("/", 1)[1]
    token = wang.headers["Authorization"].split(" ", 1)[1]
    uploads = Uploads(store, store.blobs, store.settings)

    def good() -> tuple[Any, int]:
        return store.authenticate(token), 0

    def bad() -> tuple[Any, int]:
        return store.authenticate("not-a-token"), 0

    async def slow() -> AsyncIterator[bytes]:  # longer than a PATCH waits for the upload (5 s)
        yield data[:10]
        await asyncio.sleep(5.5)
        yield data[10:20]

    async def quick() -> AsyncIterator[bytes]:
        yield data[:10]

    async def both() -> list[Any]:
        await uploads.head(store.authenticate(token), upload_id)  # the lock now exists in this process, free
        return await asyncio.gather(uploads.append(good, upload_id, 20, slow()),
                                    uploads.append(bad, upload_id, 10, quick()), return_exceptions=True)

    first, second = anyio.run(both)
    assert isinstance(second, E.Unauthorized), repr(second)
    assert not isinstance(first, BaseException) and first.received == 20, repr(first)

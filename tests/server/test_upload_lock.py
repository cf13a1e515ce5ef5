"""An upload's lock in one process (`server/domains/media/upload_lock.py`): a PATCH that may wait for it
authenticates first. The server's own `Uploads` on a real SQLite file and parts directory, driven on one
event loop as the server's worker drives two PATCHes that arrive together."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from typing import Any

import anyio

from bench import _tus as tus
from server.domains.media.upload_lock import UploadLocks
from server.domains.media.uploads import Uploads
from sync import errors as E
from tests.server.test_uploads import jpeg


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


def _upload(http: Any, wang: Any, data: bytes) -> str:
    location = tus.create(http, wang.headers, data, "image/jpeg").headers["location"]
    return str(location.rstrip("/").rsplit("/", 1)[1])


async def _body(*pieces: bytes, pause: float = 0.0, inside: list[int] | None = None) -> AsyncIterator[bytes]:
    """`pieces`, `pause` seconds apart; `inside` counts the bodies being read at once, its [1] the most seen."""
    for piece in pieces:
        if inside is not None:
            inside[0] += 1
            inside[1] = max(inside[1], inside[0])
        await asyncio.sleep(pause)
        if inside is not None:
            inside[0] -= 1
        yield piece


def test_completed_uploads_and_their_later_heads_leave_no_lock_behind(http, store, wang):
    # Regression (s27-fixperiod, item 2): an upload's in-process lock was removed only when the sweep found
    # a stale file, so every completed upload kept its lock for the life of the process, and a later HEAD
    # of it made one more. Now a lock is kept only while a request holds or waits for it.
    uploads = Uploads(store, store.blobs, store.settings)
    token = wang.headers["Authorization"].split(" ", 1)[1]
    caller = store.authenticate(token)
    done = [(_upload(http, wang, data), data) for data in (jpeg(noise=True, seed=60 + n) for n in range(6))]

    async def run() -> list[Any]:
        results = []
        for upload_id, data in done:
            half = len(data) // 2
            await uploads.append(lambda: (caller, 0), upload_id, half, _body(data[:half]))
            results.append(await uploads.append(lambda h=half: (caller, h), upload_id, len(data) - half,
                                                 _body(data[half:])))
            await uploads.head(caller, upload_id)
        with contextlib.suppress(E.NotFound):  # an id nobody created: 404, and nothing kept for it
            await uploads.append(lambda: (caller, 0), "no-such-upload", 1, _body(b"x"))
            raise AssertionError("a PATCH to an upload nobody created was not refused")
        return results

    results = anyio.run(run)
    assert [r.status for r in results] == ["complete"] * len(done)
    assert len(uploads._locks) == 0
    assert not uploads.lock_path("no-such-upload").exists()


def test_two_concurrent_patches_still_exclude_each_other_and_the_last_leaves_no_lock(http, store, wang):
    # s27-fixperiod, item 2: a lock removed once nobody uses it must still make concurrent PATCHes take turns:
    # a third PATCH arriving while the second holds the lock the first gave it waits for that same lock.
    uploads = Uploads(store, store.blobs, store.settings)
    token = wang.headers["Authorization"].split(" ", 1)[1]
    caller = store.authenticate(token)
    data = jpeg(noise=True, seed=70)
    upload_id = _upload(http, wang, data)
    inside = [0, 0]

    async def run() -> list[Any]:
        first = asyncio.create_task(uploads.append(
            lambda: (caller, 0), upload_id, 20, _body(data[:10], data[10:20], pause=0.2, inside=inside)))
        await asyncio.sleep(0.05)  # the first holds the lock, reading its body
        assert len(uploads._locks) == 1
        second = asyncio.create_task(uploads.append(
            lambda: (caller, 0), upload_id, 10, _body(data[:10], inside=inside)))  # the same offset: refused after
        third = asyncio.create_task(uploads.append(
            lambda: (caller, 20), upload_id, len(data) - 20, _body(data[20:], pause=0.1, inside=inside)))
        return list(await asyncio.gather(first, second, third, return_exceptions=True))

    first, second, third = anyio.run(run)
    assert not isinstance(first, BaseException) and first.received == 20, repr(first)
    assert isinstance(second, E.UploadOffsetMismatch), repr(second)  # it waited: the upload stood at 20
    assert not isinstance(third, BaseException) and third.status == "complete", repr(third)
    assert inside[1] == 1  # never two bodies read at once
    assert len(uploads._locks) == 0


def test_a_lock_given_back_goes_to_its_waiter_and_a_newcomer_waits_for_that_same_lock():
    # s27-fixperiod, item 2: the table's entry is removed only when nobody holds or waits for it, so a request
    # arriving between one give and the next take finds the lock held, never a fresh one beside it.
    locks = UploadLocks()
    order: list[str] = []

    async def hold(name: str, seconds: float) -> None:
        lock = await locks.take("u", 5)
        assert lock is not None
        order.append(f"{name} in")
        await asyncio.sleep(seconds)
        order.append(f"{name} out")
        locks.give("u", lock)

    async def run() -> tuple[int, bool]:
        a = asyncio.create_task(hold("a", 0.1))
        await asyncio.sleep(0)
        b = asyncio.create_task(hold("b", 0.1))
        await asyncio.sleep(0.15)  # a gave the lock to b
        c = asyncio.create_task(hold("c", 0))
        await asyncio.sleep(0)
        during = len(locks)
        await asyncio.gather(a, b, c)
        late = await locks.take("u", 0.01)  # taken at once, and given back: the table is empty again
        assert late is not None
        locks.give("u", late)
        held = await locks.take("v", 5)
        assert held is not None
        gave_up = await locks.take("v", 0.05)  # a waiter that gives up leaves the holder's entry
        locks.give("v", held)
        return during, gave_up is None

    during, gave_up = anyio.run(run)
    assert order == ["a in", "a out", "b in", "b out", "c in", "c out"]
    assert during == 1 and gave_up and len(locks) == 0

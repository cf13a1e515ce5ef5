"""The lean push server's HTTP side: Litestar under granian, as the real server; sign-in, push, pull.

Bench-only (issue 15, session 32). Decoding and the token's check run on the event loop; a push
goes to the one writer thread (`store.Writer`) and is answered once its transaction committed;
a pull runs in a worker thread on a read connection of its own. The wire types are `sync.wire`'s.
Settings come from the environment: `LEAN_DATA` (the data directory), `LEAN_GROUP` (pushes a
commit may take, default 1), `LEAN_PULL` (`loop`: pulls read on the event loop), `LEAN_PAGE` (`sql`,
the default: a page built as JSON by SQLite; `python`: rows read one by one and encoded here).
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import msgspec
from litestar import Litestar, Request, Response, get, post

from sync import hlc
from sync.wire import PullResponse, PushRequest, TokenRequest, TokenResponse, UserInfo

from .reads import Reads
from .store import MAX_CHANGES, Caller, Problem, Writer, name_thread

_encode = msgspec.json.Encoder().encode
_push_decoder = msgspec.json.Decoder(PushRequest)
_token_decoder = msgspec.json.Decoder(TokenRequest)
MAX_BODY = 16 * 1024 * 1024
MAX_LIMIT = 1000


class LeanRow(msgspec.Struct, kw_only=True):
    """`sync.wire.Row`, its fields the stored JSON as is."""

    collection: str
    id: str
    fields: msgspec.Raw
    deleted: bool
    version: int


class LeanPull(PullResponse, kw_only=True):
    """`sync.wire.PullResponse` with each row's fields passed through as stored (JSON), not decoded
    and encoded again, or the whole page as SQLite built it: the same bytes on the wire."""

    rows: list[LeanRow] | msgspec.Raw  # type: ignore[assignment]


def _problem(problem: Problem) -> Response[bytes]:
    return Response(problem.body(), status_code=problem.status, media_type="application/problem+json")


def _ok(body: bytes) -> Response[bytes]:
    return Response(body, status_code=200, media_type="application/json")


def build(data: Path, group: int = 1, pull_on_loop: bool = False, page_in_sql: bool = True) -> Litestar:
    reads = Reads(data)
    writer = Writer(data, group)
    # The pulls' threads, named for the bench (asyncio's default executor has as many: cores + 4).
    pulls = ThreadPoolExecutor(min(32, (os.cpu_count() or 1) + 4), initializer=name_thread, initargs=("lean-pull",))

    def caller_of(request: Request[Any, Any, Any]) -> Caller:
        auth = request.headers.get("authorization", "")
        token = auth[7:] if auth[:7].lower() == "bearer " and len(auth) <= 200 else ""
        caller = reads.caller(token) if token else None
        if caller is None:
            raise Problem(401, "unauthorized", "no valid bearer token")
        return caller

    @post("/auth/token")
    async def token(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            req = _token_decoder.decode(await request.body())
            token, client_id, caller = await asyncio.to_thread(
                reads.sign_in, req.username, req.password, req.client_id, req.client_name)
        except msgspec.ValidationError as exc:
            return _problem(Problem(400, "invalid_request", str(exc)[:200]))
        except msgspec.DecodeError:
            return _problem(Problem(400, "invalid_request", "the body is not JSON"))
        except Problem as problem:
            return _problem(problem)
        user = UserInfo(id=caller.user_id, name=caller.username, role=caller.role, username=caller.username)
        return _ok(_encode(TokenResponse(token=token, client_id=client_id, user=user, server_epoch=reads.epoch)))

    @post("/sync/push")
    async def push(request: Request[Any, Any, Any]) -> Response[bytes]:
        try:
            caller = caller_of(request)
            try:
                req = _push_decoder.decode(await request.body())
            except msgspec.ValidationError as exc:
                raise Problem(400, "invalid_request", str(exc)[:200]) from None
            except msgspec.DecodeError:
                raise Problem(400, "invalid_request", "the body is not JSON") from None
            _check(caller, req)
            answer = await asyncio.wrap_future(writer.submit(caller, req))
        except Problem as problem:
            return _problem(problem)
        return _ok(_encode(answer))

    @get("/sync/pull")
    async def pull(request: Request[Any, Any, Any], cursor: str = "0", limit: int = 500) -> Response[bytes]:
        try:
            caller = caller_of(request)
            if not cursor.isdigit() or len(cursor) > 18:
                raise Problem(400, "invalid_cursor", "not a cursor this server handed out")
            size = min(max(limit, 1), MAX_LIMIT)
            read = functools.partial(reads.page if page_in_sql else reads.pull, caller, int(cursor), size)
            found, top, more, acked = read() if pull_on_loop else \
                await asyncio.get_running_loop().run_in_executor(pulls, read)
        except Problem as problem:
            return _problem(problem)
        now = hlc.wall_ms()
        rows = msgspec.Raw(found) if isinstance(found, bytes) else [
            LeanRow(collection=c, id=i, fields=msgspec.Raw(f), deleted=bool(d), version=v) for c, i, f, d, v in found]
        body = LeanPull(rows=rows, cursor=str(top), has_more=more, acked_seq=acked, server_time=hlc.format_ts(now),
                        server_hlc=writer.clock.last, server_epoch=reads.epoch, version=top)
        return _ok(_encode(body))

    return Litestar([token, push, pull], request_max_body_size=MAX_BODY, on_shutdown=[writer.stop])


def _check(caller: Caller, req: PushRequest) -> None:
    """What is refused before the writer sees the push: the whole request, nothing written."""
    if req.client_id != caller.client_id:
        raise Problem(403, "client_mismatch", "the token belongs to another client")
    if req.protocol != 1:
        raise Problem(400, "invalid_request", f"protocol {req.protocol} is not one this server knows")
    try:
        hlc.parse_ts(req.client_time)
    except ValueError:
        raise Problem(400, "invalid_request", "client_time is not an RFC 3339 UTC time") from None
    changes = req.changes
    if len(changes) > MAX_CHANGES:
        raise Problem(413, "too_many_changes", f"at most {MAX_CHANGES} changes per push")
    for i, change in enumerate(changes):
        if change.seq < 1 or change.seq != changes[0].seq + i:
            raise Problem(400, "seq_not_consecutive", f"change {i} has seq {change.seq}")


def app_factory() -> Litestar:
    switch = float(os.environ.get("LEAN_SWITCH_MS", "0"))
    if switch > 0:
        sys.setswitchinterval(switch / 1000)
    return build(Path(os.environ["LEAN_DATA"]), int(os.environ.get("LEAN_GROUP", "1")),
                 os.environ.get("LEAN_PULL") == "loop", os.environ.get("LEAN_PAGE", "sql") == "sql")

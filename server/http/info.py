"""What every response may say about the server itself: fixed when the app is built.

The problem mapper and the epoch header read this, not the whole `Store`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from litestar.datastructures import MutableScopeHeaders
from litestar.types import Message, Scope

from sync.wire import EPOCH_HEADER

_KEY = "info"


@dataclass(frozen=True)
class ServerInfo:
    epoch: str  # which database answers (a restore gives it a new one)
    max_body_bytes: int  # the `limit` of a 413 for a body over it
    max_detail_chars: int = 512  # a problem's `detail` (and any other text it echoes) is cut to this

    def state(self) -> dict[str, Any]:
        """The app's state entry, for `create_app`."""
        return {_KEY: self}


def server_info(app: Any) -> ServerInfo | None:
    """The app's `ServerInfo`, if it was built with one."""
    info = app.state.get(_KEY)
    return info if isinstance(info, ServerInfo) else None


async def add_epoch_header(message: Message, scope: Scope) -> None:
    """Every response says which database it came from, errors and Litestar's own answers included."""
    if message["type"] == "http.response.start":
        info = server_info(scope["app"])
        if info is not None:
            MutableScopeHeaders.from_message(message)[EPOCH_HEADER] = info.epoch

"""A link that drops, or is slow: a TCP byte proxy in front of a real server, which passes every byte on (at most
`rate` bytes a second from the phone, as a weak mobile link) until a test arms it, then cuts the connection partway
through a chosen request, as a phone's signal lost in a lift does, or holds a chosen request, as a server that has
stopped answering does."""

from __future__ import annotations

import contextlib
import socket
import threading
import time

_HEADERS_END = b"\r\n\r\n"


class CutLink:
    """Listens on a free local port (`url`) and relays to `upstream_port`, the phone's bytes at most `rate` a second
    (None: at full speed); `sent` counts the bytes the phone sent over it. `cut(needle, after)`: the next request
    whose bytes hold `needle` (b"PATCH /files") is cut `after` bytes of its body past the end of its headers, both
    ways, before the server has it all; `cuts` counts the cuts made. `hold(needle, nth)`: the `nth` request whose bytes
    hold `needle` never reaches the server, and its connection stays open (see `hold`)."""

    def __init__(self, upstream_port: int, rate: int | None = None) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.rate = rate
        self.sent = 0
        self.armed: tuple[bytes, int] | None = None
        self.cuts = 0
        self.holding: tuple[bytes, int, threading.Event] | None = None
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, needle: bytes, after: int = 0) -> None:
        with self._lock:
            self.armed = (needle, after)

    def hold(self, needle: bytes, nth: int = 1) -> threading.Event:
        """Hold the `nth` request from now whose bytes hold `needle` (b"POST /sync/push"): none of its bytes reach the
        server and no answer comes, the connection left open, so the phone waits in that request until it gives up
        or is stopped. The event returned is set once the phone has sent the request's first bytes: it has then
        taken in every answer to the requests it sent before on that connection (a client sends the next request
        only after the previous one's answer)."""
        held = threading.Event()
        with self._lock:
            self.holding = (needle, nth, held)
        return held

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                near, _ = self._listener.accept()
            except OSError:
                return
            far = socket.create_connection(self.upstream)
            threading.Thread(target=self._relay, args=(near, far, True), daemon=True).start()
            threading.Thread(target=self._relay, args=(far, near, False), daemon=True).start()

    def _armed_in(self, data: bytes) -> tuple[int, int] | None:
        """Where the armed needle starts in `data`, and the body bytes to pass after its headers; disarms it."""
        with self._lock:
            if self.armed is None or self.armed[0] not in data:
                return None
            needle, after = self.armed
            self.armed = None
            return data.index(needle), after

    def _held_in(self, data: bytes) -> tuple[int, threading.Event] | None:
        """Where the held request starts in `data`, and the event to set, if `data` holds the `nth` needle; disarms it."""
        with self._lock:
            if self.holding is None or self.holding[0] not in data:
                return None
            needle, nth, held = self.holding
            if nth > 1:
                self.holding = (needle, nth - 1, held)
                return None
            self.holding = None
            return data.index(needle), held

    def _relay(self, source: socket.socket, sink: socket.socket, outgoing: bool) -> None:
        head: bytearray | None = None  # the cut request's bytes until its headers end
        after = 0  # body bytes of the cut request to pass
        limit: int | None = None  # bytes of this connection still to pass before the cut
        try:
            while data := source.recv(8192 if outgoing and self.rate else 65536):
                if outgoing:
                    self.sent += len(data)
                    if self.rate:
                        time.sleep(len(data) / self.rate)  # the link's rate, not a wait for an outcome
                if outgoing and head is None and limit is None and (hold := self._held_in(data)) is not None:
                    sink.sendall(data[:hold[0]])
                    hold[1].set()
                    while source.recv(65536):  # the rest of the phone's bytes go nowhere until it hangs up
                        pass
                    break
                if outgoing and head is None and limit is None and (found := self._armed_in(data)) is not None:
                    start, after = found
                    sink.sendall(data[:start])
                    data, head = data[start:], bytearray()
                if head is not None:
                    seen = len(head)
                    head.extend(data)
                    end = head.find(_HEADERS_END)
                    if end < 0:
                        sink.sendall(data)
                        continue
                    limit, head = end + len(_HEADERS_END) + after - seen, None
                if limit is not None:
                    sink.sendall(data[:limit])
                    if len(data) >= limit:
                        self.cuts += 1
                        break
                    limit -= len(data)
                    continue
                sink.sendall(data)
        except OSError:
            pass
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
            end.close()

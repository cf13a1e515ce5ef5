"""A link that drops: a TCP byte proxy in front of a real server, which passes every byte on until a test arms
it, then cuts the connection partway through a chosen request, as a phone's signal lost in a lift does."""

from __future__ import annotations

import contextlib
import socket
import threading


class CutLink:
    """Listens on a free local port (`url`) and relays to `upstream_port`. `cut(needle, after)`: the next
    request whose bytes hold `needle` (b"PATCH /files") is cut `after` bytes past it, both ways, before the
    server has it all; `cuts` counts the cuts made."""

    def __init__(self, upstream_port: int) -> None:
        self.upstream = ("127.0.0.1", upstream_port)
        self.armed: tuple[bytes, int] | None = None
        self.cuts = 0
        self._lock = threading.Lock()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self, needle: bytes, after: int = 0) -> None:
        with self._lock:
            self.armed = (needle, after)

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

    def _relay(self, source: socket.socket, sink: socket.socket, outgoing: bool) -> None:
        limit: int | None = None  # bytes of this connection still to pass before the cut
        try:
            while data := source.recv(65536):
                if outgoing and limit is None:
                    with self._lock:
                        if self.armed is not None and self.armed[0] in data:
                            limit = data.index(self.armed[0]) + self.armed[1]
                            self.armed = None
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

"""The listening socket and granian's connection limits for `fieldsync serve` (docs/operations.md).

Two things granian does not do on its own:

- On Linux its workers bind the port themselves with SO_REUSEPORT, so a second
  server on the same port also "listens" and the kernel splits the requests
  between the two databases. We bind the socket ourselves, without
  SO_REUSEPORT, and hand it to granian: a port in use is then an error.
- Its defaults wait 30 s for a request's headers and accept up to 1,024
  connections at once; `granian_options` sets every limit from `Settings`.
"""

from __future__ import annotations

import errno
import ipaddress
import socket
from collections.abc import Callable
from typing import Any

import anyio
from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, ReceiveMessage, Scope, Send

from sync import errors as E

from .settings import Settings


class PortUnavailable(Exception):
    """The port cannot be listened on; the message is one line for the operator."""


def listen(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket on host:port that no other process can share.

    SO_REUSEADDR (Python's default for servers) only lets us rebind over
    connections left in TIME_WAIT by a server that just stopped; without
    SO_REUSEPORT a port another process listens on is EADDRINUSE.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        return socket.create_server((host, port), family=family, backlog=backlog, reuse_port=False)
    except OSError as exc:
        where = f"port {port} on {host}"
        if exc.errno == errno.EADDRINUSE:
            raise PortUnavailable(f"{where} is already in use (another fieldsync or program holds it)") from None
        if exc.errno == errno.EACCES:
            raise PortUnavailable(f"{where} needs privileges this user lacks; use a port above 1023") from None
        if exc.errno == errno.EADDRNOTAVAIL:
            raise PortUnavailable(f"{host} is not an address of this machine") from None
        raise PortUnavailable(f"cannot listen on {where}: {exc.strerror or exc}") from None
    except (socket.gaierror, OverflowError, UnicodeError) as exc:
        raise PortUnavailable(f"cannot listen on port {port} on {host}: {exc}") from None


def granian_options(settings: Settings) -> dict[str, Any]:
    """granian's limits, each from a setting (docs/operations.md, "The port, connections and timeouts").

    granian counts connections, not requests, against `backpressure`: an idle
    keep-alive connection or one still sending its headers holds a place until
    `header_read_timeout` closes it (measured with granian 2.8). The kernel's
    accept queue is twice as long, so connections past the limit wait to be
    accepted instead of having their SYN dropped.
    """
    from granian.http import HTTP1Settings

    return {
        "backlog": max(1024, 2 * settings.max_connections),
        "backpressure": settings.max_connections,
        "http1_settings": HTTP1Settings(header_read_timeout=settings.header_read_timeout_seconds * 1000,
                                        keep_alive=True),
        "blocking_threads": 1,  # ASGI: the one thread running the event loop
    }


def raise_open_files(max_connections: int) -> int:
    """Raise the soft limit on open files to what `max_connections` needs; returns the connections it allows.

    The usual soft limit, 1,024, is below what the connections, the database
    and the blobs in flight need together; past it, accept() fails (EMFILE).
    """
    import resource

    needed = max_connections + 256  # the database, its WAL, uploads and blobs being read, the listening socket
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        soft = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return max_connections if soft == resource.RLIM_INFINITY else min(max_connections, soft - 256)


def exclusive_server(sock: socket.socket, **options: Any) -> Any:
    """A granian server that serves on `sock` (from `listen`) instead of binding the port itself."""
    from granian._granian import SocketHolder
    from granian.server import Server

    class _Server(Server):  # type: ignore[misc,valid-type]
        def _init_shared_socket(self) -> None:
            # What granian does on platforms without SO_REUSEPORT: every worker is
            # given the parent's socket (inherited across fork) rather than binding.
            sock.set_inheritable(True)
            self._ssp = None
            self._sfd = sock.fileno()
            # (fd, is_uds, backlog): granian's stub for SocketHolder lists no constructor.
            self._shd = SocketHolder(self._sfd, False, self.backlog)  # type: ignore[call-arg]
            self._sso = sock

        def _drop_shared_socket(self) -> None:
            sock.close()

    return _Server(**options)


# -- what arrives through the connection -----------------------------------------------------------


def body_timeout(settings: Settings) -> Callable[[ASGIApp], ASGIApp]:
    """ASGI middleware: a request body that sends nothing for `body_idle_timeout_seconds` is a 408.

    granian has a timeout for headers but none for bodies: without this, a
    client that sends half a body holds its buffer (up to `max_body_bytes`)
    and a request thread for as long as it keeps the connection open. The
    timeout is per wait, as nginx's `client_body_timeout`: a body trickling
    in a byte at a time is the reverse proxy's to cut off.

    An answer started before the body was read to its end (a 413 over a
    route's limit, a 408, a refusal that never read it) says
    `Connection: close`: granian closes such a connection after the answer,
    and without the header it sometimes did so silently, so a client's next
    request on it met a closed socket ("Server disconnected without sending a
    response"; the API sweep's CI run of session 29, one in ~700 answers
    under load).
    """
    timeout = settings.body_idle_timeout_seconds

    def middleware(app: ASGIApp) -> ASGIApp:
        async def timed(scope: Scope, receive: Receive, send: Send) -> None:
            if scope["type"] != ScopeType.HTTP:
                await app(scope, receive, send)
                return
            finished = not _has_body(scope)

            async def receive_in_time() -> ReceiveMessage:
                nonlocal finished
                if finished:  # after the body, a receive waits for the disconnect: no limit
                    return await receive()
                try:
                    with anyio.fail_after(timeout):
                        message = await receive()
                except TimeoutError:
                    raise E.RequestTimeout(f"the request body sent nothing for {timeout} s",
                                           limit=timeout) from None
                finished = message["type"] != "http.request" or not message.get("more_body", False)
                return message

            async def send_closing_early(message: Message) -> None:
                if message["type"] == "http.response.start" and not finished:
                    message["headers"] = [*message.get("headers", ()), (b"connection", b"close")]
                await send(message)

            await app(scope, receive_in_time, send_closing_early)

        return timed

    return middleware


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a length above 0, or chunks)."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            return value.strip() not in (b"0", b"")
        if name == b"transfer-encoding":
            return True
    return False


Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def proxy_networks(addresses: tuple[str, ...]) -> tuple[Network, ...]:
    """`trusted_proxies` as networks: an address (`10.0.0.5`) or a range (`10.0.0.0/24`)."""
    return tuple(ipaddress.ip_network(a, strict=False) for a in addresses)


def client_address(peer: str | None, forwarded_for: str | None, proxies: tuple[Network, ...]) -> str | None:
    """The client's address: the peer, or, when the peer is a trusted proxy, what it forwarded.

    X-Forwarded-For is read from the right (each proxy appends the address it
    saw) and the first address that is not a trusted proxy wins; the entries to
    its left are whatever the client chose to send and are never believed. An
    untrusted peer's header is ignored entirely.
    """
    if not peer or not forwarded_for or not _within(peer, proxies):
        return peer
    # Bounded: a proxy chain is short, and the header is the client's to make long.
    for entry in reversed(forwarded_for[-1024:].split(",")[-8:]):
        candidate = entry.strip()
        try:
            if "%" in candidate:  # an IPv6 zone index is any text (a newline, 900 characters): no address of ours
                raise ValueError(candidate)
            address = ipaddress.ip_address(candidate)
        except ValueError:
            return peer  # not an address: something between us and the client is confused; trust nobody
        if not _within(str(address), proxies):
            return str(address)
    return peer


def forwarded_https(peer: str | None, forwarded_proto: str | None, proxies: tuple[Network, ...]) -> bool:
    """Whether a trusted proxy says the browser reached it over https (`X-Forwarded-Proto: https`): the
    same rule as `client_address`, so an untrusted peer's header is ignored entirely. docs/nginx.conf
    sets the header, replacing the client's; a list of schemes (several proxies appending) is believed
    by its last entry, the one the proxy in front of fieldsync wrote."""
    if not peer or not forwarded_proto or not _within(peer, proxies):
        return False
    return forwarded_proto[-64:].rsplit(",", 1)[-1].strip().lower() == "https"


def _within(address: str, networks: tuple[Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)

"""Listening sockets: create them, and accept in bounded batches with a back-off on EMFILE."""

from __future__ import annotations

import errno
import logging
import socket
from selectors import EVENT_READ
from typing import TYPE_CHECKING

from ..limits import (
    ACCEPT_BACKOFF_MAX,
    ACCEPT_BACKOFF_START,
    ACCEPT_BATCH,
    ACCEPT_COMPLAIN_EVERY,
    LISTEN_BACKLOG,
)

if TYPE_CHECKING:
    import ssl

    from .reactor import Reactor

log = logging.getLogger("chatd")

_OUT_OF_RESOURCES = (errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM)


def open_listener(
    host: str, port: int, backlog: int = LISTEN_BACKLOG, reuse_port: bool = False
) -> socket.socket:
    """A non-blocking listening socket. "" means every address, IPv6 and IPv4 where possible.
    With `reuse_port`, several processes may listen on the same port (SO_REUSEPORT) and the
    kernel spreads new connections across them."""
    if host == "" and socket.has_dualstack_ipv6():
        sock = socket.create_server(
            ("", port),
            family=socket.AF_INET6,
            backlog=backlog,
            dualstack_ipv6=True,
            reuse_port=reuse_port,
        )
    else:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.create_server(
            (host or "0.0.0.0", port), family=family, backlog=backlog, reuse_port=reuse_port
        )
    sock.setblocking(False)
    return sock


def peer_host(address: tuple[object, ...]) -> str:
    host = str(address[0])
    if host.startswith("::ffff:") and "." in host:
        host = host[7:]
    if host.startswith(":"):
        host = "0" + host  # a host starting with ':' would read as a trailing parameter
    return host


class Listener:
    __slots__ = ("reactor", "sock", "tls", "websocket", "backoff", "paused", "complained_at")

    def __init__(
        self,
        reactor: Reactor,
        sock: socket.socket,
        tls: ssl.SSLContext | None = None,
        websocket: bool = False,
    ) -> None:
        self.reactor = reactor
        self.sock = sock
        self.tls = tls
        self.websocket = websocket  # clients speak IRC over WebSocket (net/websocket.py)
        self.backoff = ACCEPT_BACKOFF_START
        self.paused = False
        self.complained_at: float | None = None

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def on_event(self, mask: int) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                sock, address = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause(exc)
                    return
                continue  # ECONNABORTED and friends: that one client is gone, keep accepting
            self.backoff = ACCEPT_BACKOFF_START
            self.reactor.add_connection(sock, peer_host(address), self)

    def _pause(self, exc: OSError) -> None:
        """Stop accepting for a while instead of spinning on a listener that stays readable."""
        now = self.reactor.now
        if self.complained_at is None or now - self.complained_at >= ACCEPT_COMPLAIN_EVERY:
            log.warning(
                "accept failed (%s); pausing new connections, existing ones keep going",
                exc.strerror,
            )
            self.complained_at = now
        self.paused = True
        self.reactor.selector.unregister(self.sock)
        self.reactor.timers.call_at(self.reactor.now + self.backoff, self._resume)
        self.backoff = min(self.backoff * 2, ACCEPT_BACKOFF_MAX)

    def _resume(self) -> None:
        if self.paused and not self.reactor.stopping:
            self.paused = False
            self.reactor.selector.register(self.sock, EVENT_READ, self)

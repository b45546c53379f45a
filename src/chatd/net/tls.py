"""TLS: the server context and the non-blocking handshake that precedes a TLS connection.

The handshake runs in the reactor like any other socket work: SSLWantReadError and
SSLWantWriteError set the read or write interest, a timer bounds it, and a failure costs one
log line. Only a completed handshake becomes a Connection (and a user the chat state sees).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
from selectors import EVENT_READ, EVENT_WRITE
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .reactor import Reactor
    from .timers import Timer

log = logging.getLogger("chatd")


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A server context with TLS 1.2 as the floor. Raises OSError/SSLError for bad files."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context


class Handshake:
    __slots__ = ("reactor", "sock", "host", "websocket", "timer", "events")

    def __init__(
        self, reactor: Reactor, sock: ssl.SSLSocket, host: str, websocket: bool = False
    ) -> None:
        self.reactor = reactor
        self.sock = sock
        self.host = host
        self.websocket = websocket  # a WebSocket handshake follows (wss://)
        self.events = EVENT_READ
        reactor.selector.register(sock, EVENT_READ, self)
        self.timer: Timer = reactor.timers.call_at(
            reactor.now + reactor.settings.tls_handshake_timeout, self.timed_out
        )

    def on_event(self, mask: int) -> None:
        self.step()

    def step(self) -> None:
        try:
            self.sock.do_handshake()
        except ssl.SSLWantReadError:
            self._interest(EVENT_READ)
            return
        except ssl.SSLWantWriteError:
            self._interest(EVENT_WRITE)
            return
        except (ssl.SSLError, OSError) as exc:
            self.fail(getattr(exc, "reason", None) or str(exc))
            return
        self.timer.cancel()
        self.reactor.selector.unregister(self.sock)
        self.reactor.open_connection(self.sock, self.host, tls=True, websocket=self.websocket)

    def timed_out(self) -> None:
        self.fail("handshake timeout")

    def fail(self, reason: str) -> None:
        log.info("TLS handshake with %s failed: %s", self.host, reason)
        self.timer.cancel()
        with contextlib.suppress(KeyError, ValueError):
            self.reactor.selector.unregister(self.sock)
        self.sock.close()
        self.reactor.release(self.host)

    def _interest(self, events: int) -> None:
        if events != self.events:
            self.events = events
            self.reactor.selector.modify(self.sock, events, self)


def wrap(context: ssl.SSLContext, sock: socket.socket) -> ssl.SSLSocket:
    return context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)

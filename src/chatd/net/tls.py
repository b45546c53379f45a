"""TLS: the server context and the non-blocking handshake that precedes a TLS connection.

The handshake runs in the reactor like any other socket work: SSLWantReadError and
SSLWantWriteError set the read or write interest, a timer bounds it, and a failure costs one
log line. Only a completed handshake becomes a Connection (and a user the chat state sees),
with the SHA-256 fingerprint of the client's certificate if it sent one (SASL EXTERNAL).
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
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
    request_client_certificates(context)
    return context


# -- client certificates (CertFP) -----------------------------------------------------------------
#
# IRC clients identify with self-signed certificates: what matters is the key they prove to
# hold (TLS checks that signature in every case) and the certificate's fingerprint, which an
# account registers (NickServ CERT ADD). Python's ssl module can ask for a client certificate
# only with chain verification (CERT_OPTIONAL), which refuses every self-signed one, and has
# no verify callback. So the context's callback is set through OpenSSL itself: one that
# accepts the chain; the proof of possession is still checked by the handshake. If that cannot
# be done on this Python, client certificates are simply not asked for (logged once).

_VERIFY_PEER = 1  # SSL_VERIFY_PEER
_VerifyCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_int, ctypes.c_void_p)


def _accept(preverify_ok: int, store: int | None) -> int:
    return 1


_accept_chain = _VerifyCallback(_accept)  # kept referenced for as long as contexts use it


def request_client_certificates(context: ssl.SSLContext) -> bool:
    """Ask TLS clients for an optional certificate, accepting self-signed ones. False if
    this Python's ssl module does not allow it (then no client certificates are asked for)."""
    try:
        import _ssl

        libssl = ctypes.CDLL(_ssl.__file__)
        get_mode = libssl.SSL_CTX_get_verify_mode
        get_mode.argtypes, get_mode.restype = [ctypes.c_void_p], ctypes.c_int
        set_verify = libssl.SSL_CTX_set_verify
        set_verify.argtypes = [ctypes.c_void_p, ctypes.c_int, _VerifyCallback]
        set_verify.restype = None
        # the SSL_CTX pointer follows the object header in CPython's PySSLContext
        ctx = ctypes.c_void_p.from_address(id(context) + object.__basicsize__).value
        context.verify_mode = ssl.CERT_OPTIONAL
        if not ctx or get_mode(ctx) != _VERIFY_PEER:
            raise RuntimeError("unexpected SSLContext layout")
        context.verify_mode = ssl.CERT_NONE
        if get_mode(ctx) != 0:
            raise RuntimeError("unexpected SSLContext layout")
        set_verify(ctx, _VERIFY_PEER, _accept_chain)
    except (OSError, AttributeError, RuntimeError, ValueError) as exc:
        context.verify_mode = ssl.CERT_NONE
        log.warning("TLS client certificates are not available (SASL EXTERNAL off): %s", exc)
        return False
    return context.verify_mode == ssl.CERT_OPTIONAL


def fingerprint(sock: ssl.SSLSocket) -> str | None:
    """The SHA-256 fingerprint (lower-case hex) of the client's certificate, if it sent one."""
    try:
        der = sock.getpeercert(binary_form=True)
    except (ValueError, OSError):
        return None
    return hashlib.sha256(der).hexdigest() if der else None


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
        self.reactor.open_connection(
            self.sock, self.host, tls=True, websocket=self.websocket, certfp=fingerprint(self.sock)
        )

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

"""A blocking WebSocket IRC client for the tests: wsproto on a plain (or TLS) socket.

It is an `ircclient.Client` whose bytes go through a WebSocket: every message received is one
line (so `expect`, `register`, `join`, `sync` work unchanged), and `send` sends each line as one
message. It also keeps what a WebSocket test looks at: the handshake's answer, the kind of every
message (text or binary), and the close frame.
"""

from __future__ import annotations

import os
import ssl
import struct
import time

from ircclient import DEADLINE, Client
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

TEXT = "text.ircv3.net"
BINARY = "binary.ircv3.net"


def masked_frame(opcode: int, payload: bytes, fin: bool = True, mask: bool = True) -> bytes:
    """One client frame built by hand: for input that wsproto would refuse to produce."""
    first = (0x80 if fin else 0) | opcode
    length = len(payload)
    if length < 126:
        head = struct.pack("!BB", first, (0x80 if mask else 0) | length)
    elif length < 65536:
        head = struct.pack("!BBH", first, (0x80 if mask else 0) | 126, length)
    else:
        head = struct.pack("!BBQ", first, (0x80 if mask else 0) | 127, length)
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


class WsClient(Client):
    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
        subprotocols: tuple[str, ...] = (TEXT,),
        origin: str | None = None,
        handshake: bool = True,
        rcvbuf: int | None = None,
    ) -> None:
        super().__init__(port, host, tls, rcvbuf)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.origin = origin
        self.subprotocols = subprotocols
        self.accepted: AcceptConnection | None = None
        self.rejected: RejectConnection | None = None
        self.reject_body = b""
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.kinds: list[str] = []  # "text" or "binary", one per message received
        self.pings = 0  # WebSocket pings answered
        self._partial: list[bytes] = []
        self._raw = b""  # bytes received before the handshake (a refusal without HTTP)
        self.binary = BINARY in subprotocols[:1]
        if handshake:
            self.handshake()

    # -- the handshake -------------------------------------------------------------------------

    def handshake(self) -> None:
        headers = [(b"Origin", self.origin.encode())] if self.origin else []
        request = Request(
            host="localhost",
            target="/",
            subprotocols=list(self.subprotocols),
            extra_headers=headers,
        )
        self.sock.sendall(self.ws.send(request))
        self.wait_handshake()

    def wait_handshake(self, timeout: float = DEADLINE) -> None:
        end = time.monotonic() + timeout
        while self.accepted is None and self.rejected is None and not self.closed:
            remaining = end - time.monotonic()
            if remaining <= 0:
                raise AssertionError("no answer to the WebSocket handshake")
            self._read(remaining)
        if self.accepted is not None:
            self.binary = self.accepted.subprotocol == BINARY

    def wait_response(self, timeout: float = DEADLINE) -> tuple[int, str]:
        """The status and body of a refused handshake (the socket closes after it)."""
        self.wait_handshake(timeout)
        assert self.rejected is not None, f"the handshake was not refused: {self.accepted}"
        self.wait_closed(timeout)
        return self.rejected.status_code, self.reject_body.decode()

    # -- lines ---------------------------------------------------------------------------------

    def send(self, *lines: str | bytes) -> None:
        data = b""
        for line in lines:
            if self.binary:
                raw = line if isinstance(line, bytes) else line.encode()
                data += self.ws.send(BytesMessage(raw))
            else:
                text = line if isinstance(line, str) else line.decode()
                data += self.ws.send(TextMessage(text))
        self.sock.sendall(data)

    def send_close(self, code: int = 1000, reason: str = "") -> None:
        self.sock.sendall(self.ws.send(CloseConnection(code, reason)))

    def _read(self, timeout: float) -> bool:
        self.sock.settimeout(max(timeout, 0.001))
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, ssl.SSLWantReadError):
            return False
        except ConnectionResetError:
            data = b""
        if not data:
            self.closed = True
            return False
        if self.ws.state is ConnectionState.CLOSED:
            return True  # after the close frame: nothing more is a message
        try:
            self.ws.receive_data(data)
        except Exception:  # not HTTP at all: kept raw for the test to look at
            self._raw += data
            return True
        for event in self.ws.events():
            self._event(event)
        return True

    def _event(self, event: object) -> None:
        if isinstance(event, AcceptConnection):
            self.accepted = event
        elif isinstance(event, RejectConnection):
            self.rejected = event
        elif isinstance(event, RejectData):
            self.reject_body += event.data
        elif isinstance(event, TextMessage | BytesMessage):
            chunk = event.data.encode() if isinstance(event.data, str) else bytes(event.data)
            self._partial.append(chunk)
            if event.message_finished:
                payload = b"".join(self._partial)
                self._partial = []
                self.kinds.append("text" if isinstance(event, TextMessage) else "binary")
                assert b"\r" not in payload and b"\n" not in payload, payload
                self.lines.append(payload.decode("utf-8", "replace"))
        elif isinstance(event, Ping):
            self.pings += 1
            self.sock.sendall(self.ws.send(event.response()))
        elif isinstance(event, CloseConnection):
            self.close_code, self.close_reason = event.code, event.reason
            if self.ws.state is ConnectionState.REMOTE_CLOSING:
                try:
                    self.sock.sendall(self.ws.send(event.response()))
                except OSError:
                    pass

    def wait_close_frame(self, timeout: float = DEADLINE) -> int:
        end = time.monotonic() + timeout
        while self.close_code is None:
            if time.monotonic() > end or self.closed:
                raise AssertionError(f"no close frame; got {self.lines[-10:]}")
            self._read(end - time.monotonic())
        return self.close_code

"""IRC over WebSocket (the IRCv3 WebSocket specification), so that web clients reach chatd.

Two layers, as everywhere in chatd:

- `IrcWebSocket` is sans-IO. Bytes from the socket go in; out come the bytes to send back (the
  HTTP answer to the upgrade request, pongs, close frames), complete IRC lines, and whether the
  connection opened or ends. IRC output goes the other way: `frame()` turns CRLF-terminated
  lines into one WebSocket message each. The WebSocket protocol itself (the upgrade handshake,
  frames, masking, fragments, UTF-8 checks of text frames, close codes) is wsproto's.
- `WebSocketConnection` is a `Connection` whose bytes pass through that object. The chat core
  sees an ordinary client: the same `receive` of complete lines (so flood control, the line
  limit and the unregistered-line limit apply unchanged), the same `write`/flush/sendq path (a
  slow reader is dropped at its sendq like any client), the same keepalive (IRC's PING/PONG,
  carried in messages). The client exists for the core only once the handshake is done.

The rules (docs/protocol.md "WebSocket"): subprotocols `binary.ircv3.net` and `text.ircv3.net`,
in the client's order of preference; none offered: text out, either kind in. One IRC line per
message, without CR LF (a trailing one is tolerated; line breaks inside a message split it, as
the same bytes would over TCP). Text messages carry UTF-8 only: what the server sends is made
valid (U+FFFD), what a client sends that is not is closed with 1007. An `Origin` header must be
in `websocket_origins`; a request without one is not from a browser page and is let in (such a
client could as well use the TCP port). Bad input gets an HTTP error or a close code, never
more than that one connection.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import TYPE_CHECKING

from wsproto import ConnectionType, WSConnection
from wsproto.connection import Connection as FrameConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import RemoteProtocolError

from ..limits import WS_HANDSHAKE_MAX, WS_MESSAGE_MAX
from ..proto.framing import Line, LineReader
from .connection import Connection

if TYPE_CHECKING:
    import socket

    from .reactor import Reactor

log = logging.getLogger("chatd")

BINARY = "binary.ircv3.net"
TEXT = "text.ircv3.net"
SUBPROTOCOLS = (BINARY, TEXT)

# What the peers of a client see as its QUIT when its WebSocket broke (the client itself gets
# the close frame with the details).
_CLOSE_TEXT: dict[int, str] = {
    CloseReason.INVALID_FRAME_PAYLOAD_DATA: "invalid UTF-8 in a text message",
    CloseReason.MESSAGE_TOO_BIG: "message too big",
}
# An upgrade request starts with a request line; anything else (an IRC client's NICK, a TLS
# ClientHello) is answered at once rather than at the handshake timeout.
_REQUEST_LINE = re.compile(rb"[A-Z]+ \S+ HTTP/1\.[0-9]\r?")
_NOT_WEBSOCKET = (
    "this port speaks IRC over WebSocket (subprotocols binary.ircv3.net, text.ircv3.net); "
    "IRC clients connect to the IRC port"
)


# The last output framed, per kind (text frames or binary): delivery hands every member of a
# room the same bytes object, and a server's frames (unmasked, no extension) depend on nothing
# but the payload, so each member after the first costs an identity check. One tuple per kind,
# replaced whole, so reactors on several threads (tests) never see half of another's entry.
_FRAMED: dict[bool, tuple[bytes, bytes]] = {}


def http_error(status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> bytes:
    """A complete HTTP/1.1 error response whose body says why, in one line."""
    body = f"chatd: {reason}\n".encode()
    head = [
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
        "Content-Type: text/plain; charset=utf-8",
        f"Content-Length: {len(body)}",
        "Connection: close",
        *(f"{name}: {value}" for name, value in headers),
    ]
    return "\r\n".join(head).encode() + b"\r\n\r\n" + body


@functools.lru_cache(maxsize=256)
def _glob(pattern: str) -> re.Pattern[str]:
    # '*' stands for host or port characters only: it never crosses into the scheme or a path
    return re.compile(re.escape(pattern).replace(r"\*", "[a-z0-9.-]*"))


def origin_allowed(origin: str | None, allowed: Sequence[str]) -> bool:
    """Whether a page from `origin` may connect. No Origin header: not a browser page."""
    if origin is None:
        return True
    origin = origin.lower()
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern in ("*", origin):
            return True
        if "*" in pattern and _glob(pattern).fullmatch(origin):
            return True
    return False


class Received:
    """What one batch of bytes from the client came to."""

    __slots__ = ("out", "lines", "opened", "end")

    def __init__(
        self,
        out: bytes = b"",
        lines: list[Line] | None = None,
        opened: bool = False,
        end: str | None = None,
    ) -> None:
        self.out = out  # to send now, before anything else
        self.lines: list[Line] = lines if lines is not None else []  # complete IRC lines
        self.opened = opened  # the handshake is done: the client exists from now on
        self.end = end  # the connection ends, and why (for the log and the peers' QUIT)

    def __repr__(self) -> str:
        return f"<Received out={self.out!r} lines={self.lines!r} {self.opened} {self.end!r}>"


class IrcWebSocket:
    """One WebSocket connection carrying IRC, without I/O."""

    __slots__ = (
        "ws",
        "reader",
        "origins",
        "open",
        "text",
        "subprotocol",
        "origin",
        "head",
        "message_bytes",
        "ends_with_lf",
        "close_code",
        "close_reason",
    )

    def __init__(self, reader: LineReader, origins: Sequence[str]) -> None:
        self.ws: WSConnection | FrameConnection = WSConnection(ConnectionType.SERVER)
        self.reader = reader  # bounded like a TCP client's: the line limit applies per message
        self.origins = origins
        self.open = False
        self.text = True  # text frames out (binary.ircv3.net: binary frames)
        self.subprotocol: str | None = None
        self.origin: str | None = None
        self.head = 0  # bytes of the upgrade request so far (bounded by WS_HANDSHAKE_MAX)
        self.message_bytes = 0  # of the message being received
        self.ends_with_lf = False
        self.close_code: int = CloseReason.NORMAL_CLOSURE
        self.close_reason: str | None = None

    # -- input ---------------------------------------------------------------------------------

    def receive(self, data: bytes) -> Received:
        if not self.open:
            return self._handshake(data)
        if self.ws.state is not ConnectionState.OPEN:
            return Received()  # closing: what the client still sends is not read
        ws = self.ws
        ws.receive_data(data)
        lines: list[Line] = []
        out: list[bytes] = []
        pong: Ping | None = None
        end: str | None = None
        reader = self.reader
        for event in ws.events():
            if isinstance(event, TextMessage | BytesMessage):
                payload = event.data
                chunk = payload.encode() if isinstance(payload, str) else bytes(payload)
                self.message_bytes += len(chunk)
                if self.message_bytes > WS_MESSAGE_MAX:
                    end = self._fail(
                        CloseReason.MESSAGE_TOO_BIG, f"message over {WS_MESSAGE_MAX} bytes"
                    )
                    break
                if chunk:
                    lines += reader.feed(chunk)
                    self.ends_with_lf = chunk.endswith(b"\n")
                if event.message_finished:
                    if not self.ends_with_lf:  # the message's end is the line's end
                        lines += reader.feed(b"\n")
                    self.message_bytes = 0
                    self.ends_with_lf = False
            elif isinstance(event, Ping):
                pong = event  # several in one read: the last one is answered (RFC 6455 5.5.3)
            elif isinstance(event, CloseConnection):
                if ws.state is ConnectionState.REMOTE_CLOSING:  # the client's close frame
                    if pong is not None:
                        out.append(ws.send(pong.response()))
                        pong = None
                    out.append(ws.send(event.response()))
                    end = "Remote host closed the connection"
                else:  # wsproto found the input broken
                    end = self._fail(event.code, event.reason or "protocol error")
                break
        if pong is not None and ws.state is ConnectionState.OPEN:
            out.append(ws.send(pong.response()))
        return Received(b"".join(out), lines, end=end)

    def _fail(self, code: int, detail: str) -> str:
        """The client broke the protocol: close with `code` once the ERROR line is out."""
        self.close_code = code
        self.close_reason = detail
        return "WebSocket: " + _CLOSE_TEXT.get(code, "protocol error")

    def _handshake(self, data: bytes) -> Received:
        if not data:
            return Received()
        first = self.head == 0
        self.head += len(data)
        if self.head > WS_HANDSHAKE_MAX:
            return self.refuse(431, f"the upgrade request is over {WS_HANDSHAKE_MAX} bytes")
        if first:
            end = data.find(b"\n")
            if not b"A"[0] <= data[0] <= b"Z"[0] or (
                end >= 0 and not _REQUEST_LINE.fullmatch(data[:end])
            ):
                return self.refuse(400, _NOT_WEBSOCKET)
        try:
            self.ws.receive_data(data)
            events = list(self.ws.events())
        except UnicodeError:  # wsproto decodes Host (IDNA) and the subprotocols (ASCII)
            return self.refuse(400, "not a WebSocket upgrade request: a header is not ASCII")
        except RemoteProtocolError as exc:
            text = str(exc)
            if "Upgrade" in text:  # a plain HTTP request (a browser opened the URL, say)
                return self.refuse(426, _NOT_WEBSOCKET, [("Upgrade", "websocket")])
            hint = exc.event_hint
            if not isinstance(hint, RejectConnection):
                return self.refuse(400, f"not a WebSocket upgrade request: {text}")
            headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in hint.headers]
            return self.refuse(
                hint.status_code, f"not a WebSocket upgrade request: {text}", headers
            )
        for event in events:
            if isinstance(event, Request):
                return self._request(event)
        return Received()  # the rest of the request is still on its way

    def _request(self, request: Request) -> Received:
        origin = next((v for k, v in request.extra_headers if k == b"origin"), None)
        self.origin = origin.decode("latin-1") if origin is not None else None
        if not origin_allowed(self.origin, self.origins):
            return self.refuse(403, f"pages from {self.origin} may not connect (websocket-origins)")
        offered = request.subprotocols
        chosen = next((p for p in offered if p in SUBPROTOCOLS), None)
        if offered and chosen is None:
            return self.refuse(
                400,
                f"no supported subprotocol in {', '.join(offered)}: offer {BINARY} or {TEXT}",
            )
        handshake = self.ws
        assert isinstance(handshake, WSConnection)
        out = handshake.send(AcceptConnection(subprotocol=chosen))
        opened = handshake.connection
        assert opened is not None  # wsproto has one once it accepted
        self.ws = opened  # the frames' state alone: the handshake's HTTP parser is let go
        self.open = True
        self.subprotocol = chosen
        self.text = chosen != BINARY
        return Received(out, opened=True)

    def refuse(self, status: int, reason: str, headers: Sequence[tuple[str, str]] = ()) -> Received:
        """Answer the upgrade request with an HTTP error; the connection ends."""
        return Received(http_error(status, reason, headers), end=f"{status} {reason}")

    # -- output --------------------------------------------------------------------------------

    def frame(self, data: bytes) -> bytes:
        """CRLF-terminated IRC lines as one WebSocket message each (nothing once closing)."""
        ws = self.ws
        if not self.open or ws.state is not ConnectionState.OPEN:
            return b""
        last = _FRAMED.get(self.text)
        if last is not None and last[0] is data:
            return last[1]  # the same broadcast to the next WebSocket member of the room
        lines = data.split(b"\r\n")
        if not lines[-1]:
            lines.pop()
        if self.text:
            frames = [ws.send(TextMessage(l.decode("utf-8", "replace"))) for l in lines]
        else:
            frames = [ws.send(BytesMessage(l)) for l in lines]
        framed = b"".join(frames)
        _FRAMED[self.text] = (data, framed)
        return framed

    def close_frame(self, going_away: bool = False) -> bytes:
        """The close frame that ends an open connection (b"" if there is nothing to close)."""
        ws = self.ws
        if not self.open or ws.state is not ConnectionState.OPEN:
            return b""
        code = self.close_code
        if going_away and code == CloseReason.NORMAL_CLOSURE:
            code = CloseReason.GOING_AWAY
        return ws.send(CloseConnection(code, self.close_reason))


class WebSocketConnection(Connection):
    """A client socket on a WebSocket listener (plain, or after the TLS handshake).

    Connection's own paths stay as they are: this class only sits between the socket and them.
    `write` frames what the core sends, then queues it through Connection.write (the sendq
    counts framed bytes); `close` adds the close frame; reads go through `IrcWebSocket`."""

    __slots__ = ("proto", "cut", "severed")

    def __init__(
        self, reactor: Reactor, sock: socket.socket, host: str, max_line: int, tls: bool = False
    ) -> None:
        super().__init__(reactor, sock, host, max_line, tls)
        self.proto = IrcWebSocket(self.reader, tuple(reactor.settings.websocket_origins))
        self.cut = False  # the head of the output queue is the rest of a partly sent frame
        self.severed = False  # output dropped mid-frame: nothing more can be framed

    def __repr__(self) -> str:
        return f"<WebSocketConnection {self.host} {self.client!r}>"

    def start(self) -> None:
        """Accepted (and past TLS): wait for the upgrade request, for a bounded time."""
        self._schedule(self.reactor.now + self.reactor.settings.websocket_handshake_timeout)

    # -- input ---------------------------------------------------------------------------------

    def on_readable(self) -> None:
        data = self.read()
        if data is None:
            return
        got = self.proto.receive(data)
        if got.out:
            Connection.write(self, got.out)
        if got.opened:
            self._opened()
        if got.lines and self.client is not None and not self.closing:
            wake = self.core.receive(self.client, got.lines)
            if wake is not None and not self.closing:
                self.wake_at(wake)
        if got.end is not None:
            self._end(got.end)

    def _opened(self) -> None:
        proto = self.proto
        log.info(
            "WebSocket %s: %s, Origin %s",
            self.host,
            proto.subprotocol or "no subprotocol (text)",
            proto.origin or "none",
        )
        self._forget_deadline()  # the handshake's
        self.client = self.core.connect(self.write, self.close, self.host, self.tls, output=self)
        self.on_timer()  # arms the registration and keepalive timer

    def _end(self, reason: str) -> None:
        if self.client is None:
            log.info("WebSocket handshake from %s refused: %s", self.host, reason)
        elif not self.closing:
            self.core.lost(self.client, reason)  # peers see the QUIT, the client the ERROR
        self.close()

    def on_timer(self) -> None:
        if self.client is not None:
            super().on_timer()
            return
        self.deadline = None  # the handshake's deadline: it took too long
        if self.entry is not None:
            self.entry.conn = None
            self.entry = None
        if not self.closing:
            got = self.proto.refuse(408, "the WebSocket handshake took too long")
            Connection.write(self, got.out)
            self._end(got.end or "")

    # -- output --------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        if self.closing or self.severed:
            return
        framed = self.proto.frame(data)
        if framed:
            Connection.write(self, framed)

    def flush(self) -> None:
        before = self.out_len
        super().flush()
        if not self.out_len:
            self.cut = False
        elif self.out_len < before:
            self.cut = True

    def drop_output(self) -> None:
        """The sendq overflowed: drop the queue. If a frame was half sent, the stream cannot
        carry another one: the connection closes without the ERROR line and close frame."""
        super().drop_output()
        if self.cut:
            self.severed = True
            self.cut = False

    def close(self) -> None:
        if self.closing:
            return
        if not self.severed:
            frame = self.proto.close_frame(going_away=self.reactor.stopping)
            if frame:
                Connection.write(self, frame)
        super().close()

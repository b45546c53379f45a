"""One client socket: its input buffer, output queue and timer entry.

The Connection moves bytes between the socket and the reactor's core (`net/core.py`), which it
knows only by that interface: complete lines go to `core.receive`, the socket's end to
`core.lost`. It never writes with a blocking call: `write` only queues and flags the connection;
the reactor flushes every flagged connection once per loop iteration, and a send the kernel only
partly takes leaves the rest queued with EVENT_WRITE armed until it drains.
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from selectors import EVENT_READ, EVENT_WRITE
from typing import TYPE_CHECKING, Any

from ..limits import LINGER, RECV_SIZE, TLS_READ_MAX
from ..proto.framing import LineReader

if TYPE_CHECKING:
    from .reactor import Reactor
    from .timers import Timer

log = logging.getLogger("chatd")

_TLS_WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
# An idle connection holds no list of its own: most of ten thousand connections are idle.
_NOTHING: list[bytes] = []  # never appended to: write() replaces it while out_len == 0


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return "Connection reset by peer"
    if exc.errno == errno.ETIMEDOUT:
        return "Connection timed out"
    return f"Read error: {exc.strerror or exc}"


class _Deadline:
    """A connection's entry in the timer heap. Only the newest one points at the connection;
    closing or rescheduling lets go of it, so a stale heap entry keeps nothing alive."""

    __slots__ = ("conn",)

    def __init__(self, conn: Connection) -> None:
        self.conn: Connection | None = conn

    def live(self, when: float) -> bool:
        conn = self.conn
        return conn is not None and when == conn.deadline

    def fire(self) -> None:
        conn = self.conn
        if conn is not None:
            conn.on_timer()

    def __repr__(self) -> str:
        return f"<deadline of {self.conn!r}>"


class Connection:
    __slots__ = (
        "reactor",
        "core",
        "sock",
        "host",
        "tls",
        "client",
        "reader",
        "out",
        "out_len",
        "flagged",
        "writing",
        "closing",
        "closed",
        "overflowed",
        "deadline",
        "entry",
        "timer",
    )

    def __init__(
        self, reactor: Reactor, sock: socket.socket, host: str, max_line: int, tls: bool = False
    ) -> None:
        self.reactor = reactor
        self.core = reactor.core
        self.sock = sock
        self.host = host
        self.tls = tls
        self.client: Any = None  # the core's handle, set right after construction
        self.reader = LineReader(max_line, keep_empty=True)
        self.out: list[bytes] = _NOTHING  # replaced by a fresh list when output arrives
        self.out_len = 0
        self.flagged = False  # on the reactor's list of connections to flush
        self.writing = False  # EVENT_WRITE armed
        self.closing = False
        self.closed = False
        self.overflowed = False
        self.deadline: float | None = None  # when on_timer runs next
        self.entry: _Deadline | None = None  # the heap entry for that deadline
        self.timer: Timer | None = None  # the linger of a closing connection

    def __repr__(self) -> str:
        return f"<Connection {self.host} {self.client!r}>"

    # -- events from the selector ---------------------------------------------------------------

    def on_event(self, mask: int) -> None:
        if mask & EVENT_READ and not self.closing:
            self.on_readable()
        if mask & EVENT_WRITE and not self.closed:
            self.flush()

    def on_readable(self) -> None:
        try:
            data = self._recv_tls() if self.tls else self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self.lost(_reason(exc))
            return
        if not data:
            self.lost("Remote host closed the connection")
            return
        lines = self.reader.feed(data)
        if lines:
            wake = self.core.receive(self.client, lines)
            if wake is not None and not self.closing:
                self.wake_at(wake)

    def _recv_tls(self) -> bytes:
        """Read TLS records until the socket has no more, bounded per wake-up.

        Decrypted bytes left inside the TLS object (`pending()`) do not make the socket
        readable again, so a connection stopped by the bound is put on the reactor's ready list.
        """
        sock: ssl.SSLSocket = self.sock  # type: ignore[assignment]
        chunks: list[bytes] = []
        total = 0
        while total < TLS_READ_MAX:
            try:
                chunk = sock.recv(RECV_SIZE)
            except _TLS_WANT:
                break
            if not chunk:
                if not chunks:
                    return b""
                break
            chunks.append(chunk)
            total += len(chunk)
        else:
            if sock.pending():
                self.reactor.ready.append(self)
        if not chunks:
            raise BlockingIOError
        return b"".join(chunks)

    # -- output ------------------------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Queue bytes for the client (called by the chat state, possibly for many clients)."""
        if self.closing or self.overflowed:
            return
        if self.out_len:
            self.out.append(data)
        else:
            self.out = [data]
        self.out_len += len(data)
        if not self.flagged:
            self.flagged = True
            self.reactor.dirty.append(self)
        if self.out_len > self.reactor.sendq:
            self.overflowed = True
            self.reactor.overflowed.append(self)

    def flush(self) -> None:
        """One send of everything queued; keep what the kernel does not take."""
        out = self.out
        if out:
            data = out[0] if len(out) == 1 else b"".join(out)
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError, *_TLS_WANT):
                sent = 0
            except OSError as exc:
                self.lost(_reason(exc))
                return
            if sent < len(data):
                self.out = [data[sent:]]
                self.out_len = len(data) - sent
                if self.closing:
                    self._interest(EVENT_WRITE)  # stop read events: nothing more is read
                elif not self.writing:
                    self._interest(EVENT_READ | EVENT_WRITE)
                return
            self.out = _NOTHING
            self.out_len = 0
        if self.closing:
            self.finish_close()
        elif self.writing:
            self._interest(EVENT_READ)

    def drop_output(self) -> None:
        self.out = _NOTHING
        self.out_len = 0
        self.overflowed = False

    def _interest(self, events: int) -> None:
        self.writing = bool(events & EVENT_WRITE)
        self.reactor.selector.modify(self.sock, events, self)

    # -- closing -------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop reading; close once the queued output (the ERROR line) is flushed or LINGER
        passes."""
        if self.closing:
            return
        self.closing = True
        if not self.out:
            self.finish_close()
            return
        if not self.flagged:
            self._interest(EVENT_WRITE)
        # else: this iteration's flush comes first and usually closes it without a selector
        # change; if the kernel takes only part, flush() switches to write interest
        self._forget_deadline()
        self.timer = self.reactor.timers.call_at(self.reactor.now + LINGER, self.finish_close)

    def lost(self, reason: str) -> None:
        """The socket failed or hit EOF: nothing more can be sent."""
        if self.closed:
            return
        self.out = _NOTHING
        self.out_len = 0
        self.closing = True  # queue nothing more
        if self.client is not None:
            self.core.lost(self.client, reason)
        self.finish_close()

    def finish_close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.closing = True
        self._forget_deadline()
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.reactor.forget(self)
        try:
            self.sock.close()
        except OSError:
            pass
        self.client = None  # nothing more goes to the core; the handle may be freed

    # -- timers --------------------------------------------------------------------------------

    def on_timer(self) -> None:
        """The client's deadline: the core decides (flood wake-up, registration timeout,
        keepalive) and names the next one."""
        self.deadline = None
        if self.entry is not None:
            self.entry.conn = None  # the entry that fired is spent
            self.entry = None
        deadline = self.core.on_timer(self.client)
        if deadline is not None and not self.closing:
            self._schedule(deadline)

    def wake_at(self, when: float) -> None:
        """Run on_timer at `when` if that is earlier than the current deadline."""
        current = self.deadline
        if current is not None and current <= when:
            return
        self._forget_deadline()
        self._schedule(when)

    def _schedule(self, when: float) -> None:
        self.deadline = when
        self.entry = _Deadline(self)
        self.reactor.timers.schedule(when, self.entry)

    def _forget_deadline(self) -> None:
        self.deadline = None
        if self.entry is not None:
            self.entry.conn = None
            self.entry = None
            self.reactor.timers.went_stale()

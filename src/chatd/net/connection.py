"""One client socket: its input buffer, held-back lines, output queue and timers.

The Connection moves bytes between the socket and the chat state. It never writes with a
blocking call: `write` only queues and flags the connection; the reactor flushes every flagged
connection once per loop iteration, and a send the kernel only partly takes leaves the rest
queued with EVENT_WRITE armed until it drains.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import socket
import ssl
from collections import deque
from selectors import EVENT_READ, EVENT_WRITE
from typing import TYPE_CHECKING

from ..proto.framing import TOO_LONG, Line, LineReader

if TYPE_CHECKING:
    from ..server.user import User
    from .reactor import Reactor
    from .timers import Timer

log = logging.getLogger("chatd")

RECV_SIZE = 65536
TLS_READ_MAX = 4 * RECV_SIZE  # decrypted bytes taken per wake-up before others get a turn
_TLS_WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
# An idle connection holds no list of its own: most of ten thousand connections are idle.
_NOTHING: list[bytes] = []  # never appended to: write() replaces it while out_len == 0
LINGER = 2.0  # seconds a closing connection may take to drain its last lines


def _reason(exc: OSError) -> str:
    if exc.errno in (errno.ECONNRESET, errno.EPIPE):
        return "Connection reset by peer"
    if exc.errno == errno.ETIMEDOUT:
        return "Connection timed out"
    return f"Read error: {exc.strerror or exc}"


class Connection:
    __slots__ = (
        "reactor",
        "sock",
        "host",
        "tls",
        "user",
        "reader",
        "out",
        "out_len",
        "flagged",
        "writing",
        "closing",
        "closed",
        "overflowed",
        "pending",
        "deadline",
        "timer",
        "wake",
    )

    def __init__(
        self, reactor: Reactor, sock: socket.socket, host: str, max_line: int, tls: bool = False
    ) -> None:
        self.reactor = reactor
        self.sock = sock
        self.host = host
        self.tls = tls
        self.user: User = None  # type: ignore[assignment]  # set right after construction
        self.reader = LineReader(max_line)
        self.out: list[bytes] = _NOTHING  # replaced by a fresh list when output arrives
        self.out_len = 0
        self.flagged = False  # on the reactor's list of connections to flush
        self.writing = False  # EVENT_WRITE armed
        self.closing = False
        self.closed = False
        self.overflowed = False
        self.pending: deque[Line] | None = None  # lines held back by flood control
        self.deadline: float | None = None  # keepalive: this object is its own timer entry
        self.timer: Timer | None = None  # the linger of a closing connection
        self.wake: Timer | None = None

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
        if not lines:
            return
        if self.user.flood is None and self.pending is None:
            self._handle_all(lines)
        else:
            if self.pending is None:
                self.pending = deque()
            self.pending.extend(lines)
            self.process_pending()

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

    def _handle_all(self, lines: list[Line]) -> None:
        state = self.reactor.state
        user = self.user
        for line in lines:
            if self.closing:
                return
            if line is TOO_LONG:
                state.input_too_long(user)
            else:
                state.handle_line(user, line)  # type: ignore[arg-type]

    def process_pending(self) -> None:
        """Hand held-back lines to the state as fast as the client's flood gate allows."""
        self.wake = None
        pending = self.pending
        if pending is None or self.closing:
            return
        state = self.reactor.state
        user = self.user
        gate = user.flood
        while pending and not self.closing:
            if gate is not None and not gate.take(state.now):
                if len(pending) > state.config.flood_max_queue:
                    state.disconnect(user, "Excess Flood")
                    return
                self.wake = self.reactor.timers.call_at(gate.ready_at(), self.process_pending)
                return
            line = pending.popleft()
            if line is TOO_LONG:
                state.input_too_long(user)
            else:
                state.handle_line(user, line)  # type: ignore[arg-type]
        self.pending = None

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
        self.pending = None
        if self.wake is not None:
            self.wake.cancel()
        if not self.out:
            self.finish_close()
            return
        if not self.flagged:
            self._interest(EVENT_WRITE)
        # else: this iteration's flush comes first and usually closes it without a selector
        # change; if the kernel takes only part, flush() switches to write interest
        self.timer_cancel()
        self.timer = self.reactor.timers.call_at(self.reactor.state.now + LINGER, self.finish_close)

    def lost(self, reason: str) -> None:
        """The socket failed or hit EOF: nothing more can be sent."""
        if self.closed:
            return
        self.out = _NOTHING
        self.out_len = 0
        self.closing = True  # queue nothing more
        if self.user.gone:
            self.finish_close()
        else:
            self.reactor.state.disconnect(self.user, reason)
            self.finish_close()

    def finish_close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.closing = True
        self.timer_cancel()
        if self.wake is not None:
            self.wake.cancel()
        self.reactor.forget(self)
        with contextlib.suppress(OSError):
            self.sock.close()

    # -- timers --------------------------------------------------------------------------------

    def on_timer(self) -> None:
        """Registration timeout and keepalive: the chat state decides, and names the next
        deadline."""
        self.deadline = None
        deadline = self.reactor.state.on_timer(self.user)
        if deadline is not None and not self.closing:
            self.deadline = deadline
            self.reactor.timers.schedule(deadline, self)

    # the timer-entry protocol of net/timers.py
    def live(self, when: float) -> bool:
        return when == self.deadline

    def fire(self) -> None:
        self.on_timer()

    def timer_cancel(self) -> None:
        self.deadline = None
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None

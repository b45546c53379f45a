"""One client socket: its input buffer, output queue and timer entry.

The Connection moves bytes between the socket and the reactor's core (`net/core.py`), which it
knows only by that interface: complete lines go to `core.receive`, the socket's end to
`core.lost`. It never writes with a blocking call: `write` only queues and flags the connection;
the reactor flushes every flagged connection once per loop iteration, and a send the kernel only
partly takes leaves the rest queued with EVENT_WRITE armed until it drains.

The queue is a list of the very bytes objects the chat state wrote: a broadcast appends one
object to every reader's queue, and they stay shared while they wait. A flush joins at most
`FLUSH_CHUNK` bytes of them for one send (a single bigger object is sent as it is); what the
kernel does not take stays as those objects, a partly sent one as a view of its rest, and the
joined copy is freed at once. So a reader that never reads holds references to broadcasts it
shares with everyone else, never a private copy of its backlog (which is how 500 such readers
once kept 548 MB).

Limits, all from the reactor's `NetSettings`: past the hard `sendq` the connection is marked
`overflowed` at once (nothing more is queued; the chat state checks the flag and stops building
replies for it) and dropped at the end of the iteration; over the soft limit for longer than
`sendq_soft_seconds` it is dropped the same way; and the reactor adds every queue into a
server-wide total for the output budget (`accounted`).
"""

from __future__ import annotations

import errno
import logging
import socket
import ssl
from selectors import EVENT_READ, EVENT_WRITE
from typing import TYPE_CHECKING, Any

from ..limits import FLUSH_ALWAYS, FLUSH_BUDGET, FLUSH_CHUNK, LINGER, RECV_SIZE, TLS_READ_MAX
from ..proto.framing import LineReader

if TYPE_CHECKING:
    from .reactor import Reactor
    from .timers import Timer

log = logging.getLogger("chatd")

_TLS_WANT = (ssl.SSLWantReadError, ssl.SSLWantWriteError)
# An idle connection holds no list of its own: most of ten thousand connections are idle.
_NOTHING: list[bytes | memoryview] = []  # never appended to: write() replaces it while empty


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
        "done",
        "accounted",
        "soft_since",
        "deadline",
        "entry",
        "timer",
        "flushed_at",
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
        self.reader = LineReader(
            max_line, keep_empty=True, max_lines=reactor.settings.max_lines_per_read
        )
        self.out: list[bytes | memoryview] = _NOTHING  # a fresh list once output arrives
        self.out_len = 0
        self.done = 0  # bytes sent or dropped so far: `written` is done + out_len
        self.accounted = 0  # out_len as last added into the reactor's server-wide total
        self.soft_since: float | None = None  # since when the queue is over the soft limit
        self.flagged = False  # on the reactor's list of connections to flush
        self.writing = False  # EVENT_WRITE armed
        self.closing = False
        self.closed = False
        self.overflowed = False
        self.deadline: float | None = None  # when on_timer runs next
        self.entry: _Deadline | None = None  # the heap entry for that deadline
        self.timer: Timer | None = None  # the linger of a closing connection
        self.flushed_at = 0.0  # when it was last sent to (the reactor's flush_delay)

    def __repr__(self) -> str:
        return f"<Connection {self.host} {self.client!r}>"

    # -- events from the selector ---------------------------------------------------------------

    def on_event(self, mask: int) -> None:
        if mask & EVENT_READ and not self.closing:
            self.on_readable()
        if mask & EVENT_WRITE and not self.closed:
            self.flush()

    def read(self) -> bytes | None:
        """What the socket has for us now; None when there is nothing (or the link is gone:
        then `lost` has been told why)."""
        try:
            data = self._recv_tls() if self.tls else self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            self.lost(_reason(exc))
            return None
        if not data:
            self.lost("Remote host closed the connection")
            return None
        return data

    def on_readable(self) -> None:
        data = self.read()
        if data is None:
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

    @property
    def written(self) -> int:
        """Bytes queued for this client since it connected (sent, dropped or still waiting): the
        difference across one command is what that command made the server send."""
        return self.done + self.out_len

    def room(self) -> int:
        """Bytes that may still be queued before the hard sendq limit."""
        return 0 if self.overflowed else max(0, self.reactor.settings.sendq - self.out_len)

    def write(self, data: bytes) -> None:
        """Queue bytes for the client (called by the chat state, possibly for many clients)."""
        if self.closing or self.overflowed:
            return
        queued = self.out_len + len(data)
        if queued > self.reactor.soft_limit and self._past_limits(queued):
            return  # not queued: the queue never holds more than the hard limit
        if self.out_len:
            self.out.append(data)
        else:
            self.out = [data]
        self.out_len = queued
        if not self.flagged:
            self.flagged = True
            self.reactor.dirty.append(self)

    def _past_limits(self, queued: int) -> bool:
        """Over the soft limit: start its clock. Past the hard one: overflowed (True)."""
        settings = self.reactor.settings
        if queued > settings.sendq:
            self.overflow()
            return True
        if self.soft_since is None:
            self.soft_since = self.reactor.now
            self.wake_at(self.reactor.now + settings.sendq_soft_seconds)
        return False

    def overflow(self) -> None:
        """Past the limit: queue nothing more, drop the client at the end of this iteration."""
        if not self.overflowed and not self.closing:
            self.overflowed = True
            self.reactor.overflowed.append(self)

    def flush(self) -> None:
        """One send of what is queued, at most FLUSH_CHUNK bytes (joined, or a view of one
        bigger object); what the kernel does not take, or what did not fit the chunk, stays
        queued and EVENT_WRITE is armed for it. Past the reactor's FLUSH_BUDGET for this
        iteration only small queues are sent: a burst to 500 readers is copied into the
        kernel over a few iterations, with every other client served in between."""
        out = self.out
        if out and self.reactor.spent >= FLUSH_BUDGET and self.out_len > FLUSH_ALWAYS:
            # this iteration's output budget is spent: the rest goes next iteration, once the
            # loop has read what everyone else sent (a small queue, a PONG, is never held)
            if self.out_len != self.accounted:
                self.account()
            if self.closing:
                self._interest(EVENT_WRITE)
            elif not self.writing:
                self._interest(EVENT_READ | EVENT_WRITE)
            return
        if out:
            if len(out) == 1 or len(out[0]) >= FLUSH_CHUNK:
                count = 1
            elif self.out_len <= FLUSH_CHUNK:
                count = len(out)  # the usual case: all of it in one join
            else:
                count = _chunk(out)
            if count == 1:
                first = out[0]  # sent as it is, or a view of its first chunk: never copied
                data = first if len(first) <= FLUSH_CHUNK else memoryview(first)[:FLUSH_CHUNK]
                whole = len(first)
            else:
                data = b"".join(out[:count]) if count < len(out) else b"".join(out)
                whole = len(data)
            try:
                sent = self.sock.send(data)
            except (BlockingIOError, InterruptedError, *_TLS_WANT):
                sent = 0
            except OSError as exc:
                self.lost(_reason(exc))
                return
            self.done += sent
            self.reactor.spent += sent
            self.flushed_at = self.reactor.now
            if sent == whole and count == len(out):
                self.out = _NOTHING
                self.out_len = 0
            else:
                self.out = _unsent(out, count, sent)
                self.out_len -= sent
        if self.out_len != self.accounted:
            self.account()
        if self.out:
            if self.soft_since is not None and self.out_len <= self.reactor.soft_limit:
                self.soft_since = None
            if self.closing:
                self._interest(EVENT_WRITE)  # stop read events: nothing more is read
            elif not self.writing:
                self._interest(EVENT_READ | EVENT_WRITE)
            return
        self.soft_since = None
        if self.closing:
            self.finish_close()
        elif self.writing:
            self._interest(EVENT_READ)

    def account(self) -> None:
        """Bring this queue's share of the reactor's server-wide total up to date."""
        queued = self.out_len
        delta = queued - self.accounted
        if delta:
            reactor = self.reactor
            reactor.queued += delta
            self.accounted = queued
            if queued:
                reactor.backlog.add(self)
            else:
                reactor.backlog.discard(self)

    def drop_output(self) -> None:
        self.reactor.released += self.out_len
        self.done += self.out_len
        self.out = _NOTHING
        self.out_len = 0
        self.soft_since = None
        self.overflowed = False
        self.account()

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
        if not self.flagged or self.writing:
            self._interest(EVENT_WRITE)  # and no more read events
        # else: this iteration's flush comes first and usually closes it without a selector
        # change; if the kernel takes only part, flush() switches to write interest
        self._forget_deadline()
        self.timer = self.reactor.timers.call_at(self.reactor.now + LINGER, self.finish_close)

    def lost(self, reason: str) -> None:
        """The socket failed or hit EOF: nothing more can be sent."""
        if self.closed:
            return
        self.drop_output()
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
        if self.out_len or self.accounted:
            self.drop_output()  # what a linger gave up on
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
        since = self.soft_since
        if since is not None:
            held = self.reactor.settings.sendq_soft_seconds
            if self.reactor.now - since >= held:
                self.overflow()  # over the soft limit for too long: dropped like a hard overflow
                return
        deadline = self.core.on_timer(self.client)
        if self.closing:
            return
        if since is not None and self.soft_since is not None:
            self.wake_at(since + self.reactor.settings.sendq_soft_seconds)
        if deadline is not None:
            self.wake_at(deadline)  # unless the callback asked for an earlier one

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


def _unsent(out: list[bytes | memoryview], count: int, sent: int) -> list[bytes | memoryview]:
    """What is left of the queue after `sent` bytes of its first `count` objects went out: the
    objects themselves, never a joined copy, so whatever a broadcast shares stays shared; a
    partly sent object is kept as a view of its rest."""
    first = 0
    while first < count and sent >= len(out[first]):
        sent -= len(out[first])
        first += 1
    rest = out[first:]
    if sent:
        rest[0] = memoryview(rest[0])[sent:]
    return rest


def _chunk(out: list[bytes | memoryview]) -> int:
    """How many queued objects one flush joins: up to FLUSH_CHUNK bytes, and at least one."""
    total = 0
    count = 0
    for item in out:
        size = len(item)
        if count and total + size > FLUSH_CHUNK:
            break
        total += size
        count += 1
        if total >= FLUSH_CHUNK:
            break
    return count

"""The client's only network code: one asyncio connection feeding a Session.

Transport owns the socket (optionally TLS), framing of incoming bytes into lines, writing the
session's outbox, the lag PINGs and the ping timeout, and reconnection with capped exponential
backoff. It runs as a background task on the running event loop (prompt_toolkit's, or the
line mode's), never blocks it, and reports each batch of changes through `on_change` so the
UI can redraw. It holds no chat state of its own: that all lives in the Session.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from chatd.proto.framing import LineReader
from chatd.proto.message import encode

from .session import Session

MAX_LINE = 8191 + 512  # tags + message, as IRCv3 message-tags allows


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int
    tls: bool = False
    insecure: bool = False
    cert: str | None = None  # a TLS client certificate (PEM), for SASL EXTERNAL or CertFP
    key: str | None = None  # its private key, when not in the certificate file

    @property
    def label(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


@dataclass
class Timing:
    connect_timeout: float = 10.0
    ping_interval: float = 30.0
    ping_timeout: float = 90.0
    backoff_min: float = 1.0
    backoff_max: float = 60.0
    quit_timeout: float = 1.0
    # Output pacing, kept under chatd's default flood limit (20 lines at once, then 5/s):
    # a long paste or a big line-mode input trickles out instead of being held or cut off.
    send_burst: int = 15
    send_rate: float = 4.0


class Backoff:
    """Reconnection delays: min, 2·min, 4·min… capped at max; reset after a good connection."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self.minimum = minimum
        self.maximum = maximum
        self._next = minimum

    def next(self) -> float:
        delay = self._next
        self._next = min(self._next * 2, self.maximum)
        return delay

    def reset(self) -> None:
        self._next = self.minimum


class Pacer:
    """A token bucket for outgoing lines; `now` comes from the caller (monotonic seconds)."""

    def __init__(self, burst: int, rate: float, now: float) -> None:
        self.burst = float(burst)
        self.rate = rate
        self.tokens = float(burst)
        self.stamp = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait(self) -> float:
        """Seconds until the next token."""
        return max(0.0, 1.0 - self.tokens) / self.rate


def describe(exc: BaseException, endpoint: Endpoint) -> str:
    """A short, human reason for a failed or lost connection."""
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve host {endpoint.host!r}"
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused"
    if isinstance(exc, (asyncio.TimeoutError, TimeoutError)):
        return "timed out"
    if isinstance(exc, ssl.SSLError):
        return f"TLS error: {exc.reason or exc}"
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror.lower()
    return str(exc) or type(exc).__name__


def decode(line: bytes) -> str:
    try:
        return line.decode("utf-8")
    except UnicodeDecodeError:
        return line.decode("latin-1")


class Transport:
    def __init__(
        self,
        session: Session,
        endpoint: Endpoint,
        *,
        on_change: Callable[[], None] = lambda: None,
        reconnect: bool = True,
        timing: Timing | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.session = session
        self.endpoint = endpoint
        self.on_change = on_change
        self.reconnect = reconnect
        self.timing = timing or Timing()
        self.clock = clock
        self.failure: str | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._stopping = asyncio.Event()
        self._gone = asyncio.Event()  # set while there is no connection
        self._gone.set()
        self._flush_scheduled = False
        self._queue: deque[bytes] = deque()
        self._later: deque[bytes] = deque()  # background requests: when _queue is empty
        self._pacer: Pacer | None = None
        self._last_ping = 0.0
        self._dropped: str | None = None
        session.wakeup = self._schedule_flush

    # ----------------------------------------------------------- main loop

    async def run(self) -> None:
        """Connect, serve, and reconnect with backoff until quit() or, without reconnection,
        the first failure."""
        backoff = Backoff(self.timing.backoff_min, self.timing.backoff_max)
        while not self._stopping.is_set():
            registered, reason = await self._one_connection()
            if self._stopping.is_set():
                self.session.connection_lost(self.clock(), "quit", None)
                break
            if registered:
                backoff.reset()  # a connection that worked starts the series again
            if self.session.fatal:  # a refused password: trying again cannot help
                self.failure = self.session.fatal
                self.session.connection_lost(self.clock(), reason, None)
                self.on_change()
                break
            if not self.reconnect:
                self.failure = reason
                self.session.connection_lost(self.clock(), reason, None)
                self.on_change()
                break
            delay = backoff.next()
            self.session.connection_lost(self.clock(), reason, delay)
            self.on_change()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # not wait_for: it can swallow a cancel
                    await self._stopping.wait()
        self.on_change()

    async def _one_connection(self) -> tuple[bool, str]:
        """Returns whether registration completed, and why the connection ended."""
        self.session.connecting(self.clock())
        self.on_change()
        try:
            reader, writer = await asyncio.wait_for(self._open(), self.timing.connect_timeout)
        except (TimeoutError, OSError, ssl.SSLError) as exc:
            return False, describe(exc, self.endpoint)
        self._writer = writer
        self._gone.clear()
        self._queue.clear()
        self._later.clear()
        self._pacer = Pacer(self.timing.send_burst, self.timing.send_rate, self._mono())
        self.session.connection_made(self.clock())
        self._flush()
        self.on_change()
        self._dropped = None
        pinger = asyncio.create_task(self._pinger(writer))
        registered = False
        try:
            reason = await self._read_loop(reader)
            reason = self._dropped or reason
        finally:
            registered = self.session.registered
            pinger.cancel()
            self._writer = None
            self._gone.set()
            writer.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await writer.wait_closed()
        return registered, reason

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        context: ssl.SSLContext | None = None
        if self.endpoint.tls:
            context = ssl.create_default_context()
            if self.endpoint.insecure:
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
            if self.endpoint.cert:
                try:
                    context.load_cert_chain(self.endpoint.cert, self.endpoint.key)
                except (OSError, ssl.SSLError) as exc:
                    why = getattr(exc, "strerror", None) or getattr(exc, "reason", None) or exc
                    raise ConnectionError(
                        f"cannot use the client certificate {self.endpoint.cert}: {why}"
                    ) from None
        return await asyncio.open_connection(self.endpoint.host, self.endpoint.port, ssl=context)

    async def _read_loop(self, reader: asyncio.StreamReader) -> str:
        framer = LineReader(MAX_LINE)
        while True:
            try:
                data = await reader.read(65536)
            except (OSError, ssl.SSLError) as exc:
                return describe(exc, self.endpoint)
            if not data:
                return "connection closed by server"
            now = self.clock()
            for line in framer.feed(data):
                if isinstance(line, bytes):
                    self._receive(decode(line), now)
            self._flush()
            self.on_change()

    def _receive(self, line: str, now: float) -> None:
        """Hand one line to the session; a bug in a handler costs that line, not the connection."""
        try:
            self.session.receive(line, now)
        except Exception as exc:  # noqa: BLE001 - reported in the server buffer instead
            self.session.error(
                f"Internal error on {line[:80]!r}: {exc!r}", now, self.session.server_buffer
            )

    async def _pinger(self, writer: asyncio.StreamWriter) -> None:
        """Measure lag every ping_interval; drop a connection whose PONG never comes."""
        self._last_ping = 0.0
        started = self.clock()
        tick = min(1.0, self.timing.ping_interval)
        while True:
            await asyncio.sleep(tick)
            now = self.clock()
            if self.session.ping_overdue(now, self.timing.ping_timeout):
                self._drop(writer, f"ping timeout (no answer in {self.timing.ping_timeout:g} s)")
                return
            if not self.session.registered and now - started > self.timing.ping_timeout:
                self._drop(writer, f"registration timed out after {self.timing.ping_timeout:g} s")
                return
            self.session.tick(now)
            due = now - self._last_ping >= self.timing.ping_interval
            if self.session.registered and due and not self.session.ping_outstanding:
                self._last_ping = now
                self.session.send_ping(now)

    def _drop(self, writer: asyncio.StreamWriter, reason: str) -> None:
        self._dropped = reason
        writer.transport.abort()

    # -------------------------------------------------------------- output

    def _schedule_flush(self) -> None:
        if not self._flush_scheduled:
            self._flush_scheduled = True
            with contextlib.suppress(RuntimeError):  # no running loop: flushed by the next read
                asyncio.get_running_loop().call_soon(self._flush)

    @staticmethod
    def _mono() -> float:
        return asyncio.get_running_loop().time()

    @property
    def queued(self) -> int:
        """Lines held back by pacing."""
        return len(self._queue) + len(self._later)

    def _flush(self) -> None:
        """Write what the session queued, as fast as pacing allows; re-arm for the rest.
        Urgent lines (PONG, the lag probe) go out at once, ahead of what pacing holds;
        background requests (history, read markers) when no other line is waiting."""
        self._flush_scheduled = False
        outbox = self.session.outbox
        urgent = [encode(m) for m in outbox.pull_urgent()]
        self._queue.extend(encode(m) for m in outbox.pull_normal())
        self._later.extend(encode(m) for m in outbox.pull_background())
        writer, pacer = self._writer, self._pacer
        if writer is None or writer.is_closing() or pacer is None:
            self._queue.clear()
            self._later.clear()
            return
        now = self._mono()
        # Urgent lines are not charged to the pacer: they are few (a PONG per server PING, a
        # lag probe every 30 s), and the pacer keeps under the server's limit with room to spare.
        out: list[bytes] = urgent
        while self._queue and pacer.take(now):
            out.append(self._queue.popleft())
        while not self._queue and self._later and pacer.take(now):
            out.append(self._later.popleft())
        if out:
            writer.write(b"".join(out))
        if self._queue or self._later:
            self._flush_scheduled = True
            asyncio.get_running_loop().call_later(pacer.wait(), self._flush)

    # ---------------------------------------------------------------- stop

    async def quit(self, message: str) -> None:
        """Send QUIT, give the server a moment to close, then stop for good."""
        writer = self._writer
        self.session.quitting(message)
        self._later.clear()  # history nobody will read
        if self._pacer is not None:
            self._pacer.tokens += len(self._queue) + 1  # what is still queued, then QUIT, goes now
        self._flush()
        if writer is not None and not writer.is_closing():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(self.timing.quit_timeout):
                    await writer.drain()
                    await self._gone.wait()
        self._stopping.set()
        if self._writer is not None:
            self._writer.close()

    def restart(self) -> None:
        """After quit(): the next run() connects again (/connect to a server left)."""
        self._stopping = asyncio.Event()
        self.failure = None

    def stop_now(self) -> None:
        self._stopping.set()
        if self._writer is not None:
            self._writer.transport.abort()

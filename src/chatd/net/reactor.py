"""The reactor: one epoll loop that owns every socket, the timers and the signals.

One iteration: flush every connection that got output (one send each), sleep in select() until
the next timer deadline, dispatch ready sockets to their objects (net/poller.py), run due
timers, then reap connections that overflowed their sendq. What a line means is the core's business
(`net/core.py`): the reactor passes it lines and the time, and it never imports the chat state.

Every callback is contained, as asyncio's Handle does: an exception while serving a socket, in a
timer, a TLS read, a flush, the settle step or a signal hook is logged, costs at most the one
connection concerned, and the loop keeps serving everyone else.
"""

from __future__ import annotations

import collections
import logging
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from selectors import EVENT_READ
from typing import TYPE_CHECKING

from ..limits import (
    HOUSEKEEPING_INTERVAL,
    REAP_BATCH,
    SHUTDOWN_FLUSH,
    TRIM_AFTER,
    TRIM_INTERVAL,
)
from .connection import Connection
from .listener import Listener
from .memory import allocator_trim
from .poller import Poller
from .timers import Entry, Timer, TimerHeap
from .tls import Handshake, wrap
from .websocket import WebSocketConnection, http_error

if TYPE_CHECKING:
    import ssl

    from .core import Core
    from .redis import RedisLink

log = logging.getLogger("chatd")

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGQUIT)


@dataclass
class NetSettings:
    """The few limits the reactor itself enforces (the composition root fills them from the
    configuration, and updates them through `Reactor.configure` when it is reloaded)."""

    sendq: int = 1 << 20  # hard limit of one client's queue
    max_line: int = 512 + 4096
    tls_handshake_timeout: float = 10.0
    sendq_soft: int = 0  # soft limit (0: none)...
    sendq_soft_seconds: float = 10.0  # ...a queue may stay over it this long
    output_budget: int = 0  # bytes queued for all clients together (0: no server-wide bound)
    max_lines_per_read: int = 0  # complete lines taken from one read (0: all of them)
    sndbuf: int = 0  # SO_SNDBUF of each client socket (0: the kernel's autotuning)
    flush_delay: float = 0.0  # output waits up to this long after a connection's last send
    websocket_origins: tuple[str, ...] = ()
    websocket_handshake_timeout: float = 10.0


class _Waker:
    """A socketpair that lets signals and other threads interrupt select()."""

    def __init__(self) -> None:
        self.rsock, self.wsock = socket.socketpair()
        self.rsock.setblocking(False)
        self.wsock.setblocking(False)

    def on_event(self, mask: int) -> None:
        try:
            while self.rsock.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def wake(self) -> None:
        try:
            self.wsock.send(b"\0")
        except OSError:
            pass  # a full pipe already guarantees a wake-up

    def close(self) -> None:
        self.rsock.close()
        self.wsock.close()


class Reactor:
    def __init__(
        self,
        core: Core,
        listeners: list[socket.socket],
        tls_listeners: Sequence[tuple[socket.socket, ssl.SSLContext]] = (),
        settings: NetSettings | None = None,
        websocket_listeners: Sequence[tuple[socket.socket, ssl.SSLContext | None]] = (),
    ) -> None:
        self.core = core
        self.settings = NetSettings()
        self.soft_limit = 0  # min(soft, hard): a write past it looks closer (see configure)
        self.configure(settings or NetSettings())
        self.selector = Poller()
        self.timers = TimerHeap()
        self.connections: set[Connection] = set()
        self.dirty: list[Connection] = []
        self.held: list[Connection] = []  # flagged, waiting for flush_delay (see flush_dirty)
        self.held_until = 0.0  # when the first of them is due
        self.dirty_links: list[RedisLink] = []  # Redis links with commands to write
        self.overflowed: list[Connection] = []
        self.queued = 0  # bytes in every queue, as of each connection's last flush
        self.spent = 0  # bytes sent in this loop iteration (against FLUSH_BUDGET)
        self.backlog: set[Connection] = set()  # connections holding output after their flush
        self.released = 0  # bytes of dropped queues since the allocator was last trimmed
        self.trim = allocator_trim()  # gives freed memory back to the system (net/memory.py)
        self.trimmed_at = -TRIM_INTERVAL
        self.trim_timer: Timer | None = None
        self.trims = 0
        self.shed = 0  # clients dropped for the output budget
        self.stopping = False
        self.before_sleep: list[Callable[[], None]] = []  # e.g. writing out buffered log lines
        self.on_reload: Callable[[], object] | None = None  # SIGHUP
        self.on_status: Callable[[], None] | None = None  # SIGUSR1
        self._signals: list[int] = []
        self.ready: list[Connection] = []  # TLS connections with decrypted bytes left to read
        self.listeners = [Listener(self, sock) for sock in listeners]
        self.listeners += [Listener(self, sock, context) for sock, context in tls_listeners]
        self.listeners += [Listener(self, s, tls, True) for s, tls in websocket_listeners]
        for listener in self.listeners:
            self.selector.register(listener.sock, EVENT_READ, listener)
        self._socket_options()
        self._waker = _Waker()
        self.selector.register(self._waker.rsock, EVENT_READ, self._waker)
        self._soon: collections.deque[Callable[[], None]] = collections.deque()
        self.now = 0.0
        self._clock()
        self.timers.call_at(self.now + HOUSEKEEPING_INTERVAL, self._housekeeping)
        core.attach(self)

    def configure(self, settings: NetSettings) -> None:
        """Apply (new) limits; connections already open follow them from now on."""
        self.settings = settings
        soft = settings.sendq_soft
        self.soft_limit = min(soft, settings.sendq) if soft > 0 else settings.sendq
        if hasattr(self, "listeners"):
            self._socket_options()

    def _socket_options(self) -> None:
        """TCP_NODELAY and SO_SNDBUF for client sockets. Linux copies both from the listening
        socket to every socket it accepts, so they are set there once instead of with two
        system calls per connection (add_connection sets them elsewhere)."""
        if not INHERITS_OPTIONS:
            return
        for listener in self.listeners:
            _client_options(listener.sock, self.settings.sndbuf)

    @property
    def sendq(self) -> int:
        return self.settings.sendq

    @property
    def max_line(self) -> int:
        return self.settings.max_line

    @property
    def ports(self) -> list[int]:
        return [listener.port for listener in self.listeners]

    # -- the loop ------------------------------------------------------------------------------

    def run(self) -> None:
        if threading.current_thread() is threading.main_thread():
            self._install_signals()
        while not self.stopping:
            self.flush_dirty()
            for hook in self.before_sleep:
                self._guard(hook)
            events = self.selector.select(self._timeout())
            now = self._clock()
            for data, mask in events:
                try:
                    data.on_event(mask)
                except Exception:
                    self._contain(data)
            self.run_ready()
            if self._soon:
                self._run_soon()
            self.timers.run_due(now, self._timer_failed)
            self.reap_overflowed()
            if self.released >= TRIM_AFTER and self.trim_timer is None:
                self._trim_soon(now)
            if self._signals:
                self._handle_signals()
        self._shutdown()

    def call_at(self, when: float, callback: Callable[[], None]) -> Timer:
        return self.timers.call_at(when, callback)

    def call_soon_threadsafe(self, callback: Callable[[], None]) -> None:
        """From any thread: run `callback` on the loop as soon as it can."""
        self._soon.append(callback)  # deque.append is atomic
        self._waker.wake()

    def _run_soon(self) -> None:
        for _ in range(len(self._soon)):
            self._guard(self._soon.popleft())

    def _contain(self, source: object, what: str = "serving") -> None:
        """A bug while serving one socket (or in one timer) drops the connection concerned,
        never the server. Called from an `except` block: the traceback goes to the log."""
        log.exception("internal error %s %r", what, source)
        reset = getattr(source, "reset", None)
        if reset is not None:  # a Redis link: start it over
            self._guard(reset)
        if isinstance(source, Connection) and not source.closed:
            try:
                source.lost("Internal error")
            except Exception:
                log.exception("internal error dropping %r", source)
                source.finish_close()

    def _timer_failed(self, entry: Entry) -> None:
        """A timer raised: the connection it belongs to (if any) is dropped."""
        owner: object = entry
        if isinstance(entry, Timer):
            owner = getattr(entry.callback, "__self__", entry)
        else:
            owner = getattr(entry, "conn", None) or entry
        self._contain(owner, "in a timer of")

    def _guard(self, hook: Callable[[], object]) -> None:
        try:
            hook()
        except Exception:
            log.exception("internal error in %r", hook)

    def _clock(self) -> float:
        now = time.monotonic()
        self.now = now
        self.core.set_clock(now, time.time())
        return now

    def _timeout(self) -> float | None:
        if self.overflowed or self.dirty or self.ready or self._signals or self._soon:
            return 0.0
        deadline = self.timers.next_deadline()
        if self.held and (deadline is None or self.held_until < deadline):
            deadline = self.held_until
        if deadline is None:
            return None
        return max(0.0, deadline - time.monotonic())

    def flush_dirty(self) -> None:
        """Settle, then one flush per connection that got output. A connection already waiting
        for EVENT_WRITE is not tried again (its kernel buffer is full); its queue is only
        counted. Then the server-wide output budget is checked."""
        self.spent = 0  # a new iteration: a new FLUSH_BUDGET
        self._guard(self.core.settle)
        if self.dirty_links:
            links, self.dirty_links = self.dirty_links, []
            for link in links:
                self._guard(link.flush)
        delay = self.settings.flush_delay
        if self.held:
            self.dirty.extend(self.held)
            self.held = []
        while self.dirty:
            batch = self.dirty
            self.dirty = []
            for conn in batch:
                if delay and conn.flushed_at + delay > self.now and not conn.closing:
                    self._hold(conn, conn.flushed_at + delay)  # stays flagged
                    continue
                conn.flagged = False
                if conn.closed:
                    continue
                if conn.writing:
                    conn.account()
                    continue
                try:
                    conn.flush()
                except Exception:
                    self._contain(conn)
        budget = self.settings.output_budget
        if budget and self.queued > budget:
            self._shed(budget)

    def _hold(self, conn: Connection, until: float) -> None:
        """flush_delay: the connection was sent to a moment ago; its output waits (at most
        the delay) so that what else arrives meanwhile goes in the same send."""
        if not self.held or until < self.held_until:
            self.held_until = until
        self.held.append(conn)

    def _shed(self, budget: int) -> None:
        """Past the output budget: mark the clients with the largest queues as overflowed (they
        are reaped this iteration, as for a sendq overflow) until the rest fits."""
        excess = self.queued - budget
        victims = sorted(
            (c for c in self.backlog if not c.overflowed and not c.closing),
            key=lambda c: c.out_len,
            reverse=True,
        )
        count = freed = 0
        for conn in victims:
            if freed >= excess:
                break
            freed += conn.out_len
            count += 1
            conn.overflow()
        self.shed += count
        log.warning(
            "output budget exceeded: %d bytes queued, budget %d; dropping the %d clients with "
            "the largest queues (%d bytes)",
            self.queued,
            budget,
            count,
            freed,
        )

    def run_ready(self) -> None:
        batch = self.ready
        self.ready = []
        for conn in batch:
            if not conn.closing:
                try:
                    conn.on_readable()
                except Exception:
                    self._contain(conn)

    def _trim_soon(self, now: float) -> None:
        """A large drop of output (readers that never read, the output budget): give the
        freed pages back, so the process shrinks again after an attack; at most once per
        TRIM_INTERVAL (a drop within it is trimmed when it ends)."""
        if now - self.trimmed_at >= TRIM_INTERVAL:
            self._trim()
        else:
            self.trim_timer = self.timers.call_at(self.trimmed_at + TRIM_INTERVAL, self._trim)

    def _trim(self) -> None:
        self.trim_timer = None
        self.released = 0
        self.trimmed_at = self.now
        if self.trim is not None:
            self.trims += 1
            self._guard(self.trim)

    def _housekeeping(self) -> None:
        self.timers.call_at(self.now + HOUSEKEEPING_INTERVAL, self._housekeeping)
        self.core.housekeeping()

    def reap_overflowed(self) -> None:
        """Drop clients whose output queue passed a limit, at most REAP_BATCH per iteration:
        each one's QUIT goes to everyone it shares a channel with, so a thousand readers of one
        room dropped at once would cost a million writes in one iteration. The rest stay
        marked (nothing more is queued for them) and go in the next iterations."""
        reaped = 0
        while self.overflowed and reaped < REAP_BATCH:
            batch = self.overflowed[: REAP_BATCH - reaped]
            del self.overflowed[: len(batch)]
            reaped += len(batch)
            for conn in batch:
                if not conn.closing:
                    conn.drop_output()
                    try:
                        self.core.overflowed(conn.client)
                    except Exception:
                        self._contain(conn)

    # -- connections ---------------------------------------------------------------------------

    def add_connection(self, sock: socket.socket, host: str, listener: Listener) -> None:
        """A socket fresh from accept(): admit it, then handshake (TLS) or serve it at once."""
        refusal = self.core.admit(host)
        if refusal is not None:
            if listener.tls is None:
                _refuse(sock, host, refusal, listener.websocket)
            else:
                sock.close()  # a plaintext ERROR would read as a broken TLS record
            return
        sock.setblocking(False)
        if not INHERITS_OPTIONS:
            _client_options(sock, self.settings.sndbuf)
        if listener.tls is not None:
            Handshake(self, wrap(listener.tls, sock), host, listener.websocket)
        else:
            self.open_connection(sock, host, tls=False, websocket=listener.websocket)

    def open_connection(
        self,
        sock: socket.socket,
        host: str,
        tls: bool,
        websocket: bool = False,
        certfp: str | None = None,
    ) -> None:
        kind = WebSocketConnection if websocket else Connection
        conn = kind(self, sock, host, self.settings.max_line, tls)
        self.connections.add(conn)
        self.selector.register(sock, EVENT_READ, conn)
        if isinstance(conn, WebSocketConnection):
            conn.start()  # a client for the core once the WebSocket handshake is done
        else:
            conn.client = self.core.connect(conn.write, conn.close, host, tls, certfp, output=conn)
            conn.on_timer()  # arms the registration and keepalive timer
        if tls:
            conn.on_readable()  # the client's first lines may have come with the handshake

    def release(self, host: str) -> None:
        self.core.release(host)

    def forget(self, conn: Connection) -> None:
        if conn not in self.connections:
            return
        self.connections.discard(conn)
        self.release(conn.host)
        self.selector.forget(conn.sock)  # it is closed right after: the kernel drops it

    # -- signals -------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish (safe from signal handlers and other threads)."""
        self.stopping = True
        self._waker.wake()

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._waker.wsock.fileno(), warn_on_full_buffer=False)
        for signum in _STOP_SIGNALS:
            signal.signal(signum, lambda *_: self.stop())
        for signum in (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2):
            signal.signal(signum, self._note_signal)

    def _note_signal(self, signum: int, frame: object) -> None:
        self._signals.append(signum)  # handled by the loop, between two iterations

    def _handle_signals(self) -> None:
        pending, self._signals = self._signals, []
        for signum in pending:
            if signum == signal.SIGHUP:
                log.info("SIGHUP: reloading the configuration")
                if self.on_reload is not None:
                    self._guard(self.on_reload)
            elif signum == signal.SIGUSR1:
                if self.on_status is not None:
                    self._guard(self.on_status)
            else:
                log.info("signal %s ignored (chatd gives it no meaning)", signal.strsignal(signum))

    # -- stopping ------------------------------------------------------------------------------

    def _shutdown(self) -> None:
        log.info("shutting down: %d connections", len(self.connections))
        for listener in self.listeners:
            if not listener.paused:
                self.selector.unregister(listener.sock)
            listener.sock.close()
        self._guard(lambda: self.core.shutdown("Server shutting down"))
        for conn in list(self.connections):
            if conn.client is None and not conn.closing:
                conn.close()  # a WebSocket still in its handshake: nobody to tell
        deadline = time.monotonic() + SHUTDOWN_FLUSH
        self.flush_dirty()
        while self.connections and time.monotonic() < deadline:
            self.spent = 0
            for data, mask in self.selector.select(max(0.0, deadline - time.monotonic())):
                try:
                    data.on_event(mask)
                except Exception:
                    self._contain(data)
        for conn in list(self.connections):
            conn.finish_close()
        self.selector.close()
        self._waker.close()


# Linux gives an accepted socket the listening socket's TCP_NODELAY and SO_SNDBUF
INHERITS_OPTIONS = sys.platform.startswith("linux")


def _client_options(sock: socket.socket, sndbuf: int) -> None:
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if sndbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
    except OSError:
        pass  # not TCP (a UNIX socket in tests, say)


def _refuse(sock: socket.socket, host: str, reason: str, websocket: bool = False) -> None:
    if websocket:
        data = http_error(503, reason)
    else:
        data = f"ERROR :Closing Link: {host} ({reason})\r\n".encode()
    try:
        sock.setblocking(False)
        sock.send(data)
    except OSError:
        pass
    sock.close()

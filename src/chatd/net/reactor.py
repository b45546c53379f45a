"""The reactor: one selectors loop that owns every socket, the timers and the signals.

One iteration: flush every connection that got output (one send each), sleep in select() until
the next timer deadline, dispatch ready sockets to their objects (key.data), run due timers, then
reap connections that overflowed their sendq. The chat state never sees a socket; the reactor
passes it lines and the time.
"""

from __future__ import annotations

import contextlib
import logging
import selectors
import signal
import socket
import threading
import time
from collections.abc import Callable, Sequence
from selectors import EVENT_READ
from typing import TYPE_CHECKING

from ..server.admission import Admission
from .connection import Connection
from .listener import Listener
from .timers import TimerHeap
from .tls import Handshake, wrap

if TYPE_CHECKING:
    import ssl

    from ..server.state import ServerState

log = logging.getLogger("chatd")

SHUTDOWN_FLUSH = 2.0  # seconds allowed to deliver the ERROR lines at shutdown
PRUNE_INTERVAL = 60.0  # seconds between clean-ups of per-address admission state


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
        state: ServerState,
        listeners: list[socket.socket],
        tls_listeners: Sequence[tuple[socket.socket, ssl.SSLContext]] = (),
    ) -> None:
        self.state = state
        config = state.config
        self.sendq = config.sendq
        self.max_clients = config.max_clients
        self.max_line = config.line_length + config.tags_length
        self.selector = selectors.DefaultSelector()
        self.timers = TimerHeap()
        self.connections: set[Connection] = set()
        self.dirty: list[Connection] = []
        self.overflowed: list[Connection] = []
        self.stopping = False
        self.before_sleep: list[Callable[[], None]] = []  # e.g. writing out buffered log lines
        self.admission = Admission(config)
        self.ready: list[Connection] = []  # TLS connections with decrypted bytes left to read
        self.listeners = [Listener(self, sock) for sock in listeners]
        self.listeners += [Listener(self, sock, context) for sock, context in tls_listeners]
        for listener in self.listeners:
            self.selector.register(listener.sock, EVENT_READ, listener)
        self._waker = _Waker()
        self.selector.register(self._waker.rsock, EVENT_READ, self._waker)
        self._clock()
        self.timers.call_at(state.now + PRUNE_INTERVAL, self._prune)

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
                hook()
            events = self.selector.select(self._timeout())
            now = self._clock()
            for key, mask in events:
                try:
                    key.data.on_event(mask)
                except Exception:
                    self._contain(key.data)
            self.run_ready()
            self.timers.run_due(now)
            self.reap_overflowed()
        self._shutdown()

    def _contain(self, source: object) -> None:
        """A bug while serving one socket drops that connection, never the server."""
        log.exception("internal error serving %r", source)
        if isinstance(source, Connection) and not source.closed:
            source.lost("Internal error")

    def _clock(self) -> float:
        now = time.monotonic()
        self.state.set_clock(now, time.time())
        return now

    def _timeout(self) -> float | None:
        if self.overflowed or self.dirty or self.ready:
            return 0.0
        deadline = self.timers.next_deadline()
        if deadline is None:
            return None
        return max(0.0, deadline - time.monotonic())

    def flush_dirty(self) -> None:
        self.state.settle()
        while self.dirty:
            batch = self.dirty
            self.dirty = []
            for conn in batch:
                conn.flagged = False
                if not conn.closed:
                    conn.flush()

    def run_ready(self) -> None:
        batch = self.ready
        self.ready = []
        for conn in batch:
            if not conn.closing:
                conn.on_readable()

    def _prune(self) -> None:
        self.admission.prune(self.state.now)
        self.timers.call_at(self.state.now + PRUNE_INTERVAL, self._prune)

    def reap_overflowed(self) -> None:
        """Drop clients whose output queue passed the sendq limit during this iteration."""
        while self.overflowed:
            batch = self.overflowed
            self.overflowed = []
            for conn in batch:
                if not conn.closing:
                    conn.drop_output()
                    self.state.disconnect(conn.user, "SendQ exceeded")

    # -- connections ---------------------------------------------------------------------------

    def add_connection(self, sock: socket.socket, host: str, listener: Listener) -> None:
        """A socket fresh from accept(): admit it, then handshake (TLS) or serve it at once."""
        refusal = None
        if len(self.connections) >= self.max_clients:
            refusal = "Server is full"
        else:
            refusal = self.admission.admit(host, self.state.now)
        if refusal is not None:
            if listener.tls is None:
                _refuse(sock, host, refusal)
            else:
                sock.close()  # a plaintext ERROR would read as a broken TLS record
            log.info("refused %s: %s", host, refusal)
            return
        sock.setblocking(False)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass  # not TCP (a UNIX socket in tests, say)
        if listener.tls is not None:
            Handshake(self, wrap(listener.tls, sock), host)
        else:
            self.open_connection(sock, host, tls=False)

    def open_connection(self, sock: socket.socket, host: str, tls: bool) -> None:
        conn = Connection(self, sock, host, self.max_line, tls)
        conn.user = self.state.connect(conn.write, conn.close, host)
        self.connections.add(conn)
        self.selector.register(sock, EVENT_READ, conn)
        conn.on_timer()  # arms the registration and keepalive timer
        log.info(
            "connect %s%s (%d connections)", host, " (TLS)" if tls else "", len(self.connections)
        )
        if tls:
            conn.on_readable()  # the client's first lines may have come with the handshake

    def release(self, host: str) -> None:
        self.admission.release(host, self.state.now)

    def forget(self, conn: Connection) -> None:
        self.connections.discard(conn)
        self.release(conn.host)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(conn.sock)

    # -- stopping ------------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the loop to finish (safe from signal handlers and other threads)."""
        self.stopping = True
        self._waker.wake()

    def _install_signals(self) -> None:
        signal.set_wakeup_fd(self._waker.wsock.fileno(), warn_on_full_buffer=False)
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda *_: self.stop())

    def _shutdown(self) -> None:
        log.info("shutting down: %d connections", len(self.connections))
        for listener in self.listeners:
            if not listener.paused:
                self.selector.unregister(listener.sock)
            listener.sock.close()
        for conn in list(self.connections):
            self.state.farewell(conn.user, "Server shutting down")
        deadline = time.monotonic() + SHUTDOWN_FLUSH
        self.flush_dirty()
        while self.connections and time.monotonic() < deadline:
            for key, mask in self.selector.select(max(0.0, deadline - time.monotonic())):
                key.data.on_event(mask)
        for conn in list(self.connections):
            conn.finish_close()
        self.selector.close()
        self._waker.close()


def _refuse(sock: socket.socket, host: str, reason: str) -> None:
    try:
        sock.setblocking(False)
        sock.send(f"ERROR :Closing Link: {host} ({reason})\r\n".encode())
    except OSError:
        pass
    sock.close()

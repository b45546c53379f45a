"""Test helpers: a chatd reactor in a thread, a blocking line-oriented IRC client with
deadline-based waits, and a socket-free recorder for driving the chat state directly."""

from __future__ import annotations

import re
import socket
import ssl
import threading
import time
from collections.abc import Callable

from chatd.cli import net_settings
from chatd.net.listener import open_listener
from chatd.net.reactor import Reactor
from chatd.net.tls import server_context
from chatd.proto.message import Message, parse
from chatd.server.cloak import Cloak
from chatd.server.config import build
from chatd.server.core import LocalCore
from chatd.server.state import ServerState

DEADLINE = 5.0
# What OPER is answered with once its password check is done (or at once: 263, 461, 451).
OPER_ANSWER = r"^(@\S+ )?:\S+ (381|464|263|461|451) "
# Tests run with cloaking on, as a server does by default, under a fixed key: HOST is what
# everyone else sees of a client on 127.0.0.1 (the client itself and opers see the address).
TEST_CLOAK_KEY = "chatd-tests-cloak-key"
HOST = Cloak(TEST_CLOAK_KEY.encode()).host("127.0.0.1")


def wait_for(predicate: Callable[[], object], timeout: float = DEADLINE, what: str = "") -> object:
    """Poll a condition until it holds or the deadline passes (no fixed sleeps)."""
    end = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        time.sleep(0.002)


class RunningServer:
    def __init__(self, reactor: Reactor, thread: threading.Thread) -> None:
        self.reactor = reactor
        self.core: LocalCore = reactor.core  # type: ignore[assignment]
        self.state = self.core.state
        self.thread = thread
        self.port = reactor.ports[0]
        kinds = {(bool(l.tls), l.websocket): l.port for l in reactor.listeners}
        self.tls_port = kinds.get((True, False))
        self.websocket_port = kinds.get((False, True))
        self.websocket_tls_port = kinds.get((True, True))

    def client(self, nick: str | None = None, **kw) -> Client:
        c = Client(self.port, **kw)
        if nick is not None:
            c.register(nick)
        return c

    def stop(self) -> None:
        self.reactor.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "reactor did not stop"


def start_server(**settings) -> RunningServer:
    settings.setdefault("host", "127.0.0.1")
    settings.setdefault("port", 0)
    settings.setdefault("cloak_key", TEST_CLOAK_KEY)
    config = build(settings)
    sock = open_listener(config.host, config.port)
    tls = []
    context = None
    if config.tls_cert:
        context = server_context(config.tls_cert, config.tls_key)
        tls.append((open_listener(config.host, 0), context))
    websocket = []
    if config.websocket_port is not None:
        websocket.append((open_listener(config.host, config.websocket_port), None))
    if config.websocket_tls_port is not None:
        websocket.append((open_listener(config.host, config.websocket_tls_port), context))
    state = ServerState(config, time.time(), msgid_prefix="t-")
    reactor = Reactor(LocalCore(state), [sock], tls, net_settings(config), websocket)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            reactor.run()
        except BaseException as exc:  # surfaced by the test that owns the server
            errors.append(exc)
            raise

    thread = threading.Thread(target=run, name="chatd-reactor", daemon=True)
    thread.start()
    return RunningServer(reactor, thread)


class Client:
    """A raw IRC client on a blocking socket; every wait has a deadline."""

    def __init__(
        self,
        port: int,
        host: str = "127.0.0.1",
        tls: ssl.SSLContext | None = None,
        rcvbuf: int | None = None,  # a small receive buffer: the server's sendq fills fast
    ) -> None:
        if rcvbuf is None:
            self.sock = socket.create_connection((host, port), timeout=DEADLINE)
        else:
            self.sock = socket.socket()
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.settimeout(DEADLINE)
            self.sock.connect((host, port))
        if tls is not None:
            self.sock = tls.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.lines: list[str] = []  # every line received, in order
        self.seen = 0  # lines already consumed by expect()
        self.nick = "*"
        self.closed = False

    def send(self, *lines: str | bytes) -> None:
        data = b"".join((l if isinstance(l, bytes) else l.encode()) + b"\r\n" for l in lines)
        self.sock.sendall(data)

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

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
        self.buf += data
        *complete, self.buf = self.buf.split(b"\r\n")
        self.lines.extend(l.decode("utf-8", "replace") for l in complete)
        return True

    def expect(self, pattern: str, timeout: float = DEADLINE) -> Message:
        """The next unconsumed line matching the regex `pattern` (searched in the raw line)."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while True:
            while self.seen < len(self.lines):
                line = self.lines[self.seen]
                self.seen += 1
                if rx.search(line):
                    return parse(line)
            remaining = end - time.monotonic()
            if remaining <= 0 or self.closed:
                raise AssertionError(f"no line matching {pattern!r}; got {self.lines[-15:]}")
            self._read(remaining)

    def expect_numeric(self, numeric: str, timeout: float = DEADLINE) -> Message:
        return self.expect(rf"^(@\S+ )?:\S+ {numeric} ", timeout)

    def collect(self, pattern: str, until: str, timeout: float = DEADLINE) -> list[Message]:
        """Every line matching `pattern` before the first line matching `until`."""
        out = []
        rx = re.compile(pattern)
        while True:
            msg_line = self.expect(f"{pattern}|{until}", timeout)
            line = self.lines[self.seen - 1]
            if re.search(until, line):
                return out
            if rx.search(line):
                out.append(msg_line)

    def sync(self) -> None:
        """Round-trip a PING so everything the server sent before it has arrived."""
        token = f"sync{time.monotonic_ns()}"
        self.send(f"PING {token}")
        self.expect(f"PONG .*{token}")

    def lines_since_sync(self) -> list[str]:
        before = self.seen
        self.sync()
        return self.lines[before : self.seen - 1]

    def register(self, nick: str, user: str = "u", realname: str = "Real Name") -> None:
        self.send(f"NICK {nick}", f"USER {user} 0 * :{realname}")
        self.expect_numeric("001")
        self.expect_numeric("(376|422)")
        self.nick = nick

    def join(self, channel: str) -> None:
        self.send(f"JOIN {channel}")
        self.expect_numeric("366")

    def wait_closed(self, timeout: float = DEADLINE) -> None:
        end = time.monotonic() + timeout
        while not self.closed:
            if time.monotonic() > end:
                raise AssertionError("connection not closed by the server")
            self._read(end - time.monotonic())

    def close(self) -> None:
        self.sock.close()


class Recorder:
    """A socket-free sink for a User: collects what the state writes, notes close().

    It is also the user's output queue (`server.user.Output`): `written` counts what was
    written, and with a `limit` it behaves like a sendq of that size that nobody drains:
    past it, or after `overflow()`, it is `overflowed` and keeps nothing more."""

    def __init__(self, limit: int | None = None) -> None:
        self.data: list[bytes] = []
        self.closed = False
        self.limit = limit
        self.written = 0
        self.overflowed = False
        self.overflows = 0  # times overflow() was asked for
        self.late_writes = 0  # writes that came while overflowed (work the state could skip)

    def write(self, data: bytes) -> None:
        if self.overflowed:
            self.late_writes += 1
            return
        self.data.append(data)
        self.written += len(data)
        if self.limit is not None and self.written > self.limit:
            self.overflowed = True

    def close(self) -> None:
        self.closed = True

    def room(self) -> int:
        if self.overflowed:
            return 0
        return 1 << 62 if self.limit is None else max(0, self.limit - self.written)

    def overflow(self) -> None:
        self.overflows += 1
        self.overflowed = True

    def take(self) -> list[str]:
        text = b"".join(self.data).decode()
        self.data.clear()
        return [l for l in text.split("\r\n") if l]


# Which world make_state() builds: "single" (a ServerState, no sockets) or "cluster" (a
# 3-node cluster through Redis, see tests/server/conftest.py). The same tests run on both.
BACKEND = "single"
WORLD_FACTORY: Callable[..., object] | None = None  # builds a cluster world when BACKEND says


class Scripted:
    """A scripted client wired straight to a ServerState: no sockets, no clock. Given a cluster
    world instead, it is a socket client of one of its nodes (cluster_harness.ClusterScripted)
    with the same send/take/register."""

    def __new__(cls, state, host: str = "127.0.0.1", limit: int | None = None):  # noqa: ANN001
        if not isinstance(state, ServerState):
            from cluster_harness import ClusterScripted

            return ClusterScripted(state, host)
        return super().__new__(cls)

    def __init__(self, state: ServerState, host: str = "127.0.0.1", limit: int | None = None):
        self.state = state
        self.sink = Recorder(limit)
        self.user = state.connect(self.sink.write, self.sink.close, host, output=self.sink)

    def send(self, *lines: str | bytes) -> list[str]:
        for line in lines:
            self.state.handle_line(self.user, line if isinstance(line, bytes) else line.encode())
        return self.take()

    def take(self) -> list[str]:
        self.state.settle()  # what the reactor does before it flushes
        return self.sink.take()

    def register(self, nick: str) -> list[str]:
        return self.send(f"NICK {nick}", "USER u 0 * :Real Name")

    def send_answered(self, *lines: str | bytes, until: str = OPER_ANSWER) -> list[str]:
        """`send`, and the answer that comes after work done off the loop (OPER's password
        check): the deferred jobs are run at once (on a cluster: waited for, up to a line
        matching `until`)."""
        out = self.send(*lines)
        carry_out(self.state)
        return out + self.take()


def carry_out(state: ServerState, *kinds: str) -> None:
    """Run the jobs a sans-IO state deferred (only those of `kinds`, if given) at once, feeding
    each result back as the core would; timers and other jobs stay asked for."""
    from chatd.server.state import Later

    kept: list = []
    while state.requests:
        for request in state.take_requests():
            if isinstance(request, Later) or (kinds and request.kind not in kinds):
                kept.append(request)
            else:
                state.resume(request.user, request.kind, request.job())
    state.requests.extend(kept)


def make_state(**settings) -> ServerState:
    settings.setdefault("flood_limit", False)
    settings.setdefault("cloak_key", TEST_CLOAK_KEY)
    if BACKEND == "cluster":
        assert WORLD_FACTORY is not None
        return WORLD_FACTORY(**settings)  # type: ignore[return-value]
    state = ServerState(build(settings), 1_700_000_000.0, msgid_prefix="t-")
    state.set_clock(100.0, 1_700_000_000.0)
    return state


def numerics(lines: list[str]) -> list[str]:
    """The numeric (or command) of each line, for compact assertions."""
    return [parse(l).command for l in lines]


class Effects:
    """Carries out what a sans-IO state asked for (ServerState.defer/later) with no threads and
    no clock: deferred jobs run at once, timers when `run(now)` reaches them."""

    def __init__(self, state: ServerState) -> None:
        self.state = state
        self.timers: list = []

    def run(self, now: float | None = None) -> None:
        from chatd.server.state import Later

        state = self.state
        while True:
            for request in state.take_requests():
                if isinstance(request, Later):
                    self.timers.append(request)
                else:
                    state.resume(request.user, request.kind, request.job())
            due = [t for t in self.timers if now is not None and t.when <= now]
            if not due:
                if state.requests:
                    continue  # a resumed job asked for more (a result handed on as an input)
                return
            for timer in due:
                self.timers.remove(timer)
                state.resume(timer.user, timer.kind, timer.value)

"""A Redis connection served by the reactor: a non-blocking socket in the same selectors loop.

Commands are packed and replies parsed by `hiredis` (its sans-IO `Reader`, fed bytes like the
line reader). Each command is queued with a callback that gets the reply (or a `RedisError`);
commands are pipelined, replies come back in order. The link reconnects by itself with a capped
back-off; while it is down, `send` refuses (returns False) and the owner decides what to keep.

No call here ever blocks the loop: connect, send and receive are all non-blocking, and a reply
that never comes is caught by the owner's own timers (see `cluster/core.py`).
"""

from __future__ import annotations

import errno
import logging
import socket
from collections import deque
from collections.abc import Callable
from selectors import EVENT_READ, EVENT_WRITE
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

import hiredis

from ..limits import RECV_SIZE

if TYPE_CHECKING:
    from .reactor import Reactor
    from .timers import Timer

log = logging.getLogger("chatd")

RECONNECT_FIRST, RECONNECT_MAX = 0.1, 2.0  # seconds between connection attempts
Reply = Any  # bytes | int | list | None | RedisError
Callback = Callable[[Reply], None]


class RedisError(Exception):
    """An error reply, or the link lost before the reply came."""


class RedisURL:
    """redis://[:password@]host[:port][/db] or unix:///path/to/socket[?db=N]."""

    def __init__(self, url: str) -> None:
        parsed = urlparse(url)
        if parsed.scheme not in ("redis", "unix"):
            raise ValueError(f"not a redis:// or unix:// URL: {url!r}")
        self.url = url
        self.unix = parsed.path if parsed.scheme == "unix" else None
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 6379
        self.password = unquote(parsed.password) if parsed.password else None
        self.username = unquote(parsed.username) if parsed.username else None
        db = parsed.path.strip("/") if parsed.scheme == "redis" else ""
        if parsed.scheme == "unix" and "db=" in parsed.query:
            db = parsed.query.split("db=", 1)[1].split("&", 1)[0]
        if db and not (db.isascii() and db.isdigit()):
            raise ValueError(f"bad database number in {url!r}")
        self.db = int(db) if db else 0

    def __str__(self) -> str:  # never shows the password
        where = self.unix or f"{self.host}:{self.port}"
        return f"redis {where}/{self.db}"

    def blocking_client(self, timeout: float, connect_timeout: float) -> Any:
        """A redis-py client for the blocking steps outside the loop (joining the network at
        start-up, `chatd cluster status`); the loop itself talks through `RedisLink`."""
        import redis

        return redis.Redis(
            host=self.host,
            port=self.port,
            db=self.db,
            password=self.password,
            username=self.username,
            unix_socket_path=self.unix,
            socket_timeout=timeout,
            socket_connect_timeout=connect_timeout,
        )


class RedisLink:
    """One connection to Redis, driven by the reactor's selector."""

    def __init__(
        self,
        reactor: Reactor,
        url: RedisURL,
        name: str,
        on_up: Callable[[], None],
        on_down: Callable[[str], None],
    ) -> None:
        self.reactor = reactor
        self.url = url
        self.name = name  # CLIENT SETNAME, and in log lines
        self.on_up = on_up
        self.on_down = on_down
        self.sock: socket.socket | None = None
        self.reader = hiredis.Reader(replyError=RedisError)
        self.waiting: deque[Callback] = deque()
        self.out: list[bytes] = []
        self.connected = False  # handshake done: commands may be sent
        self.connecting = False
        self.registered_events = 0
        self.backoff = RECONNECT_FIRST
        self.retry: Timer | None = None
        self.closed = False
        self.sent_commands = 0
        self.down_reason = "not connected yet"

    # -- connecting --------------------------------------------------------------------------

    def start(self) -> None:
        self._connect()

    def _connect(self) -> None:
        self.retry = None
        if self.closed:
            return
        url = self.url
        try:
            if url.unix is not None:
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                address: Any = url.unix
            else:
                family = socket.AF_INET6 if ":" in url.host else socket.AF_INET
                sock = socket.socket(family, socket.SOCK_STREAM)
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                address = (url.host, url.port)
            sock.setblocking(False)
        except OSError as exc:
            self._failed(f"cannot create a socket: {exc}")
            return
        self.sock = sock
        self.connecting = True
        code = sock.connect_ex(address)
        if code not in (0, errno.EINPROGRESS, errno.EAGAIN):
            self._failed(errno.errorcode.get(code, str(code)))
            return
        self._interest(EVENT_WRITE)

    def _handshake(self) -> None:
        """TCP is up: AUTH, SELECT and a name go first; the owner learns `on_up` after."""
        self.connecting = False
        self.reader = hiredis.Reader(replyError=RedisError)
        self._interest(EVENT_READ)
        hello: list[tuple[Any, ...]] = []
        url = self.url
        if url.password is not None:
            auth = ("AUTH", url.username, url.password) if url.username else ("AUTH", url.password)
            hello.append(auth)
        if url.db:
            hello.append(("SELECT", url.db))
        hello.append(("CLIENT", "SETNAME", self.name))
        for i, command in enumerate(hello):
            last = i == len(hello) - 1
            self._queue(command, self._hello_done if last else self._hello_step)
        self._flush()

    def _hello_step(self, reply: Reply) -> None:
        if isinstance(reply, RedisError):
            self._failed(f"refused: {reply}")

    def _hello_done(self, reply: Reply) -> None:
        if isinstance(reply, RedisError) and "SETNAME" not in str(reply):
            self._failed(f"refused: {reply}")
            return
        self.connected = True
        self.backoff = RECONNECT_FIRST
        log.info("%s: connected to %s", self.name, self.url)
        self.on_up()

    # -- commands ----------------------------------------------------------------------------

    def send(self, *command: Any, callback: Callback | None = None) -> bool:
        """Queue one command; False if the link is down (nothing queued)."""
        if not self.connected:
            return False
        self._queue(command, callback or _ignore)
        return True

    def _queue(self, command: tuple[Any, ...], callback: Callback) -> None:
        self.out.append(hiredis.pack_command(command))
        self.waiting.append(callback)
        self.sent_commands += 1
        if len(self.out) == 1:
            self.reactor.dirty_links.append(self)

    def _flush(self) -> None:
        """Write what is queued (called once per loop iteration, and on EVENT_WRITE)."""
        if not self.out or self.sock is None or self.connecting:
            return
        data = b"".join(self.out) if len(self.out) > 1 else self.out[0]
        try:
            sent = self.sock.send(data)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            self._failed(str(exc.strerror or exc))
            return
        if sent < len(data):
            self.out = [data[sent:]]
            self._interest(EVENT_READ | EVENT_WRITE)
        else:
            self.out = []
            self._interest(EVENT_READ)

    def flush(self) -> None:
        self._flush()

    @property
    def pending(self) -> int:
        """Commands sent whose replies have not come back."""
        return len(self.waiting)

    # -- events ------------------------------------------------------------------------------

    def on_event(self, mask: int) -> None:
        if self.sock is None:
            return
        if self.connecting:
            code = self.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if code:
                self._failed(errno.errorcode.get(code, str(code)))
                return
            self._handshake()
            return
        if mask & EVENT_READ:
            self._read()
        if mask & EVENT_WRITE and self.sock is not None:
            self._flush()

    def _read(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(RECV_SIZE)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            self._failed(str(exc.strerror or exc))
            return
        if not data:
            self._failed("connection closed by Redis")
            return
        reader = self.reader
        reader.feed(data)
        waiting = self.waiting
        while True:
            try:
                reply = reader.gets()
            except hiredis.ProtocolError as exc:
                self._failed(f"protocol error: {exc}")
                return
            if reply is False:
                return
            if not waiting:
                self._failed("a reply nobody asked for")
                return
            waiting.popleft()(reply)
            if self.sock is None:  # a callback closed or reset the link
                return

    def _interest(self, events: int) -> None:
        if self.sock is None:
            return
        selector = self.reactor.selector
        if self.registered_events == 0:
            selector.register(self.sock, events, self)
        elif self.registered_events != events:
            selector.modify(self.sock, events, self)
        self.registered_events = events

    # -- failure -----------------------------------------------------------------------------

    def _failed(self, reason: str) -> None:
        was_up = self.connected
        self._drop_socket()
        waiting, self.waiting = self.waiting, deque()
        self.out = []
        error = RedisError(f"link lost: {reason}")
        for callback in waiting:
            callback(error)
        if reason != self.down_reason or was_up:
            log.warning("%s: %s lost: %s; retrying", self.name, self.url, reason)
        self.down_reason = reason
        if was_up:
            self.on_down(reason)
        if not self.closed and self.retry is None:
            self.retry = self.reactor.timers.call_at(self.reactor.now + self.backoff, self._connect)
            self.backoff = min(self.backoff * 2, RECONNECT_MAX)

    def _drop_socket(self) -> None:
        self.connected = False
        self.connecting = False
        sock, self.sock = self.sock, None
        if sock is not None:
            if self.registered_events:
                try:
                    self.reactor.selector.unregister(sock)
                except (KeyError, ValueError):
                    pass
            sock.close()
        self.registered_events = 0

    def reset(self) -> None:
        """After an internal error while serving this link: drop it and reconnect."""
        self._failed("internal error")

    def close(self) -> None:
        self.closed = True
        if self.retry is not None:
            self.retry.cancel()
        self._drop_socket()


def _ignore(reply: Reply) -> None:
    if isinstance(reply, RedisError) and "link lost" not in str(reply):
        log.error("redis: %s", reply)

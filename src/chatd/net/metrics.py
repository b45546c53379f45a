"""The metrics endpoint: this process's figures in the Prometheus text format, over HTTP/1.0,
served by the same reactor as the chat (off unless `metrics_port` is set; loopback by default).

A tiny responder, not a web server: `GET /metrics` (or HEAD) only; the request may be at most
REQUEST_MAX bytes and must arrive within REQUEST_TIMEOUT; one response, then the connection is
closed. At most EXCHANGES_MAX requests are served at once; more are closed at accept. Every
socket is non-blocking in the reactor's selector, like the chat's own.

The figures come from the Sampler (net/monitor.py): `render` reads them, it never waits.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from selectors import EVENT_READ, EVENT_WRITE
from typing import TYPE_CHECKING

from .. import __version__
from ..limits import ACCEPT_BATCH
from ..server.opstats import LogFigures, NodeFigures

if TYPE_CHECKING:
    from .reactor import Reactor
    from .timers import Timer

log = logging.getLogger("chatd")

REQUEST_MAX = 4096  # bytes of request line and headers
REQUEST_TIMEOUT = 5.0  # seconds for the request to arrive and the response to leave
EXCHANGES_MAX = 16  # requests served at once
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class MetricsServer:
    """The listening socket of the endpoint, in the reactor's selector."""

    def __init__(
        self,
        reactor: Reactor,
        sock: socket.socket,
        render: Callable[[], str],
        timeout: float = REQUEST_TIMEOUT,
    ) -> None:
        self.reactor = reactor
        self.sock = sock
        self.render = render
        self.timeout = timeout
        self.exchanges: set[_Exchange] = set()
        sock.setblocking(False)
        reactor.selector.register(sock, EVENT_READ, self)

    @property
    def port(self) -> int:
        return int(self.sock.getsockname()[1])

    def on_event(self, mask: int) -> None:
        for _ in range(ACCEPT_BATCH):
            try:
                conn, _ = self.sock.accept()
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # EMFILE and the like: the next wake-up tries again
                log.warning("metrics: accept failed: %s", exc.strerror or exc)
                return
            if len(self.exchanges) >= EXCHANGES_MAX:
                conn.close()
                continue
            self.exchanges.add(_Exchange(self, conn))

    def close(self) -> None:
        for exchange in list(self.exchanges):
            exchange.close()
        try:
            self.reactor.selector.unregister(self.sock)
        except (KeyError, ValueError, RuntimeError):
            pass  # the selector is closed already (the reactor stopped)
        self.sock.close()


class _Exchange:
    """One request and its response."""

    __slots__ = ("server", "sock", "buf", "out", "timer", "closed", "draining")

    def __init__(self, server: MetricsServer, sock: socket.socket) -> None:
        self.server = server
        self.sock = sock
        self.buf = b""
        self.out = b""
        self.closed = False
        self.draining = False  # answered: what the client still sends is read and dropped
        sock.setblocking(False)
        reactor = server.reactor
        reactor.selector.register(sock, EVENT_READ, self)
        self.timer: Timer | None = reactor.call_at(reactor.now + server.timeout, self.close)

    def on_event(self, mask: int) -> None:
        if self.closed:
            return
        if self.draining:
            self._drain()
            return
        if self.out:
            if mask & EVENT_WRITE:
                self._send()
            return
        if mask & EVENT_READ:
            self._read()

    def _read(self) -> None:
        try:
            data = self.sock.recv(REQUEST_MAX + 1 - len(self.buf))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            self.close()
            return
        self.buf += data
        head_end = self.buf.find(b"\r\n\r\n")
        if head_end < 0:
            head_end = self.buf.find(b"\n\n")
        if head_end >= 0:
            self._respond(*answer(self.buf[:head_end], self.server.render))
        elif len(self.buf) > REQUEST_MAX:
            self._respond(*error(431, "Request Header Fields Too Large"))

    def _respond(self, head: bytes, body: bytes) -> None:
        self.out = head + body
        self._send()

    def _send(self) -> None:
        try:
            sent = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.close()
            return
        self.out = self.out[sent:]
        if not self.out:
            self._finish()
            return
        self.server.reactor.selector.modify(self.sock, EVENT_WRITE, self)

    def _finish(self) -> None:
        """The response is out: half-close, and read until the client closes (or the time is
        up), so that unread request bytes do not turn the close into a reset that could
        destroy the response on its way."""
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            self.close()
            return
        self.draining = True
        self.server.reactor.selector.modify(self.sock, EVENT_READ, self)

    def _drain(self) -> None:
        try:
            data = self.sock.recv(REQUEST_MAX)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        self.server.exchanges.discard(self)
        try:
            self.server.reactor.selector.unregister(self.sock)
        except (KeyError, ValueError, RuntimeError):
            pass
        self.sock.close()


def _response(status: int, reason: str, body: bytes, content_type: str) -> tuple[bytes, bytes]:
    head = (
        f"HTTP/1.0 {status} {reason}\r\n"
        f"Content-Type: {content_type}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode()
    return head, body


def error(status: int, reason: str) -> tuple[bytes, bytes]:
    return _response(status, reason, f"{reason}\n".encode(), "text/plain; charset=utf-8")


def answer(head: bytes, render: Callable[[], str]) -> tuple[bytes, bytes]:
    """The response to one request head (request line and headers, without the blank line)."""
    request_line = head.split(b"\n", 1)[0].rstrip(b"\r")
    words = request_line.split(b" ")
    if len(words) != 3 or not words[2].startswith(b"HTTP/"):
        return error(400, "Bad Request")
    method, target = words[0], words[1]
    if method not in (b"GET", b"HEAD"):
        status, headers_body = error(405, "Method Not Allowed")
        return status.replace(b"\r\n\r\n", b"\r\nAllow: GET, HEAD\r\n\r\n"), headers_body
    if target.split(b"?", 1)[0] != b"/metrics":
        return error(404, "Not Found")
    head_bytes, body = _response(200, "OK", render().encode(), CONTENT_TYPE)
    return head_bytes, (b"" if method == b"HEAD" else body)


# -- the Prometheus text format -------------------------------------------------------------------


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class _Text:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self, name: str, kind: str, help_: str, samples: list[tuple[str, float]] | float
    ) -> None:
        self.lines.append(f"# HELP {name} {help_}")
        self.lines.append(f"# TYPE {name} {kind}")
        if not isinstance(samples, list):
            samples = [("", samples)]
        for labels, value in samples:
            if isinstance(value, float):
                shown = "NaN" if value != value else repr(value)
            else:
                shown = str(value)
            self.lines.append(f"{name}{labels} {shown}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _position_seconds(position: str) -> float:
    ms = position.partition("-")[0]
    return int(ms) / 1000 if ms.isdigit() else 0.0


def render(me: NodeFigures, others: list[NodeFigures], logf: LogFigures | None) -> str:
    """This node's figures (and, on a cluster, the network's) as Prometheus text."""
    t = _Text()
    info = f'{{server="{_label(me.server)}",node="{_label(me.node)}",version="{__version__}"}}'
    t.metric("chatd_info", "gauge", "This server: its name, node id and version.", [(info, 1)])
    t.metric("process_start_time_seconds", "gauge", "When the process started.", me.started)
    t.metric("process_resident_memory_bytes", "gauge", "Resident memory.", me.rss_bytes)
    t.metric("chatd_connections", "gauge", "Client connections open here.", me.connections)
    t.metric("chatd_users", "gauge", "Registered users connected here.", me.users)
    t.metric("chatd_channels", "gauge", "Channels of the network.", me.channels)
    t.metric("chatd_lines_received_total", "counter", "Lines read from clients here.", me.lines_in)
    t.metric(
        "chatd_messages_relayed_total",
        "counter",
        "Messages relayed (PRIVMSG, NOTICE, JOIN, QUIT...: each once, whatever its fan-out).",
        me.relayed,
    )
    t.metric("chatd_sendq_bytes", "gauge", "Output queued on connections here.", me.sendq_bytes)
    t.metric(
        "chatd_sendq_drops_total", "counter", "Clients dropped for a full sendq.", me.sendq_drops
    )
    t.metric(
        "chatd_flood_drops_total", "counter", "Clients dropped for excess flood.", me.flood_drops
    )
    if logf is None:
        return t.text()
    t.metric(
        "chatd_cluster_leader", "gauge", "1 if this node writes the snapshots.", int(me.leader)
    )
    t.metric(
        "chatd_cluster_lag_seconds",
        "gauge",
        "Time from appending this node's last entry to reading it back from the log.",
        me.lag_ms / 1000 if me.lag_ms >= 0 else float("nan"),
    )
    t.metric(
        "chatd_cluster_lag_max_seconds",
        "gauge",
        "The worst such time over the last sampling interval.",
        me.lag_max_ms / 1000 if me.lag_max_ms >= 0 else float("nan"),
    )
    t.metric(
        "chatd_cluster_position_timestamp_seconds",
        "gauge",
        "Redis time of the last log entry applied here.",
        _position_seconds(me.position),
    )
    live = [lease for lease in logf.nodes if lease.live]
    t.metric("chatd_cluster_nodes", "gauge", "Nodes holding a live lease.", len(live))
    t.metric("chatd_cluster_log_entries", "gauge", "Entries in the log stream.", logf.length)
    t.metric(
        "chatd_cluster_snapshot_bytes", "gauge", "Size of the newest snapshot.", logf.snapshot_bytes
    )
    t.metric(
        "chatd_cluster_snapshot_timestamp_seconds",
        "gauge",
        "When the newest snapshot was written (0: unknown).",
        logf.snapshot_wall,
    )
    per_node = [me, *others]

    def each(get: Callable[[NodeFigures], float]) -> list[tuple[str, float]]:
        return [(f'{{server="{_label(f.server)}"}}', get(f)) for f in per_node]

    t.metric("chatd_cluster_node_users", "gauge", "Users on each node.", each(lambda f: f.users))
    t.metric(
        "chatd_cluster_node_lag_seconds",
        "gauge",
        "Each node's lag to the log, as it last published it.",
        each(lambda f: f.lag_ms / 1000 if f.lag_ms >= 0 else float("nan")),
    )
    t.metric(
        "chatd_cluster_node_resident_memory_bytes",
        "gauge",
        "Each node's resident memory, as it last published it.",
        each(lambda f: f.rss_bytes),
    )
    return t.text()

"""The load generator's reactor: many IRC client connections in one `selectors` loop.

This is the only module of the bench that touches sockets. A `Load` owns a selector, one
preallocated receive buffer shared by all connections, and the clients (`Conn`). Clients go
through registration (NICK/USER, 001), an optional JOIN (wait for 366) and a PING/PONG
barrier; after that they are READY and the hot path runs:

- every read is one ``recv_into`` of up to 256 KiB into the shared buffer, and the lines in it
  are counted with ``bytearray.count(b"\\n")`` -- nothing is split or decoded;
- only "sampling" clients look for the latency marker (``~t`` + a 16-digit
  ``perf_counter_ns`` stamp that senders put into one message in `sample_every`);
- senders keep a bounded in-flight window: after every `batch` messages they send
  ``PING :w``; each PONG (counted with ``count(b" PONG ")``, exact across read boundaries)
  acknowledges one batch, and a sender never has more than `window` messages unacknowledged,
  so no server's input or output queues are simply overrun. Each batch is one ``send``.
  With `in_flight_cap` (the rooms scenario: a thousand senders) there are no PINGs: one shared
  window, counted from the receivers' lines (owed = sent x (members-1) - delivered), and the
  senders take turns one message each.

Before READY (registration, JOIN storms with NAMES lists) the data is searched for the few
numerics that matter with ``bytes.find``; lines are still not split one by one.
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import socket
import time
from collections.abc import Iterable, Sequence

RECV_SIZE = 262144
SAMPLE_MARK = b"~t"
PLAIN_MARK = b"-t"
STAMP_DIGITS = 16
STAMP_MOD = 10**STAMP_DIGITS
SEAM = 6  # length of b" PONG " and b"\nPING "

# Connection states.
NEW, CONNECTING, REGISTERING, JOINING, JOINED, SYNCING, READY, QUITTING, CLOSED = range(9)
STATE_NAMES = [
    "new",
    "connecting",
    "registering",
    "joining",
    "joined",
    "syncing",
    "ready",
    "quitting",
    "closed",
]

_quickack = getattr(socket, "TCP_QUICKACK", None)


def now_stamp() -> int:
    return int(time.perf_counter_ns() % STAMP_MOD)


class SetupError(RuntimeError):
    """Clients could not be connected, registered or joined in time."""


class Conn:
    """One client connection and its counters. Plain data; `Load` drives it."""

    __slots__ = (
        "acked",
        "caps",
        "echo",
        "labels",
        "fd",
        "index",
        "nick",
        "out",
        "port",
        "room",
        "room_size",
        "sample",
        "seam",
        "sender",
        "sent",
        "seq",
        "server_name",
        "since_ping",
        "sock",
        "state",
        "tail",
    )

    def __init__(self, index: int, nick: str, room: str | None) -> None:
        self.index = index
        self.nick = nick
        self.room = room
        self.port = 0  # 0: the Load's port; a cluster's clients are spread over its nodes
        self.room_size = 1
        self.sock: socket.socket | None = None
        self.fd = -1
        self.state = NEW
        self.tail = b""  # partial line kept while not READY
        self.seam = b"\n"  # last SEAM-1 bytes seen while READY
        self.sender = False
        self.sample = False
        self.sent = 0
        self.acked = 0
        self.since_ping = 0
        self.out = bytearray()
        self.server_name = b"server"
        self.seq = 0
        self.caps = ""  # requested with CAP REQ before registering (realistic scenario)
        self.echo = False  # the server ACKed echo-message: it gets its own messages back
        self.labels = False  # the server ACKed labeled-response: it labels what it sends


class Load:
    """A reactor driving `Conn`s against one server at host:port."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        ports: Sequence[int] = (),
        eager: bool = True,
        window: int = 16,
        batch: int = 8,
        in_flight_cap: int = 0,
        owed_cap: int = 0,
        sample_every: int = 64,
        text_size: int = 40,
    ) -> None:
        self.host = host
        self.port = port
        self.ports = list(ports) or [port]
        self.eager = eager
        self.batch = max(1, batch)
        self.window = max(self.batch, window)
        self.in_flight_cap = in_flight_cap  # > 0: one shared window instead of PINGs per sender
        # > 0: no sending while this many deliveries are owed. On a cluster a PONG from the
        # sender's node says nothing about the receivers' node, which may be behind.
        self.owed_cap = owed_cap
        self._turn = 0
        self.sample_every = max(1, sample_every)
        self.pad = b"x" * max(0, text_size - len(SAMPLE_MARK) - STAMP_DIGITS - 1)
        self.sel = selectors.DefaultSelector()
        self.buf = bytearray(RECV_SIZE)
        self.conns: list[Conn] = []
        # Totals over READY clients.
        self.lines = 0
        self.acks = 0
        self.pings = 0
        self.expected = 0  # deliveries owed for the messages sent so far
        self.messages = 0
        self.skipped = 0  # rate mode: messages not sent because a window was full
        self.samples: list[int] = []
        self.measuring = False
        self.disconnects = 0
        self.connect_errors = 0
        # connect scenario
        self.registrations = 0
        self.quit_after_welcome = False
        self.refill: list[Conn] = []
        self._in_progress = 0  # clients between connect and JOINED
        self._syncing = 0
        self._live: list[Conn] = []  # connect scenario: registrations in progress
        self._quitting: list[Conn] = []  # connect scenario: every client opened
        self._counter = 0

    # ---------------------------------------------------------------- accounting

    @property
    def delivered(self) -> int:
        return self.lines - self.acks - self.pings

    def state_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for c in self.conns:
            name = STATE_NAMES[c.state]
            counts[name] = counts.get(name, 0) + 1
        return counts

    # ---------------------------------------------------------------- the loop

    def poll(self, timeout: float) -> None:
        """Wait up to `timeout` seconds and handle every ready socket once."""
        for key, mask in self.sel.select(timeout):
            c: Conn = key.data
            if c.state == CONNECTING:
                self._on_connected(c)
                continue
            if mask & selectors.EVENT_READ:
                self._on_readable(c)
            if mask & selectors.EVENT_WRITE and c.state != CLOSED:
                self._flush(c)

    def _on_readable(self, c: Conn) -> None:
        sock = c.sock
        assert sock is not None
        try:
            n = sock.recv_into(self.buf)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._lost(c)
            return
        if n == 0:
            self._lost(c)
            return
        if c.state == READY:
            self._count(c, n)
        else:
            self._setup_data(c, bytes(self.buf[:n]))

    def _count(self, c: Conn, n: int) -> None:
        """The hot path: count lines, acks and (on sampling clients) latency markers."""
        buf = self.buf
        self.lines += buf.count(b"\n", 0, n)
        if self.eager and _quickack is not None:
            c.sock.setsockopt(socket.IPPROTO_TCP, _quickack, 1)  # type: ignore[union-attr]
        seam = c.seam + buf[: SEAM - 1]
        if c.sender:
            k = buf.count(b" PONG ", 0, n) + seam.count(b" PONG ")
            if k:
                self.acks += k
                c.acked += k * self.batch
                self.refill.append(c)
        if buf.find(b"\nPING ", 0, n) >= 0 or b"\nPING " in seam:
            self._answer_pings(c, seam + buf[SEAM - 1 : n])
        if c.sample and self.measuring:
            now = now_stamp()
            mark, width, samples = SAMPLE_MARK, len(SAMPLE_MARK) + STAMP_DIGITS, self.samples
            last = n - STAMP_DIGITS  # a marker must be followed by a whole stamp in this read
            i = buf.find(mark, 0, last)
            while i >= 0:
                samples.append((now - int(buf[i + 2 : i + width])) % STAMP_MOD)
                i = buf.find(mark, i + width, last)
        c.seam = bytes(buf[n - SEAM + 1 : n]) if n >= SEAM - 1 else (c.seam + buf[:n])[1 - SEAM :]

    def _answer_pings(self, c: Conn, data: bytes | bytearray) -> None:
        i = data.find(b"\nPING ")
        while i >= 0:
            self.pings += 1
            end = data.find(b"\n", i + 1)
            token = data[i + 6 : end].strip() if end > 0 else b":" + c.server_name
            self.send(c, b"PONG " + bytes(token) + b"\r\n")
            i = data.find(b"\nPING ", i + 1)

    # ---------------------------------------------------------------- setup phase

    def _setup_data(self, c: Conn, data: bytes) -> None:
        data = c.tail + data
        end = data.rfind(b"\n")
        if end < 0:
            c.tail = data[-8192:]
            return
        c.tail = data[end + 1 :]
        self._setup_lines(c, data[: end + 1])

    def _setup_lines(self, c: Conn, body: bytes) -> None:
        """React to the few server lines that matter before READY, found with bytes.find."""
        if b"PING " in body:
            for line in _lines_with(body, b"PING "):
                if line.startswith(b"PING "):
                    self.send(c, b"PONG " + line[5:] + b"\r\n")
        if c.state == REGISTERING and c.caps and b" ACK " in body:
            for line in _lines_with(body, b" ACK "):
                if b" CAP " in line:
                    acked = line.rsplit(b":", 1)[-1].split()
                    c.echo = c.echo or b"echo-message" in acked
                    c.labels = c.labels or b"labeled-response" in acked
        if c.state == REGISTERING:
            if b" 433 " in body and b" 001 " not in body:
                c.nick = c.nick[:8] + "_"
                self.send(c, f"NICK {c.nick}\r\n".encode())
                return
            welcome = _first_line_with(body, b" 001 ")
            if welcome is not None:
                if welcome.startswith(b":"):
                    c.server_name = welcome[1 : welcome.find(b" ")]
                self._registered(c)
        if c.state == QUITTING:
            return
        if c.state == JOINING and b" 366 " in body:
            self._settle(c, JOINED)
        if c.state == SYNCING:
            at = body.find(b" PONG ")
            while at >= 0:
                line_end = body.find(b"\n", at)
                if body.rfind(b"sync", at, line_end) >= 0:
                    c.state = READY
                    self._syncing -= 1
                    c.seam = b"\n"
                    self.lines += body.count(b"\n", line_end + 1)
                    if c.tail:
                        self._setup_to_ready_tail(c)
                    return
                at = body.find(b" PONG ", line_end)
        if self.quit_after_welcome and c.state == JOINED and (b" 376 " in body or b" 422 " in body):
            if self.measuring:
                self.registrations += 1
            c.state = QUITTING
            self.send(c, b"QUIT :bench\r\n")

    def _setup_to_ready_tail(self, c: Conn) -> None:
        c.seam = (b"\n" + c.tail)[1 - SEAM :]
        c.tail = b""

    def _registered(self, c: Conn) -> None:
        if c.room is not None and not self.quit_after_welcome:
            c.state = JOINING
            self.send(c, f"JOIN {c.room}\r\n".encode())
        else:
            self._settle(c, JOINED)

    def _settle(self, c: Conn, state: int) -> None:
        """Leave the connecting/registering/joining stretch that `concurrency` bounds."""
        if c.state in (CONNECTING, REGISTERING, JOINING):
            self._in_progress -= 1
        if c.state == SYNCING:
            self._syncing -= 1
        c.state = state

    # ---------------------------------------------------------------- connections

    def new_clients(self, rooms: Sequence[str | None], prefix: str) -> list[Conn]:
        start = len(self.conns)
        made = [Conn(start + i, prefix + base36(start + i), room) for i, room in enumerate(rooms)]
        self.conns.extend(made)
        return made

    def open(self, c: Conn) -> None:
        """Start a non-blocking connect; registration follows when it completes."""
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if self.eager:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if _quickack is not None:
                sock.setsockopt(socket.IPPROTO_TCP, _quickack, 1)
        c.sock, c.fd, c.state = sock, sock.fileno(), CONNECTING
        c.tail, c.out = b"", bytearray()
        self._in_progress += 1
        err = sock.connect_ex((self.host, c.port or self.port))
        if err not in (0, errno.EINPROGRESS):
            self.connect_errors += 1
            self._close(c)
            return
        self.sel.register(sock, selectors.EVENT_WRITE, c)

    def _on_connected(self, c: Conn) -> None:
        sock = c.sock
        assert sock is not None
        err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if err:
            self.connect_errors += 1
            self._close(c)
            return
        c.state = REGISTERING
        self.sel.modify(sock, selectors.EVENT_READ, c)
        hello = f"NICK {c.nick}\r\nUSER {c.nick} 0 * :chatd-bench\r\n"
        if c.caps:
            hello = f"CAP REQ :{c.caps}\r\n{hello}CAP END\r\n"
        self.send(c, hello.encode())

    def _lost(self, c: Conn) -> None:
        if c.state in (READY, SYNCING, JOINED):
            self.disconnects += 1
        elif c.state in (CONNECTING, REGISTERING, JOINING):
            self.connect_errors += 1
        self._close(c)

    def _close(self, c: Conn) -> None:
        if c.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(c.sock)
            c.sock.close()
        self._settle(c, CLOSED)
        c.sock = None

    def close_all(self) -> None:
        for c in [*self.conns, *self._quitting]:
            if c.sock is not None:
                self._close(c)
        self.sel.close()

    # ---------------------------------------------------------------- writing

    def send(self, c: Conn, data: bytes | bytearray) -> None:
        """Write now if nothing is queued; queue the rest and arm EVENT_WRITE."""
        sock = c.sock
        if sock is None:
            return
        if c.out:
            c.out += data
            return
        try:
            k = sock.send(data)
        except (BlockingIOError, InterruptedError):
            k = 0
        except OSError:
            self._lost(c)
            return
        if k < len(data):
            c.out += data[k:]
            self.sel.modify(sock, selectors.EVENT_READ | selectors.EVENT_WRITE, c)

    def _flush(self, c: Conn) -> None:
        sock = c.sock
        if sock is None or not c.out:
            return
        try:
            k = sock.send(c.out)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self._lost(c)
            return
        del c.out[:k]
        if not c.out:
            self.sel.modify(sock, selectors.EVENT_READ, c)

    def send_messages(self, c: Conn, count: int) -> None:
        """Send `count` PRIVMSGs to c.room in one write, with a PING after every batch."""
        stamp = b"%016d" % now_stamp()
        head = b"PRIVMSG " + c.room.encode() + b" :"  # type: ignore[union-attr]
        parts: list[bytes] = []
        for _ in range(count):
            c.seq += 1
            mark = SAMPLE_MARK if c.seq % self.sample_every == 0 else PLAIN_MARK
            parts.append(head + mark + stamp + b" " + self.pad + b"\r\n")
            c.since_ping += 1
            if c.since_ping == self.batch and not self.in_flight_cap:
                parts.append(b"PING :w\r\n")
                c.since_ping = 0
        c.sent += count
        self.messages += count
        self.expected += count * (c.room_size - 1)
        self.send(c, b"".join(parts))

    def send_to(self, c: Conn, room: str, members: int) -> None:
        """One PRIVMSG to `room` (of `members` members) stamped now and marked for sampling;
        labeled if the server ACKed labeled-response. Its members but the sender each get it,
        and the sender too when the server ACKed echo-message."""
        c.seq += 1
        label = b"@label=%x " % c.seq if c.labels else b""
        line = b"%sPRIVMSG %s :%s%016d %s\r\n" % (
            label,
            room.encode(),
            SAMPLE_MARK,
            now_stamp(),
            self.pad,
        )
        c.sent += 1
        self.messages += 1
        self.expected += members - 1 + (1 if c.echo else 0)
        self.send(c, line)

    def window_room(self, c: Conn) -> int:
        return self.window - (c.sent - c.acked)

    # ---------------------------------------------------------------- phases

    def establish(self, conns: Sequence[Conn], concurrency: int, timeout: float) -> None:
        """Connect, register and (if they have a room) join `conns`, `concurrency` at a time."""
        pending = list(reversed(conns))
        deadline = time.monotonic() + timeout
        while True:
            while pending and self._in_progress < concurrency:
                self.open(pending.pop())
            if not pending and self._in_progress == 0:
                break
            if time.monotonic() > deadline:
                raise SetupError(f"setup timed out: {self.state_counts()}")
            self.poll(0.05)
        failed = sum(c.state == CLOSED for c in conns)
        if failed:
            raise SetupError(f"{failed} of {len(conns)} clients failed to connect or join")

    def sync(self, conns: Sequence[Conn], timeout: float) -> None:
        """PING every client and wait for its PONG: everything sent to it before is read."""
        for c in conns:
            c.state = SYNCING
            self._syncing += 1
            self.send(c, b"PING :sync\r\n")
        deadline = time.monotonic() + timeout
        while self._syncing > 0:
            if time.monotonic() > deadline:
                raise SetupError(f"sync timed out: {self.state_counts()}")
            self.poll(0.05)
        if any(c.state != READY for c in conns):
            raise SetupError(f"clients lost during sync: {self.state_counts()}")

    def hold(self, seconds: float) -> None:
        """Keep the loop running (answering PINGs) for `seconds`."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            self.poll(min(left, 0.1))

    def drive(self, senders: Sequence[Conn], rate: float, until: float) -> None:
        """Send until `until` (perf_counter): as fast as windows allow (rate 0) or at `rate`/s."""
        if self.in_flight_cap:
            self._drive_shared(senders, rate, until)
        elif rate <= 0:
            self.refill = list(senders)
            while time.perf_counter() < until:
                if self.owed_cap and self.expected - self.delivered >= self.owed_cap:
                    self.poll(0.001)  # the receivers are behind: wait for them
                    continue
                refill, self.refill = self.refill, []
                for c in refill:
                    room = self.window_room(c)
                    if room >= self.batch and c.state == READY:
                        self.send_messages(c, room - room % self.batch)
                self.poll(0.0 if self.refill else 0.005)
        else:
            self._drive_rate(senders, rate, until)

    def _drive_rate(self, senders: Sequence[Conn], rate: float, until: float) -> None:
        start = time.perf_counter()
        issued = 0
        turn = 0
        tick = min(0.005, 1.0 / rate)
        while (now := time.perf_counter()) < until:
            due = int((now - start) * rate) - issued
            if due > 0:
                issued += due
                counts = [0] * len(senders)
                for _ in range(due):
                    counts[turn] += 1
                    turn = (turn + 1) % len(senders)
                capped = self.owed_cap and self.expected - self.delivered >= self.owed_cap
                for c, k in zip(senders, counts, strict=False):
                    allowed = min(k, max(0, self.window_room(c))) if c.state == READY else 0
                    allowed = 0 if capped else allowed
                    self.skipped += k - allowed
                    if allowed:
                        self.send_messages(c, allowed)
            self.poll(tick)

    def _drive_shared(self, senders: Sequence[Conn], rate: float, until: float) -> None:
        """One aggregate window: senders take turns, one message each, while fewer than
        `in_flight_cap` messages are owed (counted from the receivers' lines; no PINGs)."""
        cap = self.in_flight_cap * max(1, senders[0].room_size - 1)
        start = time.perf_counter()
        issued = 0
        tick = 0.005 if rate <= 0 else min(0.005, 1.0 / rate)
        while (now := time.perf_counter()) < until:
            if rate > 0:
                due = int((now - start) * rate) - issued
                issued += max(0, due)
            else:
                due = len(senders)
            while due > 0 and self.expected - self.delivered < cap:
                c = senders[self._turn % len(senders)]
                self._turn += 1
                if c.state == READY:
                    self.send_messages(c, 1)
                due -= 1
            if rate > 0:
                self.skipped += max(0, due)
            self.poll(tick)

    def drain(self, quiet: float) -> None:
        """Run until every owed delivery is counted, or nothing arrived for `quiet` seconds."""
        last, last_change = self.delivered, time.monotonic()
        while self.delivered < self.expected:
            self.poll(0.02)
            if self.delivered != last:
                last, last_change = self.delivered, time.monotonic()
            elif time.monotonic() - last_change > quiet:
                break

    def churn(self, prefix: str, concurrency: int, until: float) -> None:
        """connect scenario: keep `concurrency` registrations going; QUIT after each welcome."""
        self.quit_after_welcome = True
        while time.perf_counter() < until:
            # A slot is free once the welcome burst ended; QUITTING sockets close on their own.
            live = self._live = [c for c in self._live if c.state not in (QUITTING, CLOSED)]
            while len(live) < concurrency:
                c = Conn(self._counter, f"{prefix}{base36(self._counter)}", None)
                self._counter += 1
                live.append(c)
                self._quitting.append(c)
                self.open(c)
            self.poll(0.01)


def base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def _lines_with(body: bytes, needle: bytes) -> Iterable[bytes]:
    at = body.find(needle)
    while at >= 0:
        start = body.rfind(b"\n", 0, at) + 1
        end = body.find(b"\n", at)
        yield body[start:end].rstrip(b"\r")
        at = body.find(needle, end)


def _first_line_with(body: bytes, needle: bytes) -> bytes | None:
    return next(iter(_lines_with(body, needle)), None)

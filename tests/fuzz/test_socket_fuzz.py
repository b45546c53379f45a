"""Socket-level fuzzing: twenty clients throw random and grammar-built hostile lines at a real
reactor while two well-behaved clients keep talking.

Asserts: the server never logs an unhandled exception (no ERROR record on the "chatd" logger:
handler bugs are logged by ServerState.handle_line, socket bugs by the reactor's "internal error
serving"), the well-behaved clients get PING/PONG and channel messages through under a
deadline the whole time, the bytes queued in the server (output queues, input buffers,
held-back lines) stay bounded, and when the fuzzers leave nothing of them is left behind.

    CHATD_FUZZ_SECONDS=120 CHATD_FUZZ_SEED=1234 pytest -q tests/fuzz/test_socket_fuzz.py -s

The seed is printed (shown with the failure) so a run can be repeated.
"""

from __future__ import annotations

import logging
import os
import random
import selectors
import socket
import time

import fuzz_grammar as grammar
import pytest
from ircclient import Client, wait_for

SECONDS = float(os.environ.get("CHATD_FUZZ_SECONDS", "4"))
SEED = int(os.environ.get("CHATD_FUZZ_SEED") or random.SystemRandom().randrange(1 << 32))
FUZZERS = 20
NON_READERS = 2  # fuzzers that never read: they must end as "SendQ exceeded", not as growth
SENDQ = 64 * 1024
RTT_DEADLINE = 5.0  # seconds for a well-behaved round trip, however busy the server is


class ErrorRecords(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def report(self) -> str:
        return "\n".join(
            f"{r.getMessage()[:300]}\n{self.format(r)[-2000:]}" for r in self.records[:3]
        )


class Fuzzer:
    def __init__(
        self, port: int, rng: random.Random, index: int, sel: selectors.BaseSelector
    ) -> None:
        self.port = port
        self.rng = rng
        self.index = index
        self.sel = sel
        self.reads = index >= NON_READERS
        self.sock: socket.socket | None = None
        self.connects = 0
        self.lines = 0
        self.received = 0

    def connect(self) -> None:
        self.sock = socket.create_connection(("127.0.0.1", self.port), timeout=5)
        self.sock.setblocking(False)
        self.connects += 1
        if self.reads:
            self.sel.register(self.sock, selectors.EVENT_READ, self)
        if self.rng.random() < 0.85:
            self.send(grammar.registration(self.rng, f"fz{self.index}n{self.connects}"))
            self.send([b"JOIN #chan,#CHAN[1]," + self.rng.choice(grammar.CHANNELS).encode()])

    def close(self) -> None:
        if self.sock is not None:
            if self.reads:
                self.sel.unregister(self.sock)
            self.sock.close()
            self.sock = None

    def send(self, lines: list[bytes]) -> None:
        rng = self.rng
        data = b"".join(line + rng.choice([b"\r\n", b"\n", b"\r\n", b"\r\r\n"]) for line in lines)
        if rng.random() < 0.1:
            data = data[: rng.randrange(len(data) + 1)]  # a partial line, finished later or not
        try:
            while data:  # in pieces, so the server sees lines split across reads
                piece = rng.choice([len(data), len(data), rng.randrange(1, len(data) + 1)])
                self.sock.send(data[:piece])  # type: ignore[union-attr]
                data = data[piece:]
        except BlockingIOError:
            pass  # the server is not reading us (flood of our own making): drop the rest
        except OSError:
            self.close()

    def step(self) -> None:
        if self.sock is None:
            self.connect()
            return
        batch = [grammar.fuzz_line(self.rng) for _ in range(self.rng.randrange(1, 6))]
        self.lines += len(batch)
        self.send(batch)

    def on_readable(self) -> None:
        try:
            data = self.sock.recv(262144)  # type: ignore[union-attr]
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            self.close()
        self.received += len(data)


def queued_bytes(reactor) -> int:
    """Bytes the server holds for its connections (read from another thread: retried)."""
    for _ in range(100):
        try:
            conns = list(reactor.connections)
            break
        except RuntimeError:  # the set changed size while being copied
            continue
    else:
        return 0
    total = 0
    for conn in conns:
        total += conn.out_len + conn.reader.buffered
        pending = conn.client.inbox if conn.client is not None else None
        for _ in range(100):
            try:
                total += (
                    sum(len(line) for line in pending if isinstance(line, bytes)) if pending else 0
                )
                break
            except RuntimeError:  # the deque changed while being read
                continue
    return total


@pytest.mark.parametrize("flood_limit", [False, True], ids=["no-flood-limit", "flood-limit"])
def test_socket_fuzz(server_factory, flood_limit):
    print(
        f"socket fuzz: seed {SEED}, {SECONDS:g} s, {FUZZERS} clients "
        f"(CHATD_FUZZ_SEED={SEED} CHATD_FUZZ_SECONDS={SECONDS:g} to repeat)"
    )
    errors = ErrorRecords()
    chatd_log = logging.getLogger("chatd")
    chatd_log.addHandler(errors)
    srv = server_factory(
        flood_limit=flood_limit,
        sendq=SENDQ,
        max_per_ip=500,
        ip_connect_burst=10_000,
        ip_connect_rate=10_000.0,
    )
    rng = random.Random(SEED)
    sel = selectors.DefaultSelector()
    try:
        keeper = srv.client("keeper")
        keeper2 = srv.client("keeper2")
        keeper.join("#keep")
        keeper.send("MODE #keep +i", "INVITE keeper2 #keep")
        keeper2.expect(" INVITE ")
        keeper2.join("#keep")
        fuzzers = [Fuzzer(srv.port, random.Random(rng.random()), i, sel) for i in range(FUZZERS)]
        for f in fuzzers:
            f.connect()
        # the most the server may hold: each connection's sendq plus one big write past it,
        # its input buffer, and its held-back lines (at most one read's worth, 64 KiB, before
        # "Excess Flood" drops it)
        bound = (FUZZERS + 2) * (SENDQ + 256 * 1024 + srv.reactor.max_line + 64 * 1024)
        peak = 0
        worst_rtt = 0.0
        round_trips = 0
        end = time.monotonic() + SECONDS
        next_check = 0.0
        while time.monotonic() < end:
            for f in rng.sample(fuzzers, 5):
                f.step()
            for key, _ in sel.select(0):
                key.data.on_readable()
            peak = max(peak, queued_bytes(srv.reactor))
            if time.monotonic() >= next_check:
                start = time.monotonic()
                round_trips += 1
                keeper.send(f"PING :rt{round_trips}", f"PRIVMSG #keep :tick {round_trips}")
                keeper.expect(f"PONG .*rt{round_trips}", RTT_DEADLINE)
                keeper2.expect(f"PRIVMSG #keep :tick {round_trips}$", RTT_DEADLINE)
                worst_rtt = max(worst_rtt, time.monotonic() - start)
                # two lines per check: under flood control the keepers stay under 5 lines/s
                next_check = time.monotonic() + (0.5 if flood_limit else 0.2)
                assert not errors.records, errors.report()
        lines = sum(f.lines for f in fuzzers)
        print(
            f"socket fuzz: {lines} lines from {sum(f.connects for f in fuzzers)} connections,"
            f" {round_trips} round trips (worst {worst_rtt * 1000:.0f} ms), peak queued "
            f"{peak} bytes (bound {bound})"
        )
        assert not errors.records, errors.report()
        assert peak < bound
        assert round_trips >= 3
        # the fuzzers leave: nothing of them stays behind
        for f in fuzzers:
            f.close()
        state = srv.state
        wait_for(lambda: len(srv.reactor.connections) == 2, what="fuzzers' connections closed")
        wait_for(
            lambda: state.connections == 2 and state.unregistered == 0,
            what="state forgets the fuzzers",
        )
        assert sorted(state.users) == ["keeper", "keeper2"]
        # only persistent (+P) channels outlive their members: any channel operator may set
        # +P (docs/storage.md), and the fuzzers operate the channels they create
        left = [c for c in state.channels.values() if c.name != "#keep"]
        assert all("P" in c.modes and not c.members for c in left), left
        assert state.opers == 0
        keeper.sync()
        assert not errors.records, errors.report()
    finally:
        chatd_log.removeHandler(errors)
        sel.close()


def test_state_connection_counters_match_after_fuzz_burst(server_factory):
    """A short burst from unregistered clients only: the counters return to zero."""
    srv = server_factory(
        flood_limit=False, max_per_ip=500, ip_connect_burst=10_000, ip_connect_rate=10_000.0
    )
    rng = random.Random(SEED + 1)
    clients = [Client(srv.port) for _ in range(10)]
    for c in clients:
        c.send_raw(b"".join(grammar.fuzz_line(rng) + b"\r\n" for _ in range(30)))
    for c in clients:
        c.close()
    wait_for(
        lambda: srv.state.connections == 0 and srv.state.unregistered == 0,
        what="counters back to zero",
    )
    assert not srv.state.users and not srv.state.channels

"""The scenarios: set up clients with a `Load`, open a measuring window, compute figures.

Each scenario function takes the server under test and a `Params`, runs once, and returns a flat
dict of figures (numbers or None). Repeats and medians are the caller's business (see __main__).

- fanout:  N clients in one room, S of them send; deliveries are counted at the receivers.
- rooms:   N clients in rooms of `room_size`; every client sends to its own room.
- idle:    N registered clients held; the server's RSS growth per connection.
- connect: registrations per second with `concurrency` registrations in progress at a time.
- realistic: N clients in N/10 rooms of power-law sizes, 2% talking at human rates with
           bursts, a third of them chat-clients (echo-message, labeled-response, tags).
- log:     no chatd: `n` simulated nodes append entries of `s` lines to a Redis Stream and
           follow it (bench/logload.py): the messages/s one Redis carries as a cluster's log.

Figures that need the server's pid (CPU%, RSS) are None when it is unknown.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Self

from chatd.bench import cload, procfs
from chatd.bench.load import READY, Conn, Load
from chatd.bench.servers import Server
from chatd.bench.stats import percentile

SAMPLING_CLIENTS = 16
# rooms: one window shared by all senders. On the reference box a bigger window bought little
# throughput (24: 3.0k msg/s, 240: 3.4k, 1000: 5.3k against ngIRCd) for much more queueing
# latency (p50 7 ms, 63 ms, 180 ms), so the window is kept small.
ROOMS_IN_FLIGHT = 64
DRAIN_QUIET_S = 3.0


def setup_timeout(n: int) -> float:
    """Joining one room costs the server O(members) (JOIN to all, NAMES), so setup is O(N^2)."""
    return 120.0 + 20.0 * (n / 1000) ** 2


@dataclass(frozen=True)
class Params:
    """What one run does. `kind` names the scenario; the rest are its knobs."""

    kind: str
    n: int = 100
    s: int = 10
    rate: float = 0.0
    duration: float = 10.0
    warmup: float = 1.0
    eager: bool = True
    window: int = 24
    batch: int = 8
    room_size: int = 5
    concurrency: int = 10
    text_size: int = 40
    prefix: str = "b"
    generator: str = "python"  # "c": the C generator (cload.c) where the scenario has one
    labeled: bool = False  # fanout: senders label every message (labeled-response), as chat-client
    tls: bool = False  # fanout over TLS (the server's TLS port; C generator only)

    @property
    def label(self) -> str:
        if self.kind in ("fanout", "rooms"):
            flavour = "eager" if self.eager else "ordinary"
            rate = "max" if self.rate <= 0 else f"{self.rate:g}/s"
            extra = f" S={self.s}" if self.kind == "fanout" else f" room={self.room_size}"
            labels = " labeled" if self.labeled else ""
            labels += " tls" if self.tls else ""
            return f"{self.kind} N={self.n}{extra} rate={rate} {flavour}{labels}"
        if self.kind == "idle":
            return f"idle N={self.n}"
        if self.kind == "realistic":
            return f"realistic N={self.n} rate={self.rate or 20:g}/s"
        if self.kind == "log":
            return f"log nodes={self.n} lines/entry={self.s}"
        return f"connect c={self.concurrency}"

    def public(self) -> dict[str, Any]:
        keys = {
            "fanout": (
                *("n", "s", "rate", "duration", "eager", "window", "batch", "generator"),
                *("labeled", "tls"),
            ),
            "rooms": ("n", "room_size", "rate", "duration", "eager", "window", "batch"),
            "idle": ("n",),
            "realistic": ("n", "rate", "duration"),
            "connect": ("concurrency", "duration", "generator"),
            "log": ("n", "s", "duration"),
        }[self.kind]
        return {k: getattr(self, k) for k in keys}


class Meter:
    """CPU of the server (from /proc: a cluster's nodes summed, its Redis apart) and of this
    process over a window of wall time."""

    def __init__(self, server: Server | int | None) -> None:
        if isinstance(server, Server):
            self.pids = server.server_pids
            self.redis_pid = server.redis_pid
        else:
            self.pids = [server] if server else []
            self.redis_pid = None
        self.wall = 0.0
        self.server_cpu: float | None = None
        self.redis_cpu: float | None = None
        self.load_cpu = 0.0
        self.busy = 0.0

    def _cpu(self, pids: list[int]) -> float | None:
        if not pids or not all(procfs.alive(pid) for pid in pids):
            return None
        return sum(procfs.cpu_seconds(pid) for pid in pids)

    def __enter__(self) -> Self:
        self._t0 = time.perf_counter()
        self._s0 = self._cpu(self.pids)
        self._r0 = self._cpu([self.redis_pid]) if self.redis_pid else None
        self._l0 = procfs.own_cpu_seconds()
        self._b0 = procfs.busy_cpu_seconds()
        return self

    def __exit__(self, *exc: object) -> None:
        self.wall = time.perf_counter() - self._t0
        self.load_cpu = procfs.own_cpu_seconds() - self._l0
        self.busy = procfs.busy_cpu_seconds() - self._b0
        end = self._cpu(self.pids)
        if self._s0 is not None and end is not None:
            self.server_cpu = end - self._s0
        if self._r0 is not None and self.redis_pid:
            end_r = self._cpu([self.redis_pid])
            self.redis_cpu = None if end_r is None else end_r - self._r0

    def figures(self) -> dict[str, float | None]:
        pct = None if self.server_cpu is None else 100.0 * self.server_cpu / self.wall
        # Everything else the machine did meanwhile (other processes; also kernel softirq
        # work for loopback traffic). Much more than that means a busy machine, not a result.
        other = self.busy - self.load_cpu - (self.server_cpu or 0.0) - (self.redis_cpu or 0.0)
        return {
            "window_s": self.wall,
            "server_cpu_pct": pct,
            "redis_cpu_pct": None if self.redis_cpu is None else 100 * self.redis_cpu / self.wall,
            "load_cpu_pct": 100.0 * self.load_cpu / self.wall,
            "other_cpu_pct": 100.0 * max(0.0, other) / self.wall,
        }


def _spread(items: Sequence[Conn], k: int) -> list[Conn]:
    """Up to k items evenly spread over `items` (first joined to last joined)."""
    if not items:
        return []
    step = max(1, len(items) // k)
    return list(items[::step][:k])


def _sample_every(p: Params) -> int:
    # Sampling clients parse every marked message they get: in a big room at full speed mark
    # one message in 64; in small rooms or at a fixed modest rate mark them all.
    return 1 if p.kind in ("rooms", "realistic") or 0 < p.rate <= 5000 else 64


def _owed_cap(server: Server, p: Params) -> int:
    # a cluster: at most the deliveries of every sender's window owed at once
    return p.window * p.s * max(1, p.n - 1) if server.nodes and p.kind == "fanout" else 0


def _new_load(server: Server, p: Params) -> Load:
    return Load(
        server.host,
        server.port,
        ports=server.all_ports,
        eager=p.eager,
        window=p.window,
        batch=p.batch,
        in_flight_cap=ROOMS_IN_FLIGHT if p.kind == "rooms" else 0,
        owed_cap=_owed_cap(server, p),
        sample_every=_sample_every(p),
        text_size=p.text_size,
    )


def _window_figures(load: Load, meter: Meter, delivered: int, messages: int) -> dict[str, Any]:
    """The figures of a measured window of messages, after the drain: rates, latency, what was
    lost or came twice, CPU (per million deliveries too)."""
    lats = load.samples
    fig: dict[str, Any] = {
        "deliveries_per_s": delivered / meter.wall,
        "messages_per_s": messages / meter.wall,
        "latency_p50_ms": _ms(percentile(lats, 0.50)),
        "latency_p99_ms": _ms(percentile(lats, 0.99)),
        "latency_samples": len(lats),
        "lost": max(0, load.expected - load.delivered),
        "extra": max(0, load.delivered - load.expected),
        "disconnects": load.disconnects,
    }
    fig.update(meter.figures())
    cpu = meter.server_cpu
    fig["server_cpu_s_per_M"] = None if cpu is None or not delivered else cpu / (delivered / 1e6)
    return fig


def _messaging(server: Server, p: Params, load: Load, senders: Sequence[Conn]) -> dict[str, Any]:
    """Warm up, measure one window of sending, drain, and compute the messaging figures."""
    load.drive(senders, p.rate, time.perf_counter() + p.warmup)
    d0, m0, s0 = load.delivered, load.messages, load.skipped
    load.measuring = True
    with Meter(server) as meter:
        load.drive(senders, p.rate, time.perf_counter() + p.duration)
    load.measuring = False
    delivered = load.delivered - d0
    messages = load.messages - m0
    load.drain(DRAIN_QUIET_S)
    fig = _window_figures(load, meter, delivered, messages)
    fig["rate_skipped"] = load.skipped - s0
    rcpu = meter.redis_cpu
    fig["redis_cpu_s_per_M"] = None if rcpu is None or not delivered else rcpu / (delivered / 1e6)
    fig["redis_cpu_us_per_msg"] = None if rcpu is None or not messages else 1e6 * rcpu / messages
    return fig


def _ms(ns: float | None) -> float | None:
    return None if ns is None else ns / 1e6


def _cross_nodes(server: Server, senders: Sequence[Conn], receivers: Sequence[Conn]) -> None:
    """On a cluster: the senders on the first node, the receivers on the others, so every
    delivery crosses nodes through the log (one node: all on it)."""
    ports = server.all_ports
    for c in senders:
        c.port = ports[0]
    others = ports[1:] or ports
    for i, c in enumerate(receivers):
        c.port = others[i % len(others)]


def _c_options(server: Server, p: Params) -> dict[str, Any]:
    return {
        "host": server.host,
        "ports": server.all_ports,
        "pids": server.server_pids,
        "redis": server.redis_pid or 0,
        "warmup": p.warmup,
        "duration": p.duration,
        "concurrency": p.concurrency,
        "prefix": p.prefix,
    }


def _c_run(server: Server, scenario: str, options: dict[str, Any]) -> dict[str, Any]:
    exe = cload.binary()
    if exe is None:
        return {"error": "no C compiler for the C generator: use --load python"}
    # the generator inherits this process's affinity (the load core, see __main__)
    return cload.figures(cload.run(exe, scenario, options))


def fanout(server: Server, p: Params) -> dict[str, Any]:
    if p.generator == "c":
        options = _c_options(server, p)
        options.update(
            n=p.n,
            s=p.s,
            rate=p.rate,
            window=p.window,
            batch=p.batch,
            eager=p.eager,
            text=p.text_size,
            sample_every=_sample_every(p),
            owed_cap=_owed_cap(server, p),
            labeled=p.labeled,
        )
        if p.tls:
            if not server.tls_port:
                return {"error": "the server has no TLS port"}
            options.update(ports=[server.tls_port], tls=True)
        return _c_run(server, "fanout", options)
    if p.labeled or p.tls:
        return {"error": "labeled senders and TLS need the C generator (--load c)"}
    load = _new_load(server, p)
    try:
        members = load.new_clients(["#bench"] * p.n, p.prefix)
        for c in members:
            c.room_size = p.n
        senders = members[: min(p.s, p.n)]
        for c in senders:
            c.sender = True
        _cross_nodes(server, senders, members[len(senders) :])
        for c in _spread(members[len(senders) :], SAMPLING_CLIENTS):
            c.sample = True
        load.establish(members, p.concurrency, setup_timeout(p.n))
        load.sync(members, setup_timeout(p.n))
        return _messaging(server, p, load, senders)
    finally:
        load.close_all()


def rooms(server: Server, p: Params) -> dict[str, Any]:
    load = _new_load(server, p)
    try:
        size = max(2, p.room_size)
        count = max(1, p.n // size)
        names = [f"#r{i % count}" for i in range(count * size)]
        members = load.new_clients(names, p.prefix)
        for c in members:
            c.room_size = size
            c.sender = True
        ports = server.all_ports
        for c in members:  # a room's members on nodes in turn: its messages cross nodes
            c.port = ports[c.index % len(ports)]
        for c in _spread(members, SAMPLING_CLIENTS):
            c.sample = True
        load.establish(members, p.concurrency, setup_timeout(p.n))
        load.sync(members, setup_timeout(p.n))
        fig = _messaging(server, p, load, members)
        fig["rooms"] = count
        return fig
    finally:
        load.close_all()


def idle(server: Server, p: Params) -> dict[str, Any]:
    load = _new_load(server, p)
    try:
        before = procfs.rss_kib(server.pid) if server.pid else None
        clients = load.new_clients([None] * p.n, p.prefix)
        load.establish(clients, p.concurrency, setup_timeout(p.n))
        load.sync(clients, setup_timeout(p.n))
        load.hold(1.0)
        with Meter(server) as meter:
            load.hold(min(p.duration, 3.0))
        after = procfs.rss_kib(server.pid) if server.pid else None
        fig: dict[str, Any] = {
            "clients": sum(c.sock is not None for c in clients),
            "rss_before_kib": before,
            "rss_after_kib": after,
            "rss_per_conn_kib": None if before is None or after is None else (after - before) / p.n,
            "idle_server_cpu_pct": meter.figures()["server_cpu_pct"],
            "disconnects": load.disconnects,
        }
        return fig
    finally:
        load.close_all()


def connect(server: Server, p: Params) -> dict[str, Any]:
    if p.generator == "c":
        return _c_run(server, "connect", {**_c_options(server, p), "eager": False})
    load = _new_load(server, replace(p, eager=False))
    try:
        load.churn(p.prefix, p.concurrency, time.perf_counter() + p.warmup)
        load.measuring = True
        with Meter(server) as meter:
            load.churn(p.prefix, p.concurrency, time.perf_counter() + p.duration)
        load.measuring = False
        regs = load.registrations
        fig: dict[str, Any] = {
            "registrations_per_s": regs / meter.wall,
            "connect_errors": load.connect_errors,
        }
        fig.update(meter.figures())
        cpu = meter.server_cpu
        fig["server_cpu_us_per_reg"] = None if cpu is None or not regs else 1e6 * cpu / regs
        return fig
    finally:
        load.close_all()


def log(server: Server, p: Params) -> dict[str, Any]:
    from chatd.bench.logload import run_log  # needs hiredis (the cluster extra)

    if not server.redis_port:
        return {"error": "the log scenario runs against a Redis the bench started"}
    return run_log(
        server.redis_port,
        server.redis_pid,
        writers=p.n,
        readers=p.n,
        lines=p.s,
        duration=p.duration,
        text_size=p.text_size,
    )


SCENARIOS: dict[str, Callable[[Server, Params], dict[str, Any]]] = {
    "fanout": fanout,
    "rooms": rooms,
    "idle": idle,
    "connect": connect,
    "log": log,
}


def run(server: Server, p: Params) -> dict[str, Any]:
    return SCENARIOS[p.kind](server, p)


# -- realistic ----------------------------------------------------------------------------------

REALISTIC_CAPS = "echo-message labeled-response server-time message-tags batch"
REALISTIC_SEED = 14


def room_sizes(clients: int, rooms: int) -> list[int]:
    """Power-law room sizes (Zipf, exponent 1): the biggest room has a fifth of the clients
    (1,000 of 5,000), the k-th biggest 1/k of that, none fewer than 3 (most rooms: 3-10)."""
    top = max(3, clients // 5)
    return [max(3, top // k) for k in range(1, rooms + 1)]


def realistic_plan(clients: int, rooms: int) -> tuple[list[list[str]], dict[str, int]]:
    """Each client's rooms (memberships dealt round the clients, biggest room first, so a
    client is in one to a few rooms) and each room's size."""
    sizes = room_sizes(clients, rooms)
    joined: list[list[str]] = [[] for _ in range(clients)]
    at = 0
    for k, size in enumerate(sizes):
        name = f"#p{k}"
        for _ in range(min(size, clients)):
            while name in joined[at % clients]:
                at += 1
            joined[at % clients].append(name)
            at += 1
    counts: dict[str, int] = {}
    for names in joined:
        for name in names:
            counts[name] = counts.get(name, 0) + 1
    return joined, counts


def realistic_schedule(
    talkers: int, rooms_of: Sequence[Sequence[str]], rate: float, seconds: float, seed: int
) -> list[tuple[float, int, str]]:
    """(time, talker, room) of every message: each talker speaks at exponential intervals
    (the talkers together at `rate` messages/s), and a quarter of its messages start a burst
    of 2-4 more, 0.3-1 s apart, in the same room, as people do."""
    import random

    rng = random.Random(seed)
    out: list[tuple[float, int, str]] = []
    mean = talkers / max(rate, 1e-9) * 1.75  # bursts add 0.75 messages per message on average
    for t in range(talkers):
        when = rng.expovariate(1.0 / mean)
        while when < seconds:
            room = rng.choice(list(rooms_of[t]))
            out.append((when, t, room))
            if rng.random() < 0.25:
                at = when
                for _ in range(rng.randint(2, 4)):
                    at += rng.uniform(0.3, 1.0)
                    out.append((at, t, room))
            when += rng.expovariate(1.0 / mean)
    out.sort()
    return out


def realistic(server: Server, p: Params) -> dict[str, Any]:
    """`n` clients in n/10 rooms of power-law sizes; 2% of them talk at human rates with
    bursts (`rate` messages/s together); a third of the clients are chat-clients (CAP
    echo-message, labeled-response, server-time, message-tags: they label what they send and
    get it back). Every delivery is sampled for latency."""
    load = _new_load(server, p)
    try:
        rooms_of, counts = realistic_plan(p.n, max(1, p.n // 10))
        # (with few clients the rooms may not reach everyone: the rest are connected, idle)
        clients = load.new_clients([",".join(r) or None for r in rooms_of], p.prefix)
        for c in clients:
            c.sample = True
            if c.index % 3 == 0:
                c.caps = REALISTIC_CAPS
        import random

        rng = random.Random(REALISTIC_SEED)
        seated = [c for c in clients if c.room is not None]
        talkers = rng.sample(seated, min(len(seated), max(1, p.n // 50)))
        load.establish(clients, p.concurrency, setup_timeout(2 * max(counts.values())))
        load.sync(clients, setup_timeout(2 * max(counts.values())))
        rss_joined = procfs.rss_kib(server.pid) if server.pid else None
        schedule = realistic_schedule(
            len(talkers),
            [rooms_of[c.index] for c in talkers],
            p.rate or 20.0,
            p.warmup + p.duration,
            REALISTIC_SEED,
        )
        start = time.perf_counter()
        pending = iter(schedule)
        nxt = next(pending, None)

        def drive(until: float) -> None:
            nonlocal nxt
            while (now := time.perf_counter()) < until:
                while nxt is not None and start + nxt[0] <= now:
                    c, room = talkers[nxt[1]], nxt[2]
                    if c.state == READY:
                        load.send_to(c, room, counts[room])
                    nxt = next(pending, None)
                wait = until - now if nxt is None else min(until, start + nxt[0]) - now
                load.poll(max(0.0, min(wait, 0.005)))

        drive(start + p.warmup)
        d0, m0 = load.delivered, load.messages
        load.measuring = True
        with Meter(server) as meter:
            drive(start + p.warmup + p.duration)
        load.measuring = False
        delivered, messages = load.delivered - d0, load.messages - m0
        load.drain(DRAIN_QUIET_S)
        fig = _window_figures(load, meter, delivered, messages)
        fig |= {
            "rss_kib": (rss := procfs.rss_kib(server.pid) if server.pid else None),
            "rss_mib": None if rss is None else rss / 1024,
            "rss_joined_kib": rss_joined,
            "rooms": len(counts),
            "biggest_room": max(counts.values()),
            "talkers": len(talkers),
            "chat_clients": sum(1 for c in clients if c.caps),
            "echo_clients": sum(1 for c in clients if c.echo),
        }
        return fig
    finally:
        load.close_all()


SCENARIOS["realistic"] = realistic

"""What storing history costs chatd: the store alone, and a flooded room with and without a
database on disk.

    python bench/history_cost.py store            # rows/s and commit latency per batch size
    python bench/history_cost.py flood [-N 50] [-S 5] [-M 4000]

`flood` starts chatd three times as a subprocess (pinned to one core when possible): with no
store at all (a null store, the baseline), with `--db :memory:`, and with a database file in a
temporary directory. N members sit in one room, S of them send M messages each (a bounded
window in flight), and one more client sends a PING every 5 ms and times the PONG: that round
trip is the loop latency a client sees while the room is flooded. Figures: messages/s accepted
(and so stored), deliveries/s, server CPU seconds, PING round trip p50/p99/max.
"""

from __future__ import annotations

import argparse
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence

HERE = os.path.dirname(os.path.abspath(__file__))


# -- the store alone ------------------------------------------------------------------------------


def bench_store(total: int = 20_000) -> None:
    from chatd.store import Store

    print(f"store: {total} rows of ~60 bytes text each, WAL, synchronous=NORMAL, file in /tmp")
    print(
        f"{'rows/commit':>12} {'rows/s':>10} {'commit p50 ms':>14} {'p99 ms':>8} {'max ms':>8}"
        f" {'bytes/row':>10}"
    )
    for batch in (1, 10, 100, 1000):
        workdir = tempfile.mkdtemp(prefix="chatd-store-")
        path = os.path.join(workdir, "chatd.sqlite3")
        store = Store(path, history_days=0, max_per_channel=0)
        times = []
        text = "x" * 60
        start = time.perf_counter()
        for i in range(0, total, batch):
            for j in range(i, min(i + batch, total)):
                store.append(
                    "#bench",
                    1_700_000_000_000 + j,
                    f"abcd1234-{j:x}",
                    "PRIVMSG",
                    "sender!~u@127.0.0.1",
                    "#bench",
                    text,
                    "",
                )
            t0 = time.perf_counter()
            store.settle(float(i), 0.0)
            times.append(time.perf_counter() - t0)
        elapsed = time.perf_counter() - start
        store.close()
        size = sum(os.path.getsize(os.path.join(workdir, f)) for f in os.listdir(workdir))
        times.sort()
        print(
            f"{batch:>12} {total / elapsed:>10,.0f} {pct(times, 50) * 1000:>14.3f} "
            f"{pct(times, 99) * 1000:>8.3f} {times[-1] * 1000:>8.3f} {size / total:>10.0f}"
        )
        shutil.rmtree(workdir)
    bench_reads()


def bench_reads(rows: int = 500_000, channels: int = 50) -> None:
    """Read latency on a big table: the queries CHATHISTORY and the JOIN replay run."""
    from chatd.store import Store

    workdir = tempfile.mkdtemp(prefix="chatd-reads-")
    store = Store(os.path.join(workdir, "chatd.sqlite3"), 0, 0)
    for i in range(rows):
        store.append(
            f"#c{i % channels}",
            1_700_000_000_000 + i,
            f"id-{i:x}",
            "PRIVMSG",
            "sender!~u@127.0.0.1",
            f"#c{i % channels}",
            "x" * 60,
            "",
        )
        if i % 10_000 == 9_999:
            store.settle(0.0, 0.0)
    store.settle(0.0, 0.0)
    queries = {
        "LATEST * 100": lambda k: store.latest(f"#c{k}", None, 100),
        "BEFORE msgid 100": lambda k: store.before(
            f"#c{k}", store.locate(f"#c{k}", f"id-{rows // 2 + k:x}") or (0, 0), 100
        ),
        "AROUND-ish AFTER ts 100": lambda k: store.after(
            f"#c{k}", (1_700_000_000_000 + rows // 3, 0), 100
        ),
        "TARGETS over 50 channels": lambda k: store.targets(
            [f"#c{j}" for j in range(channels)], 0, 1_800_000_000_000, 50
        ),
    }
    print(f"reads: {rows} rows in {channels} channels (file, warm cache)")
    for name, query in queries.items():
        times = []
        for k in range(200):
            t0 = time.perf_counter()
            result = query(k % channels)
            times.append(time.perf_counter() - t0)
            assert result
        times.sort()
        p50, p99 = pct(times, 50) * 1e6, pct(times, 99) * 1e6
        print(f"  {name:<26} p50 {p50:7.0f} us   p99 {p99:7.0f} us")
    store.close()
    shutil.rmtree(workdir)


def pct(sorted_values: Sequence[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, round(p / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[k]


# -- a server for one mode ------------------------------------------------------------------------


def serve(mode: str) -> None:
    """Run chatd in this process: mode "none" (null store), ":memory:" or a file path."""
    from chatd.net.listener import open_listener
    from chatd.net.reactor import Reactor
    from chatd.server.config import build
    from chatd.server.state import ServerState
    from chatd.store import Store

    class NullStore(Store):
        def append(self, *args: object) -> None:
            pass

    config = build(
        {
            "host": "127.0.0.1",
            "port": 0,
            "flood_limit": False,
            "max_per_ip": 100_000,
            "ip_connect_burst": 100_000,
            "ip_connect_rate": 1e9,
            "history_replay": 0,
            "history_days": 0.0,
            "history_max_per_channel": 0,
            "db": mode if mode != "none" else ":memory:",
        }
    )
    store = NullStore(":memory:") if mode == "none" else Store(mode, 0, 0)
    state = ServerState(config, time.time(), msgid_prefix="b-", store=store)
    reactor = Reactor(state, [open_listener(config.host, config.port)])
    # time what the store adds to each loop iteration (its settle: commit and prune)
    settle = store.settle
    costs: list[float] = []
    sizes: list[int] = []

    def timed(now: float, wall: float) -> None:
        rows = len(store._rows)
        t0 = time.perf_counter()
        settle(now, wall)
        if rows:
            costs.append(time.perf_counter() - t0)
            sizes.append(rows)

    store.settle = timed  # type: ignore[method-assign]
    print(reactor.ports[0], flush=True)
    reactor.run()
    costs.sort()
    sizes.sort()
    print(
        f"stored {store.written} rows in {len(costs)} commits, rows/commit p50 "
        f"{pct(sizes, 50):.0f} max {sizes[-1] if sizes else 0}; commit ms p50 "
        f"{pct(costs, 50) * 1000:.3f} p99 {pct(costs, 99) * 1000:.3f} max "
        f"{(costs[-1] if costs else 0) * 1000:.3f}",
        file=sys.stderr,
        flush=True,
    )


# -- the flood ------------------------------------------------------------------------------------


class Conn:
    def __init__(self, port: int, nick: str, caps: str = "") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.nick = nick
        lines = [f"CAP REQ :{caps}", "CAP END"] if caps else []
        lines += [f"NICK {nick}", "USER b 0 * :bench", "JOIN #bench"]
        self.sock.sendall("".join(line + "\r\n" for line in lines).encode())
        self.buf = b""
        self.wait_for(b" 366 ")
        self.sock.setblocking(False)

    def wait_for(self, marker: bytes) -> None:
        while marker not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise RuntimeError("server closed the connection")
            self.buf += data
        self.buf = b""


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def flood(mode: str, members: int, senders: int, per_sender: int, window: int = 200) -> dict:
    argv = [sys.executable, os.path.abspath(__file__), "serve", mode]
    if (os.cpu_count() or 1) >= 2 and shutil.which("taskset"):
        argv = ["taskset", "-c", "0", *argv]
        os.sched_setaffinity(0, {1})
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    port = int(proc.stdout.readline())
    try:
        conns = [Conn(port, f"m{i}") for i in range(members)]
        pinger = Conn(port, "pinger")
        counter = conns[-1]  # receives every message: it is not a sender
        sel = selectors.DefaultSelector()
        for c in conns:
            sel.register(c.sock, selectors.EVENT_READ, c)
        sel.register(pinger.sock, selectors.EVENT_READ, pinger)
        total = senders * per_sender
        sent = [0] * senders
        received = 0
        rtts: list[float] = []
        ping_at: float | None = None
        next_ping = 0.0
        cpu0 = cpu_seconds(proc.pid)
        start = time.perf_counter()
        while received < total:
            now = time.perf_counter()
            in_flight = sum(sent) - received
            for s in range(senders):
                if sent[s] < per_sender and in_flight < window * senders:
                    n = min(50, per_sender - sent[s])
                    data = b"".join(
                        b"PRIVMSG #bench :message %d from sender %d with some text\r\n"
                        % (sent[s] + k, s)
                        for k in range(n)
                    )
                    conns[s].sock.setblocking(True)
                    conns[s].sock.sendall(data)
                    conns[s].sock.setblocking(False)
                    sent[s] += n
                    in_flight += n
            if ping_at is None and now >= next_ping:
                pinger.sock.send(b"PING x\r\n")
                ping_at = now
            for key, _ in sel.select(0.05):
                c = key.data
                try:
                    data = c.sock.recv(1 << 20)
                except BlockingIOError:
                    continue
                if c is counter:
                    received += data.count(b" PRIVMSG #bench :")
                elif c is pinger and b"PONG" in data and ping_at is not None:
                    t = time.perf_counter()
                    rtts.append(t - ping_at)
                    ping_at = None
                    next_ping = t + 0.005
        elapsed = time.perf_counter() - start
        cpu = cpu_seconds(proc.pid) - cpu0
        for c in [*conns, pinger]:
            c.sock.close()
    finally:
        proc.terminate()
        proc.wait(10)
    rtts.sort()
    return {
        "mode": mode,
        "msgs_per_s": total / elapsed,
        "deliveries_per_s": total * (members - 1) / elapsed,
        "cpu_s": cpu,
        "elapsed_s": elapsed,
        "rtt_p50_ms": pct(rtts, 50) * 1000,
        "rtt_p99_ms": pct(rtts, 99) * 1000,
        "rtt_max_ms": rtts[-1] * 1000 if rtts else 0,
        "pings": len(rtts),
        "log": proc.stderr.read().strip(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("store")
    f = sub.add_parser("flood")
    f.add_argument("-N", type=int, default=50, help="members in the room (default 50)")
    f.add_argument("-S", type=int, default=5, help="senders among them (default 5)")
    f.add_argument("-M", type=int, default=4000, help="messages per sender (default 4000)")
    s = sub.add_parser("serve")
    s.add_argument("mode")
    args = parser.parse_args()
    if args.what == "store":
        bench_store()
    elif args.what == "serve":
        serve(args.mode)
    else:
        workdir = tempfile.mkdtemp(prefix="chatd-flood-")
        print(
            f"flood: N={args.N} members, S={args.S} senders x M={args.M} messages, "
            f"fan-out {args.N - 1}"
        )
        print(
            f"{'store':>10} {'msgs/s':>9} {'deliv/s':>10} {'cpu s':>6} "
            f"{'ping p50':>9} {'p99':>7} {'max ms':>7}"
        )
        try:
            for mode in ("none", ":memory:", os.path.join(workdir, "chatd.sqlite3")):
                r = flood(mode, args.N, args.S, args.M)
                label = "file" if mode.startswith("/") else mode
                print(
                    f"{label:>10} {r['msgs_per_s']:>9,.0f} {r['deliveries_per_s']:>10,.0f} "
                    f"{r['cpu_s']:>6.2f} {r['rtt_p50_ms']:>9.2f} {r['rtt_p99_ms']:>7.2f} "
                    f"{r['rtt_max_ms']:>7.2f}   ({r['log']})"
                )
        finally:
            shutil.rmtree(workdir)


if __name__ == "__main__":
    main()

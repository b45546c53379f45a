#!/usr/bin/env python3
"""Attack chatd as a public server's attacker would, and measure what a bystander feels.

chatd runs as a subprocess at its default settings (only `--db` in a temporary directory is
added, plus what `--chatd-arg` passes). A bystander in its own process keeps four connections
from 127.0.0.1 that PING in turn (each under the flood rate) and times every round trip, while
the attack runs from other loopback addresses (127.0.0.x, so per-address limits apply as they
would on a public server). For each attack the script prints the bystander's worst round trip
and the server's RSS before the attack, at its peak and after the attackers left, plus figures
of its own (replies, drops, log bytes).

    python scripts/attacks.py --attack mode-list
    python scripts/attacks.py --attack mode-list-label --connections 10
    python scripts/attacks.py --attack all
    python scripts/attacks.py --attack non-readers --json

Attacks (the issue's list):

    mode-list        10 connections from one address each send 20 lines `MODE #t bbb...b`
                     (490 list queries) against a channel with 100 bans, then a PING
    mode-list-label  the same with `@label=` and labeled-response + batch negotiated
    empty-lines      200 unregistered connections (10 addresses) flood bare LFs; dropped
                     ones reconnect
    connect-storm    connect/close from one address as fast as it goes, 5 s; the server's
                     log growth is measured
    non-readers      500 clients (25 addresses) join #big and never read while 40 talkers
                     fill their queues; until every reader is dropped
    churn            connect, register, QUIT, close from 240 addresses, as fast as it goes
                     (aiming at 12,000/s), 10 s

`history-retry` (100,000 rows with 4 KB tags while the database cannot be written) is the
store's business and is not driven from here.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import json
import multiprocessing
import os
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

LISTEN_RX = re.compile(r"listening on \S+ port (\d+)")
BYSTANDER_CONNECTIONS = 4
BYSTANDER_INTERVAL = 0.25  # seconds between one bystander connection's PINGs (4/s < 5/s)
LINGER_WAIT = 3.0  # after the attackers leave: the server's LINGER (2 s) and the reaping


# -- the server --------------------------------------------------------------------------------


class Server:
    """chatd as a subprocess: its log in a file, RSS and CPU from /proc."""

    def __init__(self, extra: list[str], runner: str | None = None) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="chatd-attack-")
        self.logfile = open(os.path.join(self.dir.name, "chatd.log"), "w+")  # noqa: SIM115
        # the history goes to a file, as in a deployment: messages the attack's talkers send
        # are stored on disk, not counted in the RSS as an in-memory database would be
        self.cmd = [
            sys.executable,
            *([runner] if runner else ["-m", "chatd"]),
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            os.path.join(self.dir.name, "chatd.sqlite3"),
            *extra,
        ]
        self.p = subprocess.Popen(self.cmd, stdout=subprocess.DEVNULL, stderr=self.logfile)
        end = time.monotonic() + 30
        while True:
            match = LISTEN_RX.search(self.log())
            if match:
                self.port = int(match.group(1))
                break
            if self.p.poll() is not None or time.monotonic() > end:
                raise SystemExit(f"chatd did not start: {self.log()[-2000:]}")
            time.sleep(0.02)
        self.peak = self.rss()

    @property
    def command(self) -> str:
        shown = ["DIR/chatd.sqlite3" if part.endswith(".sqlite3") else part for part in self.cmd]
        return "python " + " ".join(shown[1:])

    def log(self) -> str:
        with open(self.logfile.name, errors="replace") as fh:
            return fh.read()

    def log_bytes(self) -> int:
        return os.path.getsize(self.logfile.name)

    def status_kib(self, name: str) -> int:
        with open(f"/proc/{self.p.pid}/status") as fh:
            for line in fh:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
        return 0

    def rss(self) -> int:
        return self.status_kib("VmRSS")

    def sample(self) -> None:
        if self.p.poll() is None:
            self.peak = max(self.peak, self.rss())

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.p.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self) -> None:
        if self.p.poll() is None:
            self.p.terminate()
            try:
                self.p.wait(15)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait()
        self.logfile.close()
        self.dir.cleanup()


# -- the bystander (its own process, so the attack's Python never delays its clock) --------------


def _bystander(port: int, pipe: Any) -> None:
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(BYSTANDER_CONNECTIONS):
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        sock.sendall(f"NICK by{i}\r\nUSER by 0 * :bystander\r\nJOIN #calm\r\n".encode())
        buf = b""
        while b" 366 " not in buf:
            data = sock.recv(65536)
            if not data:
                raise SystemExit("bystander dropped while registering")
            buf += data
        sock.setblocking(False)
        conns.append({"sock": sock, "buf": b"", "sent": None, "next": 0.0, "seq": 0})
        sel.register(sock, selectors.EVENT_READ, i)
    start = time.monotonic()
    for i, conn in enumerate(conns):
        conn["next"] = start + i * BYSTANDER_INTERVAL / BYSTANDER_CONNECTIONS
    pipe.send("ready")
    rtts: list[float] = []
    dropped = 0
    while True:
        now = time.monotonic()
        for conn in conns:
            if conn["sent"] is None and now >= conn["next"] and conn["sock"] is not None:
                conn["seq"] += 1
                conn["sent"] = now
                try:
                    conn["sock"].send(f"PING :rtt{conn['seq']}\r\n".encode())
                except OSError:
                    conn["sock"] = None
                    dropped += 1
        if pipe.poll():
            pipe.recv()
            break
        wake = min((c["next"] for c in conns if c["sent"] is None), default=now + 0.05)
        for key, _ in sel.select(max(0.0, min(wake - time.monotonic(), 0.05))):
            conn = conns[key.data]
            try:
                data = conn["sock"].recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                sel.unregister(conn["sock"])
                conn["sock"] = None
                dropped += 1
                continue
            conn["buf"] += data
            token = f"rtt{conn['seq']}".encode()
            if conn["sent"] is not None and token in conn["buf"]:
                got = time.monotonic()
                rtts.append(got - conn["sent"])
                conn["sent"] = None
                conn["next"] = got + BYSTANDER_INTERVAL
                conn["buf"] = b""
            elif len(conn["buf"]) > 1 << 20:
                conn["buf"] = conn["buf"][-4096:]
    now = time.monotonic()
    pending = [now - c["sent"] for c in conns if c["sent"] is not None]
    pipe.send({"rtts": rtts, "pending": pending, "dropped": dropped})


class Bystander:
    def __init__(self, port: int) -> None:
        ctx = multiprocessing.get_context("fork")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=_bystander, args=(port, child), daemon=True)
        self.proc.start()
        if not self.pipe.poll(30):
            raise SystemExit("the bystander did not get ready")
        self.pipe.recv()

    def stop(self) -> dict[str, Any]:
        self.pipe.send("stop")
        if not self.pipe.poll(30):
            raise SystemExit("the bystander did not answer")
        result: dict[str, Any] = self.pipe.recv()
        self.proc.join(10)
        rtts = result["rtts"] + result["pending"]  # a PING still unanswered counts as it stands
        result["worst_ms"] = round(1000 * max(rtts, default=0.0), 1)
        ordered = sorted(result["rtts"])
        result["p50_ms"] = round(1000 * ordered[len(ordered) // 2], 1) if ordered else 0.0
        result["pings"] = len(result["rtts"])
        return result


# -- attack clients ---------------------------------------------------------------------------


def connect(port: int, source: str, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.bind((source, 0))
    sock.settimeout(10)
    sock.connect(("127.0.0.1", port))
    return sock


def read_until(sock: socket.socket, *markers: bytes, timeout: float = 20.0) -> bytes:
    sock.settimeout(timeout)
    buf = b""
    while not any(marker in buf for marker in markers):
        data = sock.recv(65536)
        if not data:
            raise ConnectionError(f"closed while waiting for {markers!r}: {buf[-300:]!r}")
        buf += data
    return buf


def register(sock: socket.socket, nick: str, caps: str = "") -> None:
    lines = [f"CAP REQ :{caps}", "CAP END"] if caps else []
    lines += [f"NICK {nick}", f"USER {nick} 0 * :attacker"]
    sock.sendall("".join(line + "\r\n" for line in lines).encode())
    read_until(sock, b" 376 ", b" 422 ")  # end of MOTD, or no MOTD


def source(i: int, first: int = 10) -> str:
    """The i-th attack address: 127.0.0.10, .11, ... (127.0.0.1 is the bystander's)."""
    return f"127.0.0.{first + i}"


class Drain:
    """Reads and discards whatever many attack sockets get; notes closes and a marker."""

    def __init__(self, server: Server, marker: bytes = b"") -> None:
        self.server = server
        self.sel = selectors.DefaultSelector()
        self.marker = marker
        self.done: set[socket.socket] = set()
        self.closed: set[socket.socket] = set()
        self.received = 0
        self.tails: dict[socket.socket, bytes] = {}

    def add(self, sock: socket.socket) -> None:
        sock.setblocking(False)
        self.sel.register(sock, selectors.EVENT_READ)
        self.tails[sock] = b""

    def run(self, until: Callable[[], bool], timeout: float) -> bool:
        end = time.monotonic() + timeout
        last_sample = 0.0
        while not until():
            now = time.monotonic()
            if now > end:
                return False
            if now - last_sample > 0.05:
                self.server.sample()
                last_sample = now
            for key, _ in self.sel.select(0.05):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = sock.recv(262144)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    self.sel.unregister(sock)
                    self.closed.add(sock)
                    continue
                self.received += len(data)
                if self.marker and sock not in self.done:
                    seen = self.tails[sock] + data
                    if self.marker in seen:
                        self.done.add(sock)
                    self.tails[sock] = seen[-len(self.marker) :]
        return True

    def close_all(self) -> None:
        for sock in list(self.tails):
            with contextlib.suppress(KeyError, ValueError):
                self.sel.unregister(sock)
            sock.close()
        self.sel.close()


# -- the attacks -------------------------------------------------------------------------------


@dataclass
class Result:
    attack: str
    figures: dict[str, Any] = field(default_factory=dict)


def prepare_bans(server: Server, bans: int) -> socket.socket:
    """An operator holds #t with `bans` bans (sent within the flood limit)."""
    op = connect(server.port, "127.0.0.2")
    register(op, "op")
    op.sendall(b"JOIN #t\r\n")
    read_until(op, b" 366 ")
    masks = [f"ban{i}!*@host{i}.example" for i in range(bans)]
    for i in range(0, bans, 4):
        chunk = masks[i : i + 4]
        op.sendall(f"MODE #t +{'b' * len(chunk)} {' '.join(chunk)}\r\n".encode())
    op.sendall(b"PING :bans-set\r\n")
    read_until(op, b"bans-set", timeout=60)
    return op


def attack_mode_list(server: Server, args: argparse.Namespace, label: bool) -> Result:
    op = prepare_bans(server, args.bans)
    drain = Drain(server, marker=b"PONG")
    drain.add(op)
    drain.done.add(op)
    connections = args.connections or 10
    addresses = args.addresses or 1
    attackers = []
    for i in range(connections):
        sock = connect(server.port, source(i % addresses))
        register(sock, f"mode{i}", "labeled-response batch" if label else "")
        attackers.append(sock)
    query = "MODE #t " + "b" * 490
    for i, sock in enumerate(attackers):
        lines = [(f"@label=a{i}x{n} " if label else "") + query for n in range(args.lines)] + [
            "PING :end"
        ]
        sock.sendall("".join(line + "\r\n" for line in lines).encode())
        drain.add(sock)
    started = time.monotonic()
    finished = drain.run(lambda: len(drain.done | drain.closed) > connections, args.window or 300)
    seconds = time.monotonic() - started
    dropped = sum(1 for s in attackers if s in drain.closed and s not in drain.done)
    drain.close_all()
    return Result(
        "mode-list-label" if label else "mode-list",
        {
            "connections": connections,
            "addresses": addresses,
            "bans": args.bans,
            "lines_each": args.lines,
            "seconds_until_answered" if finished else "seconds_watched": round(seconds, 2),
            "attackers_dropped": dropped,
            "bytes_to_attackers": drain.received,
        },
    )


def attack_empty_lines(server: Server, args: argparse.Namespace) -> Result:
    count = args.connections or 200
    addresses = args.addresses or max(1, count // 20)
    sel = selectors.DefaultSelector()
    flood = b"\n" * 65536
    state = {"sent": 0, "drops": 0, "connects": 0, "refused": 0}
    live: dict[socket.socket, int] = {}

    def open_one(i: int) -> None:
        try:
            sock = connect(server.port, source(i % addresses))
        except OSError:
            state["refused"] += 1
            return
        sock.setblocking(False)
        state["connects"] += 1
        live[sock] = i
        sel.register(sock, selectors.EVENT_READ | selectors.EVENT_WRITE)

    for i in range(count):
        open_one(i)
    end = time.monotonic() + args.seconds
    last_sample = 0.0
    retry: list[int] = []
    last_retry = time.monotonic()
    while time.monotonic() < end:
        if time.monotonic() - last_sample > 0.05:
            server.sample()
            last_sample = time.monotonic()
        if retry and time.monotonic() - last_retry > 0.1:
            last_retry = time.monotonic()
            pending, retry = retry, []
            for i in pending:
                open_one(i)
        for key, mask in sel.select(0.05):
            sock: socket.socket = key.fileobj  # type: ignore[assignment]
            gone = False
            if mask & selectors.EVENT_READ:
                try:
                    data = sock.recv(65536)
                    gone = not data
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    gone = True
            if not gone and mask & selectors.EVENT_WRITE:
                try:
                    state["sent"] += sock.send(flood)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    gone = True
            if gone:
                sel.unregister(sock)
                sock.close()
                state["drops"] += 1
                retry.append(live.pop(sock))
    for sock in live:
        sock.close()
    sel.close()
    return Result(
        "empty-lines",
        {
            "connections": count,
            "addresses": addresses,
            "seconds": args.seconds,
            "empty_lines_sent": state["sent"],
            "connections_opened": state["connects"],
            "dropped_by_server": state["drops"],
        },
    )


def _rst(sock: socket.socket) -> None:
    """Close with a reset: no TIME_WAIT, so one address can keep connecting."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    sock.close()


def _storm(
    port: int, sources: list[str], seconds: float, payload: bytes, rate: float, out: Any
) -> None:
    """Open connections without waiting for each (non-blocking connects, at most 512 in
    flight), aiming at `rate` a second; each sends `payload` once connected and closes with a
    reset. Reports (attempted, connected, failed)."""
    sel = selectors.DefaultSelector()
    start = time.monotonic()
    end = start + seconds
    attempted = connected = failed = 0
    inflight: dict[socket.socket, float] = {}
    while time.monotonic() < end:
        now = time.monotonic()
        while len(inflight) < 512 and attempted < rate * (now - start) + 1:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setblocking(False)
            try:
                sock.bind((sources[attempted % len(sources)], 0))
                code = sock.connect_ex(("127.0.0.1", port))
            except OSError:
                code = -1
            attempted += 1
            if code not in (0, errno.EINPROGRESS):
                failed += 1
                sock.close()
                continue
            inflight[sock] = now
            sel.register(sock, selectors.EVENT_WRITE)
        for key, _ in sel.select(0.002):
            sock = key.fileobj  # type: ignore[assignment]
            sel.unregister(sock)
            del inflight[sock]
            if sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR):
                failed += 1
            else:
                connected += 1
                if payload:
                    with contextlib.suppress(OSError):
                        sock.send(payload)
            _rst(sock)
        for sock, since in list(inflight.items()):
            if now - since > 1.0:  # the server's backlog dropped the SYN: give up on it
                sel.unregister(sock)
                del inflight[sock]
                failed += 1
                _rst(sock)
    for sock in inflight:
        sock.close()
    out.send((attempted, connected, failed))


def _run_storm(
    server: Server, sources: list[str], seconds: float, payload: bytes, rate: float
) -> tuple[int, int, int]:
    """The storm in a process of its own (the measuring loop here keeps sampling)."""
    ctx = multiprocessing.get_context("fork")
    mine, theirs = ctx.Pipe()
    worker = ctx.Process(target=_storm, args=(server.port, sources, seconds, payload, rate, theirs))
    worker.start()
    end = time.monotonic() + seconds + 30
    while worker.is_alive() and time.monotonic() < end and not mine.poll():
        server.sample()
        time.sleep(0.05)
    result: tuple[int, int, int] = mine.recv() if mine.poll(10) else (0, 0, 0)
    worker.join(5)
    return result


def attack_connect_storm(server: Server, args: argparse.Namespace) -> Result:
    before = server.log_bytes()
    attempted, connected, failed = _run_storm(server, ["127.0.0.9"], args.seconds, b"", args.rate)
    time.sleep(0.5)  # the server's last log lines
    grown = server.log_bytes() - before
    return Result(
        "connect-storm",
        {
            "seconds": args.seconds,
            "connects_attempted": attempted,
            "connects_per_second": round(attempted / args.seconds),
            "connects_completed": connected,
            "connects_failed_or_dropped": failed,
            "log_bytes_written": grown,
        },
    )


def attack_churn(server: Server, args: argparse.Namespace) -> Result:
    sources = [source(i) for i in range(240)]
    payload = b"NICK churn\r\nUSER churn 0 * :churn\r\nQUIT :bye\r\n"
    served_before = server.log().count(" INFO connect ")
    attempted, connected, failed = _run_storm(server, sources, args.seconds, payload, args.rate)
    time.sleep(0.5)  # the server's last log lines
    served = server.log().count(" INFO connect ") - served_before
    return Result(
        "churn",
        {
            "seconds": args.seconds,
            "addresses": len(sources),
            "connects_attempted": attempted,
            "connects_per_second": round(attempted / args.seconds),
            "connects_completed": connected,
            "connects_failed_or_dropped": failed,
            "connections_served": served,
        },
    )


def attack_non_readers(server: Server, args: argparse.Namespace) -> Result:
    readers_n = args.readers
    readers = []
    for i in range(readers_n):
        sock = connect(server.port, source(i // 20), rcvbuf=4096)
        sock.sendall(f"NICK nr{i}\r\nUSER nr 0 * :never reads\r\nJOIN #big\r\n".encode())
        read_until(sock, b" 366 ")
        readers.append(sock)  # and never read again
    rss_joined = server.rss()
    talkers = []
    drain = Drain(server)
    for i in range(args.talkers):
        sock = connect(server.port, source(i // 10, first=60))
        register(sock, f"talk{i}")
        sock.sendall(b"JOIN #big\r\n")
        read_until(sock, b" 366 ")
        drain.add(sock)
        talkers.append(sock)
    text = "x" * 400
    started = time.monotonic()
    sent = 0

    def dropped() -> int:
        return server.log().count("SendQ exceeded")

    next_send = started
    deadline = started + args.max_seconds
    while dropped() < readers_n and time.monotonic() < deadline:
        if time.monotonic() >= next_send:
            # each talker stays under the flood rate: 20 at once, then 4 lines a second
            burst = 20 if sent == 0 else 1
            for sock in talkers:
                with contextlib.suppress(OSError):
                    sock.send(f"PRIVMSG #big :{text}\r\n".encode() * burst)
            sent += burst
            next_send = time.monotonic() + 0.25
        due = next_send
        drain.run(lambda due=due: time.monotonic() >= due, 1.0)
    seconds = time.monotonic() - started
    peak_during = server.peak
    for sock in readers:
        _rst(sock)
    drain.close_all()
    return Result(
        "non-readers",
        {
            "rss_kib_readers_joined": rss_joined,
            "readers": readers_n,
            "talkers": args.talkers,
            "messages_per_talker": sent,
            "seconds_until_all_dropped": round(seconds, 1),
            "readers_dropped": dropped(),
            "peak_rss_kib_while_filling": peak_during,
        },
    )


ATTACKS = ["mode-list", "mode-list-label", "empty-lines", "connect-storm", "non-readers", "churn"]


def run(name: str, args: argparse.Namespace) -> dict[str, Any]:
    server = Server(args.chatd_arg, args.runner)
    try:
        bystander = Bystander(server.port)
        time.sleep(0.5)  # a baseline of round trips, and the process settled
        rss_before = server.rss()
        cpu_before = server.cpu_seconds()
        server.peak = rss_before
        if name == "mode-list":
            result = attack_mode_list(server, args, label=False)
        elif name == "mode-list-label":
            result = attack_mode_list(server, args, label=True)
        elif name == "empty-lines":
            result = attack_empty_lines(server, args)
        elif name == "connect-storm":
            result = attack_connect_storm(server, args)
        elif name == "non-readers":
            result = attack_non_readers(server, args)
        elif name == "churn":
            result = attack_churn(server, args)
        else:
            raise SystemExit(f"unknown attack {name}")
        end = time.monotonic() + LINGER_WAIT
        while time.monotonic() < end:
            server.sample()
            time.sleep(0.05)
        rss_after = server.rss()
        by = bystander.stop()
        cpu = server.cpu_seconds() - cpu_before
        alive = server.alive()
        log = server.log()
    finally:
        if args.keep_log:
            with open(args.keep_log, "w") as fh:
                fh.write(server.log())
        server.stop()
    figures = {
        "attack": result.attack,
        "bystander_worst_ms": by["worst_ms"],
        "bystander_p50_ms": by["p50_ms"],
        "bystander_pings": by["pings"],
        "bystander_dropped": by["dropped"],
        "rss_kib_before": rss_before,
        "rss_kib_peak": server.peak,
        "rss_kib_after": rss_after,
        "rss_after_vs_before": round(rss_after / rss_before, 2),
        "server_cpu_seconds": round(cpu, 2),
        "server_alive": alive,
        "server_errors": sum(1 for line in log.splitlines() if " ERROR " in line),
        **result.figures,
        "command": server.command,
    }
    return figures


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    a = p.add_argument
    a("--attack", default="all", choices=[*ATTACKS, "all"])
    a("--connections", type=int, help="attack connections (mode-list 10, empty-lines 200)")
    a("--addresses", type=int, help="source addresses (mode-list 1, empty-lines one per 20)")
    a("--lines", type=int, default=20, help="lines each (mode-list)")
    a("--bans", type=int, default=100, help="bans on #t (mode-list)")
    a("--window", type=float, help="stop watching after this many seconds (mode-list)")
    a("--seconds", type=float, help="duration (storms 5, churn 10)")
    a("--rate", type=float, default=12000.0, help="connects a second aimed at (storm, churn)")
    a("--readers", type=int, default=500, help="readers that never read (non-readers)")
    a("--talkers", type=int, default=40, help="talkers (non-readers)")
    a("--max-seconds", type=float, default=120.0, help="give up after (non-readers)")
    a("--chatd-arg", action="append", default=[], help="one more chatd option (repeatable)")
    a("--keep-log", metavar="FILE", help="copy the server's log here")
    a("--runner", metavar="SCRIPT", help="start chatd through this script (a profiler, say)")
    a("--json", action="store_true", help="one JSON object per attack")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    names = ATTACKS if args.attack == "all" else [args.attack]
    seconds = args.seconds
    for name in names:
        args.seconds = seconds or (10.0 if name == "churn" else 5.0)
        figures = run(name, args)
        if args.json:
            print(json.dumps(figures), flush=True)
        else:
            print(f"== {name}")
            for key, value in figures.items():
                print(f"  {key:28} {value}")
            print(flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Soak chatd: run it as a subprocess for a bounded time under a few hundred clients.

Well-behaved clients ("g" nicks) register with echo-message, join and part rooms, chat with a
sequence number in every message, answer PINGs and now and then QUIT and reconnect. Misbehaving
clients flood ("f": Excess Flood), never read ("s": SendQ exceeded or Ping timeout) or send
garbage ("z": invalid UTF-8, overlong lines, hostile parameters, unknown commands).

Every client lives in one selectors loop here (no thread per client). Loss is counted exactly:
a sender's own stream (echo-message) orders its message against the JOINs and PARTs of the
other members, so when the echo of message n arrives the sender knows which well-behaved
members the server delivered it to; those are "expected". Each well-behaved receiver counts what
it got. At the end every well-behaved client round-trips a PING, so everything expected has
arrived: lost = expected - received (must be 0).

    python scripts/soak.py                 # 10 minutes, 300 clients
    python scripts/soak.py --minutes 1 --clients 100
    python scripts/soak.py --seconds 30 --clients 60 --json
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import errno
import heapq
import json
import os
import random
import re
import selectors
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

ROOMS = 8
SEND_EVERY = (2.0, 6.0)  # seconds between a good client's messages
LISTEN_RX = re.compile(r"listening on \S+ port (\d+)")
DISCONNECT_RX = re.compile(r" INFO disconnect \S+ (\S+): (.*)$")
REFUSED_RX = re.compile(r" INFO refused \S+: (.*)$")


def reason_key(reason: str) -> str:
    """'Ping timeout: 181 seconds' -> 'Ping timeout', 'Quit: bye' -> 'Quit'."""
    if reason == "Quit: soak over":
        return "end of soak"
    return reason.split(":", 1)[0].split(" (", 1)[0].strip()


# -- the chatd process ------------------------------------------------------------------------


class Server:
    def __init__(self, args: argparse.Namespace) -> None:
        self.logfile = tempfile.NamedTemporaryFile(  # noqa: SIM115 - lives as long as chatd
            "w+", prefix="chatd-soak-", suffix=".log", delete=False
        )
        cmd = [
            sys.executable,
            "-m",
            "chatd.server",
            "--host",
            "127.0.0.1",
            "--port",
            "0",
            "--db",
            ":memory:",
            "--sendq",
            str(args.sendq),
            "--max-per-ip",
            "100000",
            "--ip-connect-burst",
            "100000",
            "--ip-connect-rate",
            "100000",
            "--ping-interval",
            str(args.ping_interval),
            "--ping-timeout",
            str(args.ping_timeout),
            "--max-clients",
            "100000",
        ]
        self.p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=self.logfile)
        self.port = self._wait_port()
        self.ticks = os.sysconf("SC_CLK_TCK")
        self.rss_start = self.rss_kib()
        self.rss_peak = self.rss_start
        self.cpu_start = self.cpu_seconds()

    def _wait_port(self) -> int:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with open(self.logfile.name) as fh:
                match = LISTEN_RX.search(fh.read())
            if match:
                return int(match.group(1))
            if self.p.poll() is not None:
                raise SystemExit(f"chatd exited with {self.p.returncode}")
            time.sleep(0.05)
        raise SystemExit("chatd did not start within 30 s")

    def rss_kib(self) -> int:
        with open(f"/proc/{self.p.pid}/status") as fh:
            for line in fh:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
        return 0

    def cpu_seconds(self) -> float:
        with open(f"/proc/{self.p.pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / self.ticks

    def sample(self) -> None:
        if self.p.poll() is None:
            self.rss_peak = max(self.rss_peak, self.rss_kib())

    def settle_log(self, quiet: float = 0.5, limit: float = 10.0) -> None:
        """Wait until the server has logged what the last closes caused (the log stops
        growing for `quiet` seconds), so the disconnect reasons are complete."""
        end = time.monotonic() + limit
        size, since = -1, time.monotonic()
        while time.monotonic() < end:
            now_size = os.path.getsize(self.logfile.name)
            if now_size != size:
                size, since = now_size, time.monotonic()
            elif time.monotonic() - since >= quiet:
                return
            time.sleep(0.05)

    def stop(self) -> str:
        self.rss_end = self.rss_kib() if self.p.poll() is None else 0
        self.cpu_used = self.cpu_seconds() - self.cpu_start if self.p.poll() is None else 0.0
        self.alive_at_end = self.p.poll() is None
        if self.alive_at_end:
            self.p.terminate()
        try:
            self.exit_code = self.p.wait(15)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.exit_code = self.p.wait()
        self.logfile.close()
        with open(self.logfile.name, errors="replace") as fh:
            text = fh.read()
        os.unlink(self.logfile.name)
        return text


# -- clients ------------------------------------------------------------------------------------


@dataclass
class Stats:
    sent: int = 0  # messages sent by well-behaved clients
    expected: int = 0  # (message, well-behaved member) pairs the server should have delivered
    received: int = 0  # of those, what well-behaved receivers counted
    duplicates: int = 0
    good_dropped: collections.Counter = field(default_factory=collections.Counter)
    connects: collections.Counter = field(default_factory=collections.Counter)
    garbage_lines: int = 0
    flood_lines: int = 0


class Bot:
    """One client connection. `kind` is g (good), f (flooder), s (slow reader), z (garbage)."""

    def __init__(self, soak: Soak, kind: str, index: int) -> None:
        self.soak = soak
        self.kind = kind
        self.index = index
        self.gen = 0
        self.sock: socket.socket | None = None
        self.done = True

    # connection life

    def connect(self) -> None:
        soak = self.soak
        self.gen += 1
        self.nick = f"{self.kind}{self.index}x{self.gen}"
        self.buf = b""
        self.out = b""
        self.writing = False
        self.registered = False
        self.quitting = False
        self.done = False
        self.final = False  # the closing PING round trip came back
        self.rooms: set[str] = set()  # rooms it may send to (JOIN seen, PART not sent)
        self.views: dict[str, set[str]] = {}  # room -> members, as this client's stream says
        self.seq: dict[str, int] = collections.defaultdict(int)
        self.received_from: dict[tuple[str, str], int] = {}
        try:
            sock = socket.create_connection(("127.0.0.1", soak.port), timeout=10)
        except OSError:
            soak.later(self, 1.0)
            return
        sock.setblocking(False)
        self.sock = sock
        soak.stats.connects[self.kind] += 1
        if self.kind != "s":  # a slow reader never reads
            soak.sel.register(sock, selectors.EVENT_READ, self)
        caps = ["CAP REQ :echo-message"] if self.kind == "g" else []
        self.send(
            *caps,
            f"NICK {self.nick}",
            f"USER {self.kind} 0 * :soak {self.kind}",
            *(["CAP END"] if caps else []),
        )
        if self.kind == "s":
            # no replies will be read: join blind, and leave after a while
            self.send(f"JOIN {soak.room(self.index)}")
            soak.later(self, soak.rng.uniform(30, 90))
        elif self.kind == "f":
            soak.later(self, soak.rng.uniform(0.5, 3))
        else:
            soak.later(self, 2.0)

    def close(self) -> None:
        if self.sock is not None:
            with contextlib.suppress(KeyError, ValueError):
                self.soak.sel.unregister(self.sock)
            self.sock.close()
            self.sock = None
        self.done = True

    def send(self, *lines: str | bytes) -> None:
        if self.sock is None:
            return
        data = b"".join((ln if isinstance(ln, bytes) else ln.encode()) + b"\r\n" for ln in lines)
        self.out += data
        self.flush()

    def flush(self) -> None:
        if self.sock is None or not self.out:
            return
        try:
            sent = self.sock.send(self.out)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError:
            self.lost("send failed")
            return
        self.out = self.out[sent:]
        if self.kind == "s":
            self.out = b""  # a slow reader does not care what could not be sent
            return
        want = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
        if bool(self.out) != self.writing:
            self.writing = bool(self.out)
            self.soak.sel.modify(self.sock, want, self)

    def lost(self, why: str) -> None:
        if self.kind == "g" and not self.quitting:
            self.soak.stats.good_dropped[why] += 1
        self.close()
        if not self.soak.ending:
            self.soak.later(self, self.soak.rng.uniform(0.5, 2.0))

    # events

    def on_event(self, mask: int) -> None:
        if mask & selectors.EVENT_WRITE:
            self.flush()
        if mask & selectors.EVENT_READ and self.sock is not None:
            try:
                data = self.sock.recv(262144)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:
                self.lost(errno.errorcode.get(exc.errno or 0, "recv error"))
                return
            if not data:
                self.lost(self.last_error or "EOF")
                return
            *lines, self.buf = (self.buf + data).split(b"\r\n")
            for line in lines:
                self.on_line(line.decode("utf-8", "replace"))

    last_error = ""

    def on_line(self, line: str) -> None:
        if line.startswith("@"):
            line = line.split(" ", 1)[1]
        source = ""
        if line.startswith(":"):
            source, _, line = line[1:].partition(" ")
        head, colon, trailing = line.partition(" :")
        words = head.split()
        if not words:
            return
        command, params = words[0], words[1:]
        if colon:
            params.append(trailing)
        nick = source.split("!", 1)[0]
        if command == "PRIVMSG":
            self.on_privmsg(nick, params)
        elif command == "PING":
            self.send(f"PONG :{params[-1] if params else ''}")
        elif command == "JOIN":
            room = params[0].lower()
            if nick == self.nick:
                self.rooms.add(room)
                self.views[room] = set()
            elif room in self.views:
                self.views[room].add(nick)
        elif command == "353" and len(params) >= 4:
            view = self.views.get(params[2].lower())
            if view is not None:
                view.update(n.lstrip("@+") for n in params[3].split())
        elif command in ("PART", "KICK"):
            room = params[0].lower()
            gone = nick if command == "PART" else params[1]
            if gone == self.nick:
                self.rooms.discard(room)
                self.views.pop(room, None)
            elif room in self.views:
                self.views[room].discard(gone)
        elif command == "QUIT":
            for view in self.views.values():
                view.discard(nick)
        elif command == "001":
            self.registered = True
        elif command == "PONG" and params and params[-1] == "final":
            self.final = True
        elif command == "ERROR":
            self.last_error = params[-1] if params else "ERROR"

    def on_privmsg(self, nick: str, params: list[str]) -> None:
        if self.kind != "g" or len(params) < 2:
            return
        words = params[1].split(" ", 3)
        if len(words) < 3 or words[0] != "soak":
            return
        stats = self.soak.stats
        room = params[0].lower()
        if nick == self.nick:  # our echo: the server delivered it to this room's members
            view = self.views.get(room, ())
            stats.expected += sum(1 for m in view if m[:1] == "g" and m != self.nick)
            return
        if nick[:1] != "g":
            return
        key = (nick, room)
        seq = int(words[2])
        if self.received_from.get(key, 0) >= seq:
            stats.duplicates += 1
            return
        self.received_from[key] = seq
        stats.received += 1

    # actions, on the soak's timer heap

    def act(self) -> None:
        soak = self.soak
        rng = soak.rng
        if soak.ending:
            return
        if self.sock is None:
            self.connect()
            return
        if self.kind == "s":
            self.close()  # leaves with unread data: the kernel sends RST
            soak.later(self, rng.uniform(1, 5))
            return
        if not self.registered:
            soak.later(self, 1.0)
            return
        if self.kind == "f":
            if not self.rooms and not self.quitting:
                self.send(f"JOIN {soak.room(self.index)}")
                self.quitting = True  # from now on it is expected to be dropped
                soak.later(self, 1.0)
                return
            lines = [f"PRIVMSG {soak.room(self.index)} :flood {i} " + "x" * 200 for i in range(400)]
            soak.stats.flood_lines += len(lines)
            self.send(*lines)
            soak.later(self, 2.0)
            return
        if self.kind == "z":
            if not self.rooms:
                self.send(f"JOIN {soak.room(self.index)}")
            else:
                soak.stats.garbage_lines += 1
                self.send(garbage(rng, soak.room(self.index)))
            soak.later(self, rng.uniform(0.5, 1.5))
            return
        # a well-behaved client
        if self.quitting:
            return
        roll = rng.random()
        if not self.rooms or (roll < 0.03 and len(self.rooms) < 3):
            candidates = [soak.room(i) for i in range(ROOMS)]
            room = rng.choice([r for r in candidates if r not in self.rooms])
            self.send(f"JOIN {room}")
        elif roll < 0.05 and len(self.rooms) > 1:
            room = rng.choice(sorted(self.rooms))
            self.rooms.discard(room)  # no more messages to it; the view lives until PART
            self.send(f"PART {room} :soak part")
        elif roll < 0.06:
            self.quitting = True
            self.rooms.clear()
            self.send("QUIT :soak reconnect")  # read on until the server closes
            return
        else:
            room = rng.choice(sorted(self.rooms))
            self.seq[room] += 1
            soak.stats.sent += 1
            padding = "." * rng.randrange(80)
            self.send(f"PRIVMSG {room} :soak {self.nick} {self.seq[room]} {padding}")
        soak.later(self, rng.uniform(*SEND_EVERY))


def garbage(rng: random.Random, room: str) -> bytes:
    """A hostile but single line: the server must shrug it off and keep the connection."""
    choice = rng.randrange(8)
    if choice == 0:
        return (
            bytes(rng.randrange(1, 256) for _ in range(rng.randrange(1, 200)))
            .replace(b"\n", b"")
            .replace(b"\r", b"")
            or b"x"
        )
    if choice == 1:
        return b"PRIVMSG " + room.encode() + b" :\xff\xfe bad utf-8 \xc3"
    if choice == 2:
        return b"PRIVMSG " + room.encode() + b" :" + b"y" * 4000  # 417, kept
    if choice == 3:
        return (
            "MODE " + room + " " + "+b" * 30 + " " + " ".join("*!*@*" for _ in range(30))
        ).encode()
    if choice == 4:
        return ("WHO " + ",".join("*" for _ in range(100))).encode()
    if choice == 5:
        return b"NOSUCHCOMMAND " + b" ".join(b"p" for _ in range(100))
    if choice == 6:
        return ("@" + ";".join(f"+k{i}=\\" for i in range(50)) + " TAGMSG " + room).encode()
    return ("JOIN " + ",".join(f"#z{i}" for i in range(200)) + "\x01\x02").encode()


class Soak:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rng = random.Random(args.seed)
        self.sel = selectors.DefaultSelector()
        self.timers: list[tuple[float, int, Bot]] = []
        self.ending = False
        self.stats = Stats()
        self.server = Server(args)
        self.port = self.server.port
        n = args.clients
        kinds = (
            ["f"] * max(1, n * 3 // 100)
            + ["s"] * max(1, n * 5 // 100)
            + ["z"] * max(1, n * 5 // 100)
        )
        kinds += ["g"] * (n - len(kinds))
        self.bots = [Bot(self, kind, i) for i, kind in enumerate(kinds)]

    def room(self, index: int) -> str:
        return f"#soak{index % ROOMS}"

    def later(self, bot: Bot, delay: float) -> None:
        heapq.heappush(self.timers, (time.monotonic() + delay, id(bot), bot))

    def loop_once(self, timeout: float) -> None:
        now = time.monotonic()
        if self.timers:
            timeout = max(0.0, min(timeout, self.timers[0][0] - now))
        for key, mask in self.sel.select(timeout):
            key.data.on_event(mask)
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, _, bot = heapq.heappop(self.timers)
            bot.act()

    def run(self) -> dict:
        args = self.args
        start = time.monotonic()
        ramp = min(10.0, args.seconds / 6)
        for i, bot in enumerate(self.bots):  # ramp up over a few seconds
            self.later(bot, ramp * i / len(self.bots))
        end = start + args.seconds
        next_sample = start
        while time.monotonic() < end:
            self.loop_once(0.2)
            if time.monotonic() >= next_sample:
                self.server.sample()
                next_sample = time.monotonic() + 1.0
                if self.server.p.poll() is not None:
                    break
        self.ending = True
        # drain: every well-behaved client round-trips a PING; quitting ones read to EOF
        # (a client still registering has no room: it has nothing to wait for)
        pinged = [
            b
            for b in self.bots
            if b.kind == "g" and b.sock is not None and b.registered and not b.quitting
        ]
        quitting = [b for b in self.bots if b.kind == "g" and b.sock is not None and b.quitting]
        for bot in pinged:
            bot.send("PING :final")

        def waiting() -> int:
            return sum(1 for b in pinged if b.sock is not None and not b.final) + sum(
                1 for b in quitting if b.sock is not None
            )

        drain_end = time.monotonic() + 60
        while time.monotonic() < drain_end and waiting():
            self.loop_once(0.2)
        unfinished = waiting()
        self.server.sample()
        for bot in self.bots:  # leave politely and read on to the server's close
            if bot.kind == "s" or not bot.registered:
                bot.close()
            else:
                bot.quitting = True
                bot.send("QUIT :soak over")
        quit_end = time.monotonic() + 15
        while time.monotonic() < quit_end and any(b.sock is not None for b in self.bots):
            self.loop_once(0.2)
        for bot in self.bots:
            bot.close()
        self.server.settle_log()
        log = self.server.stop()
        return self.report(log, time.monotonic() - start, unfinished)

    def report(self, log: str, elapsed: float, unfinished: int) -> dict:
        s = self.stats
        srv = self.server
        reasons: collections.Counter = collections.Counter()
        refused: collections.Counter = collections.Counter()
        for line in log.splitlines():
            m = DISCONNECT_RX.search(line)
            if m:
                kind = m.group(1)[:1] if m.group(1) != "*" else "unregistered"
                reasons[f"{reason_key(m.group(2))} [{kind}]"] += 1
                continue
            m = REFUSED_RX.search(line)
            if m:
                refused[m.group(1)] += 1
        errors = [
            ln
            for ln in log.splitlines()
            if " ERROR " in ln or " CRITICAL " in ln or "Traceback" in ln
        ]
        return {
            "seed": self.args.seed,
            "seconds": round(elapsed, 1),
            "clients": len(self.bots),
            "kinds": dict(collections.Counter(b.kind for b in self.bots)),
            "connections_opened": dict(s.connects),
            "messages_sent": s.sent,
            "messages_delivered": s.received,
            "messages_expected": s.expected,
            "messages_lost": s.expected - s.received,
            "duplicates": s.duplicates,
            "good_clients_dropped": dict(s.good_dropped),
            "unfinished_at_drain": unfinished,
            "flood_lines": s.flood_lines,
            "garbage_lines": s.garbage_lines,
            "disconnects_by_reason": dict(reasons.most_common()),
            "refused": dict(refused),
            "server_errors": errors[:20],
            "server_alive_at_end": srv.alive_at_end,
            "server_exit_code": srv.exit_code,
            "rss_kib": {"start": srv.rss_start, "peak": srv.rss_peak, "end": srv.rss_end},
            "cpu_seconds": round(srv.cpu_used, 2),
        }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--seconds", type=float, help="overrides --minutes (for tests)")
    p.add_argument("--clients", type=int, default=300)
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--sendq", type=int, default=131072)
    p.add_argument("--ping-interval", type=float, default=30.0)
    p.add_argument("--ping-timeout", type=float, default=20.0)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)
    if args.seconds is None:
        args.seconds = args.minutes * 60
    if args.seed is None:
        args.seed = random.SystemRandom().randrange(1 << 32)
    print(
        f"soak: {args.clients} clients for {args.seconds:g} s, seed {args.seed}",
        file=sys.stderr,
        flush=True,
    )
    report = Soak(args).run()
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:24} {value}")
    ok = (
        report["messages_lost"] == 0
        and not report["server_errors"]
        and report["server_alive_at_end"]
        and not report["good_clients_dropped"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

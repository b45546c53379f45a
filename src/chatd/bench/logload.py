"""The ceiling of one Redis as a cluster's log: messages/s it carries, and its CPU doing so.

`chatd-bench --scenario log` starts a redis-server (on the server core) and plays W nodes
against it from this process (on the load core): each writer keeps `depth` appends in flight,
each append one log entry of `lines` client lines encoded as a node encodes them
(cluster/events.py), and R readers follow the log with `XREAD COUNT 1000 BLOCK`, as every node
does. No chatd runs: this measures what Redis can take, so that the chatd nodes' own CPU (the
limit on this 2-core machine) does not hide it. Entries are trimmed with `MAXLEN ~` so memory
stays bounded; a node's leader trims by snapshot instead (cluster/core.py), at about the same
amortised cost.
"""

from __future__ import annotations

import selectors
import socket
import time
from dataclasses import dataclass
from typing import Any

import hiredis

from chatd.bench import procfs
from chatd.cluster import events as ev

LOG_KEY = "chatd:bench:log"
TRIM_TO = 200_000  # entries kept (approximately)


@dataclass
class _Link:
    sock: socket.socket
    reader: Any
    role: str  # "w" or "r"
    in_flight: int = 0
    last_id: bytes = b"$"
    out: bytes = b""


def _connect(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setblocking(False)
    return sock


def run_log(
    port: int,
    redis_pid: int | None,
    writers: int = 2,
    readers: int = 2,
    lines: int = 8,
    depth: int = 16,
    duration: float = 5.0,
    text_size: int = 40,
) -> dict[str, Any]:
    """Drive the log for `duration` seconds; the figures of that window."""
    sel = selectors.DefaultSelector()
    line = b"PRIVMSG #room :" + b"x" * text_size
    payload = ev.encode([ev.line(f"bench~0:{i:x}", line) for i in range(lines)])
    xadd: tuple[Any, ...] = ("XADD", LOG_KEY, "MAXLEN", "~", TRIM_TO, "*")
    command = hiredis.pack_command((*xadd, "n", "bench~0", "s", 1, "d", payload))
    links: list[_Link] = []
    for role, count in (("r", readers), ("w", writers)):
        for _ in range(count):
            link = _Link(_connect(port), hiredis.Reader(), role)
            links.append(link)
            sel.register(link.sock, selectors.EVENT_READ, link)
    added = read_entries = 0

    def send(link: _Link, data: bytes) -> None:
        link.out += data
        sent = link.sock.send(link.out)
        link.out = link.out[sent:]

    def xread(link: _Link) -> None:
        xread_: tuple[Any, ...] = ("XREAD", "COUNT", 1000, "BLOCK", 2000, "STREAMS", LOG_KEY)
        send(link, hiredis.pack_command((*xread_, link.last_id)))
        link.in_flight = 1

    for link in links:
        if link.role == "r":
            xread(link)
    time.sleep(0.1)  # the readers' first XREAD (from `$`) is in before anything is added
    for link in links:
        if link.role == "w":
            send(link, command * depth)
            link.in_flight = depth
    start = time.perf_counter()
    cpu0 = procfs.cpu_seconds(redis_pid) if redis_pid else None
    load0 = procfs.own_cpu_seconds()
    end = start + duration
    while (now := time.perf_counter()) < end:
        for key, _ in sel.select(min(0.05, end - now)):
            link = key.data
            data = link.sock.recv(1 << 20)
            if not data:
                raise RuntimeError("redis closed a connection")
            link.reader.feed(data)
            while (reply := link.reader.gets()) is not False:
                if link.role == "w":
                    added += 1
                    link.in_flight -= 1
                else:
                    if reply:
                        entries = reply[0][1]
                        read_entries += len(entries)
                        link.last_id = entries[-1][0]
                    xread(link)
            if link.role == "w" and link.in_flight < depth:
                more = depth - link.in_flight
                send(link, command * more)
                link.in_flight += more
    wall = time.perf_counter() - start
    cpu = procfs.cpu_seconds(redis_pid) - cpu0 if redis_pid and cpu0 is not None else None
    load_cpu = procfs.own_cpu_seconds() - load0
    for link in links:
        link.sock.close()
    sel.close()
    entries_per_s = added / wall
    return {
        "entries_per_s": entries_per_s,
        "messages_per_s": entries_per_s * lines,
        "reads_per_s": read_entries / wall,
        "redis_cpu_pct": None if cpu is None else 100 * cpu / wall,
        "redis_cpu_us_per_entry": None if cpu is None or not added else 1e6 * cpu / added,
        "redis_cpu_us_per_msg": None if cpu is None or not added else 1e6 * cpu / (added * lines),
        "load_cpu_pct": 100 * load_cpu / wall,
        "window_s": wall,
    }

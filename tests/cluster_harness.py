"""Test harness for chatd clusters: a real redis-server on a free port, and N chatd nodes, each a
real reactor (in a thread of the test process, or a subprocess) joined through it.

In CI (`CI=true`) a missing redis-server fails the test; elsewhere it skips with the reason.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
from ircclient import DEADLINE, OPER_ANSWER, TEST_CLOAK_KEY, Client, wait_for

from chatd.cli import ClusterNode, net_settings
from chatd.net.listener import open_listener
from chatd.net.reactor import Reactor
from chatd.server.config import build
from chatd.server.state import ServerState

NODE_NAME = "chatd.local"  # every test node shows this server name, as one process does


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def need_redis() -> str:
    path = shutil.which("redis-server")
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (CI must install it: .ci/run)")
        pytest.skip("redis-server is not installed")
    return path


class RedisServer:
    """A redis-server of the test's own, with AOF persistence so a restart keeps the log."""

    def __init__(self, folder: Path | None = None, port: int | None = None) -> None:
        self.binary = need_redis()
        self.folder = folder or Path(tempfile.mkdtemp(prefix="chatd-redis-"))
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def fresh_url(self) -> str:
        """A URL of a database of its own, emptied (several networks in one test)."""
        self._db = (getattr(self, "_db", 0) + 1) % 16
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall(f"SELECT {self._db}\r\nFLUSHDB\r\n".encode())
            got = b""
            while got.count(b"\r\n") < 2:
                got += s.recv(64)
        return f"redis://127.0.0.1:{self.port}/{self._db}"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--dir",
                str(self.folder),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self.ping, timeout=10, what="redis-server up")

    def ping(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as s:
                s.sendall(b"PING\r\n")
                return s.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def command(self, *words: str) -> bytes:
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
            s.sendall((" ".join(words) + "\r\n").encode())
            return s.recv(65536)

    def flush(self) -> None:
        self.command("FLUSHALL")

    def stop(self, graceful: bool = True) -> None:
        if self.proc is not None and self.proc.poll() is None:
            if graceful:
                self.proc.terminate()
            else:
                self.proc.kill()
            self.proc.wait(10)
        self.proc = None


class Node:
    """One chatd node in a thread: the same wiring as `chatd --cluster` (chatd/cli.py)."""

    def __init__(self, redis_url: str, name: str = NODE_NAME, **settings) -> None:
        settings.setdefault("host", "127.0.0.1")
        settings.setdefault("port", 0)
        settings.setdefault("cluster_lease", 3.0)
        settings.setdefault("cloak_key", TEST_CLOAK_KEY)
        config = build({**settings, "cluster_url": redis_url, "cluster_node_name": name})
        config.db = ":memory:"
        self.config = config
        state = ServerState(config, time.time(), msgid_prefix="t-")
        joined = ClusterNode.join(config, state)
        assert not isinstance(joined, str), joined
        self.node = joined
        self.core = joined.core
        self.state = state
        sock = open_listener(config.host, config.port)
        self.reactor = Reactor(self.core, [sock], (), net_settings(config))
        joined.start(self.reactor)
        self.port = self.reactor.ports[0]
        self.thread = threading.Thread(target=self.reactor.run, name="chatd-node", daemon=True)
        self.thread.start()
        wait_for(lambda: all(link.connected for link in joined.links), what="links up")

    def client(self, nick: str | None = None) -> Client:
        c = Client(self.port)
        if nick is not None:
            c.register(nick)
        return c

    def stop(self) -> None:
        self.reactor.stop()
        self.thread.join(10)
        assert not self.thread.is_alive(), "node did not stop"
        self.node.stop()


class RunningCluster:
    """N nodes of one network; `client()` spreads clients across them in turn. Looks enough
    like tests/ircclient.py:RunningServer for the socket tests to run on it unchanged."""

    def __init__(self, redis: RedisServer, n: int = 3, url: str | None = None, **settings) -> None:
        self.redis = redis
        self.settings = settings
        self.url = url or redis.url
        self.nodes = [Node(self.url, **settings) for _ in range(n)]
        # every node has seen every node join (LUSERS counts them), so what a test's first
        # client sees does not depend on how quickly the others' HELLO came back
        wait_for(lambda: all(node.state.servers == n for node in self.nodes), what="nodes joined")
        self.state = self.nodes[0].state
        self.port = self.nodes[0].port
        self.thread = self.nodes[0].thread
        self.tls_port = None
        self._turn = 0

    def next_node(self) -> Node:
        node = self.nodes[self._turn % len(self.nodes)]
        self._turn += 1
        return node

    def client(self, nick: str | None = None, **kw) -> Client:
        c = Client(self.next_node().port, **kw)
        if nick is not None:
            c.register(nick)
        return c

    def caught_up(self) -> None:
        """Wait until node 0 has applied every entry any node has applied."""

        def pos(node: Node) -> tuple[int, int]:
            ms, _, seq = node.core.replica.position.partition("-")
            return int(ms), int(seq or 0)

        target = max(pos(n) for n in self.nodes)
        wait_for(lambda: pos(self.nodes[0]) >= target, what="node 0 caught up")

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()


def synced(c: Client, timeout: float = DEADLINE) -> list[str]:
    """Everything `c` received up to a PING round trip, without the PONG."""
    return c.lines_since_sync()


class ClusterWorld:
    """What make_state() gives on the cluster backend: reads go to node 0's replica of the
    network (every node holds all of it); clients are spread over the nodes."""

    def __init__(self, cluster: RunningCluster) -> None:
        self.cluster = cluster
        self.clients: list[ClusterScripted] = []  # kept open, as a state keeps its users

    def __getattr__(self, name: str):
        if name in ("set_clock", "handle_line", "connect", "settle"):
            raise AttributeError(f"{name}: a sans-IO step, not available on a cluster")
        self.cluster.caught_up()
        return getattr(self.cluster.state, name)


class ClusterScripted:
    """Scripted's API over a socket to one node: `send` and `take` return what arrived up to
    a PING round trip (so everything the lines caused, on every node, is there)."""

    def __init__(self, world: ClusterWorld, host: str = "127.0.0.1") -> None:
        if host != "127.0.0.1":
            pytest.skip("a socket client of a cluster node connects from 127.0.0.1 only")
        self.world = world
        world.clients.append(self)
        self.node = world.cluster.next_node()
        self.client = Client(self.node.port)
        self.sink = self  # Scripted.sink.closed
        port = self.client.sock.getsockname()[1]

        def local_end():
            for conn in list(self.node.reactor.connections):
                try:
                    if conn.sock.getpeername()[1] == port:
                        return conn.client
                except OSError:
                    continue
            return None

        self._local = wait_for(local_end, what="the node's end of the client")

    @property
    def closed(self) -> bool:
        return self.client.closed

    def send(self, *lines: str | bytes) -> list[str]:
        try:
            self.client.send(*lines)
        except OSError:
            pass
        return self.take()

    def take(self) -> list[str]:
        c = self.client
        before = c.seen
        token = f"sync{time.monotonic_ns()}"
        try:
            c.send(f"PING {token}")
        except OSError:
            pass
        end = time.monotonic() + DEADLINE
        while True:
            for i in range(c.seen, len(c.lines)):
                if token in c.lines[i] and " PONG " in c.lines[i]:
                    out = c.lines[before:i]
                    c.seen = i + 1
                    return out
            if c.closed:
                out = c.lines[before:]
                c.seen = len(c.lines)
                return out
            if time.monotonic() > end:
                raise AssertionError(f"no PONG for {token}; got {c.lines[-10:]}")
            c._read(end - time.monotonic())

    def register(self, nick: str) -> list[str]:
        return self.send(f"NICK {nick}", "USER u 0 * :Real Name")

    def send_answered(self, *lines: str | bytes, until: str = OPER_ANSWER) -> list[str]:
        """`send`, then what arrives until a line matches `until` (work done off the loop on
        the client's node, whose result comes back through the log)."""
        out = self.send(*lines)
        end = time.monotonic() + DEADLINE
        while not any(re.search(until, line) for line in out):
            if time.monotonic() > end or self.client.closed:
                raise AssertionError(f"no line matching {until!r}; got {out[-10:]}")
            out += self.take()
        return out

    @property
    def user(self):
        """This client's User in node 0's replica (the one the world's reads show), or on its
        own node once it is gone."""
        cluster = self.world.cluster
        cluster.caught_up()
        found = cluster.nodes[0].core.replica.users.get(self._local.cid)
        return found if found is not None else self._local.user

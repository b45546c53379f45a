"""Operating a cluster: STATS N and STATS R for IRC operators, LUSERS counting the nodes, the
metrics endpoint of a node, and `chatd cluster status` -- on real nodes through a real Redis."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import threading

import pytest
from cluster_harness import Node, free_port
from ircclient import Client, wait_for

from chatd.cli import metrics_text
from chatd.net.listener import open_listener
from chatd.net.metrics import MetricsServer
from chatd.server.passwords import hash_password


@pytest.fixture(scope="module")
def oper_hash() -> str:
    return hash_password("pw")


@pytest.fixture
def two_nodes(redis_server, oper_hash):
    redis_server.flush()
    settings = {"opers": {"boss": oper_hash}, "flood_limit": False}
    nodes = [
        Node(redis_server.url, name="a.chatd.local", **settings),
        Node(redis_server.url, name="b.chatd.local", **settings),
    ]
    wait_for(lambda: all(n.state.servers == 2 for n in nodes), what="both nodes joined")
    yield nodes
    for node in nodes:
        if node.thread.is_alive():
            node.stop()


def _stats(c: Client, letter: str) -> list[str]:
    c.send(f"STATS {letter}")
    return [m.params[-1] for m in c.collect(r" 249 ", until=rf" 219 \S+ {letter} ")]


def test_stats_n_shows_each_node_and_the_network(two_nodes):
    a, b = two_nodes
    alice, bob = a.client("alice"), b.client("bob")
    alice.send("OPER boss pw")
    alice.expect_numeric("381")
    bob.join("#room")
    for i in range(5):
        bob.send(f"PRIVMSG #room :line {i}")

    def complete() -> list[str] | None:
        lines = _stats(alice, "N")
        text = "\n".join(lines)
        ok = (
            any(line.startswith("a.chatd.local") for line in lines)
            and any(line.startswith("b.chatd.local") for line in lines)
            and "network: 2 nodes, 2 users" in text
            and re.search(r"b\.chatd\.local.*lag \d+\.\d ms", text)
        )
        return lines if ok else None

    lines = wait_for(complete, what="both nodes' figures")
    mine = next(line for line in lines if line.startswith("a.chatd.local"))
    assert "1 users" in mine and "1 channels" in mine and "RSS " in mine
    assert re.search(r"log \d+-\d+", mine)


def test_stats_r_shows_the_log_the_leader_and_every_lease(two_nodes):
    a, _ = two_nodes
    alice = a.client("alice")
    alice.send("OPER boss pw")
    alice.expect_numeric("381")

    def complete() -> list[str] | None:
        lines = _stats(alice, "R")
        text = "\n".join(lines)
        ok = (
            re.search(r"^log: \d+ entries, newest \d+-\d+, leader [ab]\.chatd\.local", text, re.M)
            and "node a.chatd.local: lease" in text
            and "node b.chatd.local: lease" in text
            and text.count("snapshot: ") == 1
        )
        return lines if ok else None

    wait_for(complete, what="the log's picture")


def test_stats_n_and_r_are_for_operators_only(two_nodes):
    a, _ = two_nodes
    carol = a.client("carol")
    carol.send("STATS N")
    assert carol.expect_numeric("481").params[-1].startswith("Permission Denied")
    assert carol.expect_numeric("219").params[1] == "N"


def test_lusers_counts_the_live_nodes(two_nodes):
    a, b = two_nodes
    alice = a.client("alice")
    alice.send("LUSERS")
    assert alice.expect_numeric("251").params[-1].endswith("on 2 servers")
    assert alice.expect_numeric("255").params[-1] == "I have 1 clients and 1 servers"
    b.stop()  # its HELLO is undone by its NODE_GONE

    def one_server() -> bool:
        alice.send("LUSERS")
        return alice.expect_numeric("251").params[-1].endswith("on 1 servers")

    wait_for(one_server, what="one server left")
    c = a.client("dave")  # a newcomer's welcome burst says the same
    assert c.lines and any(" 251 " in line and "on 1 servers" in line for line in c.lines)


def test_a_nodes_metrics_endpoint_has_the_cluster_figures(two_nodes):
    a, _ = two_nodes
    ready = threading.Event()
    made: dict[str, MetricsServer] = {}

    def attach() -> None:
        sampler = a.node.sampler
        assert sampler is not None
        sock = open_listener("127.0.0.1", 0)
        made["m"] = MetricsServer(a.reactor, sock, lambda: metrics_text(sampler))
        ready.set()

    a.reactor.call_soon_threadsafe(attach)
    assert ready.wait(5)
    alice = a.client("alice")

    def scrape() -> str | None:
        with socket.create_connection(("127.0.0.1", made["m"].port), timeout=5) as s:
            s.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            data = b""
            while chunk := s.recv(65536):
                data += chunk
        text = data.decode()
        return text if 'chatd_cluster_node_users{server="b.chatd.local"} 0' in text else None

    text = wait_for(scrape, what="both nodes in the metrics")
    assert "\nchatd_cluster_nodes 2\n" in text
    assert "\nchatd_users 1\n" in text
    assert re.search(r"\nchatd_cluster_log_entries \d+\n", text)
    assert re.search(r"\nchatd_cluster_lag_seconds [0-9.e-]+\n", text)
    alice.close()


def _status(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatd", "cluster", "status", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_cluster_status_prints_one_line_per_node(two_nodes, redis_server):
    def both() -> subprocess.CompletedProcess[str] | None:
        done = _status("--cluster", redis_server.url)
        node_lines = [ln for ln in done.stdout.splitlines() if "lease" in ln and "users" in ln]
        return done if len(node_lines) == 2 else None

    done = wait_for(both, what="both nodes published")
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    assert out[0].startswith("network chatd: 2 live nodes, log ")
    assert re.search(r"leader [ab]\.chatd\.local \(\d+\.\d s left\)", out[0])
    assert out[1].startswith("snapshot ")
    nodes = out[2:]
    assert [line.split()[0] for line in nodes] == ["a.chatd.local", "b.chatd.local"]
    assert all(re.search(r"lease \d+\.\d s left  at \d+-\d+  lag ", line) for line in nodes)
    assert sum("  leader  " in line for line in nodes) == 1


def test_cluster_status_errors_are_one_line_and_exit_non_zero(redis_server):
    port = free_port()  # nothing listens there
    done = _status("--cluster", f"redis://127.0.0.1:{port}/0", "--timeout", "2")
    assert done.returncode == 1
    assert done.stdout == ""
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith(f"chatd: cannot read the cluster at redis 127.0.0.1:{port}/0: ")
    done = _status("--cluster", redis_server.url, "--network", "nosuch")
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"chatd: no network 'nosuch' in redis 127.0.0.1:{redis_server.port}/0"
    )
    done = _status("--cluster", "http://example")
    assert done.returncode == 2
    assert done.stderr.strip() == "chatd: not a redis:// or unix:// URL: 'http://example'"

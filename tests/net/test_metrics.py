"""The metrics endpoint over real loopback sockets: the Prometheus text of a running server,
and every request it must refuse (method, path, garbage, size, a client that says nothing)."""

from __future__ import annotations

import re
import socket
import threading
import time

import pytest
from ircclient import wait_for
from procs import Proc

from chatd.cli import metrics_text
from chatd.net.listener import open_listener
from chatd.net.metrics import EXCHANGES_MAX, REQUEST_MAX, MetricsServer
from chatd.net.monitor import start_monitor


@pytest.fixture
def endpoint(server):
    """The running test server with a sampler and a metrics endpoint on a free port."""
    ready = threading.Event()
    made: dict[str, MetricsServer] = {}

    def attach() -> None:
        sampler = start_monitor(server.reactor, server.state, server.core)
        sock = open_listener("127.0.0.1", 0)
        made["m"] = MetricsServer(server.reactor, sock, lambda: metrics_text(sampler), 0.3)
        ready.set()

    server.reactor.call_soon_threadsafe(attach)
    assert ready.wait(5)
    return server, made["m"].port


def _get(port: int, request: bytes) -> tuple[str, dict[str, str], bytes]:
    """Send `request`, read until the server closes: status line, headers, body."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
        s.sendall(request)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status, *lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
    return status, headers, body


def _samples(body: bytes) -> dict[str, float]:
    out = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


def test_metrics_show_the_servers_figures(endpoint):
    server, port = endpoint
    alice = server.client("alice")
    bob = server.client("bob")
    alice.join("#room")
    bob.join("#room")
    alice.send("PRIVMSG #room :hello")
    bob.expect("PRIVMSG #room :hello")
    status, headers, body = _get(port, b"GET /metrics HTTP/1.0\r\n\r\n")
    assert status == "HTTP/1.0 200 OK"
    assert headers["content-type"].startswith("text/plain; version=0.0.4")
    assert int(headers["content-length"]) == len(body)
    text = body.decode()
    assert "# TYPE chatd_messages_relayed_total counter" in text
    values = _samples(body)
    assert values["chatd_users"] == 2
    assert values["chatd_connections"] == 2
    assert values["chatd_channels"] == 1
    assert values["chatd_lines_received_total"] >= 7  # NICK, USER, JOIN twice, PRIVMSG
    assert values["chatd_messages_relayed_total"] >= 3  # two JOINs and the PRIVMSG
    assert values["chatd_sendq_drops_total"] == 0
    assert values["process_resident_memory_bytes"] > 1 << 20
    assert not any(name.startswith("chatd_cluster") for name in values)  # one process


def test_head_and_query_string(endpoint):
    _, port = endpoint
    status, headers, body = _get(port, b"HEAD /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    assert status == "HTTP/1.0 200 OK" and body == b"" and int(headers["content-length"]) > 0
    status, _, body = _get(port, b"GET /metrics?x=1 HTTP/1.0\n\n")  # bare LFs too
    assert status == "HTTP/1.0 200 OK" and b"chatd_users" in body


@pytest.mark.parametrize(
    ("request_bytes", "status"),
    [
        (b"POST /metrics HTTP/1.0\r\n\r\n", "HTTP/1.0 405 Method Not Allowed"),
        (b"GET / HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found"),
        (b"GET /metrics/../etc HTTP/1.0\r\n\r\n", "HTTP/1.0 404 Not Found"),
        (b"hello\r\n\r\n", "HTTP/1.0 400 Bad Request"),
        (b"GET /metrics\r\n\r\n", "HTTP/1.0 400 Bad Request"),
        (b"GET /metrics HTTP/1.0\r\n" + b"X: y\r\n" * 1000, "HTTP/1.0 431 "),
    ],
    ids=["post", "root", "other-path", "garbage", "http-0.9", "too-big"],
)
def test_bad_requests_get_one_clear_answer(endpoint, request_bytes, status):
    _, port = endpoint
    got, headers, _ = _get(port, request_bytes)
    assert got.startswith(status)
    if "405" in status:
        assert headers["allow"] == "GET, HEAD"


def test_a_silent_client_is_closed_after_the_timeout_and_others_are_served(endpoint):
    server, port = endpoint
    silent = socket.create_connection(("127.0.0.1", port), timeout=5)
    silent.sendall(b"GET /metr")  # never finished
    started = time.monotonic()
    assert _get(port, b"GET /metrics HTTP/1.0\r\n\r\n")[0] == "HTTP/1.0 200 OK"
    assert silent.recv(100) == b""  # closed without an answer
    assert time.monotonic() - started < 3
    silent.close()
    alice = server.client("alice")  # the chat was served meanwhile
    alice.send("PING x")
    alice.expect("PONG")


def test_connections_past_the_limit_are_closed_and_the_limit_frees(endpoint):
    _, port = endpoint
    held = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(EXCHANGES_MAX)]
    extra = socket.create_connection(("127.0.0.1", port), timeout=5)
    assert extra.recv(10) == b""  # closed at accept
    extra.close()
    for s in held:
        s.close()

    def served() -> bool:
        try:
            return _get(port, b"GET /metrics HTTP/1.0\r\n\r\n")[0].endswith("200 OK")
        except ConnectionResetError:  # still at the limit: closed at accept, request unread
            return False

    wait_for(served, what="served again")
    assert REQUEST_MAX >= 1024


def test_chatd_serves_metrics_on_the_port_it_logs():
    proc = Proc("--metrics-port", "0", "--db", ":memory:")
    try:
        # logged before "listening on", which Proc waits for
        found = [re.search(r"metrics at http://127\.0\.0\.1:(\d+)/metrics", ln) for ln in proc.log]
        match = next(m for m in found if m is not None)
        status, _, body = _get(int(match.group(1)), b"GET /metrics HTTP/1.0\r\n\r\n")
        assert status == "HTTP/1.0 200 OK"
        assert _samples(body)["chatd_connections"] == 0
    finally:
        assert proc.stop() == 0


def test_metrics_are_off_by_default_and_a_bad_port_is_one_line():
    proc = Proc("--db", ":memory:")
    try:
        assert not any("metrics at" in line for line in proc.log)
    finally:
        proc.stop()
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "chatd", "--port", "0", "--metrics-port", "70000"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "chatd: metrics-port 70000 is out of range (-1: off)"
    ]

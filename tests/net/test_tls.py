"""TLS in the same reactor: handshakes that never block the loop, bursts through partial writes,
failures that cost one log line."""

from __future__ import annotations

import contextlib
import logging
import socket
import ssl
import threading
import warnings

import pytest
from ircclient import Client, wait_for

x509 = pytest.importorskip("cryptography.x509", reason="cryptography is in the test extra")


@pytest.fixture
def client_context(certificate):
    context = ssl.create_default_context(cafile=certificate[0])
    return context


@pytest.fixture
def tls_server(server_factory, certificate):
    return server_factory(
        flood_limit=False,
        tls_cert=certificate[0],
        tls_key=certificate[1],
        tls_handshake_timeout=0.5,
    )


def test_chat_over_tls_with_a_plain_client_in_the_same_room(tls_server, client_context):
    secure = Client(tls_server.tls_port, tls=client_context)
    secure.register("secure")
    plain = tls_server.client("plain")
    secure.join("#mixed")
    plain.join("#mixed")
    plain.send("PRIVMSG #mixed :hello over plain TCP")
    secure.expect("PRIVMSG #mixed :hello over plain TCP$")
    secure.send("PRIVMSG #mixed :hello over TLS")
    plain.expect("PRIVMSG #mixed :hello over TLS$")
    assert secure.sock.version() in ("TLSv1.2", "TLSv1.3")


def test_large_bursts_through_partial_tls_writes(tls_server, client_context):
    """More than the socket buffers hold, both ways: nothing lost, nothing stalled."""
    reader = Client(tls_server.tls_port, tls=client_context)
    reader.register("reader")
    writer = Client(tls_server.tls_port, tls=client_context)
    writer.register("writer")
    reader.join("#bulk")
    writer.join("#bulk")
    count = 4000
    text = "x" * 400
    received = []

    def drain() -> None:
        sock = reader.sock
        sock.settimeout(10)
        buf = b""
        while len(received) < count:
            data = sock.recv(65536)
            if not data:
                return
            buf += data
            *lines, buf = buf.split(b"\r\n")
            received.extend(l for l in lines if b" PRIVMSG #bulk :" in l)

    thread = threading.Thread(target=drain)
    thread.start()
    writer.send_raw(b"".join(f"PRIVMSG #bulk :{i} {text}\r\n".encode() for i in range(count)))
    thread.join(20)
    assert len(received) == count
    assert [int(l.split(b":")[-1].split()[0]) for l in received] == list(range(count))


def test_failed_handshake_costs_one_log_line(tls_server, caplog):
    caplog.set_level(logging.INFO, logger="chatd")
    raw = socket.create_connection(("127.0.0.1", tls_server.tls_port))
    raw.sendall(b"NICK plaintext\r\nUSER a 0 * :on the TLS port\r\n")
    raw.settimeout(5)
    with contextlib.suppress(ConnectionResetError):
        assert raw.recv(100) == b""
    wait_for(lambda: any("TLS handshake" in r.getMessage() for r in caplog.records))
    lines = [r.getMessage() for r in caplog.records if "127.0.0.1" in r.getMessage()]
    assert len(lines) == 1 and "handshake" in lines[0]
    assert tls_server.state.connections == 0


def test_silent_handshake_times_out(tls_server):
    raw = socket.create_connection(("127.0.0.1", tls_server.tls_port))
    raw.settimeout(5)
    assert raw.recv(100) == b""  # closed by the handshake timeout
    plain = tls_server.client("stillhere")  # the loop was never blocked
    plain.sync()


def test_tls_1_1_is_refused(tls_server, certificate):
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.load_verify_locations(certificate[0])
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # this client would speak TLS 1.1...
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1_1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    raw = socket.create_connection(("127.0.0.1", tls_server.tls_port))
    with pytest.raises(ssl.SSLError):  # ...the server will not
        context.wrap_socket(raw, server_hostname="localhost")

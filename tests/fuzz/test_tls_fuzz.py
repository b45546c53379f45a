"""Fuzzing the TLS listener: random bytes, plain IRC, truncated and corrupted ClientHellos,
stalled handshakes and hostile lines inside TLS. The server logs no ERROR, keeps serving a
plain client, and every failed handshake gives its admission slot back."""

from __future__ import annotations

import contextlib
import logging
import os
import random
import socket
import ssl
import time

import fuzz_grammar as grammar
import pytest
from ircclient import wait_for

x509 = pytest.importorskip("cryptography.x509", reason="cryptography is in the test extra")

SEED = int(os.environ.get("CHATD_FUZZ_SEED") or random.SystemRandom().randrange(1 << 32))
ROUNDS = int(float(os.environ.get("CHATD_FUZZ_SECONDS", "4")) * 10)


def client_hello() -> bytes:
    """The first flight of a real TLS client, captured through memory BIOs."""
    context = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = context.wrap_bio(incoming, outgoing, server_hostname="localhost")
    with contextlib.suppress(ssl.SSLWantReadError):
        obj.do_handshake()
    return outgoing.read()


def hostile_handshake(rng: random.Random, hello: bytes) -> bytes:
    choice = rng.randrange(6)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 600)))
    if choice == 1:
        return b"NICK plain\r\nUSER u 0 * :x\r\n"  # IRC on the TLS port
    if choice == 2:
        return hello[: rng.randrange(1, len(hello))]  # truncated: then silence
    if choice == 3:
        data = bytearray(hello)
        for _ in range(rng.randrange(1, 8)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        return bytes(data)
    if choice == 4:
        return hello[:5] + b"\xff" * 64  # a record header promising more than follows
    return b""  # connect and say nothing


class Errors(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_tls_listener_fuzz(server_factory, certificate):
    print(f"TLS fuzz: seed {SEED} (CHATD_FUZZ_SEED={SEED} to repeat), {ROUNDS} rounds")
    errors = Errors()
    logging.getLogger("chatd").addHandler(errors)
    srv = server_factory(
        flood_limit=False,
        tls_cert=certificate[0],
        tls_key=certificate[1],
        tls_handshake_timeout=0.5,
        max_per_ip=5000,
        ip_connect_burst=10_000,
        ip_connect_rate=10_000.0,
    )
    rng = random.Random(SEED)
    hello = client_hello()
    context = ssl.create_default_context(cafile=certificate[0])
    raw: list[socket.socket] = []
    tls: list[ssl.SSLSocket] = []
    try:
        keeper = srv.client("keeper")
        for i in range(ROUNDS):
            for _ in range(3):
                s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5)
                data = hostile_handshake(rng, hello)
                try:
                    if data:
                        s.sendall(data)
                except OSError:
                    pass
                if rng.random() < 0.5:
                    s.close()
                else:
                    raw.append(s)  # left open: the handshake timeout must reap it
            if rng.random() < 0.3:
                c = context.wrap_socket(
                    socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5),
                    server_hostname="localhost",
                )
                lines = grammar.registration(rng, f"t{i}") + [
                    grammar.fuzz_line(rng) for _ in range(rng.randrange(1, 20))
                ]
                with contextlib.suppress(OSError):
                    c.sendall(b"".join(line + b"\r\n" for line in lines))
                tls.append(c)
            keeper.sync()  # the plain client is answered throughout
            assert not errors.records, errors.records[0].getMessage()
        for s in raw + tls:
            s.close()
        # every handshake failed or timed out, every connection closed: the per-address
        # table holds the keeper alone
        wait_for(lambda: len(srv.reactor.connections) == 1, what="TLS connections gone")
        wait_for(
            lambda: srv.reactor.core.admission._open == {"127.0.0.1": 1},
            what="admission slots given back",
        )
        keeper.sync()
        assert not errors.records, errors.records[0].getMessage()
        assert srv.state.connections == 1
    finally:
        logging.getLogger("chatd").removeHandler(errors)
        for s in raw + tls:
            s.close()


def test_many_stalled_handshakes_are_reaped(server_factory, certificate):
    srv = server_factory(
        flood_limit=False,
        tls_cert=certificate[0],
        tls_key=certificate[1],
        tls_handshake_timeout=0.3,
        max_per_ip=100,
        ip_connect_burst=100,
    )
    hello = client_hello()
    socks = []
    for i in range(40):
        s = socket.create_connection(("127.0.0.1", srv.tls_port), timeout=5)
        s.sendall(hello[: 1 + i % (len(hello) - 1)])
        socks.append(s)
    start = time.monotonic()
    wait_for(lambda: not srv.reactor.core.admission._open, what="stalled handshakes reaped")
    assert time.monotonic() - start < 4
    for s in socks:
        s.close()

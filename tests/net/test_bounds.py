"""Output memory is bounded and given back, over real loopback sockets: the soft sendq held for
N seconds, the server-wide output budget (largest queues dropped first), queues that share the
broadcast's bytes instead of private copies, a response that would not fit dropped as a sendq
overflow, and the allocator trimmed after a large drop."""

from __future__ import annotations

import logging
import socket
import time

from ircclient import Client, wait_for

TEXT = "m" * 300


def _non_reader(server, nick: str, *channels: str) -> socket.socket:
    """A registered client in `channels` that never reads (small receive buffer)."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    joins = "".join(f"JOIN {c}\r\n" for c in channels)
    sock.sendall(f"NICK {nick}\r\nUSER n 0 * :never reads\r\n{joins}".encode())
    wait_for(
        lambda: all(
            (ch := server.state.find_channel(c)) and server.state.find_user(nick) in ch.members
            for c in channels
        ),
        what=f"{nick} joined",
    )
    return sock


def _conn_of(server, nick):
    return next(c for c in list(server.reactor.connections) if c.client and c.client.nick == nick)


def _saw_quit(client: Client, nick: str, reason: str = "SendQ exceeded") -> None:
    """`client` got `nick`'s QUIT, before or after the lines it has consumed so far."""
    line = f":{nick}!"
    client.seen = next((i for i, l in enumerate(client.lines) if l.startswith(line)), client.seen)
    client.expect(rf"^:{nick}!\S+ QUIT :{reason}", timeout=3)


def _talk(talker: Client, channel: str, count: int) -> None:
    talker.send_raw("".join(f"PRIVMSG {channel} :{i} {TEXT}\r\n" for i in range(count)).encode())
    talker.sync()


def test_a_reader_over_the_soft_limit_for_too_long_is_dropped(server_factory):
    server = server_factory(
        flood_limit=False, sendq_soft=32768, sendq_soft_seconds=0.3, sndbuf=4096
    )
    talker = server.client("talker")
    talker.join("#r")
    reader = server.client("reader")
    reader.join("#r")
    slow = _non_reader(server, "slow", "#r")
    _talk(talker, "#r", 300)  # ~90 KB: over the soft limit, far under the hard one (1 MiB)
    conn = _conn_of(server, "slow")
    assert 32768 < conn.out_len < 200_000 and conn.soft_since is not None
    _saw_quit(talker, "slow")
    # the reader that reads went over nothing and stays
    reader.expect("299 m")
    reader.sync()
    assert server.state.find_user("reader") is not None
    slow.close()


def test_past_the_output_budget_the_largest_queues_go_first(server_factory, caplog):
    server = server_factory(flood_limit=False, output_budget=150_000, sendq_soft=0, sndbuf=4096)
    talker = server.client("talker")
    talker.join("#a")
    talker.join("#b")
    big = _non_reader(server, "big", "#a", "#b")
    small = _non_reader(server, "small", "#b")
    with caplog.at_level(logging.WARNING, logger="chatd"):
        _talk(talker, "#a", 200)  # ~60 KB for big only
        _talk(talker, "#b", 200)  # ~60 KB more for both: past the budget together
        _saw_quit(talker, "big")
    assert server.state.find_user("small") is not None
    assert server.reactor.queued <= 150_000
    assert "output budget exceeded" in caplog.text
    big.close()
    small.close()


def test_queues_share_the_broadcast_bytes(server_factory):
    """Five readers that never read hold the same bytes objects, not five private copies."""
    server = server_factory(flood_limit=False, sndbuf=4096)
    talker = server.client("talker")
    talker.join("#r")
    socks = [_non_reader(server, f"nr{i}", "#r") for i in range(5)]
    for _ in range(4):
        _talk(talker, "#r", 100)
    conns = [_conn_of(server, f"nr{i}") for i in range(5)]
    queued = sum(c.out_len for c in conns)
    assert queued > 5 * 60_000
    distinct: dict[int, int] = {}
    for conn in conns:
        for item in conn.out:
            owner = item.obj if isinstance(item, memoryview) else item
            distinct[id(owner)] = len(owner)
    held = sum(distinct.values())
    assert held < 1.5 * max(c.out_len for c in conns), (held, queued)
    for sock in socks:
        sock.close()


def test_a_labeled_response_past_the_sendq_drops_the_client(server_factory):
    server = server_factory(flood_limit=False, sendq=4096)
    op = server.client("op")
    op.join("#t")
    for i in range(0, 100, 4):
        op.send(f"MODE #t +bbbb a{i}!*@* b{i}!*@* c{i}!*@* d{i}!*@*")
    op.sync()
    mallory = Client(server.port)
    mallory.send("CAP REQ :labeled-response batch", "CAP END")
    mallory.register("mallory")
    mallory.send("@label=x MODE #t b")
    mallory.expect(r"^ERROR :Closing Link: .*\(SendQ exceeded\)")
    assert not any("367" in line for line in mallory.lines)
    mallory.wait_closed()


def test_freed_memory_goes_back_after_a_large_drop(server_factory, monkeypatch):
    import chatd.net.reactor as reactor_module

    monkeypatch.setattr(reactor_module, "TRIM_AFTER", 65536)
    server = server_factory(flood_limit=False, sendq=131072, sndbuf=4096)
    talker = server.client("talker")
    talker.join("#r")
    slow = _non_reader(server, "slow", "#r")
    before = server.reactor.trims
    for _ in range(8):  # the queue fills batch by batch, then overflows
        _talk(talker, "#r", 100)
    _saw_quit(talker, "slow")
    if server.reactor.trim is not None:  # glibc
        wait_for(lambda: server.reactor.trims > before, what="malloc_trim after the drop")
    slow.close()


def test_flush_delay_holds_output_sent_a_moment_after_the_last_send(server_factory):
    """flush_delay: a reply made right after a send waits until the delay since that send has
    passed (and then arrives); with no delay it goes in the same iteration."""
    srv = server_factory(flood_limit=False, flush_delay=0.3)
    c = srv.client("held")
    c.send("PING :one")
    c.expect(r"PONG .* :?one")
    sent_at = time.monotonic()  # the server sent the PONG a moment before this
    c.send("PING :two")
    c.expect(r"PONG .* :?two")
    assert time.monotonic() - sent_at >= 0.2  # held, then sent: the delay is 0.3 s
    quick = server_factory(flood_limit=False).client("quick")
    quick.send("PING :one")
    quick.expect(r"PONG .* :?one")
    started = time.monotonic()
    quick.send("PING :two")
    quick.expect(r"PONG .* :?two")
    assert time.monotonic() - started < 0.2

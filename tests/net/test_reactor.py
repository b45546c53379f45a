"""The reactor over real loopback sockets: framing across reads, limits, slow and vanishing
peers, timers."""

from __future__ import annotations

import socket
import struct
import time

import pytest
from ircclient import Client, wait_for


def _conn_of(server, nick):
    return next(c for c in server.reactor.connections if c.client.nick == nick)


def test_line_split_at_every_byte_position_across_reads(server):
    alice = server.client("alice")
    bob = server.client("bob")
    alice.join("#x")
    bob.join("#x")
    line = b"PRIVMSG #x :split me\r\n"
    conn = _conn_of(server, "bob")
    for cut in range(1, len(line)):
        bob.send_raw(line[:cut])
        if cut < len(line) - 1:
            # the first part is in the server's input buffer before the rest is sent
            wait_for(lambda: conn.reader.buffered == cut, what=f"{cut} bytes buffered")
        bob.send_raw(line[cut:])
        alice.expect("PRIVMSG #x :split me$")


def test_crlf_lf_and_many_lines_in_one_read(server):
    alice = server.client("alice")
    bob = server.client("bob")
    alice.join("#x")
    bob.join("#x")
    bob.send_raw(b"PRIVMSG #x :one\r\nPRIVMSG #x :two\nPRIVMSG #x :three\r\n" * 50)
    for _ in range(50):
        for word in ("one", "two", "three"):
            alice.expect(f"PRIVMSG #x :{word}$")


def test_overlong_line_gets_417_and_connection_survives(server):
    alice = server.client("alice")
    alice.send("PRIVMSG alice :" + "x" * 600)
    alice.expect_numeric("417")
    alice.send("PRIVMSG alice :" + "y" * 20000)  # past the whole line buffer
    alice.expect_numeric("417")
    alice.send("PRIVMSG alice :still here")
    alice.expect("PRIVMSG alice :still here")


def test_tags_get_their_own_room(server):
    alice = server.client("alice")
    alice.send("CAP REQ :message-tags")
    alice.expect("ACK")
    tags = "@+x=" + "t" * 3000
    alice.send(f"{tags} PRIVMSG alice :" + "m" * 400)
    alice.expect(r"\+x=t+ :alice!\S+ PRIVMSG alice :m{400}$")
    alice.send("@+x=" + "t" * 5000 + " PRIVMSG alice :too many tags")
    alice.expect_numeric("417")


def test_invalid_utf8_is_refused_and_connection_survives(server):
    alice = server.client("alice")
    alice.send(b"PRIVMSG alice :caf\xe9")
    alice.expect("FAIL PRIVMSG INVALID_UTF8")
    alice.send("PRIVMSG alice :café")
    alice.expect("PRIVMSG alice :café$")


def _drain_until(client: Client, pattern: bytes, stop: bytes, out: dict) -> None:
    """Read as fast as possible, counting lines containing `pattern`, until `stop` arrives."""
    sock = client.sock
    sock.settimeout(10)
    buf = b""
    count = 0
    while True:
        data = sock.recv(262144)
        if not data:
            break
        buf += data
        *lines, buf = buf.split(b"\r\n")
        count += sum(1 for line in lines if pattern in line)
        if any(stop in line for line in lines):
            break
    out[client.nick] = count


def test_slow_reader_is_dropped_at_sendq_and_others_get_everything(server_factory):
    import threading

    sendq = 256 * 1024  # above one iteration's fan-out of a 64 KiB read
    # cloak_hosts off: the margin below was measured with 127.0.0.1 prefixes (a cloak makes
    # each line 20 bytes longer, and the last write before the drop overshoots by more)
    server = server_factory(flood_limit=False, sendq=sendq, cloak_hosts=False)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.connect(("127.0.0.1", server.port))
    slow.sendall(b"NICK slow\r\nUSER s 0 * :S\r\nJOIN #flood\r\n")
    wait_for(lambda: server.state.find_user("slow") and server.state.find_channel("#flood"))
    readers = [server.client(f"r{i}") for i in range(2)]
    for r in readers:
        r.join("#flood")
    sender = server.client("sender")
    sender.join("#flood")
    # Enough to pass the kernel's loopback send buffer (autotuned up to 4 MiB) and the sendq.
    count = 25000
    counts: dict = {}
    threads = [
        threading.Thread(target=_drain_until, args=(r, b"PRIVMSG #flood :", b"PONG", counts))
        for r in readers
    ]
    for t in threads:
        t.start()
    peak = 0
    text = "m" * 200
    for start in range(0, count, 500):
        sender.send_raw(
            "".join(f"PRIVMSG #flood :{i} {text}\r\n" for i in range(start, start + 500)).encode()
        )
        peak = max(peak, max((c.out_len for c in list(server.reactor.connections)), default=0))
    sender.sync()  # every message has been handled by the server
    wait_for(lambda: server.state.find_user("slow") is None, what="slow reader dropped")
    for r in readers:
        r.send("PING :done")
    for t in threads:
        t.join(20)
    assert counts == {"r0": count, "r1": count}
    # bounded: no queue ever held much more than the sendq limit
    assert peak <= sendq + 1024
    wait_for(lambda: len(server.reactor.connections) == 3, what="slow socket closed")
    slow.close()


def test_peer_reset_mid_line(server):
    alice = server.client("alice")
    alice.join("#x")
    mallory = server.client("mallory")
    mallory.join("#x")
    mallory.send_raw(b"PRIVMSG #x :half a li")
    conn = _conn_of(server, "mallory")
    wait_for(lambda: conn.reader.buffered > 0)
    mallory.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    mallory.close()  # RST
    quit_msg = alice.expect("mallory!\\S+ QUIT")
    assert quit_msg.params[0] in ("Connection reset by peer", "Remote host closed the connection")
    assert not any("half a li" in l for l in alice.lines)
    wait_for(lambda: server.state.find_user("mallory") is None)
    assert len(server.reactor.connections) == 1


def test_eof_cleans_up_once(server):
    alice = server.client("alice")
    alice.join("#x")
    bob = server.client("bob")
    bob.join("#x")
    bob.sock.shutdown(socket.SHUT_WR)
    alice.expect("bob!\\S+ QUIT :Remote host closed the connection")
    alice.sync()
    assert sum("QUIT" in l for l in alice.lines) == 1
    assert server.state.connections == 1


def test_ping_timeout(server_factory):
    server = server_factory(flood_limit=False, ping_interval=0.2, ping_timeout=0.3)
    alive = server.client("alive")
    silent = server.client("silent")
    alive.join("#x")
    silent.join("#x")
    silent.expect("^PING ")
    # alive answers PINGs; silent does not
    end = time.monotonic() + 5
    while time.monotonic() < end:
        try:
            ping = alive.expect("^PING |QUIT :Ping timeout", timeout=0.5)
        except AssertionError:
            continue
        if ping.command == "QUIT":
            assert ping.nick == "silent"
            break
        alive.send(f"PONG :{ping.params[0]}")
    else:
        raise AssertionError("silent was never timed out")
    silent.expect("^ERROR :Closing Link: .*Ping timeout")
    assert server.state.find_user("alive") is not None


def test_registration_timeout(server_factory):
    server = server_factory(registration_timeout=0.2)
    lazy = Client(server.port)
    lazy.send("NICK lazy")
    lazy.expect("^ERROR :Closing Link: .*Registration timeout")
    lazy.wait_closed()


def test_max_clients(server_factory):
    server = server_factory(max_clients=2)
    a = server.client("a")
    b = server.client("b")
    c = Client(server.port)
    c.expect("^ERROR :Closing Link: .*Server is full")
    c.wait_closed()
    a.send("PRIVMSG b :still fine")
    b.expect("PRIVMSG b :still fine")


def test_flood_control_delays_only_the_flooder(server_factory):
    server = server_factory(flood_limit=True, flood_burst=5, flood_rate=50.0, flood_max_queue=1000)
    flooder = server.client("flooder")
    calm = server.client("calm")
    flooder.send_raw(b"".join(b"PRIVMSG calm :%d\r\n" % i for i in range(60)))
    started = time.monotonic()
    calm.sync()  # the calm client is answered at once, whatever the flooder does
    assert time.monotonic() - started < 0.5
    calm.expect("PRIVMSG calm :59$")
    got = [line.rsplit(":", 1)[1] for line in calm.lines if "PRIVMSG calm" in line]
    assert got == [str(i) for i in range(60)]
    # 55 lines past the burst at 50 lines/s cannot have arrived in under ~1 s
    assert time.monotonic() - started > 0.9


def test_excess_flood_disconnects(server_factory):
    server = server_factory(flood_limit=True, flood_burst=5, flood_rate=1.0, flood_max_queue=20)
    flooder = server.client("flooder")
    watcher = server.client("watcher")
    flooder.join("#x")
    watcher.join("#x")
    flooder.send_raw(b"PRIVMSG #x :spam\r\n" * 100)
    watcher.expect("flooder!\\S+ QUIT :Excess Flood")
    flooder.expect("^ERROR :Closing Link: .*Excess Flood")


@pytest.mark.parametrize("family,host", [(socket.AF_INET6, "::1")])
def test_ipv6_host_is_safe_in_prefixes(server_factory, family, host):
    if not socket.has_ipv6:
        pytest.skip("no IPv6 on this machine")
    server = server_factory(host="::1", cloak_hosts=False)  # the address itself is shown
    c = Client(server.port, host="::1")
    c.register("six")
    c.send("WHOIS six")
    whois = c.expect_numeric("311")
    assert whois.params[3] == "0::1"
    cloaked = server_factory(host="::1")
    d = Client(cloaked.port, host="::1")
    d.register("six")
    d.send("WHOIS six")
    assert d.expect_numeric("311").params[3].endswith(".ip")
    assert d.expect_numeric("378").params[2] == "is connecting from ~u@0::1 0::1"


def test_batched_room_messages_keep_their_order_with_everything_else(server):
    """Channel messages are batched per iteration; no client may see lines reordered."""
    alice = server.client("alice")
    bob = server.client("bob")
    for c in (alice, bob):
        c.join("#a")
        c.join("#b")
    alice.send("CAP REQ :echo-message")
    alice.expect("ACK")
    burst = []
    for i in range(30):
        burst += [
            f"PRIVMSG #a :a{i}",
            f"PRIVMSG #a :a{i}+",
            f"PRIVMSG #b :b{i}",
            f"PRIVMSG bob :p{i}",
        ]
    burst += ["PART #a :bye", "PRIVMSG #b :after-part"]
    alice.send(*burst)
    bob.expect("PRIVMSG #b :after-part")
    got = [l.split(" ", 2)[2] for l in bob.lines if " PRIVMSG " in l or " PART " in l]
    expected = [b.split(" ", 1)[1].replace("bob :", "bob :") for b in burst]
    assert got == expected
    alice.expect("PRIVMSG #b :after-part")
    echoed = [
        l.split(" ", 2)[2]
        for l in alice.lines
        if l.startswith(":alice!") and (" PRIVMSG #" in l or " PART " in l)
    ]
    assert echoed == [b.split(" ", 1)[1] for b in burst if " #" in b or b.startswith("PART")]

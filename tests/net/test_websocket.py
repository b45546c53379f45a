"""IRC over WebSocket (IRCv3 WebSocket): the sans-IO protocol object first (wsproto's client on
the other side, no sockets), then real sockets on loopback with the reactor, then the bounds
and the bad input."""

from __future__ import annotations

import logging
import random
import re
import socket
import ssl
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from ircclient import Client, wait_for
from wsclient import BINARY, TEXT, WsClient, masked_frame
from wsproto import ConnectionType, WSConnection
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    RejectData,
    Request,
    TextMessage,
)

from chatd.limits import WS_HANDSHAKE_MAX, WS_MESSAGE_MAX
from chatd.net.websocket import IrcWebSocket, http_error, origin_allowed
from chatd.proto.framing import TOO_LONG, LineReader

MAX_LINE = 512 + 4096


# -- sans-IO ----------------------------------------------------------------------------------------


def upgrade(subprotocols=(TEXT,), origin=None, origins=("*",), max_line=MAX_LINE):
    """A server-side IrcWebSocket and a wsproto client, after the client's upgrade request."""
    server = IrcWebSocket(LineReader(max_line, keep_empty=True), origins)
    client = WSConnection(ConnectionType.CLIENT)
    headers = [(b"Origin", origin.encode())] if origin else []
    request = Request(
        host="localhost", target="/", subprotocols=list(subprotocols), extra_headers=headers
    )
    got = server.receive(client.send(request))
    client.receive_data(got.out)
    return server, client, got, list(client.events())


def opened(subprotocols=(TEXT,), **kw):
    server, client, got, events = upgrade(subprotocols, **kw)
    assert got.opened and isinstance(events[0], AcceptConnection), events
    return server, client


def messages(client: WSConnection, data: bytes) -> list:
    client.receive_data(data)
    return list(client.events())


@pytest.mark.parametrize(
    ("offered", "chosen", "text_frames"),
    [
        ((TEXT, BINARY), TEXT, True),
        ((BINARY, TEXT), BINARY, False),  # the client's order of preference wins
        (("irc", BINARY), BINARY, False),  # unknown ones are skipped
        ((), None, True),  # none offered (older web clients): text out
    ],
)
def test_subprotocol_negotiation_in_client_preference_order(offered, chosen, text_frames):
    server, client = opened(offered)
    assert server.subprotocol == chosen
    [event] = messages(client, server.frame(b":srv 001 me :Welcome\r\n"))
    assert isinstance(event, TextMessage if text_frames else BytesMessage)
    assert event.data in (":srv 001 me :Welcome", b":srv 001 me :Welcome")


def test_accepted_handshake_names_the_subprotocol_and_no_extension():
    server, client, got, events = upgrade((BINARY,))
    assert got.out.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Protocol: binary.ircv3.net" in got.out
    assert b"Sec-WebSocket-Extensions" not in got.out  # no permessage-deflate
    assert events == [AcceptConnection(subprotocol=BINARY)]


def test_only_unsupported_subprotocols_are_refused_with_400():
    server, client, got, events = upgrade(("irc", "chat"))
    assert not got.opened
    assert got.out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"no supported subprotocol in irc, chat: offer binary.ircv3.net or text.ircv3.net" in (
        got.out
    )
    assert got.end is not None and isinstance(events[0], RejectConnection)


@pytest.mark.parametrize(
    ("origin", "allowed", "ok"),
    [
        (None, [], True),  # no Origin header: not a browser page
        ("https://chat.example.org", [], False),  # the default lets no page in
        ("https://chat.example.org", ["https://chat.example.org"], True),
        ("HTTPS://Chat.Example.ORG", ["https://chat.example.org"], True),  # case-insensitive
        ("http://chat.example.org", ["https://chat.example.org"], False),  # scheme counts
        ("https://chat.example.org:8443", ["https://chat.example.org"], False),  # port counts
        ("https://a.b.example.org", ["https://*.example.org"], True),
        ("https://evilexample.org", ["https://*.example.org"], False),
        ("https://example.org.evil.com", ["https://*.example.org"], False),
        ("https://evil.com/x.example.org", ["https://*.example.org"], False),  # '*' stays in host
        ("http://localhost:5173", ["http://localhost:*"], True),
        ("http://localhost.evil.com:80", ["http://localhost:*"], False),
        ("null", ["https://chat.example.org"], False),  # file: and sandboxed pages
        ("null", ["null"], True),
        ("https://anything.example", ["*"], True),
        ("null", ["*"], True),
    ],
)
def test_origin_rules(origin, allowed, ok):
    assert origin_allowed(origin, allowed) is ok


def test_a_page_from_another_origin_is_refused_with_403():
    server, client, got, events = upgrade(origin="https://evil.example", origins=("https://ok",))
    assert got.out.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert got.out.endswith(
        b"\r\n\r\nchatd: pages from https://evil.example may not connect (websocket-origins)\n"
    )
    assert not got.opened and got.end


UPGRADE = (
    b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
)


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"NICK someone\r\nUSER u 0 * :an IRC client on the wrong port\r\n", 400),
        (b"CAP LS 302\r\n", 400),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 400),  # a TLS ClientHello
        (b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n", 426),  # a browser opened the URL
        (b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 400),
        (
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
            426,  # an old protocol version: wsproto names the one it speaks
        ),
        (b"GET / HTTP/1.1\r\nHost: x\r\nbroken header line\r\n\r\n", 400),
        (UPGRADE + b"Host: \xc3\xa9.example\r\n\r\n", 400),  # not ASCII (wsproto raised)
        (UPGRADE + b"Host: xn--zz\r\n\r\n", 400),  # not IDNA either
        (UPGRADE + b"Host: x\r\nSec-WebSocket-Protocol: \xff\r\n\r\n", 400),
    ],
)
def test_what_is_not_a_websocket_upgrade_gets_an_http_error(data, status):
    server = IrcWebSocket(LineReader(MAX_LINE, keep_empty=True), ("*",))
    got = server.receive(data)
    assert got.out.startswith(f"HTTP/1.1 {status} ".encode()), got.out
    assert got.out.endswith(b"\n") and b"chatd: " in got.out
    assert not got.opened and got.end and not got.lines
    if b"Sec-WebSocket-Version: 8" in data:
        assert b"\r\nSec-WebSocket-Version: 13\r\n" in got.out  # RFC 6455 4.4


def test_an_upgrade_request_past_the_handshake_limit_gets_431():
    server = IrcWebSocket(LineReader(MAX_LINE, keep_empty=True), ("*",))
    got = server.receive(b"GET / HTTP/1.1\r\nHost: x\r\n")
    assert not got.out and not got.end  # waits for the rest
    got = server.receive(b"X-Padding: " + b"a" * WS_HANDSHAKE_MAX + b"\r\n")
    assert got.out.startswith(b"HTTP/1.1 431 Request Header Fields Too Large\r\n")
    assert got.end


def test_each_message_is_one_line():
    server, client = opened()
    data = b"".join(
        client.send(TextMessage(t)) for t in ("NICK web", "USER u 0 * :Web User", "", "PING x")
    )
    got = server.receive(data)
    assert got.lines == [b"NICK web", b"USER u 0 * :Web User", b"", b"PING x"]
    assert not got.out and got.end is None


def test_fragmented_and_split_messages_are_reassembled():
    server, client = opened()
    data = client.send(TextMessage("PRIVMSG #a :caf", message_finished=False))
    data += client.send(TextMessage("é au lait", message_finished=True))
    lines = []
    for i in range(len(data)):  # one byte at a time, across frame and character boundaries
        lines += server.receive(data[i : i + 1]).lines
    assert lines == ["PRIVMSG #a :café au lait".encode()]


def test_line_breaks_inside_a_message_are_taken_as_tcp_would():
    """The spec says one line per message without CR LF. A trailing CR LF is tolerated (no
    extra empty line); a line break inside splits the message, exactly as the same bytes over
    TCP would: never one line with a raw LF in it."""
    server, client = opened()
    got = server.receive(client.send(TextMessage("PING a\r\n")))
    assert got.lines == [b"PING a"]
    got = server.receive(client.send(TextMessage("PRIVMSG #a :one\nQUIT :two")))
    assert got.lines == [b"PRIVMSG #a :one", b"QUIT :two"]


def test_binary_messages_pass_bytes_through_for_the_core_to_judge():
    server, client = opened((BINARY,))
    got = server.receive(client.send(BytesMessage(b"PRIVMSG #a :\xff\xfe")))
    assert got.lines == [b"PRIVMSG #a :\xff\xfe"]  # the core answers FAIL INVALID_UTF8


def test_an_overlong_message_is_one_too_long_line_like_tcp():
    server, client = opened()
    long = "PRIVMSG #a :" + "x" * MAX_LINE
    got = server.receive(client.send(TextMessage(long)) + client.send(TextMessage("PING ok")))
    assert got.lines == [TOO_LONG, b"PING ok"]  # 417, and the connection goes on
    assert got.end is None


def test_a_message_past_the_message_limit_closes_with_1009():
    server, client = opened()
    got = server.receive(client.send(TextMessage("x" * (WS_MESSAGE_MAX + 1))))
    assert got.end == "WebSocket: message too big"
    [close] = messages(client, server.close_frame())
    assert close == CloseConnection(1009, f"message over {WS_MESSAGE_MAX} bytes")


def test_invalid_utf8_in_a_text_message_closes_with_1007():
    server, client = opened()
    got = server.receive(masked_frame(0x1, b"PRIVMSG #a :\xc3\x28 binary garbage"))
    assert got.end == "WebSocket: invalid UTF-8 in a text message"
    [close] = messages(client, server.close_frame())
    assert close.code == 1007
    assert server.frame(b"ERROR :late\r\n") == b""  # nothing follows the close frame


@pytest.mark.parametrize(
    "frame",
    [
        masked_frame(0x1, b"PING x", mask=False),  # a client must mask
        masked_frame(0x3, b"x"),  # a reserved opcode
        masked_frame(0x0, b"x"),  # a continuation of nothing
        masked_frame(0x9, b"x" * 126),  # a control frame over 125 bytes
        masked_frame(0x9, b"x", fin=False),  # a fragmented control frame
        masked_frame(0x8, b"\x03\xe7"),  # close code 999
        bytes([0x81 | 0x40, 0x80 | 1]) + b"\0\0\0\0x",  # RSV1 without an extension
    ],
)
def test_broken_frames_close_with_1002(frame):
    server, client = opened()
    got = server.receive(frame)
    assert got.end == "WebSocket: protocol error" and not got.lines
    [close] = messages(client, server.close_frame())
    assert close.code == 1002 and close.reason


def test_an_empty_close_frame_is_answered_with_an_empty_one():
    server, client = opened()
    got = server.receive(masked_frame(0x8, b""))
    assert got.end == "Remote host closed the connection"
    assert messages(client, got.out) == [CloseConnection(1005, "")]  # 1005: "no code given"


_frames = st.builds(
    masked_frame,
    st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB]),
    st.binary(max_size=200) | st.text(max_size=100).map(str.encode),
    st.booleans(),
    st.booleans(),
)


@settings(max_examples=150, deadline=None)
@given(chunks=st.lists(_frames | st.binary(max_size=40), max_size=8), cut=st.integers(1, 50))
def test_no_input_after_the_handshake_raises_or_yields_a_raw_line_break(chunks, cut):
    """Whatever bytes follow the handshake, in whatever pieces: receive() returns (lines
    without LF, an end), it never raises; and once it ends, nothing more is framed."""
    server, client = opened()
    data = b"".join(chunks)
    for i in range(0, len(data), cut):
        got = server.receive(data[i : i + cut])
        assert all(line is TOO_LONG or b"\n" not in line for line in got.lines)
        if got.end is not None:
            server.close_frame()
            assert server.frame(b"PING x\r\n") == b""
            break


@settings(max_examples=150, deadline=None)
@given(st.binary(max_size=300) | st.sampled_from([UPGRADE]).map(lambda u: u + b"Host: x\r\n"))
def test_no_upgrade_request_raises(data):
    server = IrcWebSocket(LineReader(MAX_LINE, keep_empty=True), ("https://ok",))
    got = server.receive(data)
    assert got.out == b"" or got.out.startswith(b"HTTP/1.1 ")


def test_ping_is_answered_once_per_read():
    server, client = opened()
    got = server.receive(b"".join(client.send(Ping(f"p{i}".encode())) for i in range(50)))
    assert messages(client, got.out) == [Pong(b"p49")]


def test_the_clients_close_frame_is_answered_and_ends_the_connection():
    server, client = opened()
    data = client.send(TextMessage("QUIT :leaving")) + client.send(CloseConnection(1001, "bye"))
    got = server.receive(data)
    assert got.lines == [b"QUIT :leaving"]  # what came before the close frame counts
    assert got.end == "Remote host closed the connection"
    assert messages(client, got.out) == [CloseConnection(1001, "bye")]
    assert server.frame(b"ERROR :x\r\n") == b"" and server.close_frame() == b""


def test_output_is_one_message_per_line_without_crlf():
    server, client = opened()
    events = messages(client, server.frame(b":a PRIVMSG #r :one\r\n:b PRIVMSG #r :two\r\n"))
    assert [e.data for e in events] == [":a PRIVMSG #r :one", ":b PRIVMSG #r :two"]


def test_text_output_is_always_valid_utf8():
    server, client = opened((TEXT,))
    [event] = messages(client, server.frame(b":a PRIVMSG #r :caf\xe9\r\n"))
    assert event.data == ":a PRIVMSG #r :caf\ufffd"
    server, client = opened((BINARY,))
    [event] = messages(client, server.frame(b":a PRIVMSG #r :caf\xe9\r\n"))
    assert event.data == b":a PRIVMSG #r :caf\xe9"  # binary.ircv3.net carries any bytes


def test_close_frame_codes():
    server, client = opened()
    assert messages(client, server.close_frame()) == [CloseConnection(1000, "")]
    server, client = opened()
    assert messages(client, server.close_frame(going_away=True)) == [CloseConnection(1001, "")]
    pending = IrcWebSocket(LineReader(MAX_LINE), ("*",))
    assert pending.close_frame() == b"" and pending.frame(b"PING x\r\n") == b""


def test_http_error_is_a_complete_response():
    client = WSConnection(ConnectionType.CLIENT)
    client.send(Request(host="x", target="/"))
    client.receive_data(http_error(503, "Server is full"))
    reject, body, end = list(client.events())
    assert isinstance(reject, RejectConnection) and reject.status_code == 503
    assert body == RejectData(b"chatd: Server is full\n", body_finished=False)
    assert end.body_finished


# -- real sockets -----------------------------------------------------------------------------------


@pytest.fixture
def ws_server(server_factory):
    return server_factory(flood_limit=False, websocket_port=0, websocket_origins=["*"])


@pytest.mark.parametrize("subprotocols", [(TEXT,), (BINARY,), ()])
def test_chat_between_a_websocket_client_and_a_tcp_client(ws_server, subprotocols):
    web = WsClient(ws_server.websocket_port, subprotocols=subprotocols, origin="http://page")
    web.register("web")
    tcp = ws_server.client("tcp")
    web.join("#room")
    tcp.join("#room")
    web.expect(r"^:tcp!\S+ JOIN #room")
    tcp.send("PRIVMSG #room :hello from TCP, café")
    web.expect("PRIVMSG #room :hello from TCP, café$")
    web.send("PRIVMSG #room :hello from the web, ünïcode")
    tcp.expect("PRIVMSG #room :hello from the web, ünïcode$")
    kind = "binary" if subprotocols[:1] == (BINARY,) else "text"
    assert set(web.kinds) == {kind}
    assert len(web.kinds) == len(web.lines)  # one message per line, none with CR or LF


def test_websocket_over_tls(server_factory, certificate, caplog):
    caplog.set_level(logging.INFO, logger="chatd")
    srv = server_factory(
        flood_limit=False,
        tls_cert=certificate[0],
        tls_key=certificate[1],
        websocket_tls_port=0,
        websocket_origins=["*"],
    )
    assert srv.websocket_tls_port is not None and srv.websocket_port is None
    context = ssl.create_default_context(cafile=certificate[0])
    web = WsClient(srv.websocket_tls_port, tls=context)
    web.register("secureweb")
    assert any(r.getMessage() == "connect 127.0.0.1 (TLS) (1 connections)" for r in caplog.records)
    tcp = srv.client("plain")
    web.join("#s")
    tcp.join("#s")
    tcp.send("PRIVMSG #s :over wss")
    web.expect("PRIVMSG #s :over wss$")
    assert web.sock.version() in ("TLSv1.2", "TLSv1.3")


def test_the_core_limits_apply_unchanged(server_factory):
    """Lines from a WebSocket pass the same Core: the unregistered-line limit, 417, UTF-8."""
    srv = server_factory(flood_limit=False, websocket_port=0, unregistered_max_lines=5)
    web = WsClient(srv.websocket_port, subprotocols=(BINARY,))
    web.send("PRIVMSG #a :" + "x" * 5000)
    web.expect_numeric("417")
    web.send(b"PRIVMSG #a :\xff")
    web.expect("FAIL PRIVMSG INVALID_UTF8")
    web.send("", "", "", "", "")
    web.expect("^ERROR :Closing Link: 127.0.0.1 \\(Too many lines before registration\\)")
    assert web.wait_close_frame() == 1000


def test_flood_control_applies_to_websocket_lines(server_factory):
    srv = server_factory(websocket_port=0, flood_burst=5, flood_rate=1.0, flood_max_queue=10)
    web = WsClient(srv.websocket_port)
    web.register("flooder")
    web.send(*[f"PING n{i}" for i in range(30)])
    web.expect(r"^ERROR :Closing Link: 127.0.0.1 \(Excess Flood\)$")
    assert web.wait_close_frame() == 1000
    assert not any("n29" in l for l in web.lines)  # the held-back lines were never answered


def test_keepalive_is_irc_ping_over_websocket(server_factory):
    srv = server_factory(websocket_port=0, ping_interval=0.2, ping_timeout=0.3)
    web = WsClient(srv.websocket_port)
    web.register("idle")
    web.expect("^PING :?chatd.local$", timeout=3)  # the IRC keepalive, in a message
    web.send("PONG :chatd.local")
    web.expect("^PING :?chatd.local$", timeout=3)
    web.expect(r"^ERROR :Closing Link: \S+ \(Ping timeout: \d+ seconds\)", timeout=3)
    assert web.wait_close_frame() == 1000


def test_client_close_frame_is_answered_and_peers_see_quit(ws_server):
    web = WsClient(ws_server.websocket_port)
    web.register("leaver")
    tcp = ws_server.client("stayer")
    web.join("#c")
    tcp.join("#c")
    web.expect("JOIN #c")
    web.send_close(1001, "page closed")
    assert web.wait_close_frame() == 1001  # echoed
    web.wait_closed()
    tcp.expect(r"^:leaver!\S+ QUIT :Remote host closed the connection$")
    wait_for(lambda: ws_server.state.connections == 1, what="the WebSocket user gone")


def test_quit_gets_the_error_line_then_a_normal_close(ws_server):
    web = WsClient(ws_server.websocket_port)
    web.register("quitter")
    web.send("QUIT :done")
    web.expect(r"^ERROR :Closing Link: 127.0.0.1 \(Quit: done\)$")
    assert web.wait_close_frame() == 1000
    web.wait_closed()


def test_a_protocol_error_costs_that_connection_only(ws_server, caplog):
    caplog.set_level(logging.INFO, logger="chatd")
    web = WsClient(ws_server.websocket_port)
    web.register("broken")
    tcp = ws_server.client("witness")
    web.join("#p")
    tcp.join("#p")
    web.expect("JOIN #p")
    web.send_raw(masked_frame(0x1, b"PRIVMSG #p :\xff\xfe binary garbage"))
    web.expect(r"^ERROR :Closing Link: 127.0.0.1 \(WebSocket: invalid UTF-8 in a text message\)")
    assert web.wait_close_frame() == 1007
    tcp.expect(r"^:broken!\S+ QUIT :WebSocket: invalid UTF-8 in a text message$")
    tcp.sync()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


def test_an_oversized_message_closes_with_1009(ws_server):
    web = WsClient(ws_server.websocket_port)
    web.register("big")
    web.send_raw(masked_frame(0x1, b"x" * (WS_MESSAGE_MAX + 10)))
    web.expect(r"^ERROR :Closing Link: 127.0.0.1 \(WebSocket: message too big\)")
    assert web.wait_close_frame() == 1009


def raw_response(port: int, data: bytes = b"") -> bytes:
    """Everything the server sends on a fresh socket after `data`, until it closes."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    if data:
        sock.sendall(data)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    sock.close()
    return b"".join(chunks)


def test_refusals_over_sockets(server_factory):
    srv = server_factory(
        flood_limit=False, websocket_port=0, websocket_origins=["https://chat.example.org"]
    )
    port = srv.websocket_port
    ok = WsClient(port, origin="https://chat.example.org")
    ok.register("allowed")
    assert WsClient(port, origin="https://evil.example").wait_response()[0] == 403
    assert WsClient(port, subprotocols=("mqtt",)).wait_response()[0] == 400
    answer = raw_response(port, b"NICK lost\r\nUSER u 0 * :an IRC client on the wrong port\r\n")
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert answer.endswith(b"IRC clients connect to the IRC port\n")
    answer = raw_response(port, b"GET /chat HTTP/1.1\r\nHost: localhost\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 426 Upgrade Required\r\n")
    assert b"\r\nUpgrade: websocket\r\n" in answer
    ok.sync()  # the server goes on
    wait_for(lambda: srv.state.connections == 1, what="refused sockets gone")


def test_a_silent_or_slow_handshake_gets_408(server_factory):
    srv = server_factory(websocket_port=0, websocket_handshake_timeout=0.2)
    silent = WsClient(srv.websocket_port, handshake=False)
    slow = WsClient(srv.websocket_port, handshake=False)
    slow.send_raw(b"GET / HTTP/1.1\r\nHost: localhost\r\n")  # and never the rest
    for c in (silent, slow):
        status, body = c.wait_response(timeout=3)
        assert status == 408 and "took too long" in body
    wait_for(lambda: not srv.reactor.connections, what="the sockets freed")


def test_admission_refusal_is_an_http_503(server_factory):
    srv = server_factory(websocket_port=0, max_per_ip=1)
    first = WsClient(srv.websocket_port)
    first.register("first")
    raw = raw_response(srv.websocket_port).decode()
    assert raw.startswith("HTTP/1.1 503 Service Unavailable\r\n"), raw
    assert raw.endswith("\r\n\r\nchatd: Too many connections from your address\n")


def test_a_websocket_client_that_never_reads_is_dropped_at_its_sendq(server_factory):
    srv = server_factory(flood_limit=False, websocket_port=0, sendq=64 * 1024)
    sleeper = WsClient(srv.websocket_port, rcvbuf=4096)
    sleeper.register("sleeper")
    sleeper.join("#busy")
    talker = srv.client("talker")
    talker.join("#busy")
    burst = b"".join(f"PRIVMSG #busy :{i} {'y' * 400}\r\n".encode() for i in range(50))
    end = time.monotonic() + 15
    # past the kernel's buffers (the server's send buffer autotunes up to 4 MiB) and the sendq
    while not any("QUIT :SendQ exceeded" in l for l in talker.lines):
        assert time.monotonic() < end, "the sleeper was never dropped"
        talker.send_raw(burst)
        talker._read(0.001)
    talker.expect(r"^:sleeper!\S+ QUIT :SendQ exceeded$")
    talker.sync()
    wait_for(lambda: srv.state.connections == 1, what="the sleeper dropped")


def test_shutdown_closes_websockets_with_going_away(server_factory):
    srv = server_factory(websocket_port=0)
    web = WsClient(srv.websocket_port)
    web.register("bye")
    pending = WsClient(srv.websocket_port, handshake=False)  # never sends its request
    pending.send_raw(b"GET / HTTP/1.1\r\n")
    wait_for(lambda: len(srv.reactor.connections) == 2, what="both sockets accepted")
    started = time.monotonic()
    srv.stop()
    assert time.monotonic() - started < 1.5  # the pending handshake did not hold it LINGER
    pending.wait_closed()
    web.expect(r"^ERROR :Closing Link: 127.0.0.1 \(Server shutting down\)$")
    assert web.wait_close_frame() == 1001


def test_hostile_input_after_the_handshake_never_crashes_the_server(ws_server, caplog):
    """Broken frames and random bytes on several connections at once: each gets its close code
    (or, cut short, the EOF ends it), no ERROR is logged, an honest client is served throughout,
    and every socket and admission slot is given back."""
    caplog.set_level(logging.INFO, logger="chatd")
    rng = random.Random(12)
    honest = ws_server.client("honest")
    cases = [
        (masked_frame(0x1, b"NICK a", fin=False) + masked_frame(0x2, b"x"), 1002),  # mixed
        (masked_frame(0x8, b"\x03"), 1002),  # a close frame of one byte
        (masked_frame(0x8, b"\x03\xe8\xff"), 1007),  # a close reason that is not UTF-8
        (masked_frame(0x1, bytes(rng.randrange(128, 256) for _ in range(300))), 1007),
        (bytes([0x81, 0xFF]) + b"\x80" + b"\0" * 7, 1002),  # a 64-bit length, top bit set
        (masked_frame(0x1, b"PING x")[:5], None),  # a frame cut short, then EOF
        (bytes(rng.randrange(256) for _ in range(64)), None),  # noise, then EOF
    ]
    clients = []
    for data, _ in cases:
        c = WsClient(ws_server.websocket_port)
        c.send_raw(data)
        clients.append(c)
    for c, (_, code) in zip(clients, cases, strict=True):
        if code is None:
            c.sock.shutdown(socket.SHUT_WR)
        else:
            assert c.wait_close_frame() == code
        c.wait_closed()
    honest.sync()
    wait_for(lambda: len(ws_server.reactor.connections) == 1, what="every hostile socket gone")
    assert ws_server.state.connections == 1
    wait_for(lambda: ws_server.core.admission._open == {"127.0.0.1": 1}, what="slots given back")
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


# -- configuration and the command line ------------------------------------------------------------


def test_command_line_options_make_the_websocket_settings():
    from chatd.cli import config_from, net_settings, parser

    args = ["--websocket-port", "8097", "--websocket-origin", "https://a.example"]
    args += ["--websocket-origin", "http://localhost:*"]
    config = config_from(parser().parse_args(args))
    assert config.websocket_port == 8097 and config.websocket_tls_port is None
    assert net_settings(config).websocket_origins == ("https://a.example", "http://localhost:*")
    assert config_from(parser().parse_args([])).websocket_port is None  # off by default


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--websocket-tls-port", "8443"], "chatd: websocket-tls-port needs tls-cert and tls-key"),
        (["--websocket-port", "70000"], "chatd: websocket-port 70000 is out of range 0-65535"),
        (
            ["--websocket-port", "0", "--websocket-origin", "https://chat.example.org/"],
            "chatd: websocket-origins: 'https://chat.example.org/' is not an origin",
        ),
    ],
)
def test_bad_websocket_settings_are_one_line_and_exit_2(args, message, capsys):
    from chatd.cli import main

    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1


def test_the_chatd_process_opens_the_websocket_port_and_reloads_origins(tmp_path):
    """chatd as a process: the port in the start-up line, the warning about an empty origin
    list, and a SIGHUP that changes the origins for the next connections."""
    import signal

    from procs import Proc, _read_log

    conf = tmp_path / "chatd.toml"
    conf.write_text("websocket-port = 0\n")
    proc = Proc("--config", str(conf), "--db", ":memory:")
    try:
        port = int(re.search(r"WebSocket port (\d+)", proc.log[-1]).group(1))
        assert WsClient(port, origin="https://b.example").wait_response()[0] == 403
        # (read after a later line: _read_log sees the start-up batch once more output follows)
        wait_for(lambda: "refused: 403" in "".join(_read_log(proc)), what="the refusal")
        assert "WARNING websocket-origins is empty" in "".join(proc.log)
        WsClient(port).register("noorigin")  # not a browser page: let in
        conf.write_text('websocket-port = 0\nwebsocket-origins = ["https://b.example"]\n')
        proc.p.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload: websocket_origins" in "".join(_read_log(proc)))
        WsClient(port, origin="https://b.example").register("allowed")
    finally:
        assert proc.stop() == 0


def test_a_websocket_client_on_one_cluster_node_chats_with_tcp_on_another(redis_server, tmp_path):
    """The WebSocket connection feeds the same Core interface: on a cluster node its lines go
    through the network's log like any other client's (chatd --cluster, as processes)."""
    from cluster_harness import TEST_CLOAK_KEY
    from procs import Proc

    redis_server.flush()
    conf = tmp_path / "node.toml"
    conf.write_text(f'cloak-key = "{TEST_CLOAK_KEY}"\n')
    common = ("--cluster", redis_server.url, "--config", str(conf), "--no-flood-limit")
    web_node = Proc(*common, "--node-name", "a", "--websocket-port", "0")
    tcp_node = Proc(*common, "--node-name", "b")
    try:
        port = int(re.search(r"WebSocket port (\d+)", web_node.log[-1]).group(1))
        web = WsClient(port, subprotocols=(BINARY, TEXT))
        web.register("webnode")
        tcp = Client(tcp_node.port)
        tcp.register("tcpnode")
        web.join("#net")
        tcp.join("#net")
        web.expect(r"^:tcpnode!\S+ JOIN #net$")
        web.send("PRIVMSG #net :from a browser on node a")
        tcp.expect(r"^:webnode!\S+ PRIVMSG #net :from a browser on node a$")
        tcp.send("PRIVMSG #net :from TCP on node b")
        web.expect(r"^:tcpnode!\S+ PRIVMSG #net :from TCP on node b$")
        web.send_close()
        tcp.expect(r"^:webnode!\S+ QUIT :Remote host closed the connection$")
        assert set(web.kinds) == {"binary"}
    finally:
        assert web_node.stop() == 0 and tcp_node.stop() == 0

"""The server commands over real sockets: a reactor on loopback in a thread, raw line clients.

Every wait is on a condition with a deadline (Client.expect, sync, wait_for)."""

from __future__ import annotations

import re

from ircclient import HOST, Client, wait_for

from chatd.proto.message import parse
from chatd.server.passwords import hash_password

ISUPPORT_NAMES = (
    "CASEMAPPING",
    "CHANTYPES",
    "PREFIX",
    "CHANMODES",
    "NICKLEN",
    "CHANNELLEN",
    "TOPICLEN",
    "KICKLEN",
    "AWAYLEN",
    "NETWORK",
    "TARGMAX",
    "UTF8ONLY",
)


def chat_room(server, *nicks: str, channel: str = "#lobby") -> list[Client]:
    clients = [server.client(n) for n in nicks]
    for c in clients:
        c.join(channel)
    for c in clients:
        c.sync()  # every JOIN announced so far has arrived
        c.seen = len(c.lines)
    return clients


def test_cap_negotiation_and_welcome_burst(server_factory, tmp_path):
    motd = tmp_path / "motd"
    motd.write_text("line one\nline two\n", encoding="utf-8")
    server = server_factory(flood_limit=False, motd=str(motd), network="Loopnet")
    c = Client(server.port)
    c.send("CAP LS 302", "NICK alice", "USER al 0 * :Alice")
    ls = c.expect(r" CAP \* LS ")
    assert "message-tags" in ls.params[2].split()
    c.send("CAP REQ :server-time message-tags bogus")
    assert c.expect(r" CAP ").params[1] == "NAK"
    c.send("CAP REQ :server-time message-tags", "CAP LIST")
    assert c.expect(r" CAP ").params[1:] == ["ACK", "server-time message-tags"]
    assert set(c.expect(r" CAP ").params[2].split()) == {
        "server-time",
        "message-tags",
        "cap-notify",
    }
    c.sync()
    assert not any(re.search(r" 001 ", line) for line in c.lines)  # held until CAP END
    c.send("CAP END")
    assert c.expect_numeric("001").params[0] == "alice"
    for numeric in ("002", "003", "004"):
        c.expect_numeric(numeric)
    tokens = {}
    for line in c.collect(r" 005 ", until=r" 251 "):
        for token in line.params[1:-1]:
            name, _, value = token.partition("=")
            tokens[name] = value
    assert all(name in tokens for name in ISUPPORT_NAMES), tokens
    assert tokens["NETWORK"] == "Loopnet" and tokens["CASEMAPPING"] == "rfc1459"
    for numeric in ("252", "253", "254", "255", "265", "266", "375"):
        c.expect_numeric(numeric)
    motd_lines = c.collect(r" 372 ", until=r" 376 ")
    assert [m.params[1] for m in motd_lines] == ["- line one", "- line two"]


def test_registration_without_cap_and_pipelined_in_pieces(server):
    c = Client(server.port)
    c.send_raw(b"NICK bo")
    c.send_raw(b"b\r\nUSER b 0 * :B")  # a line split across two packets
    c.send_raw(b"ob\r\n")
    assert c.expect_numeric("001").params[1].endswith(f"bob!~b@{HOST}")
    c.expect_numeric("422")  # no MOTD configured


def test_wrong_password_gets_464_error_and_closed(server_factory):
    server = server_factory(flood_limit=False, password="letmein")
    c = Client(server.port)
    c.send("PASS nope", "NICK alice", "USER a 0 * :A")
    c.expect_numeric("464")
    error = c.expect(r"^ERROR ")
    assert "Bad password" in error.params[0]
    c.wait_closed()
    ok = Client(server.port)
    ok.send("PASS letmein", "NICK alice", "USER a 0 * :A")
    ok.expect_numeric("001")


def test_three_clients_chat_in_a_room(server):
    alice, bob, carol = chat_room(server, "alice", "bob", "carol")
    alice.send("PRIVMSG #lobby :hi all")
    for c in (bob, carol):
        m = c.expect(r" PRIVMSG #lobby ")
        assert (m.source, m.params) == (f"alice!~u@{HOST}", ["#lobby", "hi all"])
    bob.send("PRIVMSG #lobby :hi alice")
    carol.send("PRIVMSG #lobby :hello")
    got = [alice.expect(r" PRIVMSG #lobby ") for _ in range(2)]
    assert sorted((m.nick, m.params[1]) for m in got) == [("bob", "hi alice"), ("carol", "hello")]
    alice.sync()
    assert not any(
        line.startswith(":alice!") and " PRIVMSG " in line for line in alice.lines
    )  # no echo of her own message without echo-message
    carol.send("PART #lobby :bye now")
    for c in (alice, bob):
        assert c.expect(r" PART ").params == ["#lobby", "bye now"]
    alice.send("NAMES #lobby")
    assert sorted(alice.expect_numeric("353").params[3].split()) == ["@alice", "bob"]


def test_private_message_and_away_reply(server):
    alice, bob = server.client("alice"), server.client("bob")
    bob.send("AWAY :lunch")
    bob.expect_numeric("306")
    alice.send("PRIVMSG bob :ping?")
    assert alice.expect_numeric("301").params[1:] == ["bob", "lunch"]
    m = bob.expect(r" PRIVMSG ")
    assert m.params == ["bob", "ping?"] and m.nick == "alice"


def test_nick_change_seen_once_by_each_peer(server):
    alice, bob, carol = chat_room(server, "alice", "bob", "carol")
    for c in (alice, bob):
        c.join("#second")
    bob.sync()
    bob.seen = len(bob.lines)
    alice.send("NICK alicia")
    assert alice.expect(r" NICK ").params == ["alicia"]
    for c in (bob, carol):
        c.expect(r"^:alice!\S+ NICK :?alicia$")
        assert not any(" NICK " in line for line in c.lines_since_sync())


def test_tags_server_time_and_echo_over_sockets(server):
    tagged = Client(server.port)
    tagged.send(
        "CAP REQ :server-time message-tags echo-message", "NICK tagged", "USER t 0 * :T", "CAP END"
    )
    tagged.expect_numeric("422")
    plain = server.client("plain")
    for c in (tagged, plain):
        c.join("#t")
    plain.sync()
    plain.seen = len(plain.lines)
    plain.send("@+example/x=1 PRIVMSG #t :from plain")
    m = tagged.expect(r"PRIVMSG #t :?from plain")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", m.tags["time"])
    assert m.tags["+example/x"] == "1" and m.tags["msgid"]
    tagged.send("PRIVMSG #t :from tagged")
    echoed = tagged.expect(r"PRIVMSG #t :?from tagged")
    assert echoed.nick == "tagged" and "msgid" in echoed.tags
    raw = plain.expect(r"PRIVMSG #t :?from tagged")
    assert raw.tags == {} and not plain.lines[plain.seen - 1].startswith("@")


def test_kill_and_quit_reach_peers(server_factory):
    server = server_factory(flood_limit=False, opers={"boss": hash_password("pw")})
    alice, bob, carol = chat_room(server, "alice", "bob", "carol")
    alice.send("OPER boss pw")
    alice.expect_numeric("381")
    alice.send("KILL bob :flooding")
    assert bob.expect(r" KILL ").params == ["bob", "flooding"]
    assert "Killed (alice (flooding))" in bob.expect(r"^ERROR ").params[0]
    bob.wait_closed()
    for c in (alice, carol):
        quit_ = c.expect(r" QUIT ")
        assert (quit_.nick, quit_.params) == ("bob", ["Killed (alice (flooding))"])
    carol.send("QUIT :time for bed")
    assert carol.expect(r"^ERROR ").params[0].startswith("Closing Link")
    carol.wait_closed()
    quit_ = alice.expect(r" QUIT ")
    assert (quit_.nick, quit_.params) == ("carol", ["Quit: time for bed"])
    wait_for(lambda: len(server.state.users) == 1, what="users removed")


def test_ping_pong_and_queries_over_sockets(server):
    alice, _bob = chat_room(server, "alice", "bob")
    alice.send("PING :are you there")
    assert alice.expect(r" PONG ").params == ["chatd.local", "are you there"]
    alice.send("WHO #lobby %tnuhfr,42")
    rows = alice.collect(r" 354 ", until=r" 315 ")
    assert sorted(tuple(m.params[1:]) for m in rows) == [
        ("42", "~u", HOST, "alice", "H@", "Real Name"),
        ("42", "~u", HOST, "bob", "H", "Real Name"),
    ]
    alice.send("ISON bob nobody", "USERHOST bob", "TIME", "VERSION", "LUSERS", "MOTD")
    assert alice.expect_numeric("303").params[1] == "bob"
    assert alice.expect_numeric("302").params[1] == f"bob=+~u@{HOST}"
    alice.expect_numeric("391")
    alice.expect_numeric("351")
    assert alice.expect_numeric("251").params[1].startswith("There are 2 users")
    alice.expect_numeric("422")


def test_mode_ban_and_kick_over_sockets(server):
    alice, bob = chat_room(server, "alice", "bob")
    eve = server.client("[eve]")
    alice.send("MODE #lobby +b {EVE}*!*@*")
    bob.expect(r" MODE #lobby \+b ")
    eve.send("JOIN #lobby")
    assert eve.expect_numeric("474").params[1] == "#lobby"
    alice.send("KICK #lobby bob :out")
    assert bob.expect(r" KICK ").params == ["#lobby", "bob", "out"]
    bob.send("PRIVMSG #lobby :let me in")
    bob.expect_numeric("404")


def test_one_bad_line_does_not_kill_the_server(server):
    # `NICK :a b` used to raise ProtocolError in the reactor thread and stop the server.
    bystander = server.client("bystander")
    bad = server.client("bad")
    bad.send("NICK :a b", "MODE #x +b", "WHO :a b")
    assert bad.expect_numeric("432").params[1] == "a_b"
    bad.expect_numeric("315")
    bad.sync()
    bystander.sync()
    assert server.thread.is_alive()


def test_bursts_from_two_senders_arrive_complete_and_in_order(server):
    alice, bob, carol = chat_room(server, "alice", "bob", "carol")
    alice.send(*[f"PRIVMSG #lobby :a{i}" for i in range(200)])
    bob.send(*[f"PRIVMSG #lobby :b{i}" for i in range(200)])
    got = carol.collect(r" PRIVMSG #lobby ", until=r"PRIVMSG #lobby :?(a199|b199)$")
    carol.expect(r"PRIVMSG #lobby :?(a199|b199)$")  # and the other sender's last line
    carol.sync()
    texts = [m.params[1] for m in (parse(line) for line in carol.lines) if m.command == "PRIVMSG"]
    assert [t for t in texts if t[0] == "a"] == [f"a{i}" for i in range(200)]
    assert [t for t in texts if t[0] == "b"] == [f"b{i}" for i in range(200)]
    assert len(got) >= 199

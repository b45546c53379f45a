"""chatd against a third-party client library: the `irc` package from PyPI (jaraco/irc).

Its Reactor is driven with process_once(timeout) inside deadline loops; no fixed sleeps."""

from __future__ import annotations

import time

import pytest
from ircclient import HOST

irc_client = pytest.importorskip("irc.client")

DEADLINE = 5.0


class Recorder:
    """Collects the events the irc library dispatches, by type."""

    def __init__(self, reactor) -> None:
        self.events: list = []
        reactor.add_global_handler("all_events", self.on_event, -10)

    def on_event(self, connection, event) -> None:
        self.events.append(event)

    def of(self, kind: str) -> list:
        return [e for e in self.events if e.type == kind]


def pump_until(reactor, predicate, what: str, timeout: float = DEADLINE):
    end = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"irc library never saw {what}")
        reactor.process_once(0.02)


@pytest.fixture
def library_client(server):
    reactor = irc_client.Reactor()
    recorder = Recorder(reactor)
    conn = reactor.server().connect(
        "127.0.0.1", server.port, "libby", username="lib", ircname="Library Client"
    )
    yield reactor, conn, recorder
    if conn.is_connected():
        conn.disconnect("done")


def test_library_registers_and_parses_isupport(library_client):
    reactor, conn, rec = library_client
    pump_until(reactor, lambda: rec.of("endofmotd") or rec.of("nomotd"), "end of MOTD")
    welcome = rec.of("welcome")[0]
    assert welcome.target == "libby"
    assert f"libby!~lib@{HOST}" in welcome.arguments[0]
    features = conn.features
    assert features.casemapping == "rfc1459"
    assert list(features.chantypes) == ["#"]
    assert dict(features.prefix) == {"@": "o", "+": "v"}
    assert features.nicklen == 30
    assert features.chanmodes == ["beI", "k", "l", "CMPRimnst"]
    assert conn.get_nickname() == "libby"


def test_library_joins_and_receives_messages(server, library_client):
    reactor, conn, rec = library_client
    pump_until(reactor, lambda: rec.of("endofmotd") or rec.of("nomotd"), "registration")
    conn.join("#lobby")
    pump_until(reactor, lambda: rec.of("endofnames"), "end of NAMES")
    names = rec.of("namreply")[0]
    assert names.arguments[1] == "#lobby" and names.arguments[2].split() == ["@libby"]

    raw = server.client("rawbob")
    raw.join("#lobby")
    joined = pump_until(
        reactor, lambda: [e for e in rec.of("join") if e.source.nick == "rawbob"], "rawbob's JOIN"
    )
    assert joined[0].target == "#lobby"

    raw.send("PRIVMSG #lobby :hello from a raw socket")
    msg = pump_until(reactor, lambda: rec.of("pubmsg"), "the channel PRIVMSG")[0]
    assert msg.source == f"rawbob!~u@{HOST}"
    assert msg.target == "#lobby"
    assert msg.arguments == ["hello from a raw socket"]

    raw.send("PRIVMSG libby :just for you")
    private = pump_until(reactor, lambda: rec.of("privmsg"), "the private PRIVMSG")[0]
    assert private.source.nick == "rawbob" and private.arguments == ["just for you"]

    conn.privmsg("#lobby", "hi rawbob")
    reply = raw.expect(r" PRIVMSG #lobby ")
    assert reply.source == f"libby!~lib@{HOST}" and reply.params[1] == "hi rawbob"

    conn.topic("#lobby", "set by the library")
    topic = pump_until(reactor, lambda: rec.of("topic"), "the TOPIC")[0]
    assert topic.arguments == ["set by the library"]
    assert raw.expect(r" TOPIC ").params == ["#lobby", "set by the library"]

    raw.send("PART #lobby :brb")
    part = pump_until(reactor, lambda: rec.of("part"), "the PART")[0]
    assert part.source.nick == "rawbob" and part.target == "#lobby"
    assert part.arguments == ["brb"]
    raw.join("#lobby")
    conn.kick("#lobby", "rawbob", "testing kicks")
    kick = pump_until(reactor, lambda: rec.of("kick"), "the KICK")[0]
    assert kick.target == "#lobby" and kick.arguments == ["rawbob", "testing kicks"]
    assert raw.expect(r" KICK ").params == ["#lobby", "rawbob", "testing kicks"]
    raw.join("#lobby")

    raw.send("NICK robert")
    nick = pump_until(reactor, lambda: rec.of("nick"), "the NICK change")[0]
    assert nick.source.nick == "rawbob" and nick.target == "robert"

    raw.send("QUIT :leaving now")
    quit_ = pump_until(reactor, lambda: rec.of("quit"), "the QUIT")[0]
    assert quit_.source.nick == "robert" and quit_.arguments == ["Quit: leaving now"]


def test_library_sees_error_numerics_and_modes(server, library_client):
    reactor, conn, rec = library_client
    pump_until(reactor, lambda: rec.of("endofmotd") or rec.of("nomotd"), "registration")
    conn.join("#lobby")
    pump_until(reactor, lambda: rec.of("endofnames"), "end of NAMES")
    conn.mode("#lobby", "+mk key")
    mode = pump_until(reactor, lambda: rec.of("mode"), "the MODE")[0]
    assert mode.target == "#lobby" and mode.arguments == ["+mk", "key"]
    conn.privmsg("nobody", "hello?")
    err = pump_until(reactor, lambda: rec.of("nosuchnick"), "401")[0]
    assert err.arguments[0] == "nobody"
    conn.send_raw("FROBNICATE")
    assert pump_until(reactor, lambda: rec.of("unknowncommand"), "421")


def test_library_logs_in_with_sasl_plain(server_factory):
    """The irc library's own SASL PLAIN (connect(..., sasl_login=...)) against an account
    registered with NickServ."""
    from ircclient import Client

    server = server_factory(flood_limit=False, scram_iterations=4096)
    owner = Client(server.port)
    owner.register("libby")
    owner.send("PRIVMSG NickServ :REGISTER library-password")
    owner.expect_numeric("900")
    owner.send("QUIT")
    owner.wait_closed()
    reactor = irc_client.Reactor()
    rec = Recorder(reactor)
    conn = reactor.server().connect(
        "127.0.0.1", server.port, "libby", password="library-password", sasl_login="libby"
    )
    try:
        pump_until(reactor, lambda: rec.of("saslsuccess") or rec.of("saslfail"), "SASL result")
        assert rec.of("saslsuccess") and not rec.of("saslfail")
        assert rec.of("loggedin")[0].arguments[1] == "libby"
        pump_until(reactor, lambda: rec.of("welcome"), "welcome after SASL")
        conn.whois(["libby"])
        pump_until(reactor, lambda: rec.of("whoisaccount"), "330 for itself")
        assert rec.of("whoisaccount")[0].arguments[:2] == ["libby", "libby"]
    finally:
        if conn.is_connected():
            conn.disconnect("done")

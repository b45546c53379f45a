"""Queries without sockets: WHO (plain and WHOX), WHOIS, WHOWAS, USERHOST, ISON, LUSERS,
VERSION, TIME; and the operator commands OPER and KILL."""

from __future__ import annotations

import pytest

from chatd.proto.message import parse
from chatd.server.passwords import hash_password

from .util import HOST, Scripted, make_state, msgs, numerics, one, only, registered, room


@pytest.fixture(scope="module")
def oper_hash() -> str:
    return hash_password("pw")  # scrypt: hash once for the module


# -- WHO ----------------------------------------------------------------------------------------


def test_who_channel():
    state = make_state()
    a, _b = room(state, "alice", "bob")
    lines = a.send("WHO #room")
    assert numerics(lines) == ["352", "352", "315"]
    first, second, end = msgs(lines)
    assert first.params == [
        "alice",
        "#room",
        "~u",
        HOST,
        "chatd.local",
        "alice",
        "H@",
        "0 Real Name",
    ]
    assert second.params[5:7] == ["bob", "H"]
    assert end.params == ["alice", "#room", "End of WHO list"]


def test_who_nick_mask_and_invisible():
    state = make_state()
    a = registered(state, "alice")
    registered(state, "alfred")
    b = registered(state, "bob")
    b.send("MODE bob +i")
    assert sorted(m.params[5] for m in only(a.send("WHO al*"), "352")) == ["alfred", "alice"]
    assert sorted(m.params[5] for m in only(a.send("WHO *"), "352")) == ["alfred", "alice"]
    assert [m.params[5] for m in only(a.send("WHO BOB"), "352")] == ["bob"]  # exact nick
    assert [m.params[5] for m in only(a.send("WHO b?b"), "352")] == []
    a.send("JOIN #x")
    b.send("JOIN #x")
    assert [m.params[5] for m in only(a.send("WHO b?b"), "352")] == ["bob"]  # shares a channel
    assert numerics(a.send("WHO #nope")) == ["315"]
    assert one(a.send("WHO"), "315").params[1] == "*"


def test_who_flags_with_multi_prefix_and_oper(oper_hash):
    state = make_state(opers={"boss": oper_hash})
    a, b = room(state, "alice", "bob")
    a.send_answered("MODE #room +v alice", "OPER boss pw")
    viewer = registered(state, "viewer", ["multi-prefix"])
    flags = {m.params[5]: m.params[6] for m in only(viewer.send("WHO #room"), "352")}
    assert flags == {"alice": "H*@+", "bob": "H"}
    flags = {m.params[5]: m.params[6] for m in only(b.send("WHO #room"), "352")}
    assert flags == {"alice": "H*@", "bob": "H"}


@pytest.mark.parametrize(
    "spec,expected",
    [
        ("%tnuhfr,42", ["42", "~u", HOST, "alice", "H@", "Real Name"]),
        ("%ihn", ["127.0.0.1", HOST, "alice"]),  # the user itself sees its own address
        ("%n", ["alice"]),
        ("%cn", ["#room", "alice"]),
        ("%rn", ["alice", "Real Name"]),  # fields come in the fixed WHOX order, not the request's
        ("%tn", ["0", "alice"]),  # no token given
        ("%af", ["H@", "0"]),
        ("%s", ["chatd.local"]),
    ],
)
def test_whox(spec, expected):
    state = make_state()
    (a,) = room(state, "alice")
    lines = a.send(f"WHO #room {spec}")
    assert numerics(lines) == ["354", "315"]
    assert msgs(lines)[0].params == ["alice", *expected]


# -- WHOIS, WHOWAS ------------------------------------------------------------------------------


@pytest.mark.single_process  # fixed clock and timestamps
def test_whois(oper_hash):
    state = make_state(opers={"boss": oper_hash})
    a, b = room(state, "alice", "bob")
    a.send_answered("JOIN #two", "OPER boss pw", "AWAY :away msg")
    state.set_clock(142.0, 1_700_000_042.0)
    lines = b.send("WHOIS ALICE")
    assert numerics(lines) == ["311", "319", "312", "313", "301", "317", "318"]
    m = {x.command: x for x in msgs(lines)}
    assert m["311"].params == ["bob", "alice", "~u", HOST, "*", "Real Name"]
    assert m["319"].params == ["bob", "alice", "@#room @#two"]
    assert m["312"].params[:3] == ["bob", "alice", "chatd.local"]
    assert m["317"].params[:4] == ["bob", "alice", "42", "1700000000"]
    assert m["318"].params == ["bob", "alice", "End of /WHOIS list"]
    assert numerics(b.send("WHOIS chatd.local alice"))[0] == "311"  # server-targeted form


def test_whois_unknown():
    a = registered(make_state(), "alice")
    assert msgs(a.send("WHOIS ghost")) == msgs(
        [
            ":chatd.local 401 alice ghost :No such nick/channel",
            ":chatd.local 318 alice ghost :End of /WHOIS list",
        ]
    )


def test_whowas_of_a_nick_never_used():
    a = registered(make_state(), "alice")
    assert numerics(a.send("WHOWAS ghost")) == ["406", "369"]


# -- USERHOST, ISON -----------------------------------------------------------------------------


def test_userhost(oper_hash):
    state = make_state(opers={"boss": oper_hash})
    a = registered(state, "alice")
    b = registered(state, "bob")
    b.send_answered("OPER boss pw", "AWAY :x")
    lines = a.send("USERHOST alice BOB nobody")
    # the real address for the user itself, the cloak for others
    assert msgs(lines) == msgs([f":chatd.local 302 alice :alice=+~u@127.0.0.1 bob*=-~u@{HOST}"])
    assert msgs(a.send("USERHOST nobody")) == msgs([":chatd.local 302 alice :"])
    six = " ".join(["alice"] * 6)
    assert len(one(a.send(f"USERHOST {six}"), "302").params[1].split()) == 5


@pytest.mark.single_process  # fixed clock and timestamps
def test_ison():
    state = make_state()
    a = registered(state, "alice")
    registered(state, "bob")
    Scripted_unregistered = state.connect(lambda d: None, lambda: None, "h")
    state.handle_line(Scripted_unregistered, b"NICK carol")  # holds a nick, not registered
    assert msgs(a.send("ISON bob carol BOB nobody")) == msgs([":chatd.local 303 alice :bob bob"])
    assert msgs(a.send("ISON :bob alice")) == msgs([":chatd.local 303 alice :bob alice"])
    assert one(a.send("ISON nobody"), "303").params == ["alice", ""]


# -- server information -------------------------------------------------------------------------


def test_lusers_command_tracks_changes(oper_hash, backend):
    servers = 3 if backend == "cluster" else 1  # a cluster's nodes count as its servers
    state = make_state(opers={"boss": oper_hash})
    a, b = room(state, "alice", "bob")
    by = {m.command: m for m in msgs(a.send("LUSERS"))}
    assert by["251"].params[1] == f"There are 2 users and 0 invisible on {servers} servers"
    assert by["252"].params[1] == "0" and by["254"].params[1] == "1"
    b.send_answered("OPER boss pw", "MODE bob +i")
    by = {m.command: m for m in msgs(a.send("LUSERS"))}
    assert by["251"].params[1] == f"There are 1 users and 1 invisible on {servers} servers"
    assert by["252"].params[1] == "1"
    b.send("MODE bob -o")
    assert one(a.send("LUSERS"), "252").params[1] == "0"
    b.send("QUIT")
    by = {m.command: m for m in msgs(a.send("LUSERS"))}
    assert by["251"].params[1] == f"There are 1 users and 0 invisible on {servers} servers"
    assert by["255"].params[1] == f"I have 1 clients and {servers - 1} servers"


def test_version():
    a = registered(make_state(), "alice")
    lines = a.send("VERSION")
    assert msgs(lines)[0].params[:3] == ["alice", "chatd-0.1.0", "chatd.local"]
    assert numerics(lines) == ["351", "005", "005", "005"]


@pytest.mark.single_process  # fixed clock and timestamps
def test_time():
    state = make_state()
    a = registered(state, "alice")
    state.set_clock(100.0, 1_700_000_000.0)
    assert msgs(a.send("TIME")) == msgs(
        [":chatd.local 391 alice chatd.local :Tuesday November 14 2023 -- 22:13:20 +00:00"]
    )


# -- OPER, KILL ---------------------------------------------------------------------------------


@pytest.mark.single_process  # fixed clock and timestamps
def test_oper_right_and_wrong(oper_hash):
    state = make_state(opers={"boss": oper_hash})
    a = registered(state, "alice")

    def later() -> None:  # OPER is rate-limited per connection
        state.set_clock(state.now + 5, state.wall)

    assert msgs(a.send_answered("OPER boss wrong")) == msgs(
        [":chatd.local 464 alice :Password incorrect"]
    )
    later()
    assert msgs(a.send_answered("OPER nobody pw")) == msgs(
        [":chatd.local 464 alice :Password incorrect"]
    )
    assert not a.user.oper
    later()
    assert msgs(a.send_answered("OPER boss pw")) == msgs(
        [
            ":chatd.local 381 alice :You are now an IRC operator",
            f":alice!~u@{HOST} MODE alice +o",
        ]
    )
    assert a.user.oper and state.opers == 1
    later()
    a.send_answered("OPER boss pw")
    assert state.opers == 1  # not counted twice
    assert msgs(a.send("MODE alice")) == msgs([":chatd.local 221 alice +o"])


def test_kill(oper_hash):
    state = make_state(opers={"boss": oper_hash})
    a, b, c = room(state, "alice", "bob", "carol")
    a.send_answered("OPER boss pw")
    lines = a.send("KILL bob :spamming")
    expected_quit = f":bob!~u@{HOST} QUIT :Killed (alice (spamming))"
    assert msgs(lines) == msgs([expected_quit])
    assert msgs(c.take()) == msgs([expected_quit])
    got = msgs(b.take())
    assert [m.command for m in got] == ["KILL", "ERROR"]
    assert got[0].params == ["bob", "spamming"]
    assert got[1].params[0] == "Closing Link: 127.0.0.1 (Killed (alice (spamming)))"
    assert b.sink.closed and state.find_user("bob") is None
    assert b.user not in state.find_channel("#room").members
    assert numerics(a.send("KILL bob :again")) == ["401"]


def test_kill_needs_oper():
    state = make_state()
    a, b = registered(state, "alice"), registered(state, "bob")
    assert msgs(a.send("KILL bob :x")) == msgs(
        [":chatd.local 481 alice :Permission Denied- You're not an IRC operator"]
    )
    assert not b.sink.closed


def test_oper_sets_modes_on_channels_without_being_op(oper_hash):
    state = make_state(opers={"boss": oper_hash})
    (a,) = room(state, "alice")
    boss = registered(state, "boss")
    boss.send_answered("OPER boss pw")
    boss.take()
    # not a member, so the channel broadcast misses the setter: it gets the MODE directly
    assert msgs(boss.send("MODE #room +m")) == msgs([f":boss!~u@{HOST} MODE #room +m"])
    assert state.find_channel("#room").modes == {"n", "t", "m"}
    assert numerics(a.take()) == ["MODE"]


def test_quit_reason_reaches_peers_once():
    state = make_state()
    a, b = room(state, "alice", "bob")
    a.send("JOIN #two")
    b.send("JOIN #two")
    a.take()
    lines = b.send("QUIT :see you")
    assert numerics(lines) == ["ERROR"]
    assert msgs(a.take()) == msgs([f":bob!~u@{HOST} QUIT :Quit: see you"])
    assert state.find_user("bob") is None and b.sink.closed
    registered(state, "carol").send("JOIN #two")
    assert numerics(a.take()) == ["JOIN"]


@pytest.mark.parametrize("line", ["QUIT", "QUIT :"])
def test_quit_without_reason_is_quit_colon(line):
    # Modern IRC docs: the "Quit: " prefix applies even if <reason> is empty.
    state = make_state()
    a, b = room(state, "alice", "bob")
    b.send(line)
    assert msgs(a.take()) == msgs([f":bob!~u@{HOST} QUIT :Quit: "])


@pytest.mark.single_process  # fixed clock and timestamps
def test_who_mask_matches_host_user_and_realname():
    state = make_state(cloak_hosts=False)  # the hosts are the addresses here
    a = Scripted(state, host="10.1.2.3")
    a.send("NICK alice", "USER al 0 * :Alice Liddell")
    b = Scripted(state, host="192.0.2.9")
    b.register("bob")
    for mask, found in [
        ("10.1.*", ["alice"]),
        ("*liddell", ["alice"]),
        ("~al", ["alice"]),
        ("*!*@192.0.2.*", ["bob"]),
        ("nobody*", []),
    ]:
        lines = b.send(f"WHO {mask}")
        nicks = [parse(l).params[5] for l in lines if parse(l).command == "352"]
        assert nicks == found, mask

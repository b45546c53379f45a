"""Every error numeric chatd sends, as one table of (setup, who, command, expected reply).

The world for each row: alice (operator of #room) and bob are in #room; carol is on no channel;
`new` is a connection that has not registered. `setup` lines are sent by alice first.
"""

from __future__ import annotations

import pytest

from chatd.proto.message import Message, serialise

from .util import Scripted, make_state, msgs, numerics, registered, room


def world(**settings):
    state = make_state(**settings)
    alice, bob = room(state, "alice", "bob")
    carol = registered(state, "carol")
    return state, {"alice": alice, "bob": bob, "carol": carol, "new": Scripted(state)}


# (id, setup lines by alice, who, command, numeric, params after the client's nick)
ERRORS = [
    ("401-privmsg", [], "carol", "PRIVMSG nobody :hi", "401", ["nobody", "No such nick/channel"]),
    (
        "401-channel",
        [],
        "carol",
        "PRIVMSG #nowhere :hi",
        "401",
        ["#nowhere", "No such nick/channel"],
    ),
    ("401-mode-o", [], "alice", "MODE #room +o nobody", "401", ["nobody", "No such nick/channel"]),
    ("401-invite", [], "alice", "INVITE nobody #room", "401", ["nobody", "No such nick/channel"]),
    ("403-part", [], "carol", "PART #nowhere", "403", ["#nowhere", "No such channel"]),
    ("403-join-bad-name", [], "carol", "JOIN nochan", "403", ["nochan", "No such channel"]),
    ("403-join-hash-only", [], "carol", "JOIN #", "403", ["#", "No such channel"]),
    ("403-topic", [], "carol", "TOPIC #nowhere", "403", ["#nowhere", "No such channel"]),
    (
        "404-no-external",
        [],
        "carol",
        "PRIVMSG #room :hi",
        "404",
        ["#room", "Cannot send to channel"],
    ),
    (
        "404-moderated",
        ["MODE #room +m"],
        "bob",
        "PRIVMSG #room :hi",
        "404",
        ["#room", "Cannot send to channel"],
    ),
    (
        "404-banned",
        ["MODE #room +b bob"],
        "bob",
        "PRIVMSG #room :hi",
        "404",
        ["#room", "Cannot send to channel"],
    ),
    (
        "407",
        [],
        "carol",
        "PRIVMSG a,b,c,d,e :hi",
        "407",
        ["a,b,c,d,e", "Too many targets. Maximum is 4"],
    ),
    ("411", [], "carol", "PRIVMSG", "411", ["No recipient given (PRIVMSG)"]),
    ("411-empty", [], "carol", "PRIVMSG :", "411", ["No recipient given (PRIVMSG)"]),
    ("412", [], "carol", "PRIVMSG bob", "412", ["No text to send"]),
    ("412-empty", [], "carol", "PRIVMSG bob :", "412", ["No text to send"]),
    ("421", [], "carol", "FROBNICATE x", "421", ["FROBNICATE", "Unknown command"]),
    ("431", [], "carol", "NICK", "431", ["No nickname given"]),
    ("431-empty", [], "carol", "NICK :", "431", ["No nickname given"]),
    ("432", [], "carol", "NICK 9lives", "432", ["9lives", "Erroneous nickname"]),
    ("433", [], "carol", "NICK BOB", "433", ["BOB", "Nickname is already in use"]),
    (
        "441-kick",
        [],
        "alice",
        "KICK #room carol",
        "441",
        ["carol", "#room", "They aren't on that channel"],
    ),
    (
        "441-mode",
        [],
        "alice",
        "MODE #room +v carol",
        "441",
        ["carol", "#room", "They aren't on that channel"],
    ),
    ("442-part", [], "carol", "PART #room", "442", ["#room", "You're not on that channel"]),
    ("442-topic", [], "carol", "TOPIC #room :x", "442", ["#room", "You're not on that channel"]),
    ("442-invite", [], "carol", "INVITE bob #room", "442", ["#room", "You're not on that channel"]),
    ("443", [], "alice", "INVITE bob #room", "443", ["bob", "#room", "is already on channel"]),
    ("451", [], "new", "JOIN #room", "451", ["You have not registered"]),
    ("451-unknown", [], "new", "FROBNICATE", "451", ["You have not registered"]),
    ("461-join", [], "carol", "JOIN", "461", ["JOIN", "Not enough parameters"]),
    ("461-kick", [], "alice", "KICK #room", "461", ["KICK", "Not enough parameters"]),
    ("461-user", [], "new", "USER onlyone", "461", ["USER", "Not enough parameters"]),
    ("461-oper", [], "carol", "OPER boss", "461", ["OPER", "Not enough parameters"]),
    ("461-mode", [], "carol", "MODE", "461", ["MODE", "Not enough parameters"]),
    ("462", [], "carol", "USER u 0 * :again", "462", ["You may not reregister"]),
    ("464-oper", [], "carol", "OPER boss wrong", "464", ["Password incorrect"]),
    (
        "471",
        ["MODE #room +l 2"],
        "carol",
        "JOIN #room",
        "471",
        ["#room", "Cannot join channel (+l)"],
    ),
    ("472", [], "alice", "MODE #room +Q", "472", ["Q", "is unknown mode char to me"]),
    ("473", ["MODE #room +i"], "carol", "JOIN #room", "473", ["#room", "Cannot join channel (+i)"]),
    (
        "474",
        ["MODE #room +b c*!*@*"],
        "carol",
        "JOIN #room",
        "474",
        ["#room", "Cannot join channel (+b)"],
    ),
    (
        "475",
        ["MODE #room +k key"],
        "carol",
        "JOIN #room nokey",
        "475",
        ["#room", "Cannot join channel (+k)"],
    ),
    ("481", [], "carol", "KILL bob :bye", "481", ["Permission Denied- You're not an IRC operator"]),
    ("482-mode", [], "bob", "MODE #room +m", "482", ["#room", "You're not channel operator"]),
    ("482-topic", [], "bob", "TOPIC #room :mine", "482", ["#room", "You're not channel operator"]),
    ("482-kick", [], "bob", "KICK #room alice", "482", ["#room", "You're not channel operator"]),
    (
        "482-invite",
        ["MODE #room +i"],
        "bob",
        "INVITE carol #room",
        "482",
        ["#room", "You're not channel operator"],
    ),
    ("501", [], "carol", "MODE carol +Z", "501", ["Unknown MODE flag"]),
    ("502", [], "carol", "MODE bob +i", "502", ["Cant change mode for other users"]),
    ("525", [], "alice", "MODE #room +k a,b", "525", ["#room", "Key is not well-formed"]),
    (
        "696",
        [],
        "alice",
        "MODE #room +l many",
        "696",
        ["#room", "l", "many", "Invalid limit: a positive number is needed"],
    ),
    ("410", [], "carol", "CAP BOGUS", "410", ["BOGUS", "Invalid CAP command"]),
    ("409", [], "carol", "PING", "409", ["No origin specified"]),
    ("406", [], "carol", "WHOWAS ghost", "406", ["ghost", "There was no such nickname"]),
]


@pytest.mark.parametrize(
    "setup,who,command,numeric,params", [pytest.param(*row[1:], id=row[0]) for row in ERRORS]
)
def test_error_numeric(setup, who, command, numeric, params):
    _state, clients = world(opers={})
    alice = clients["alice"]
    alice.send(*setup)
    for c in clients.values():
        c.take()
    actor = clients[who]
    lines = actor.send_answered(command, until=r"^:\S+ \d{3} ")  # OPER: after its check
    assert lines, f"no reply to {command!r}"
    reply = msgs(lines)[0]
    nick = actor.user.nick
    assert reply == Message(numeric, [nick, *params], "chatd.local"), lines
    # an error changes nothing anybody else can see
    for name, c in clients.items():
        if c is not actor:
            assert c.take() == [], f"{name} saw something after {command!r}"


def test_every_required_error_numeric_is_in_the_table():
    required = {
        "401",
        "403",
        "404",
        "407",
        "411",
        "412",
        "421",
        "431",
        "432",
        "433",
        "441",
        "442",
        "443",
        "451",
        "461",
        "462",
        "464",
        "471",
        "472",
        "473",
        "474",
        "475",
        "481",
        "482",
        "501",
        "502",
        "525",
        "696",
    }
    assert required <= {row[4] for row in ERRORS}


def test_405_too_many_channels():
    state = make_state(max_channels=2)
    a = registered(state, "alice")
    lines = a.send("JOIN #a,#b,#c")
    assert numerics(lines) == ["JOIN", "353", "366", "JOIN", "353", "366", "405"]
    assert msgs(lines)[-1].params == ["alice", "#c", "You have joined too many channels"]


def test_417_input_too_long_counts_tags_separately():
    state = make_state()
    a, b = room(state, "alice", "bob")
    body = "PRIVMSG #room :" + "x" * (510 - len("PRIVMSG #room :"))
    assert a.send(body) == []
    assert b.take() != []
    assert numerics(a.send(body + "x")) == ["417"]
    assert a.send("@+big=" + "y" * 3000 + " " + body) == []  # tags have their own budget
    assert numerics(a.send("@+big=" + "y" * 5000 + " PRIVMSG #room :x")) == ["417"]


def test_464_bad_password_closes():
    state = make_state(password="pw")
    c = Scripted(state)
    assert numerics(c.send("PASS nope", "NICK x", "USER x 0 * :x")) == ["464", "ERROR"]
    assert c.sink.closed


# -- echoed input must always serialise ----------------------------------------------------------
#
# A numeric that echoes a client's word (a nick, channel, mask, subcommand) as a middle
# parameter cannot be serialised as-is when that word is empty, holds a space or starts with ':'
# (all possible when the client sends it as a trailing parameter). Such a word used to raise
# ProtocolError out of ServerState.handle_line and, over a socket, kill the reactor thread.

UNSAFE_LINES = [
    # (id, who, line, first reply, the echoed word as the server writes it)
    ("nick-space", "carol", "NICK :a b", "432", "a_b"),
    ("nick-colon", "carol", "NICK ::x", "432", "x"),
    ("cap-sub", "new", "CAP :L S", "410", "L_S"),
    ("tagmsg-target", "carol", "TAGMSG :a b", "401", "a_b"),
    ("privmsg-empty-target", "carol", "PRIVMSG ,x :hi", "401", "*"),
    ("join-space", "carol", "JOIN :#a b", "403", "#a_b"),
    ("part-space", "carol", "PART :#a b", "403", "#a_b"),
    ("whois-space", "carol", "WHOIS :a b", "401", "a_b"),
    ("whowas-space", "carol", "WHOWAS :a b", "406", "a_b"),
    ("who-space", "carol", "WHO :a b", "315", "a_b"),
    ("names-space", "carol", "NAMES :#a b", "366", "#a_b"),
    ("mode-nick-space", "carol", "MODE :a b", "401", "a_b"),
    ("mode-chan-space", "carol", "MODE :#a b", "403", "#a_b"),
    ("mode-char-space", "alice", "MODE #room :+m n", "472", "_"),
    ("limit-space", "alice", "MODE #room +l :1 2", "696", "#room"),
    ("kick-space", "alice", "KICK #room :a b", "401", "a_b"),
    ("invite-space", "alice", "INVITE bob :#a b", "403", "#a_b"),
    ("op-space", "alice", "MODE #room +o :a b", "401", "a_b"),
    ("topic-space", "carol", "TOPIC :#a b", "403", "#a_b"),
]


@pytest.mark.parametrize(
    "who,line,numeric,word", [pytest.param(*row[1:], id=row[0]) for row in UNSAFE_LINES]
)
def test_echoed_words_never_break_serialisation(who, line, numeric, word):
    _state, clients = world()
    lines = clients[who].send(line)
    assert lines and numerics(lines)[0] == numeric, lines
    assert msgs(lines)[0].params[1] == word
    assert "FAIL" not in numerics(lines)
    assert all(serialise(m) for m in msgs(lines))
    assert numerics(clients[who].send("PING x")) == ["PONG"]  # the connection carries on


@pytest.mark.parametrize("mask", [":a b", "::x", ":"])
def test_ban_mask_that_is_no_word_is_refused(mask):
    # Such a mask used to be stored; every later ban listing (367) then failed to serialise.
    state, clients = world()
    alice = clients["alice"]
    assert alice.send(f"MODE #room +b {mask}") == []
    assert state.find_channel("#room").bans == []
    assert msgs(clients["bob"].send("MODE #room +b")) == msgs(
        [":chatd.local 368 bob #room :End of channel ban list"]
    )

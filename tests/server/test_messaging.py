"""PRIVMSG, NOTICE, TAGMSG and AWAY without sockets, with the IRCv3 caps that change what is
relayed: echo-message, server-time, message-tags, away-notify."""

from __future__ import annotations

import re

import pytest

from .util import HOST, join_all, make_state, msgs, numerics, one, registered, room

TIME_RX = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def test_channel_message_reaches_every_member_but_the_sender():
    state = make_state()
    a, b, c = room(state, "alice", "bob", "carol")
    outsider = registered(state, "dave")
    assert a.send("PRIVMSG #room :hello, world") == []
    expected = msgs([f":alice!~u@{HOST} PRIVMSG #room :hello, world"])
    assert msgs(b.take()) == expected
    assert msgs(c.take()) == expected
    assert outsider.take() == []


def test_private_message_and_notice():
    state = make_state()
    a, b = registered(state, "alice"), registered(state, "bob")
    assert a.send("PRIVMSG BOB :psst") == []  # nick lookup is casefolded
    assert msgs(b.take()) == msgs([f":alice!~u@{HOST} PRIVMSG bob :psst"])
    a.send("NOTICE bob :fyi")
    assert msgs(b.take()) == msgs([f":alice!~u@{HOST} NOTICE bob :fyi"])


def test_message_to_several_targets():
    state = make_state()
    a, b = room(state, "alice", "bob")
    c = registered(state, "carol")
    assert a.send("PRIVMSG #room,carol :both") == []
    assert one(b.take(), "PRIVMSG").params == ["#room", "both"]
    assert one(c.take(), "PRIVMSG").params == ["carol", "both"]


def test_message_text_keeps_leading_colon_and_spaces():
    state = make_state()
    a, b = registered(state, "alice"), registered(state, "bob")
    a.send("PRIVMSG bob ::-)  two  spaces ")
    assert one(b.take(), "PRIVMSG").params[1] == ":-)  two  spaces "


def test_notice_errors_are_silent():
    state = make_state()
    a = registered(state, "alice")
    for line in (
        "NOTICE",
        "NOTICE nobody :x",
        "NOTICE #nope :x",
        "NOTICE bob",
        "NOTICE a,b,c,d,e :x",
    ):
        assert a.send(line) == [], line


def test_message_to_self():
    state = make_state()
    a = registered(state, "alice", ["echo-message"])
    assert msgs(a.send("PRIVMSG alice :note to self")) == msgs(
        [f":alice!~u@{HOST} PRIVMSG alice :note to self"]
    )  # once, not twice


# -- echo-message, server-time, message-tags ------------------------------------------------------


@pytest.mark.parametrize("target", ["#room", "bob"])
def test_echo_message_on_and_off(target):
    state = make_state()
    plain, b = registered(state, "plain"), registered(state, "bob")
    echo = registered(state, "echo", ["echo-message"])
    join_all("#room", plain, b, echo)
    assert plain.send(f"PRIVMSG {target} :x") == []
    echo.take()
    lines = echo.send(f"PRIVMSG {target} :y")
    assert msgs(lines) == msgs([f":echo!~u@{HOST} PRIVMSG {target} :y"])
    assert echo.send(f"NOTICE {target} :z") != []


@pytest.mark.single_process  # fixed clock and timestamps
def test_server_time_tag_on_and_off():
    state = make_state()
    plain, timed = room(state, "plain", "timed")
    timed.user.set_caps(frozenset({"server-time"}))
    state.set_clock(200.0, 1_700_000_123.456)
    registered(state, "x").send("JOIN #room")
    assert parse_one(plain.take()).tags == {}
    tagged = parse_one(timed.take())
    assert tagged.tags == {"time": "2023-11-14T22:15:23.456Z"}
    assert TIME_RX.match(tagged.tags["time"])


def parse_one(lines):
    assert len(lines) == 1, lines
    return msgs(lines)[0]


@pytest.mark.single_process  # fixed clock and timestamps
def test_message_tags_relays_client_tags_and_msgid():
    state = make_state()
    a = registered(state, "alice")
    tagged = registered(state, "tagged", ["message-tags"])
    both = registered(state, "both", ["message-tags", "server-time"])
    plain = registered(state, "plain")
    join_all("#room", a, tagged, both, plain)
    a.send("@+draft/reply=abc;+example.com/x=a\\sb;label=drop PRIVMSG #room :hi")
    t = parse_one(tagged.take())
    assert t.tags["+draft/reply"] == "abc"
    assert t.tags["+example.com/x"] == "a b"
    assert "label" not in t.tags  # only client-only (+) tags are relayed
    assert t.tags["msgid"].startswith("t-")
    assert "time" not in t.tags
    bt = parse_one(both.take())
    assert bt.tags["msgid"] == t.tags["msgid"]  # one event, one id
    assert set(bt.tags) == {"+draft/reply", "+example.com/x", "msgid", "time"}
    assert parse_one(plain.take()).tags == {}
    a.send("PRIVMSG #room :again")
    assert parse_one(tagged.take()).tags["msgid"] != t.tags["msgid"]


def test_tagmsg_only_reaches_message_tags_clients():
    state = make_state()
    a = registered(state, "alice", ["message-tags", "echo-message"])
    tagged = registered(state, "tagged", ["message-tags"])
    plain = registered(state, "plain")
    join_all("#room", a, tagged, plain)
    echoed = parse_one(a.send("@+typing=active TAGMSG #room"))
    assert echoed.command == "TAGMSG" and echoed.tags["+typing"] == "active"
    got = parse_one(tagged.take())
    assert got.command == "TAGMSG" and got.params == ["#room"]
    assert got.tags["msgid"] == echoed.tags["msgid"]
    assert plain.take() == []
    a.send("@+typing=done TAGMSG plain")
    assert plain.take() == []
    a.send("@+typing=done TAGMSG tagged")
    assert parse_one(tagged.take()).tags["+typing"] == "done"


# -- AWAY ---------------------------------------------------------------------------------------


def test_away_and_back():
    state = make_state()
    a, b = registered(state, "alice"), registered(state, "bob")
    assert msgs(a.send("AWAY :out to lunch")) == msgs(
        [":chatd.local 306 alice :You have been marked as being away"]
    )
    lines = b.send("PRIVMSG alice :are you there?")
    assert msgs(lines) == msgs([":chatd.local 301 bob alice :out to lunch"])
    assert numerics(a.take()) == ["PRIVMSG"]
    assert b.send("NOTICE alice :no auto reply for notices") == []
    a.take()
    assert msgs(a.send("AWAY")) == msgs(
        [":chatd.local 305 alice :You are no longer marked as being away"]
    )
    assert b.send("PRIVMSG alice :back?") == []


@pytest.mark.single_process  # changes the state directly
def test_away_notify_cap():
    state = make_state()
    a, watcher, plain = room(state, "alice", "watcher", "plain")
    watcher.user.set_caps(frozenset({"away-notify"}))
    stranger = registered(state, "stranger", ["away-notify"])
    a.send("AWAY :brb")
    assert msgs(watcher.take()) == msgs([f":alice!~u@{HOST} AWAY :brb"])
    assert plain.take() == [] and stranger.take() == []
    a.send("AWAY")
    assert msgs(watcher.take()) == msgs([f":alice!~u@{HOST} AWAY"])


def test_away_shows_in_who_whois_userhost():
    state = make_state()
    a, b = room(state, "alice", "bob")
    a.send("AWAY :gone")
    assert msgs(b.send("WHO alice"))[0].params[6] == "G"
    assert one(b.send("WHOIS alice"), "301").params == ["bob", "alice", "gone"]
    assert one(b.send("USERHOST alice"), "302").params[1] == f"alice=-~u@{HOST}"


def test_away_notify_on_join_of_an_away_user():
    # IRCv3 away-notify: "... as well as when a user joins and has an away message set".
    state = make_state()
    watcher, plain = registered(state, "watcher", ["away-notify"]), registered(state, "plain")
    join_all("#room", watcher, plain)
    away = registered(state, "away")
    away.send("AWAY :on holiday")
    away.send("JOIN #room")
    assert msgs(watcher.take()) == msgs(
        [f":away!~u@{HOST} JOIN #room", f":away!~u@{HOST} AWAY :on holiday"]
    )
    assert numerics(plain.take()) == ["JOIN"]
    assert "AWAY" not in numerics(away.take())
    here = registered(state, "here")
    here.send("JOIN #room")
    assert numerics(watcher.take()) == ["JOIN"]  # no AWAY for a user who is not away


def test_away_notify_only_on_changes():
    state = make_state()
    a, watcher = registered(state, "alice"), registered(state, "watcher", ["away-notify"])
    join_all("#room", a, watcher)
    a.send("AWAY")  # was not away: nothing changed
    assert watcher.take() == []
    a.send("AWAY :one")
    a.send("AWAY :one")
    a.send("AWAY :two")
    assert [m.params for m in msgs(watcher.take())] == [["one"], ["two"]]


def test_duplicate_targets_get_one_copy():
    state = make_state()
    a, b = room(state, "alice", "bob")
    c = registered(state, "[c]")
    a.send("PRIVMSG bob,BOB,#room,#ROOM,[c],{C} :once")
    assert numerics(b.take()) == ["PRIVMSG", "PRIVMSG"]  # once privately, once in #room
    assert numerics(c.take()) == ["PRIVMSG"]
    # four distinct targets, each written twice: within the limit of 4, so 401 each and no 407
    assert numerics(a.send("PRIVMSG a,A,b,B,c,C,d,D :x")) == ["401"] * 4
